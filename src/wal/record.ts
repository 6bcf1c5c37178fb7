// Framing of one WAL record (see wal/format.ts) and of a segment header.

import { ByteWriter } from "../codec/bytes.ts";
import {
  MAX_RECORD_PAYLOAD_BYTES,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
  WAL_FORMAT_VERSION,
  WAL_MAGIC,
  isKnownRecordType,
} from "./format.ts";

/** The segment header; written into `w` (after whatever it holds) when one is given. */
export function encodeSegmentHeader(segmentNo: number, w: ByteWriter = new ByteWriter(SEGMENT_HEADER_BYTES)): Uint8Array {
  const start = w.lengthBytes;
  w.u32(WAL_MAGIC);
  w.u16(WAL_FORMAT_VERSION);
  w.u16(0);
  w.u64(segmentNo);
  return w.bytesSince(start).slice();
}

/**
 * Frames a record whose payload was written into `w` after RECORD_HEADER_BYTES of room
 * reserved at `startBytes` (see `beginRecord`, `reserveRecordHeader`). Returns the framed
 * bytes: a view into `w`, valid until `w` is written to again or reused.
 * REQUIRES: `w` holds, from `startBytes`, exactly the header room and the payload.
 * INVARIANT: nothing here writes through `w`'s growing methods, so `w.buf` and `w.view`
 * are taken once, after the last write that could have replaced them.
 */
export function finishRecord(w: ByteWriter, type: number, startBytes = 0): Uint8Array {
  const payloadBytes = w.lengthBytes - startBytes - RECORD_HEADER_BYTES;
  if (payloadBytes > MAX_RECORD_PAYLOAD_BYTES) {
    throw new RangeError(`WAL record payload of ${payloadBytes} bytes exceeds ${MAX_RECORD_PAYLOAD_BYTES}`);
  }
  const buf = w.buf;
  const view = w.view;
  buf[startBytes + 8] = type;
  const crc = Bun.hash.crc32(buf.subarray(startBytes + 8, w.lengthBytes));
  view.setUint32(startBytes, crc, true);
  view.setUint32(startBytes + 4, payloadBytes, true);
  return w.bytesSince(startBytes);
}

/**
 * Reserves room for a record header at the end of `w` and returns where the record starts.
 * `ensure` first: setting `lengthBytes` past the capacity would let `finishRecord` write the
 * header outside the buffer (typed arrays drop such writes silently).
 */
export function reserveRecordHeader(w: ByteWriter): number {
  const start = w.lengthBytes;
  w.ensure(RECORD_HEADER_BYTES);
  w.lengthBytes = start + RECORD_HEADER_BYTES;
  return start;
}

/** Starts a record in a fresh writer: reserves the header. */
export function beginRecord(capacityBytes = 256): ByteWriter {
  const w = new ByteWriter(capacityBytes);
  reserveRecordHeader(w);
  return w;
}

export type ScanProblem =
  | "TruncatedHeader"
  | "BadLength"
  | "TruncatedRecord"
  | "UnknownType"
  | "ChecksumMismatch"
  | "BadSegmentHeader";

export interface ScannedRecord {
  offsetBytes: number;
  endBytes: number;
  type: number;
  payload: Uint8Array;
}

export interface ScanResult {
  records: ScannedRecord[];
  /** Offset just past the last valid record (or the header). */
  validEndBytes: number;
  /** Set when the bytes after validEndBytes are not a valid record. */
  problem?: { kind: ScanProblem; offsetBytes: number };
}

/** Checks a segment header; returns a problem or undefined. */
export function checkSegmentHeader(bytes: Uint8Array, segmentNo: number): ScanProblem | undefined {
  if (bytes.length < SEGMENT_HEADER_BYTES) return "BadSegmentHeader";
  const v = new DataView(bytes.buffer, bytes.byteOffset, SEGMENT_HEADER_BYTES);
  if (v.getUint32(0, true) !== WAL_MAGIC) return "BadSegmentHeader";
  if (v.getUint16(4, true) !== WAL_FORMAT_VERSION) return "BadSegmentHeader";
  const no = v.getUint32(8, true) + v.getUint32(12, true) * 4294967296;
  if (no !== segmentNo) return "BadSegmentHeader";
  return undefined;
}

/**
 * Scans the records in `bytes` from `startBytes` (normally SEGMENT_HEADER_BYTES) and stops
 * at the first invalid one. Never throws on bad input.
 */
export function scanRecords(bytes: Uint8Array, startBytes: number): ScanResult {
  const records: ScannedRecord[] = [];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = startBytes;
  while (p < bytes.length) {
    if (bytes.length - p < RECORD_HEADER_BYTES) {
      return { records, validEndBytes: p, problem: { kind: "TruncatedHeader", offsetBytes: p } };
    }
    const crc = v.getUint32(p, true);
    const len = v.getUint32(p + 4, true);
    const type = bytes[p + 8]!;
    if (len > MAX_RECORD_PAYLOAD_BYTES) {
      return { records, validEndBytes: p, problem: { kind: "BadLength", offsetBytes: p } };
    }
    const end = p + RECORD_HEADER_BYTES + len;
    if (end > bytes.length) {
      return { records, validEndBytes: p, problem: { kind: "TruncatedRecord", offsetBytes: p } };
    }
    if (Bun.hash.crc32(bytes.subarray(p + 8, end)) !== crc) {
      return { records, validEndBytes: p, problem: { kind: "ChecksumMismatch", offsetBytes: p } };
    }
    if (!isKnownRecordType(type)) {
      return { records, validEndBytes: p, problem: { kind: "UnknownType", offsetBytes: p } };
    }
    records.push({ offsetBytes: p, endBytes: end, type, payload: bytes.subarray(p + RECORD_HEADER_BYTES, end) });
    p = end;
  }
  return { records, validEndBytes: p };
}
