import { describe, expect, test } from "bun:test";
import { decodeEntry, encodeDelete, encodePutBatch, groupPoints } from "../../src/wal/batch.ts";
import { MAX_RECORD_PAYLOAD_BYTES, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, segmentFileName, parseSegmentFileName } from "../../src/wal/format.ts";
import { checkSegmentHeader, encodeSegmentHeader, scanRecords } from "../../src/wal/record.ts";

function segmentWith(...records: Uint8Array[]): Uint8Array {
  const parts = [encodeSegmentHeader(7), ...records.map((r) => r.slice())];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const put1 = () => encodePutBatch(1, groupPoints([{ key: "a", ts: 1, value: 1.5 }, { key: "b", ts: 2, value: "x" }, { key: "a", ts: 3, value: 2 }])).slice();
const del2 = () => encodeDelete(2, "a", 0, 10).slice();

describe("WAL records", () => {
  test("segment names are fixed-width and parse back", () => {
    expect(segmentFileName(7)).toBe("000000000007.wal");
    expect(parseSegmentFileName("000000000007.wal")).toBe(7);
    expect(parseSegmentFileName("7.wal")).toBeUndefined();
  });

  test("put batch and delete round-trip", () => {
    const seg = segmentWith(put1(), del2());
    expect(checkSegmentHeader(seg, 7)).toBeUndefined();
    const scan = scanRecords(seg, SEGMENT_HEADER_BYTES);
    expect(scan.problem).toBeUndefined();
    expect(scan.records.length).toBe(2);
    const [a, b] = scan.records.map((r) => decodeEntry(r.type, r.payload));
    expect(a).toEqual({ kind: "put", seq: 1, groups: [{ key: "a", ts: [1, 3], vals: [1.5, 2] }, { key: "b", ts: [2], vals: ["x"] }] });
    expect(b).toEqual({ kind: "delete", seq: 2, key: "a", fromTs: 0, toTs: 10 });
    expect(scan.validEndBytes).toBe(seg.length);
  });

  test("ChecksumMismatch: a flipped payload byte stops the scan at that record", () => {
    const first = put1();
    const seg = segmentWith(first, del2());
    seg[SEGMENT_HEADER_BYTES + first.length + RECORD_HEADER_BYTES + 2]! ^= 0x40;
    const scan = scanRecords(seg, SEGMENT_HEADER_BYTES);
    expect(scan.records.length).toBe(1);
    expect(scan.problem).toEqual({ kind: "ChecksumMismatch", offsetBytes: SEGMENT_HEADER_BYTES + first.length });
  });

  test("BadLength: a length above the maximum is rejected without allocating", () => {
    const rec = put1();
    new DataView(rec.buffer).setUint32(4, MAX_RECORD_PAYLOAD_BYTES + 1, true);
    const scan = scanRecords(segmentWith(rec), SEGMENT_HEADER_BYTES);
    expect(scan.problem?.kind).toBe("BadLength");
    expect(scan.records.length).toBe(0);
  });

  test("TruncatedRecord: a torn last record is dropped, earlier ones kept", () => {
    const seg = segmentWith(put1(), del2());
    const scan = scanRecords(seg.subarray(0, seg.length - 3), SEGMENT_HEADER_BYTES);
    expect(scan.records.length).toBe(1);
    expect(scan.problem?.kind).toBe("TruncatedRecord");
  });

  test("TruncatedHeader: fewer bytes than a record header", () => {
    const first = put1();
    const seg = segmentWith(first, del2());
    const scan = scanRecords(seg.subarray(0, SEGMENT_HEADER_BYTES + first.length + 4), SEGMENT_HEADER_BYTES);
    expect(scan.records.length).toBe(1);
    expect(scan.problem).toEqual({ kind: "TruncatedHeader", offsetBytes: SEGMENT_HEADER_BYTES + first.length });
  });

  test("UnknownType: a valid CRC over an unknown type is not applied", () => {
    const rec = del2();
    rec[8] = 99;
    new DataView(rec.buffer).setUint32(0, Bun.hash.crc32(rec.subarray(8)), true);
    const scan = scanRecords(segmentWith(rec), SEGMENT_HEADER_BYTES);
    expect(scan.problem?.kind).toBe("UnknownType");
  });

  test("BadSegmentHeader: wrong magic, wrong number, or too short", () => {
    const h = encodeSegmentHeader(7);
    expect(checkSegmentHeader(h, 8)).toBe("BadSegmentHeader");
    expect(checkSegmentHeader(h.subarray(0, 10), 7)).toBe("BadSegmentHeader");
    const bad = h.slice();
    bad[0] = 0;
    expect(checkSegmentHeader(bad, 7)).toBe("BadSegmentHeader");
  });

  test("random garbage never throws from the scanner", () => {
    for (let i = 0; i < 200; i++) {
      const junk = crypto.getRandomValues(new Uint8Array(1 + ((i * 37) % 500)));
      const scan = scanRecords(segmentWith(put1(), junk), SEGMENT_HEADER_BYTES);
      expect(scan.records.length).toBeGreaterThanOrEqual(1);
    }
  });

  test("BadPayload: a structurally bad payload with a good CRC is a CorruptionError", () => {
    expect(() => decodeEntry(1, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 200]), "x.wal", 16)).toThrow(/in x.wal at offset/);
  });
});
