// Builds the contents of one data block (layout in sstable/format.ts) and frames any block
// for disk (compression byte + CRC trailer).

import { ByteWriter, utf8Encode } from "../codec/bytes.ts";
import { encodeTimestamps, encodeValues } from "../codec/columns.ts";
import type { Value } from "../codec/columns.ts";
import { COMPRESSION_NONE, COMPRESSION_ZSTD } from "./format.ts";

/**
 * Writes `key` prefix-compressed against `prevKeyBytes`
 * (uvarint shared | uvarint suffixBytes | suffix); returns the key's UTF-8 bytes.
 */
export function writePrefixedKey(w: ByteWriter, key: string, prevKeyBytes: Uint8Array): Uint8Array {
  const keyBytes = utf8Encode(key);
  let shared = 0;
  const maxShared = Math.min(keyBytes.length, prevKeyBytes.length);
  while (shared < maxShared && keyBytes[shared] === prevKeyBytes[shared]) shared++;
  w.uvarint(shared);
  w.uvarint(keyBytes.length - shared);
  w.raw(keyBytes.subarray(shared));
  return keyBytes;
}

/** Makes the writers a builder encodes into (tests pass writers of every capacity, behind prefixes). */
export type WriterFactory = (capacityBytes: number) => ByteWriter;
export const freshWriter: WriterFactory = (capacityBytes) => new ByteWriter(capacityBytes);

export class DataBlockBuilder {
  private readonly body: ByteWriter;
  /** Where this block's bytes start in `body` (0 unless the factory hands out prefixed writers). */
  private readonly bodyStart: number;
  private prevKeyBytes: Uint8Array = new Uint8Array(0);
  chunks = 0;
  points = 0;
  firstKey = "";
  firstTs = 0;
  lastKey = "";
  lastTs = 0;

  constructor(private readonly newWriter: WriterFactory = freshWriter) {
    this.body = newWriter(64 * 1024);
    this.bodyStart = this.body.lengthBytes;
  }

  /** Raw size so far; the table builder cuts the block once this reaches its target. */
  get sizeBytes(): number {
    return this.body.lengthBytes - this.bodyStart;
  }

  /**
   * Adds points [start, end) of one series.
   * REQUIRES: key greater than every key added before; ts strictly increasing; end > start.
   */
  add(key: string, ts: ArrayLike<number>, vals: ArrayLike<Value>, start: number, end: number): void {
    const w = this.body;
    const keyBytes = writePrefixedKey(w, key, this.prevKeyBytes);
    w.uvarint(end - start);
    encodeTimestamps(w, ts, start, end);
    encodeValues(w, vals, start, end);
    if (this.chunks === 0) {
      this.firstKey = key;
      this.firstTs = ts[start]!;
    }
    this.lastKey = key;
    this.lastTs = ts[end - 1]!;
    this.prevKeyBytes = keyBytes;
    this.chunks++;
    this.points += end - start;
  }

  /** The block contents: chunk count followed by the chunks. */
  finish(): Uint8Array {
    // Two writers: the view of `body` stays valid while `out` grows (never the same writer).
    const out = this.newWriter(this.sizeBytes + 8);
    const start = out.lengthBytes;
    out.uvarint(this.chunks);
    out.raw(this.body.bytesSince(this.bodyStart));
    return out.bytesSince(start).slice();
  }
}

/** Compresses `contents` (zstd off the event loop) and appends the trailer. */
export async function frameBlock(contents: Uint8Array, compress: boolean, zstdLevel: number): Promise<Uint8Array> {
  let stored = contents;
  let compression = COMPRESSION_NONE;
  if (compress && contents.length > 64) {
    const z = await Bun.zstdCompress(contents, { level: zstdLevel });
    if (z.length < contents.length) {
      stored = z;
      compression = COMPRESSION_ZSTD;
    }
  }
  return withTrailer(stored, compression);
}

export function withTrailer(stored: Uint8Array, compression: number): Uint8Array {
  const out = new Uint8Array(stored.length + 5);
  out.set(stored, 0);
  out[stored.length] = compression;
  const crc = Bun.hash.crc32(out.subarray(0, stored.length + 1));
  new DataView(out.buffer).setUint32(stored.length + 1, crc, true);
  return out;
}
