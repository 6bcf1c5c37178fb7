// Payloads of WAL records (framing in wal/record.ts, numbers in wal/format.ts). FROZEN layout:
//
//   RECORD_PUT_BATCH payload:
//     u64 seq
//     uvarint nGroups
//     per group (one series key, points in the order the writer gave them):
//       str key (uvarint byteLength | UTF-8) | uvarint nPoints
//       timestamp column | value column         (codec/columns.ts)
//   RECORD_DELETE payload:
//     u64 seq | str key | svarint fromTs | svarint toTs     (inclusive bounds, ms)
//
// Grouping by key lets the column codecs do their work: a factory batch of 100 sensors x
// 10 seconds costs about 6 bytes a point before the replication stream compresses it.

import { ByteReader } from "../codec/bytes.ts";
import type { ByteWriter } from "../codec/bytes.ts";
import { decodeTimestamps, decodeValues, encodeTimestamps, encodeValues } from "../codec/columns.ts";
import type { Value } from "../codec/columns.ts";
import { RECORD_DELETE, RECORD_PUT_BATCH } from "./format.ts";
import { beginRecord, finishRecord, reserveRecordHeader } from "./record.ts";

/** Points of one series in a batch. Arrays are parallel. */
export interface SeriesGroup {
  key: string;
  ts: number[];
  vals: Value[];
}

export type WalEntry =
  | { kind: "put"; seq: number; groups: SeriesGroup[] }
  | { kind: "delete"; seq: number; key: string; fromTs: number; toTs: number };

export interface PointInput {
  key: string;
  ts?: number;
  value: Value;
}

/**
 * Groups points by key, keeping first-appearance order of keys and the order of points;
 * a point without a timestamp gets `defaultTs`.
 */
export function groupPoints(points: readonly PointInput[], defaultTs = 0): SeriesGroup[] {
  const byKey = new Map<string, SeriesGroup>();
  const groups: SeriesGroup[] = [];
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    let g = byKey.get(p.key);
    if (g === undefined) {
      g = { key: p.key, ts: [], vals: [] };
      byKey.set(p.key, g);
      groups.push(g);
    }
    g.ts.push(p.ts ?? defaultTs);
    g.vals.push(p.value);
  }
  return groups;
}

/**
 * Where a record is encoded: after whatever `into` already holds, or at the start of a fresh
 * writer of about `estimateBytes()` (computed only then). `start` is where the record's header
 * room begins, for `finishRecord`.
 */
function startRecord(into: ByteWriter | undefined, estimateBytes: () => number): { w: ByteWriter; start: number } {
  if (into) return { w: into, start: reserveRecordHeader(into) };
  return { w: beginRecord(estimateBytes()), start: 0 };
}

/**
 * A framed RECORD_PUT_BATCH record. Encoded into a fresh writer, or after whatever `into`
 * already holds (tests start writers at every capacity, behind random prefixes). Returns a
 * view into the writer: the WAL writer requires that nobody writes to it afterwards.
 */
export function encodePutBatch(seq: number, groups: readonly SeriesGroup[], into?: ByteWriter): Uint8Array {
  const { w, start } = startRecord(into, () => {
    let estimateBytes = 64;
    for (const g of groups) estimateBytes += g.key.length * 3 + 16 + g.ts.length * 12;
    return estimateBytes;
  });
  w.u64(seq);
  w.uvarint(groups.length);
  for (const g of groups) {
    w.str(g.key);
    w.uvarint(g.ts.length);
    encodeTimestamps(w, g.ts, 0, g.ts.length);
    encodeValues(w, g.vals, 0, g.vals.length);
  }
  return finishRecord(w, RECORD_PUT_BATCH, start);
}

/** A framed RECORD_DELETE record; `into` as for `encodePutBatch`. */
export function encodeDelete(seq: number, key: string, fromTs: number, toTs: number, into?: ByteWriter): Uint8Array {
  const { w, start } = startRecord(into, () => key.length * 3 + 48);
  w.u64(seq);
  w.str(key);
  w.svarint(fromTs);
  w.svarint(toTs);
  return finishRecord(w, RECORD_DELETE, start);
}

/** Decodes a payload that passed its CRC. Throws CorruptionError on a structural problem. */
export function decodeEntry(type: number, payload: Uint8Array, file?: string, offsetBytes?: number): WalEntry {
  const r = new ByteReader(payload, "wal", file, offsetBytes);
  const seq = r.u64();
  if (type === RECORD_DELETE) {
    const key = r.str();
    const fromTs = r.svarint();
    const toTs = r.svarint();
    return { kind: "delete", seq, key, fromTs, toTs };
  }
  if (type !== RECORD_PUT_BATCH) r.fail(`unknown record type ${type}`);
  const nGroups = r.uvarint();
  if (nGroups > payload.length) r.fail(`group count ${nGroups} exceeds payload size`);
  const groups: SeriesGroup[] = [];
  for (let i = 0; i < nGroups; i++) {
    const key = r.str();
    const n = r.uvarint();
    if (n > r.remaining()) r.fail(`point count ${n} exceeds payload size`);
    const ts: number[] = [];
    const vals: Value[] = [];
    decodeTimestamps(r, n, ts);
    decodeValues(r, n, vals);
    groups.push({ key, ts, vals });
  }
  return { kind: "put", seq, groups };
}
