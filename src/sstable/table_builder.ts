// Writes one SSTable (layout in sstable/format.ts) to a file, block by block.
// Compression runs on Bun's thread pool (Bun.zstdCompress), so building a table yields to
// the event loop between blocks and never stalls the write path for long.

import { ByteWriter } from "../codec/bytes.ts";
import type { Value } from "../codec/columns.ts";
import { IoError } from "../errors.ts";
import type { VfsFile } from "../vfs/vfs.ts";
import { DataBlockBuilder, frameBlock, freshWriter, withTrailer, writePrefixedKey } from "./block_builder.ts";
import type { WriterFactory } from "./block_builder.ts";
import { bloomHash, buildBloom } from "./bloom.ts";
import {
  COMPRESSION_NONE,
  DEFAULT_BLOCK_MAX_POINTS,
  DEFAULT_BLOCK_TARGET_BYTES,
  DEFAULT_BLOOM_BITS_PER_KEY,
  FOOTER_BYTES,
  SSTABLE_FORMAT_VERSION,
  SSTABLE_MAGIC_HI,
  SSTABLE_MAGIC_LO,
} from "./format.ts";
import type { BlockHandle, IndexEntry } from "./format.ts";

export interface TableBuilderOptions {
  blockTargetBytes?: number;
  /** Most points in one block: bounds the memory of a decoded, cached block. */
  blockMaxPoints?: number;
  bloomBitsPerKey?: number;
  compress?: boolean;
  zstdLevel?: number;
  /**
   * Makes every writer the builder encodes into. For tests, which hand out writers of every
   * initial capacity behind random prefixes; the bytes on disk do not depend on it.
   */
  newWriter?: WriterFactory;
}

export interface TableSummary {
  sizeBytes: number;
  points: number;
  keys: number;
  tombstones: number;
  minTs: number;
  maxTs: number;
}

/** Smallest chunk worth its key and column headers. */
const MIN_POINTS_PER_CHUNK = 32;
/**
 * A table being built is synced every this many bytes (RocksDB's `bytes_per_sync`), so the
 * kernel never holds megabytes of its dirty pages: the WAL's fdatasync, which every write
 * waits for, would otherwise queue behind writing them all back at the table's final sync.
 * Not a durability step (the final sync in `finish` is); it only spreads the writeback.
 */
export const TABLE_BYTES_PER_SYNC = 1024 * 1024;

export class TableBuilder {
  private block: DataBlockBuilder;
  private readonly index: IndexEntry[] = [];
  private readonly keysBlock: ByteWriter;
  /** Where the keys block starts in `keysBlock` (0 unless `newWriter` gives prefixed writers). */
  private readonly keysStart: number;
  private prevKeyBytes: Uint8Array = new Uint8Array(0);
  private readonly hashes: number[] = [];
  private readonly tombs: { key: string; fromTs: number; toTs: number }[] = [];
  private offsetBytes = 0;
  private syncedBytes = 0;
  private keyCount = 0;
  /** Running estimate of encoded bytes a point, for sizing chunks. */
  private bytesPerPoint = 4;
  private points = 0;
  private minTs = Infinity;
  private maxTs = -Infinity;
  private readonly blockTargetBytes: number;
  private readonly blockMaxPoints: number;
  private readonly bloomBitsPerKey: number;
  private readonly compress: boolean;
  private readonly zstdLevel: number;
  private readonly newWriter: WriterFactory;

  constructor(
    private readonly file: VfsFile,
    options: TableBuilderOptions = {},
  ) {
    this.blockTargetBytes = options.blockTargetBytes ?? DEFAULT_BLOCK_TARGET_BYTES;
    this.blockMaxPoints = options.blockMaxPoints ?? DEFAULT_BLOCK_MAX_POINTS;
    this.bloomBitsPerKey = options.bloomBitsPerKey ?? DEFAULT_BLOOM_BITS_PER_KEY;
    this.compress = options.compress ?? true;
    this.zstdLevel = options.zstdLevel ?? 3;
    this.newWriter = options.newWriter ?? freshWriter;
    this.block = new DataBlockBuilder(this.newWriter);
    this.keysBlock = this.newWriter(4096);
    this.keysStart = this.keysBlock.lengthBytes;
  }

  /**
   * Adds a whole series.
   * REQUIRES: keys strictly ascending (compareKeys) across calls; ts strictly ascending;
   * ts.length >= 1.
   */
  async addSeries(key: string, ts: ArrayLike<number>, vals: ArrayLike<Value>): Promise<void> {
    const n = ts.length;
    const kb = this.keysBlock;
    const keyBytes = writePrefixedKey(kb, key, this.prevKeyBytes);
    kb.uvarint(n);
    kb.svarint(ts[0]!);
    kb.svarint(ts[n - 1]!);
    this.prevKeyBytes = keyBytes;
    this.keyCount++;
    this.hashes.push(bloomHash(key));
    this.points += n;
    if (ts[0]! < this.minTs) this.minTs = ts[0]!;
    if (ts[n - 1]! > this.maxTs) this.maxTs = ts[n - 1]!;
    for (let start = 0; start < n; ) {
      // Size the chunk to what is left of the block target, from the bytes a point has
      // cost so far, so long series split into blocks of about the target size.
      const roomBytes = Math.max(0, this.blockTargetBytes - this.block.sizeBytes);
      const roomPoints = Math.max(0, this.blockMaxPoints - this.block.points);
      const fit = Math.max(MIN_POINTS_PER_CHUNK, Math.min(roomPoints, Math.floor(roomBytes / this.bytesPerPoint)));
      const end = Math.min(n, start + fit);
      const before = this.block.sizeBytes;
      this.block.add(key, ts, vals, start, end);
      if (end - start >= MIN_POINTS_PER_CHUNK) this.bytesPerPoint = Math.max(0.25, (this.block.sizeBytes - before) / (end - start));
      start = end;
      // A block holds at most one chunk per key: a series that goes on starts a new block.
      if (start < n || this.block.sizeBytes >= this.blockTargetBytes || this.block.points >= this.blockMaxPoints) {
        await this.finishBlock();
      }
    }
  }

  /** Adds a range tombstone (any order; they are few). */
  addTombstone(key: string, fromTs: number, toTs: number): void {
    this.tombs.push({ key, fromTs, toTs });
    // Readers consult a table's tombstones only when its bloom filter admits the key.
    this.hashes.push(bloomHash(key));
  }

  private async finishBlock(): Promise<void> {
    const b = this.block;
    if (b.chunks === 0) return;
    this.block = new DataBlockBuilder(this.newWriter);
    const framed = await frameBlock(b.finish(), this.compress, this.zstdLevel);
    this.index.push({
      firstKey: b.firstKey,
      firstTs: b.firstTs,
      lastKey: b.lastKey,
      lastTs: b.lastTs,
      points: b.points,
      offsetBytes: this.offsetBytes,
      sizeBytes: framed.length,
    });
    this.write(framed);
    if (this.offsetBytes - this.syncedBytes >= TABLE_BYTES_PER_SYNC) {
      this.syncedBytes = this.offsetBytes;
      try {
        await this.file.datasync();
      } catch (e) {
        throw new IoError("sstable", `cannot sync ${this.file.path}`, e);
      }
    }
  }

  private write(bytes: Uint8Array): BlockHandle {
    const handle = { offsetBytes: this.offsetBytes, sizeBytes: bytes.length };
    try {
      this.file.append(bytes);
    } catch (e) {
      throw new IoError("sstable", `cannot write ${this.file.path}`, e);
    }
    this.offsetBytes += bytes.length;
    return handle;
  }

  /** Writes the meta blocks and the footer, and syncs the file. */
  async finish(): Promise<TableSummary> {
    await this.finishBlock();
    // INVARIANT: each block below has its own writer, and a view of it is taken only after
    // its last write: frameBlock reads the view on the thread pool (across an await), then
    // copies it, so the writer must not be written to, grown or reused meanwhile.
    const keysContents = this.newWriter(this.keysBlock.lengthBytes - this.keysStart + 8);
    const keysContentsStart = keysContents.lengthBytes;
    keysContents.uvarint(this.keyCount);
    keysContents.raw(this.keysBlock.bytesSince(this.keysStart));
    const keysHandle = this.write(await frameBlock(keysContents.bytesSince(keysContentsStart), this.compress, this.zstdLevel));

    const tw = this.newWriter(256);
    const twStart = tw.lengthBytes;
    tw.uvarint(this.tombs.length);
    for (const t of this.tombs) {
      tw.str(t.key);
      tw.svarint(t.fromTs);
      tw.svarint(t.toTs);
    }
    const tombHandle = this.write(withTrailer(tw.bytesSince(twStart), COMPRESSION_NONE));

    const iw = this.newWriter(this.index.length * 64 + 16);
    const iwStart = iw.lengthBytes;
    iw.uvarint(this.index.length);
    for (const e of this.index) {
      iw.str(e.firstKey);
      iw.svarint(e.firstTs);
      iw.str(e.lastKey);
      iw.svarint(e.lastTs);
      iw.uvarint(e.points);
      iw.uvarint(e.offsetBytes);
      iw.uvarint(e.sizeBytes);
    }
    const indexHandle = this.write(await frameBlock(iw.bytesSince(iwStart), this.compress, this.zstdLevel));
    const bloom = buildBloom(this.hashes, this.bloomBitsPerKey, this.newWriter === freshWriter ? undefined : this.newWriter(16));
    const bloomHandle = this.write(withTrailer(bloom, COMPRESSION_NONE));

    const f = this.newWriter(FOOTER_BYTES);
    const fStart = f.lengthBytes;
    for (const h of [keysHandle, tombHandle, indexHandle, bloomHandle]) {
      f.u64(h.offsetBytes);
      f.u32(h.sizeBytes);
    }
    f.u32(SSTABLE_FORMAT_VERSION);
    f.u32(0);
    f.u32(SSTABLE_MAGIC_LO);
    f.u32(SSTABLE_MAGIC_HI);
    this.write(f.bytesSince(fStart));
    try {
      await this.file.datasync();
    } catch (e) {
      throw new IoError("sstable", `cannot sync ${this.file.path}`, e);
    }
    return {
      sizeBytes: this.offsetBytes,
      points: this.points,
      keys: this.keyCount,
      tombstones: this.tombs.length,
      minTs: this.points ? this.minTs : 0,
      maxTs: this.points ? this.maxTs : 0,
    };
  }
}
