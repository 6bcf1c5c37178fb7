// Reads WAL bytes for shipping: [offset, end) of a segment, cut at a record boundary so
// every DATA frame carries whole records (the replica checks each one before writing).

import { MAX_RECORD_PAYLOAD_BYTES, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from "../wal/format.ts";
import type { VfsFile } from "../vfs/vfs.ts";

/**
 * Returns bytes starting at `offsetBytes` (a record boundary, or 0) and ending at the last
 * record boundary at or before min(endBytes, offsetBytes + maxBytes), but always at least
 * one whole record when one fits before endBytes. Returns an empty array when nothing whole
 * is available.
 */
export function readWholeRecords(file: VfsFile, offsetBytes: number, endBytes: number, maxBytes: number): Uint8Array {
  const want = Math.min(endBytes - offsetBytes, maxBytes);
  if (want <= 0) return new Uint8Array(0);
  let buf = new Uint8Array(want);
  let n = file.read(buf, offsetBytes);
  buf = buf.subarray(0, n);
  let p = offsetBytes === 0 ? Math.min(SEGMENT_HEADER_BYTES, n) : 0;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (;;) {
    if (p + RECORD_HEADER_BYTES > buf.length) break;
    const len = v.getUint32(p + 4, true);
    const end = p + RECORD_HEADER_BYTES + len;
    if (end > buf.length) {
      if (p === 0 || (offsetBytes === 0 && p === SEGMENT_HEADER_BYTES)) {
        // A record larger than maxBytes: read exactly it.
        if (offsetBytes + end > endBytes) break;
        const big = new Uint8Array(end);
        n = file.read(big, offsetBytes);
        return n === end ? big : big.subarray(0, p);
      }
      break;
    }
    p = end;
  }
  return buf.subarray(0, p);
}

/**
 * Whether `offsetBytes` is a record boundary of the segment in `file` (0, the end of the
 * header, or the end of a record), walking record headers from the segment header. A
 * replica's position that is not one was cut from another history (a leader whose WAL was
 * cut or rewritten): serving from it would ship garbage or nothing at all.
 * Reads the segment before `offsetBytes` in 1 MiB pieces (a 16 MiB segment of small records
 * costs 16 reads, not one per record).
 */
export function isRecordBoundary(file: VfsFile, offsetBytes: number): boolean {
  if (offsetBytes === 0 || offsetBytes === SEGMENT_HEADER_BYTES) return true;
  if (offsetBytes < SEGMENT_HEADER_BYTES || offsetBytes > file.size()) return false;
  const buf = new Uint8Array(Math.min(BOUNDARY_SCAN_CHUNK_BYTES, offsetBytes));
  const v = new DataView(buf.buffer);
  let bufStart = 0; // file offset of buf[0]
  let bufLen = 0;
  let p = SEGMENT_HEADER_BYTES;
  while (p < offsetBytes) {
    if (p + RECORD_HEADER_BYTES > offsetBytes) return false;
    if (p < bufStart || p + RECORD_HEADER_BYTES > bufStart + bufLen) {
      bufStart = p;
      bufLen = file.read(buf.subarray(0, Math.min(buf.length, offsetBytes - p)), p);
      if (bufLen < RECORD_HEADER_BYTES) return false;
    }
    const len = v.getUint32(p - bufStart + 4, true);
    if (len > MAX_RECORD_PAYLOAD_BYTES) return false;
    p += RECORD_HEADER_BYTES + len;
  }
  return p === offsetBytes;
}

const BOUNDARY_SCAN_CHUNK_BYTES = 1024 * 1024;
