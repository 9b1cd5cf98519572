/**
 * One sensor's readings in a time range, in (ts, id) order: its compressed chunks and its hot
 * readings merged, a chunk decoded only when the merge reaches its first timestamp. Private to
 * the store (the reader uses it).
 *
 * @module
 */

import type { Connection } from "./_connection.ts";
import { decodeChunk } from "./chunk_codec.ts";
import { returnArrays } from "./chunks.ts";

const NO_MIN = Number.MIN_SAFE_INTEGER;
const NO_MAX = Number.MAX_SAFE_INTEGER;

/** A sorted run of one sensor's readings being merged. */
interface Run {
  ids: ArrayLike<number>;
  ts: ArrayLike<number>;
  values: ArrayLike<number>;
  pos: number;
  end: number;
}

/** Readings `from..to-1` of the columns, in (ts, id) order: what the merge hands out at once. */
export interface Segment {
  ids: ArrayLike<number>;
  ts: ArrayLike<number>;
  values: ArrayLike<number>;
  from: number;
  to: number;
}

const before = (a: Run, b: Run) =>
  a.ts[a.pos] < b.ts[b.pos] || (a.ts[a.pos] === b.ts[b.pos] && a.ids[a.pos] < b.ids[b.pos]);

/**
 * One sensor's readings with `since <= ts < until`, in (ts, id) order, as segments of decoded
 * columns: its chunks and its hot readings merged, a chunk decoded only when the merge reaches its
 * first timestamp. The list of chunks and the hot readings are read in one snapshot; memory holds
 * the hot readings of the range and the chunks that overlap in time (usually one).
 */
export function* sensorSegments(
  conn: Connection,
  sensorId: number,
  since = NO_MIN,
  until = NO_MAX,
): Generator<Segment> {
  const { chunks, hot } = conn.read(() => ({
    chunks: conn.prepare(
      `SELECT id, first_ts FROM chunks WHERE sensor_id = ? AND last_ts >= ? AND first_ts < ?
       ORDER BY first_ts, id`,
    ).all(sensorId, since, until) as { id: number; first_ts: number }[],
    hot: returnArrays(conn.prepare(
      "SELECT id, ts, value FROM readings WHERE sensor_id = ? AND ts >= ? AND ts < ? ORDER BY ts, id",
    )).all(sensorId, since, until) as unknown as [number, number, number][],
  }));
  const heap: Run[] = [];
  if (hot.length > 0) {
    const n = hot.length;
    const run: Run = { ids: new Float64Array(n), ts: new Float64Array(n), values: new Float64Array(n), pos: 0, end: n };
    for (let i = 0; i < n; i++) {
      (run.ids as Float64Array)[i] = hot[i][0];
      (run.ts as Float64Array)[i] = hot[i][1];
      (run.values as Float64Array)[i] = hot[i][2];
    }
    heap.push(run);
  }
  const data = conn.prepare("SELECT data FROM chunks WHERE id = ?");
  let next = 0;
  while (true) {
    while (next < chunks.length && (heap.length === 0 || chunks[next].first_ts <= heap[0].ts[heap[0].pos])) {
      const row = data.get(chunks[next++].id) as { data: Uint8Array } | undefined;
      if (row === undefined) continue; // deleted by retention since the snapshot
      const run = inRange(decodeChunk(row.data), since, until);
      if (run) heapPush(heap, run);
    }
    if (heap.length === 0) return;
    // The smallest run hands out everything before the next chunk starts and before any other
    // run's head: usually a whole chunk at once.
    const top = heap[0];
    const nextFirst = next < chunks.length ? chunks[next].first_ts : Infinity;
    let other: Run | undefined = heap[1];
    if (heap.length > 2 && before(heap[2], heap[1])) other = heap[2];
    let end = top.pos + 1;
    if (other === undefined) {
      while (end < top.end && top.ts[end] < nextFirst) end++;
    } else {
      const ots = other.ts[other.pos], oid = other.ids[other.pos];
      while (
        end < top.end && top.ts[end] < nextFirst &&
        (top.ts[end] < ots || (top.ts[end] === ots && top.ids[end] < oid))
      ) end++;
    }
    yield { ids: top.ids, ts: top.ts, values: top.values, from: top.pos, to: end };
    top.pos = end;
    if (top.pos === top.end) heapPop(heap);
    else siftDown(heap, 0);
  }
}

/** {@link sensorSegments} one reading at a time, as `[id, ts, value]`. */
export function* sensorReadings(
  conn: Connection,
  sensorId: number,
  since = NO_MIN,
  until = NO_MAX,
): Generator<[id: number, ts: number, value: number]> {
  for (const seg of sensorSegments(conn, sensorId, since, until)) {
    for (let i = seg.from; i < seg.to; i++) yield [seg.ids[i], seg.ts[i], seg.values[i]];
  }
}

/** The part of a decoded chunk (sorted by ts, id) inside `[since, until)`, or undefined when empty. */
function inRange(
  c: { ids: Float64Array; ts: Float64Array; values: Float64Array; length: number },
  since: number,
  until: number,
): Run | undefined {
  let pos = 0, end = c.length;
  while (pos < end && c.ts[pos] < since) pos++;
  while (end > pos && c.ts[end - 1] >= until) end--;
  return pos < end ? { ids: c.ids, ts: c.ts, values: c.values, pos, end } : undefined;
}

function heapPush(heap: Run[], run: Run): void {
  heap.push(run);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(heap[i], heap[parent])) break;
    [heap[i], heap[parent]] = [heap[parent], heap[i]];
    i = parent;
  }
}

function heapPop(heap: Run[]): void {
  const last = heap.pop()!;
  if (heap.length > 0) {
    heap[0] = last;
    siftDown(heap, 0);
  }
}

function siftDown(heap: Run[], i: number): void {
  for (;;) {
    const l = 2 * i + 1, r = l + 1;
    let m = i;
    if (l < heap.length && before(heap[l], heap[m])) m = l;
    if (r < heap.length && before(heap[r], heap[m])) m = r;
    if (m === i) return;
    [heap[i], heap[m]] = [heap[m], heap[i]];
    i = m;
  }
}
