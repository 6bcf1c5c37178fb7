// WAL on-disk format. FROZEN: every number marked FROZEN is on disk and on the replication
// wire (replicas keep byte-identical copies of the leader's segments). Never renumber;
// add new record types with new numbers and bump WAL_FORMAT_VERSION only for a layout change.
//
// Segment file `<dataDir>/wal/<segmentNo as 12 decimal digits>.wal`, numbers increasing:
//
//   header (16 bytes):
//     u32 magic          WAL_MAGIC, bytes "CHWL"
//     u16 version        WAL_FORMAT_VERSION
//     u16 reserved       0
//     u64 segmentNo      the number in the file name
//   records, back to back, never spanning two segments:
//     u32 crc32          CRC-32 (IEEE, as Bun.hash.crc32) over the type byte and the payload
//     u32 lengthBytes    payload length, 0..MAX_RECORD_PAYLOAD_BYTES
//     u8  type           RECORD_PUT_BATCH | RECORD_DELETE
//     payload            lengthBytes bytes, see wal/batch.ts
//
// All integers little-endian. A record is valid only if its header fits, its length is in
// range, its payload fits, its type is known and its CRC matches. Recovery cuts a torn tail
// or a torn last write (see MAX_GROUP_COMMIT_BYTES) of the newest segment and refuses (or,
// told to salvage, works around) other damage followed by valid records: see wal/recovery.ts.

export const WAL_MAGIC = 0x4c574843; // FROZEN: "CHWL" read as little-endian u32
export const WAL_FORMAT_VERSION = 1; // FROZEN
export const SEGMENT_HEADER_BYTES = 16; // FROZEN
export const RECORD_HEADER_BYTES = 9; // FROZEN: crc32 + lengthBytes + type
export const MAX_RECORD_PAYLOAD_BYTES = 64 * 1024 * 1024; // FROZEN

/**
 * Upper bound of the bytes one group-commit write (one append + fdatasync) may carry; a single
 * record larger than this is written alone. NOT an on-disk number but a writer rule the reader
 * relies on: a power cut during the fdatasync of a multi-page write may persist a later page
 * and not an earlier one, so the newest segment can show damaged record k followed by valid
 * records k+1.., none of them acknowledged. Recovery treats such damage as a torn last write
 * only when it and every valid record after it fit in the final MAX_GROUP_COMMIT_BYTES of the
 * newest segment and the damage holds an unwritten (zero) block (see wal/recovery.ts); lowering it is safe, raising it makes recovery cut
 * acknowledged writes written by an older binary as "torn" (so only ever lower it).
 */
export const MAX_GROUP_COMMIT_BYTES = 1024 * 1024;

export const RECORD_PUT_BATCH = 1; // FROZEN
export const RECORD_DELETE = 2; // FROZEN

export const SEGMENT_SUFFIX = ".wal";
const SEGMENT_DIGITS = 12;

export function segmentFileName(segmentNo: number): string {
  return String(segmentNo).padStart(SEGMENT_DIGITS, "0") + SEGMENT_SUFFIX;
}

/** The segment number of a WAL file name, or undefined when the name is not a segment. */
export function parseSegmentFileName(name: string): number | undefined {
  const m = /^(\d{12})\.wal$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

export function isKnownRecordType(type: number): boolean {
  return type === RECORD_PUT_BATCH || type === RECORD_DELETE;
}
