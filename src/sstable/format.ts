// SSTable on-disk format. FROZEN: every number here is on disk; never renumber. A layout
// change needs a new SSTABLE_FORMAT_VERSION and a reader for the old one.
//
// File `<dataDir>/sst/<fileNo as 12 decimal digits>.sst`, immutable once written:
//
//   data block 0 | data block 1 | ... | keys block | tombstone block | index block | bloom block | footer
//
// Every block on disk is   contents | u8 compression | u32 crc32
//   compression: COMPRESSION_NONE | COMPRESSION_ZSTD (contents are the compressed bytes)
//   crc32: CRC-32 (IEEE, as Bun.hash.crc32) over contents and the compression byte
// A block handle is (u64 offsetBytes, u32 sizeBytes), sizeBytes including the 5-byte trailer.
//
// Data block, decompressed:
//   uvarint nChunks
//   per chunk (one series; chunks in key order, at most one chunk per key per block):
//     uvarint sharedKeyBytes  bytes shared with the previous chunk's key (0 for the first)
//     uvarint suffixBytes | suffix
//     uvarint nPoints (>= 1)
//     timestamp column | value column   (codec/columns.ts; timestamps strictly increasing)
// A series longer than one block continues in the next block; blocks are ordered by
// (key, first timestamp).
//
// Keys block:       uvarint nKeys, then per key, prefix-compressed as in data blocks:
//                   uvarint shared | uvarint suffixBytes | suffix | uvarint nPoints |
//                   svarint minTs | svarint maxTs
// Tombstone block:  uvarint n, then per tombstone: str key | svarint fromTs | svarint toTs
//                   (inclusive; they hide points in OLDER tables only)
// Index block:      uvarint nBlocks, then per data block:
//                   str firstKey | svarint firstTs | str lastKey | svarint lastTs |
//                   uvarint nPoints | uvarint offsetBytes | uvarint sizeBytes
// Bloom block:      u8 probes | uvarint nBits | ceil(nBits/8) bytes of bits (bit i is
//                   byte i>>3, mask 1<<(i&7)). For a series key: h = MurmurHash3_x86_32 of
//                   its UTF-8 bytes with seed 0 (Bun.hash.murmur32v3); delta = rotr32(h, 17);
//                   probe j sets bit (h + j*delta) mod nBits, all in uint32 arithmetic.
// Footer (FOOTER_BYTES = 64):
//   handle keys | handle tombstones | handle index | handle bloom   (4 x 12 bytes)
//   u32 formatVersion | u32 reserved (0) | u32 magicLo | u32 magicHi

export const SSTABLE_FORMAT_VERSION = 1; // FROZEN
export const SSTABLE_MAGIC_LO = 0x59544943; // FROZEN: "CITY"
export const SSTABLE_MAGIC_HI = 0x4c4c4148; // FROZEN: "HALL"
export const FOOTER_BYTES = 64; // FROZEN
export const BLOCK_TRAILER_BYTES = 5; // FROZEN
export const COMPRESSION_NONE = 0; // FROZEN
export const COMPRESSION_ZSTD = 1; // FROZEN

/** Builder defaults (not part of the format; readers accept any size). */
export const DEFAULT_BLOCK_TARGET_BYTES = 32 * 1024;
/**
 * Decoded, a point costs ~16 bytes of JS arrays against ~2 encoded, so blocks are also cut
 * by point count: a cached block of 2,048 points is ~32 KiB, and a newest-point read of a
 * series needs only its last block.
 */
export const DEFAULT_BLOCK_MAX_POINTS = 2048;
export const DEFAULT_BLOOM_BITS_PER_KEY = 10;
/** Upper bound a reader accepts for one block, so a corrupt handle cannot exhaust memory. */
export const MAX_BLOCK_BYTES = 256 * 1024 * 1024;

export const SST_SUFFIX = ".sst";

export function sstFileName(fileNo: number): string {
  return String(fileNo).padStart(12, "0") + SST_SUFFIX;
}

export function parseSstFileName(name: string): number | undefined {
  const m = /^(\d{12})\.sst$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

export interface BlockHandle {
  offsetBytes: number;
  sizeBytes: number;
}

export interface IndexEntry extends BlockHandle {
  firstKey: string;
  firstTs: number;
  lastKey: string;
  lastTs: number;
  points: number;
}
