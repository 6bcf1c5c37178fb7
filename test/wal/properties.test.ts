// Property tests of the WAL codecs: PUT_BATCH and DELETE payloads (wal/batch.ts), record
// framing and scanning (wal/record.ts) and the segment header, with every writer started at
// each capacity 1..64 behind a random prefix (test/codec/property_gen.ts).

import { describe, expect, test } from "bun:test";
import { ByteWriter } from "../../src/codec/bytes.ts";
import { MAX_ABS_TS_MS } from "../../src/codec/columns.ts";
import { decodeEntry, encodeDelete, encodePutBatch } from "../../src/wal/batch.ts";
import type { SeriesGroup, WalEntry } from "../../src/wal/batch.ts";
import { RECORD_DELETE, RECORD_HEADER_BYTES, RECORD_PUT_BATCH, SEGMENT_HEADER_BYTES } from "../../src/wal/format.ts";
import { checkSegmentHeader, encodeSegmentHeader, finishRecord, reserveRecordHeader, scanRecords } from "../../src/wal/record.ts";
import {
  Failures,
  SIGNED_BOUNDARIES,
  UNSIGNED_BOUNDARIES,
  int,
  pick,
  prefixIntact,
  prefixedWriter,
  randomBytes,
  randomKey,
  randomTimestamps,
  randomUnsigned,
  randomValues,
  sameValues,
  show,
  writerCases,
} from "../codec/property_gen.ts";
import type { Rand } from "../codec/property_gen.ts";

function randomGroups(r: Rand): SeriesGroup[] {
  return Array.from({ length: r() < 0.1 ? 0 : int(r, 1, 5) }, () => {
    const n = int(r, 1, r() < 0.9 ? 20 : 200);
    return { key: randomKey(r), ts: randomTimestamps(r, n, r() < 0.5), vals: randomValues(r, n) };
  });
}

function randomSeq(r: Rand): number {
  return r() < 0.5 ? pick(r, UNSIGNED_BOUNDARIES) : randomUnsigned(r);
}

const TS_BOUNDARIES = SIGNED_BOUNDARIES.filter((v) => Math.abs(v) <= MAX_ABS_TS_MS);

function randomEntry(r: Rand): WalEntry {
  if (r() < 0.25) {
    const a = pick(r, TS_BOUNDARIES);
    const b = pick(r, TS_BOUNDARIES);
    return { kind: "delete", seq: randomSeq(r), key: randomKey(r), fromTs: Math.min(a, b), toTs: Math.max(a, b) };
  }
  return { kind: "put", seq: randomSeq(r), groups: randomGroups(r) };
}

function encode(e: WalEntry, w?: ByteWriter): Uint8Array {
  return e.kind === "put" ? encodePutBatch(e.seq, e.groups, w) : encodeDelete(e.seq, e.key, e.fromTs, e.toTs, w);
}

/** Why `got` differs from `want`, or "" (values compared with Object.is: -0 and NaN exact). */
function diff(want: WalEntry, got: WalEntry): string {
  if (want.kind !== got.kind || want.seq !== got.seq) return `kind/seq ${want.kind}/${want.seq} read back as ${got.kind}/${got.seq}`;
  if (want.kind === "delete" && got.kind === "delete") {
    if (want.key !== got.key || want.fromTs !== got.fromTs || want.toTs !== got.toTs) {
      return `delete ${show(want.key)} ${want.fromTs}..${want.toTs} read back as ${show(got.key)} ${got.fromTs}..${got.toTs}`;
    }
    return "";
  }
  if (want.kind !== "put" || got.kind !== "put") return "kind mismatch";
  if (want.groups.length !== got.groups.length) return `${want.groups.length} groups read back as ${got.groups.length}`;
  for (let i = 0; i < want.groups.length; i++) {
    const a = want.groups[i]!;
    const b = got.groups[i]!;
    if (a.key !== b.key) return `group ${i} key ${show(a.key)} read back as ${show(b.key)}`;
    if (!sameValues(a.ts, b.ts)) return `group ${i} timestamps ${show(a.ts)} read back as ${show(b.ts)}`;
    if (!sameValues(a.vals, b.vals)) return `group ${i} values ${show(a.vals)} read back as ${show(b.vals)}`;
  }
  return "";
}

describe("WAL codec properties", () => {
  test("PUT_BATCH and DELETE records round-trip through framing, scan and decode at every capacity 1..64", () => {
    const f = new Failures();
    for (const c of writerCases(61, 6)) {
      const { w, prefix } = prefixedWriter(c);
      const entries = Array.from({ length: int(c.r, 1, 4) }, () => randomEntry(c.r));
      // Several records into one writer, back to back. Each returned view is copied at once:
      // the next record may grow the writer and leave an older view on the old buffer.
      const copies: Uint8Array[] = [];
      for (const e of entries) copies.push(encode(e, w).slice());
      if (!prefixIntact(w, prefix)) f.add(`${c.label}: the prefix was overwritten`);
      // The writer's own bytes, scanned from the end of the prefix ...
      const scan = scanRecords(w.bytes(), c.prefixBytes);
      if (scan.problem || scan.records.length !== entries.length) {
        f.add(`${c.label}: scan found ${scan.records.length} of ${entries.length} records, problem ${scan.problem?.kind}`);
        continue;
      }
      // ... and each copy alone (what a freshly created writer would have returned).
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        const fresh = encode(e);
        if (fresh.length !== copies[i]!.length || !fresh.every((b, j) => b === copies[i]![j])) {
          f.add(`${c.label}: record ${i} differs from the same record encoded in a fresh writer`);
        }
        const rec = scan.records[i]!;
        let got: WalEntry;
        try {
          got = decodeEntry(rec.type, rec.payload, "test.wal", rec.offsetBytes);
        } catch (err) {
          f.add(`${c.label}: record ${i} did not decode: ${(err as Error).message}`);
          continue;
        }
        const d = diff(e, got);
        if (d) f.add(`${c.label}: record ${i}: ${d}`);
        if (rec.type !== (e.kind === "put" ? RECORD_PUT_BATCH : RECORD_DELETE)) f.add(`${c.label}: record ${i} type ${rec.type}`);
      }
    }
    expect(f.report()).toBe("");
  });

  test("real epoch-ms points (the issue's case): 300 series of one point each, one batch, every capacity", () => {
    const f = new Failures();
    const groups: SeriesGroup[] = Array.from({ length: 300 }, (_, i) => ({ key: `s${i}`, ts: [1_767_225_600_000 + i * 1000], vals: [i / 10] }));
    for (const c of writerCases(62, 2)) {
      const { w } = prefixedWriter(c);
      const rec = encodePutBatch(42, groups, w).slice();
      const scan = scanRecords(rec, 0);
      const got = decodeEntry(scan.records[0]!.type, scan.records[0]!.payload);
      const d = diff({ kind: "put", seq: 42, groups }, got);
      if (d) f.add(`${c.label}: ${d}`);
    }
    expect(f.report()).toBe("");
  });

  test("framing: any payload at any capacity scans back intact; every truncation or flipped bit is caught", () => {
    const f = new Failures();
    for (const c of writerCases(63, 3)) {
      const { w } = prefixedWriter(c);
      const payloads = Array.from({ length: int(c.r, 1, 5) }, () => randomBytes(c.r, c.r() < 0.2 ? 0 : int(c.r, 1, c.r() < 0.9 ? 150 : 2000)));
      const types: number[] = [];
      for (const p of payloads) {
        const start = reserveRecordHeader(w);
        w.raw(p);
        const type = pick(c.r, [RECORD_PUT_BATCH, RECORD_DELETE]);
        types.push(type);
        finishRecord(w, type, start);
      }
      const bytes = w.bytes().slice();
      const scan = scanRecords(bytes, c.prefixBytes);
      if (scan.problem || scan.records.length !== payloads.length) {
        f.add(`${c.label}: scan found ${scan.records.length} of ${payloads.length}, problem ${scan.problem?.kind}`);
        continue;
      }
      for (let i = 0; i < payloads.length; i++) {
        const rec = scan.records[i]!;
        if (rec.type !== types[i] || !sameValues([...rec.payload], [...payloads[i]!])) f.add(`${c.label}: record ${i} payload or type differs`);
      }
      // A cut anywhere inside the last record leaves exactly the records before it.
      const last = scan.records[scan.records.length - 1]!;
      const cut = int(c.r, last.offsetBytes + 1, last.endBytes - 1);
      const torn = scanRecords(bytes.subarray(0, cut), c.prefixBytes);
      if (torn.records.length !== payloads.length - 1 || torn.validEndBytes !== last.offsetBytes || !torn.problem) {
        f.add(`${c.label}: a cut at ${cut} kept ${torn.records.length} records, end ${torn.validEndBytes}`);
      }
      // A flipped bit anywhere in the last record (header or payload) is never accepted.
      const bad = bytes.slice();
      bad[int(c.r, last.offsetBytes, last.endBytes - 1)]! ^= 1 << int(c.r, 0, 7);
      const flipped = scanRecords(bad, c.prefixBytes);
      if (flipped.records.length !== payloads.length - 1 || !flipped.problem) f.add(`${c.label}: a flipped bit in the last record went unnoticed`);
    }
    expect(f.report()).toBe("");
  });

  test("a header reserved in a writer smaller than the header is written inside the buffer", () => {
    for (let cap = 1; cap <= RECORD_HEADER_BYTES + 1; cap++) {
      const w = new ByteWriter(cap);
      const start = reserveRecordHeader(w);
      const rec = finishRecord(w, RECORD_DELETE, start).slice();
      const scan = scanRecords(rec, 0);
      expect(scan.problem).toBeUndefined();
      expect(scan.records.length).toBe(1);
    }
  });

  test("segment headers round-trip for boundary segment numbers at every capacity", () => {
    for (const c of writerCases(64, 2)) {
      for (const no of [0, 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 49, Number.MAX_SAFE_INTEGER]) {
        const { w } = prefixedWriter(c);
        const h = encodeSegmentHeader(no, w);
        expect(h.length).toBe(SEGMENT_HEADER_BYTES);
        expect(checkSegmentHeader(h, no), `${c.label} segment ${no}`).toBeUndefined();
        expect(checkSegmentHeader(h, no + 1)).toBe("BadSegmentHeader");
        expect(h).toEqual(encodeSegmentHeader(no));
      }
    }
  });

  test("values the format cannot hold are refused before anything is framed", () => {
    expect(() => encodePutBatch(1, [{ key: "k", ts: [0.5], vals: [1] }])).toThrow(RangeError);
    expect(() => encodePutBatch(1, [{ key: "k", ts: [2 ** 53], vals: [1] }])).toThrow(RangeError);
    expect(() => encodePutBatch(2 ** 53, [])).toThrow(RangeError);
    expect(() => encodePutBatch(-1, [])).toThrow(RangeError);
    expect(() => encodeDelete(1, "k", NaN, 5)).toThrow(RangeError);
    expect(() => encodeDelete(1, "k", 0, Infinity)).toThrow(RangeError);
    // Non-finite and negative-zero values are a value column's business: they round-trip.
    const rec = encodePutBatch(1, [{ key: "k", ts: [1, 2, 3, 4], vals: [NaN, Infinity, -Infinity, -0] }]);
    const got = decodeEntry(RECORD_PUT_BATCH, rec.subarray(RECORD_HEADER_BYTES));
    expect(got.kind === "put" && sameValues(got.groups[0]!.vals, [NaN, Infinity, -Infinity, -0])).toBe(true);
  });
});
