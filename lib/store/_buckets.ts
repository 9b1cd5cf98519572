/**
 * Folding one sensor's readings into time buckets (avg, min, max, count, last), merged with the
 * buckets the logger already downsampled. Private to the reader.
 *
 * @module
 */

import { bucketStart } from "../units.ts";
import type { Segment } from "./_merge.ts";

/** `[bucket_ts, sum, min, max, count, last_ts, last]` of a downsampled bucket, in time order. */
export type DownsampledRow = [number, number, number, number, number, number, number];

/** One output bucket of one sensor; `ts` is its start (unix ms). */
export interface BucketValues {
  ts: number;
  avg: number;
  min: number;
  max: number;
  count: number;
  /** The value with the latest timestamp in the bucket. */
  last: number;
}

/** A bucket being summed up. */
interface Accumulator {
  ts: number;
  sum: number;
  min: number;
  max: number;
  count: number;
  lastTs: number;
  last: number;
  /** Whether `last` came from a raw reading (it wins over a downsampled bucket's on equal ts). */
  lastRaw: boolean;
}

/**
 * Buckets of width `bucketMs` (aligned to the epoch) from `segments` of readings (in (ts, id)
 * order) and `downsampled` (in time order), in time order. A downsampled bucket is added whole to
 * the output bucket holding its start, so exact results want a width that is a multiple of the
 * logger's `--downsample-bucket`.
 */
export function* foldBuckets(
  segments: Iterable<Segment>,
  downsampled: readonly DownsampledRow[],
  bucketMs: number,
): Generator<BucketValues> {
  let acc: Accumulator | undefined;
  const out = (): BucketValues => {
    const a = acc!;
    acc = undefined;
    return { ts: a.ts, avg: a.sum / a.count, min: a.min, max: a.max, count: a.count, last: a.last };
  };
  /** Adds to the open bucket; returns the finished one when `ts` starts a new bucket. */
  const add = (
    ts: number,
    sum: number,
    min: number,
    max: number,
    count: number,
    lastTs: number,
    last: number,
    raw: boolean,
  ): BucketValues | undefined => {
    const start = bucketStart(ts, bucketMs);
    const done = acc !== undefined && acc.ts !== start ? out() : undefined;
    acc ??= {
      ts: start,
      sum: 0,
      min: Infinity,
      max: -Infinity,
      count: 0,
      lastTs: -Infinity,
      last: NaN,
      lastRaw: false,
    };
    acc.sum += sum;
    acc.count += count;
    if (min < acc.min) acc.min = min;
    if (max > acc.max) acc.max = max;
    if (lastTs > acc.lastTs || (lastTs === acc.lastTs && (raw || !acc.lastRaw))) {
      acc.lastTs = lastTs;
      acc.last = last;
      acc.lastRaw = raw;
    }
    return done;
  };
  let o = 0;
  const takeDownsampled = function* (upTo: number): Generator<BucketValues> {
    for (; o < downsampled.length && downsampled[o][0] <= upTo; o++) {
      const [ts, sum, min, max, count, lastTs, last] = downsampled[o];
      const done = add(ts, sum, min, max, count, lastTs, last, false);
      if (done) yield done;
    }
  };
  for (const seg of segments) {
    const { ts: tss, values } = seg;
    for (let i = seg.from; i < seg.to; i++) {
      const ts = tss[i], value = values[i];
      if (o < downsampled.length && downsampled[o][0] <= ts) yield* takeDownsampled(ts);
      if (acc !== undefined && ts >= acc.ts && ts < acc.ts + bucketMs) {
        // The common case, inline: the reading falls in the open bucket.
        acc.sum += value;
        acc.count++;
        if (value < acc.min) acc.min = value;
        if (value > acc.max) acc.max = value;
        if (ts >= acc.lastTs) {
          acc.lastTs = ts;
          acc.last = value;
          acc.lastRaw = true;
        }
        continue;
      }
      const done = add(ts, value, value, value, 1, ts, value, true);
      if (done) yield done;
    }
  }
  yield* takeDownsampled(Number.MAX_SAFE_INTEGER);
  if (acc !== undefined) yield out();
}
