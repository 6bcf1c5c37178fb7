// Column encodings for a run of points of one series, shared by WAL batch records and
// SSTable data blocks (so a replica receives the same compact bytes the leader stores).
//
// FROZEN: the mode numbers below are on disk and on the wire; never renumber them.
//
// Timestamp column (n >= 1 points, ascending or not):
//   svarint ts[0] | svarint (ts[1]-ts[0]) | svarint delta-of-delta for each later point
// Regular series (one reading a second) cost one byte per point: a zero delta-of-delta.
//
// Value column:
//   u8 mode, then
//   VALUES_FLOAT64 (0): n x f64 little-endian
//   VALUES_DECIMAL (1): u8 digits d (0..6) | svarint int[0] | svarint (int[i]-int[i-1]) ...
//                       where value[i] = int[i] / 10^d exactly (checked at encode time, so
//                       the float64 read back is bit-identical to the one written)
//   VALUES_STRING  (2): n x (uvarint byteLength | UTF-8 bytes)
//   VALUES_MIXED   (3): n x (u8 tag: 0 = f64 | 1 = string, then the payload as above)

import type { ByteReader, ByteWriter } from "./bytes.ts";

export const VALUES_FLOAT64 = 0; // FROZEN
export const VALUES_DECIMAL = 1; // FROZEN
export const VALUES_STRING = 2; // FROZEN
export const VALUES_MIXED = 3; // FROZEN

export const MIXED_TAG_FLOAT64 = 0; // FROZEN
export const MIXED_TAG_STRING = 1; // FROZEN

/**
 * Largest |timestamp| in ms accepted anywhere (about ±17,800 years). Keeps every delta-of-
 * delta below 2^51, so zigzag varints stay exact.
 */
export const MAX_ABS_TS_MS = 2 ** 49;
const MAX_DECIMAL_DIGITS = 6;
const MAX_ABS_SCALED = 2 ** 50;
const POW10 = [1, 10, 100, 1000, 10000, 100000, 1000000];

export type Value = number | string;

export function encodeTimestamps(w: ByteWriter, ts: ArrayLike<number>, start: number, end: number): void {
  let prev = ts[start]!;
  w.svarint(prev);
  if (end - start < 2) return;
  let prevDelta = ts[start + 1]! - prev;
  w.svarint(prevDelta);
  prev = ts[start + 1]!;
  for (let i = start + 2; i < end; i++) {
    const t = ts[i]!;
    const delta = t - prev;
    w.svarint(delta - prevDelta);
    prevDelta = delta;
    prev = t;
  }
}

/**
 * Reads a zigzag varint at r.pos with a fast path for the one-byte case (the common one:
 * regular timestamps and slowly changing readings). Returns the decoded signed value.
 */
function readSmallSvarint(r: ByteReader): number {
  const p = r.pos;
  if (p < r.end) {
    const b = r.buf[p]!;
    if (b < 0x80) {
      r.pos = p + 1;
      return (b >>> 1) ^ -(b & 1);
    }
  }
  return r.svarint();
}

export function decodeTimestamps(r: ByteReader, n: number, out: number[]): void {
  if (n === 0) return;
  let prev = r.svarint();
  out.push(prev);
  if (n < 2) return;
  let delta = r.svarint();
  prev += delta;
  out.push(prev);
  for (let i = 2; i < n; i++) {
    delta += readSmallSvarint(r);
    prev += delta;
    out.push(prev);
  }
}

/** Fewest decimal digits that represent every value exactly, or -1. */
function decimalDigits(vals: ArrayLike<Value>, start: number, end: number): number {
  let d = 0;
  for (let i = start; i < end; i++) {
    const v = vals[i];
    if (typeof v !== "number") return -1;
    if (v === 0 && 1 / v < 0) return -1; // -0 would come back as +0
    for (;;) {
      const p = POW10[d]!;
      const s = Math.round(v * p);
      if (s / p === v && Math.abs(s) <= MAX_ABS_SCALED) break;
      if (++d > MAX_DECIMAL_DIGITS) return -1;
    }
  }
  return d;
}

export function encodeValues(w: ByteWriter, vals: ArrayLike<Value>, start: number, end: number): void {
  const d = decimalDigits(vals, start, end);
  if (d >= 0 && tryEncodeDecimal(w, vals, start, end, d)) return;
  let numbers = 0;
  for (let i = start; i < end; i++) if (typeof vals[i] === "number") numbers++;
  const n = end - start;
  if (numbers === n) {
    w.u8(VALUES_FLOAT64);
    for (let i = start; i < end; i++) w.f64(vals[i] as number);
  } else if (numbers === 0) {
    w.u8(VALUES_STRING);
    for (let i = start; i < end; i++) w.str(vals[i] as string);
  } else {
    w.u8(VALUES_MIXED);
    for (let i = start; i < end; i++) {
      const v = vals[i]!;
      if (typeof v === "number") {
        w.u8(MIXED_TAG_FLOAT64);
        w.f64(v);
      } else {
        w.u8(MIXED_TAG_STRING);
        w.str(v);
      }
    }
  }
}

function tryEncodeDecimal(w: ByteWriter, vals: ArrayLike<Value>, start: number, end: number, d: number): boolean {
  const mark = w.lengthBytes;
  const p = POW10[d]!;
  w.u8(VALUES_DECIMAL);
  w.u8(d);
  let prev = 0;
  for (let i = start; i < end; i++) {
    const v = vals[i] as number;
    const s = Math.round(v * p);
    // `decimalDigits` checked each value at the scale in force when it was seen; a later
    // value may have raised the scale, so check again: exact, and |s| <= 2^50 so every
    // delta stays within the svarint range (2^50 then 0.5 once made a delta of ~2^53.3
    // that encoded and never decoded).
    if (s / p !== v || Math.abs(s) > MAX_ABS_SCALED) {
      w.lengthBytes = mark; // give up: float64 holds every value
      return false;
    }
    w.svarint(s - prev);
    prev = s;
  }
  return true;
}

export function decodeValues(r: ByteReader, n: number, out: Value[]): void {
  const mode = r.u8();
  switch (mode) {
    case VALUES_FLOAT64:
      for (let i = 0; i < n; i++) out.push(r.f64());
      return;
    case VALUES_DECIMAL: {
      const d = r.u8();
      if (d > MAX_DECIMAL_DIGITS) r.fail(`decimal digits ${d} out of range`);
      const p = POW10[d]!;
      let s = 0;
      for (let i = 0; i < n; i++) {
        s += readSmallSvarint(r);
        out.push(s / p);
      }
      return;
    }
    case VALUES_STRING:
      for (let i = 0; i < n; i++) out.push(r.str());
      return;
    case VALUES_MIXED:
      for (let i = 0; i < n; i++) {
        const tag = r.u8();
        if (tag === MIXED_TAG_FLOAT64) out.push(r.f64());
        else if (tag === MIXED_TAG_STRING) out.push(r.str());
        else r.fail(`unknown value tag ${tag}`);
      }
      return;
    default:
      r.fail(`unknown value column mode ${mode}`);
  }
}
