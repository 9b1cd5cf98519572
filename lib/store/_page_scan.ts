/**
 * Reading table-leaf pages of a SQLite file without SQLite, for `salvage`: the file format's
 * b-tree pages, records and WAL frames (https://sqlite.org/fileformat2.html), only as far as
 * finding `readings` and `sensors` rows on intact pages needs.
 *
 * @module
 */

/** The SQLite file format's variable-length integer at `at`: [value, bytes]. */
function varint(page: Uint8Array, at: number): [number, number] {
  let v = 0;
  for (let i = 0; i < 8; i++) {
    if (at + i >= page.length) throw new RangeError("varint past the page");
    const b = page[at + i];
    v = v * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) return [v, i + 1];
  }
  if (at + 8 >= page.length) throw new RangeError("varint past the page");
  return [v * 256 + page[at + 8], 9];
}

/** One value of serial type `t` at `at` of `page`: [value, bytes]. */
function value(page: Uint8Array, view: DataView, at: number, t: number): [unknown, number] {
  const ints = [0, 1, 2, 3, 4, 6, 8];
  if (t === 0) return [null, 0];
  if (t >= 1 && t <= 6) {
    const n = ints[t];
    if (at + n > page.length) throw new RangeError("value past the page");
    // Two's complement, big-endian: read unsigned, then subtract 2^(8n) when the sign bit is set.
    let u = 0;
    for (let i = 0; i < n; i++) u = u * 256 + page[at + i];
    return [page[at] & 0x80 ? u - 2 ** (8 * n) : u, n];
  }
  if (t === 7) {
    if (at + 8 > page.length) throw new RangeError("value past the page");
    return [view.getFloat64(at), 8];
  }
  if (t === 8) return [0, 0];
  if (t === 9) return [1, 0];
  if (t >= 12) {
    const n = Math.floor((t - 12) / 2);
    if (at + n > page.length) throw new RangeError("value past the page");
    return [t % 2 === 1 ? new TextDecoder("utf-8", { fatal: true }).decode(page.subarray(at, at + n)) : null, n];
  }
  throw new RangeError(`serial type ${t}`);
}

const isInt = (t: number) => (t >= 1 && t <= 6) || t === 8 || t === 9;
const isNumber = (t: number) => isInt(t) || t === 7;
const isText = (t: number) => t >= 13 && t % 2 === 1;

/** The cells of a table-leaf page as rows, or undefined when it is not one (or not whole). */
function leafRows(
  page: Uint8Array,
  headerAt: number,
  usable: number,
): { rowid: number; cols: unknown[]; types: number[] }[] | undefined {
  if (page[headerAt] !== 0x0d) return undefined;
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const cells = view.getUint16(headerAt + 3);
  if (cells === 0 || headerAt + 8 + 2 * cells > usable) return undefined;
  const rows: { rowid: number; cols: unknown[]; types: number[] }[] = [];
  try {
    for (let c = 0; c < cells; c++) {
      const at = view.getUint16(headerAt + 8 + 2 * c);
      if (at < headerAt + 8 + 2 * cells || at >= usable) return undefined;
      const [payload, n1] = varint(page, at);
      const [rowid, n2] = varint(page, at + n1);
      if (payload > usable - 35) return undefined; // spills to overflow pages: not a row we scan for
      const start = at + n1 + n2;
      if (start + payload > usable) return undefined;
      const [headerLen, n3] = varint(page, start);
      const types: number[] = [];
      for (let p = start + n3; p < start + headerLen;) {
        const [t, n] = varint(page, p);
        types.push(t);
        p += n;
      }
      const cols: unknown[] = [];
      let p = start + headerLen;
      for (const t of types) {
        const [v, n] = value(page, view, p, t);
        cols.push(v);
        p += n;
      }
      if (p !== start + payload) return undefined;
      rows.push({ rowid, cols, types });
    }
  } catch {
    return undefined;
  }
  return rows;
}

/** What a scanned leaf page holds: readings, sensors, or neither. */
function shapeOf(rows: { types: number[] }[]): "reading" | "sensor" | undefined {
  const reading = rows.every(({ types: t }) =>
    t.length === 4 && t[0] === 0 && isInt(t[1]) && isInt(t[2]) && isNumber(t[3])
  );
  if (reading) return "reading";
  const sensor = rows.every(({ types: t }) =>
    t.length === 3 && t[0] === 0 && isText(t[1]) && (t[2] === 0 || isText(t[2]))
  );
  return sensor ? "sensor" : undefined;
}

/**
 * Every page of the file, overlaid with the newest committed copy of each page in its WAL, minus
 * the pages on the free list; leaf pages of readings and sensors go to `each`.
 */
export function scanPages(
  path: string,
  each: (kind: "reading" | "sensor", rowid: number, cols: unknown[]) => void,
  note: (e: unknown) => void,
): void {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    note(e); // an unopenable file: what SQLite read is all there is
    return;
  }
  try {
    const header = readAt(file, 0, 100);
    if (header === undefined || header.length < 100) return;
    const raw = new DataView(header.buffer, header.byteOffset, 100).getUint16(16);
    const pageSize = raw === 1 ? 65536 : raw;
    if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) return;
    const usable = pageSize - header[20];
    const count = Math.floor(file.statSync().size / pageSize);
    const wal = walPages(`${path}-wal`, pageSize);
    // One page at a time, so a big file is not held in memory and an unreadable page (EIO) costs
    // only itself.
    const page = (n: number) => wal.get(n) ?? readAt(file, (n - 1) * pageSize, pageSize, note);
    const free = freePages(page);
    let last = count;
    for (const n of wal.keys()) last = Math.max(last, n);
    for (let n = 1; n <= last; n++) {
      if (free.has(n)) continue;
      const bytes = page(n);
      if (bytes === undefined || bytes.length < pageSize) continue;
      const rows = leafRows(bytes, n === 1 ? 100 : 0, usable);
      if (rows === undefined) continue;
      const kind = shapeOf(rows);
      if (kind !== undefined) { for (const r of rows) each(kind, r.rowid, r.cols); }
    }
  } finally {
    file.close();
  }
}

/** `length` bytes at `offset` (fewer at the end of the file); undefined when the read fails. */
function readAt(
  file: Deno.FsFile,
  offset: number,
  length: number,
  note?: (e: unknown) => void,
): Uint8Array | undefined {
  const bytes = new Uint8Array(length);
  try {
    file.seekSync(offset, Deno.SeekMode.Start);
    let got = 0;
    while (got < length) {
      const n = file.readSync(bytes.subarray(got));
      if (n === null) break;
      got += n;
    }
    return bytes.subarray(0, got);
  } catch (e) {
    note?.(e);
    return undefined;
  }
}

/** The newest committed copy of each page in the WAL (salts must match), by page number. */
function walPages(walPath: string, pageSize: number): Map<number, Uint8Array> {
  const pages = new Map<number, Uint8Array>();
  let wal: Uint8Array;
  try {
    wal = Deno.readFileSync(walPath); // bounded: journal_size_limit and the checkpoints
  } catch {
    return pages;
  }
  if (wal.length < 32) return pages;
  const view = new DataView(wal.buffer, wal.byteOffset, wal.byteLength);
  if (view.getUint32(8) !== pageSize) return pages;
  const salt1 = view.getUint32(16), salt2 = view.getUint32(20);
  const pending: [number, Uint8Array][] = [];
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (view.getUint32(at + 8) !== salt1 || view.getUint32(at + 12) !== salt2) break;
    pending.push([view.getUint32(at), wal.subarray(at + 24, at + 24 + pageSize)]);
    if (view.getUint32(at + 4) !== 0) { // a commit frame: everything so far is committed
      for (const [n, page] of pending) pages.set(n, page);
      pending.length = 0;
    }
  }
  return pages;
}

/** The pages on the free list, as far as it can be followed. */
function freePages(page: (n: number) => Uint8Array | undefined): Set<number> {
  const free = new Set<number>();
  const first = page(1);
  if (first === undefined || first.length < 100) return free;
  let trunk = new DataView(first.buffer, first.byteOffset, 100).getUint32(32);
  while (trunk !== 0 && !free.has(trunk)) {
    const bytes = page(trunk);
    if (bytes === undefined || bytes.length < 8) break;
    free.add(trunk);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const count = view.getUint32(4);
    if (8 + 4 * count > bytes.length) break;
    for (let i = 0; i < count; i++) free.add(view.getUint32(8 + 4 * i));
    trunk = view.getUint32(0);
  }
  return free;
}
