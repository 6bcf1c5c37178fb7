// Reads and checks blocks (layout in sstable/format.ts) and decodes data blocks.

import { ByteReader } from "../codec/bytes.ts";
import { decodeTimestamps, decodeValues } from "../codec/columns.ts";
import type { Value } from "../codec/columns.ts";
import { CorruptionError } from "../errors.ts";
import { compareKeys } from "../memtable/memtable.ts";
import { BLOCK_TRAILER_BYTES, COMPRESSION_NONE, COMPRESSION_ZSTD, MAX_BLOCK_BYTES } from "./format.ts";

/** A decoded data block: parallel arrays, one entry per chunk, keys ascending. */
export interface DecodedBlock {
  keys: string[];
  ts: number[][];
  vals: Value[][];
  /** Approximate memory cost, for the block cache. */
  sizeBytes: number;
}

/**
 * Verifies the trailer of a framed block and returns its (decompressed) contents.
 * Throws CorruptionError naming the file and offset.
 */
export function unframeBlock(framed: Uint8Array, file: string, offsetBytes: number): Uint8Array {
  if (framed.length < BLOCK_TRAILER_BYTES) {
    throw new CorruptionError("sstable", `truncated block (${framed.length} bytes)`, file, offsetBytes);
  }
  const n = framed.length - BLOCK_TRAILER_BYTES;
  const compression = framed[n]!;
  const expected = new DataView(framed.buffer, framed.byteOffset + n + 1, 4).getUint32(0, true);
  if (Bun.hash.crc32(framed.subarray(0, n + 1)) !== expected) {
    throw new CorruptionError("sstable", "block checksum mismatch", file, offsetBytes);
  }
  const stored = framed.subarray(0, n);
  if (compression === COMPRESSION_NONE) return stored;
  if (compression === COMPRESSION_ZSTD) {
    try {
      const out = Bun.zstdDecompressSync(stored);
      if (out.length > MAX_BLOCK_BYTES) throw new Error("too large");
      return out;
    } catch {
      throw new CorruptionError("sstable", "block does not decompress", file, offsetBytes);
    }
  }
  throw new CorruptionError("sstable", `unknown block compression ${compression}`, file, offsetBytes);
}

/**
 * Reads keys stored prefix-compressed against the previous one
 * (uvarint shared | uvarint suffixBytes | suffix), as data and keys blocks store them.
 */
export class PrefixKeyReader {
  private prev: Uint8Array = new Uint8Array(0);
  private readonly dec = new TextDecoder("utf-8", { fatal: true });
  next(r: ByteReader): string {
    const shared = r.uvarint();
    const suffixLen = r.uvarint();
    if (shared > this.prev.length) r.fail(`shared key prefix ${shared} longer than previous key`);
    const suffix = r.bytes(suffixLen);
    const keyBytes = new Uint8Array(shared + suffixLen);
    keyBytes.set(this.prev.subarray(0, shared), 0);
    keyBytes.set(suffix, shared);
    this.prev = keyBytes;
    try {
      return this.dec.decode(keyBytes);
    } catch {
      return r.fail("invalid UTF-8 in key");
    }
  }
}

export function decodeDataBlock(contents: Uint8Array, file: string, offsetBytes: number): DecodedBlock {
  const r: ByteReader = new ByteReader(contents, "sstable", file, offsetBytes);
  const n = r.uvarint();
  if (n > contents.length) r.fail(`chunk count ${n} exceeds block size`);
  const keys: string[] = [];
  const ts: number[][] = [];
  const vals: Value[][] = [];
  const keyReader = new PrefixKeyReader();
  for (let i = 0; i < n; i++) {
    const key = keyReader.next(r);
    if (i > 0 && compareKeys(keys[i - 1]!, key) >= 0) r.fail("chunk keys out of order");
    const count = r.uvarint();
    if (count < 1 || count > r.remaining()) r.fail(`bad point count ${count}`);
    const t: number[] = [];
    const v: Value[] = [];
    decodeTimestamps(r, count, t);
    decodeValues(r, count, v);
    for (let j = 1; j < count; j++) if (!(t[j]! > t[j - 1]!)) r.fail("timestamps not increasing");
    keys.push(key);
    ts.push(t);
    vals.push(v);
  }
  // Memory of the decoded block: two 8-byte slots a point, strings at 2 bytes a character.
  let sizeBytes = 256 + n * 96;
  for (let i = 0; i < n; i++) {
    const v = vals[i]!;
    sizeBytes += v.length * 16 + keys[i]!.length * 2;
    if (typeof v[0] === "string") for (const x of v) sizeBytes += (x as string).length * 2;
  }
  return { keys, ts, vals, sizeBytes };
}

/** Index of `key` in a decoded block, or -1. */
export function findChunk(block: DecodedBlock, key: string): number {
  let lo = 0;
  let hi = block.keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareKeys(block.keys[mid]!, key);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}
