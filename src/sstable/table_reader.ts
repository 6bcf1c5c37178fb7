// Reads an SSTable (layout in sstable/format.ts). The footer, index, bloom filter and
// tombstones are loaded at open; data blocks are read on demand through the block cache;
// the keys block is loaded the first time `keys()` asks for it.
//
// Every structural problem surfaces as a CorruptionError naming the file and offset; a
// damaged data block only fails the reads that touch it (and names the key range it held);
// a damaged keys block makes keys() rebuild the list from the data blocks and the index.

import { ByteReader } from "../codec/bytes.ts";
import type { Value } from "../codec/columns.ts";
import { CorruptionError, IoError } from "../errors.ts";
import { compareKeys, lowerBound, upperBound } from "../memtable/memtable.ts";
import type { Tombstone } from "../memtable/memtable.ts";
import type { Vfs, VfsFile } from "../vfs/vfs.ts";
import type { BlockCache } from "./block_cache.ts";
import { PrefixKeyReader, decodeDataBlock, findChunk, unframeBlock } from "./block_reader.ts";
import type { DecodedBlock } from "./block_reader.ts";
import { BloomFilter } from "./bloom.ts";
import {
  FOOTER_BYTES,
  MAX_BLOCK_BYTES,
  SSTABLE_FORMAT_VERSION,
  SSTABLE_MAGIC_HI,
  SSTABLE_MAGIC_LO,
} from "./format.ts";
import type { BlockHandle, IndexEntry } from "./format.ts";

/** A run of points [start, end) of one series inside parallel arrays. */
export interface Run {
  ts: readonly number[];
  vals: readonly Value[];
  start: number;
  end: number;
}

export interface KeyInfo {
  key: string;
  points: number;
  minTs: number;
  maxTs: number;
}

export class TableReader {
  readonly fileNo: number;
  readonly name: string;
  readonly sizeBytes: number;
  readonly index: IndexEntry[];
  readonly tombstones: Tombstone[];
  private readonly tombsByKey = new Map<string, Tombstone[]>();
  private readonly bloom: BloomFilter;
  private readonly keysHandle: BlockHandle;
  private keyInfos: KeyInfo[] | null = null;
  /** Open iterators; an obsolete table is closed only when this drops to zero. */
  refs = 0;
  obsolete = false;

  private constructor(
    private readonly file: VfsFile,
    fileNo: number,
    name: string,
    private readonly cache: BlockCache,
  ) {
    this.fileNo = fileNo;
    this.name = name;
    this.sizeBytes = file.size();
    if (this.sizeBytes < FOOTER_BYTES) {
      throw new CorruptionError("sstable", `file too short for a footer (${this.sizeBytes} bytes)`, name, 0);
    }
    const footerAt = this.sizeBytes - FOOTER_BYTES;
    const r = new ByteReader(this.readRaw(footerAt, FOOTER_BYTES), "sstable", name, footerAt);
    const handles: BlockHandle[] = [];
    for (let i = 0; i < 4; i++) handles.push({ offsetBytes: r.u64(), sizeBytes: r.u32() });
    const version = r.u32();
    r.u32();
    const magicLo = r.u32();
    const magicHi = r.u32();
    if (magicLo !== SSTABLE_MAGIC_LO || magicHi !== SSTABLE_MAGIC_HI) {
      throw new CorruptionError("sstable", "bad magic number in footer (not a CityHall SSTable)", name, footerAt);
    }
    if (version !== SSTABLE_FORMAT_VERSION) {
      throw new CorruptionError("sstable", `unsupported format version ${version}`, name, footerAt);
    }
    for (const h of handles) {
      if (h.offsetBytes + h.sizeBytes > footerAt || h.sizeBytes > MAX_BLOCK_BYTES) {
        throw new CorruptionError("sstable", "block handle out of range in footer", name, footerAt);
      }
    }
    const [keysHandle, tombHandle, indexHandle, bloomHandle] = handles as [BlockHandle, BlockHandle, BlockHandle, BlockHandle];
    this.keysHandle = keysHandle;
    this.index = this.parseIndex(this.readBlockContents(indexHandle), indexHandle.offsetBytes, footerAt);
    this.tombstones = this.parseTombstones(this.readBlockContents(tombHandle), tombHandle.offsetBytes);
    for (const t of this.tombstones) {
      let list = this.tombsByKey.get(t.key);
      if (!list) this.tombsByKey.set(t.key, (list = []));
      list.push(t);
    }
    this.bloom = new BloomFilter(this.readBlockContents(bloomHandle), name);
  }

  static open(vfs: Vfs, path: string, fileNo: number, cache: BlockCache): TableReader {
    let file: VfsFile;
    try {
      file = vfs.open(path, "read");
    } catch (e) {
      throw new IoError("sstable", `cannot open ${path}`, e);
    }
    try {
      return new TableReader(file, fileNo, path.slice(path.lastIndexOf("/") + 1), cache);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  close(): void {
    this.cache.evictFile(this.fileNo);
    this.file.close();
  }

  private readRaw(offsetBytes: number, sizeBytes: number): Uint8Array {
    const buf = new Uint8Array(sizeBytes);
    let n: number;
    try {
      n = this.file.read(buf, offsetBytes);
    } catch (e) {
      throw new IoError("sstable", `cannot read ${this.name} at offset ${offsetBytes}`, e);
    }
    if (n !== sizeBytes) throw new CorruptionError("sstable", `short read (${n} of ${sizeBytes} bytes)`, this.name, offsetBytes);
    return buf;
  }

  private readBlockContents(h: BlockHandle): Uint8Array {
    return unframeBlock(this.readRaw(h.offsetBytes, h.sizeBytes), this.name, h.offsetBytes);
  }

  private parseIndex(contents: Uint8Array, at: number, dataEnd: number): IndexEntry[] {
    const r = new ByteReader(contents, "sstable", this.name, at);
    const n = r.uvarint();
    if (n > contents.length) r.fail(`block count ${n} exceeds index size`);
    const out: IndexEntry[] = [];
    for (let i = 0; i < n; i++) {
      const e: IndexEntry = {
        firstKey: r.str(),
        firstTs: r.svarint(),
        lastKey: r.str(),
        lastTs: r.svarint(),
        points: r.uvarint(),
        offsetBytes: r.uvarint(),
        sizeBytes: r.uvarint(),
      };
      if (e.offsetBytes + e.sizeBytes > dataEnd || e.sizeBytes > MAX_BLOCK_BYTES) r.fail("data block handle out of range");
      out.push(e);
    }
    return out;
  }

  private parseTombstones(contents: Uint8Array, at: number): Tombstone[] {
    const r = new ByteReader(contents, "sstable", this.name, at);
    const n = r.uvarint();
    if (n > contents.length) r.fail(`tombstone count ${n} exceeds block size`);
    const out: Tombstone[] = [];
    for (let i = 0; i < n; i++) out.push({ key: r.str(), fromTs: r.svarint(), toTs: r.svarint() });
    return out;
  }

  /** Decoded data block `i`, through the cache. */
  block(i: number): DecodedBlock {
    const cached = this.cache.get(this.fileNo, i);
    if (cached) return cached;
    const b = this.decodeBlock(i);
    this.cache.put(this.fileNo, i, b);
    return b;
  }

  /** Decodes block `i` without caching it (compaction reads each block once). */
  blockUncached(i: number): DecodedBlock {
    return this.cache.get(this.fileNo, i) ?? this.decodeBlock(i);
  }

  /** A damaged block fails with what it covers, so the caller knows what is (not) lost. */
  private decodeBlock(i: number): DecodedBlock {
    const h = this.index[i]!;
    try {
      return decodeDataBlock(this.readBlockContents(h), this.name, h.offsetBytes);
    } catch (e) {
      if (!(e instanceof CorruptionError)) throw e;
      const reason = e.message.replace(/^cityhall\/sstable: /, "").replace(/ in \S+ at offset \d+$/, "");
      throw new CorruptionError(
        "sstable",
        `damaged data block (${reason}) holding series ${JSON.stringify(h.firstKey)} ts ${h.firstTs} to ${JSON.stringify(h.lastKey)} ts ${h.lastTs} ` +
          `(${h.points} points, ${h.sizeBytes} bytes); other blocks and series stay readable; restore this range from a replica or a backup`,
        this.name,
        h.offsetBytes,
      );
    }
  }

  mayContain(hash: number): boolean {
    return this.bloom.mayContain(hash);
  }

  tombstonesFor(key: string): readonly Tombstone[] {
    return this.tombsByKey.get(key) ?? [];
  }

  /** Runs of `key` with fromTs <= ts <= toTs, in ascending (or descending) time order. */
  *runs(key: string, fromTs: number, toTs: number, reverse: boolean): Generator<Run> {
    const idx = this.index;
    if (!reverse) {
      // First block whose (lastKey, lastTs) >= (key, fromTs).
      let lo = 0;
      let hi = idx.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const e = idx[mid]!;
        const c = compareKeys(e.lastKey, key);
        if (c < 0 || (c === 0 && e.lastTs < fromTs)) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < idx.length; i++) {
        const e = idx[i]!;
        const c = compareKeys(e.firstKey, key);
        if (c > 0 || (c === 0 && e.firstTs > toTs)) return;
        const b = this.block(i);
        const k = findChunk(b, key);
        if (k < 0) return;
        const ts = b.ts[k]!;
        const start = lowerBound(ts, fromTs);
        const end = upperBound(ts, toTs, start);
        if (start < end) yield { ts, vals: b.vals[k]!, start, end };
      }
    } else {
      // Last block whose (firstKey, firstTs) <= (key, toTs).
      let lo = 0;
      let hi = idx.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const e = idx[mid]!;
        const c = compareKeys(e.firstKey, key);
        if (c < 0 || (c === 0 && e.firstTs <= toTs)) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo - 1; i >= 0; i--) {
        const e = idx[i]!;
        const c = compareKeys(e.lastKey, key);
        if (c < 0 || (c === 0 && e.lastTs < fromTs)) return;
        const b = this.block(i);
        const k = findChunk(b, key);
        if (k < 0) return;
        const ts = b.ts[k]!;
        const start = lowerBound(ts, fromTs);
        const end = upperBound(ts, toTs, start);
        if (start < end) yield { ts, vals: b.vals[k]!, start, end };
      }
    }
  }

  /** Every series key with its point count and time span, ascending. */
  keys(): KeyInfo[] {
    if (this.keyInfos) return this.keyInfos;
    try {
      this.keyInfos = this.readKeysBlock();
    } catch (e) {
      if (!(e instanceof CorruptionError)) throw e;
      this.keysBlockError = e;
      this.keyInfos = this.keysFromIndexAndBlocks();
    }
    return this.keyInfos;
  }

  /** Set when the keys block is damaged and keys() was rebuilt from the data blocks. */
  keysBlockError: CorruptionError | null = null;

  /**
   * Keys without the keys block: every key of every readable data block, plus the first and
   * last keys the index names for a damaged block (points and time spans are then the
   * block's, an over-estimate).
   */
  private keysFromIndexAndBlocks(): KeyInfo[] {
    const byKey = new Map<string, KeyInfo>();
    const note = (key: string, points: number, minTs: number, maxTs: number): void => {
      const k = byKey.get(key);
      if (!k) byKey.set(key, { key, points, minTs, maxTs });
      else {
        k.points += points;
        k.minTs = Math.min(k.minTs, minTs);
        k.maxTs = Math.max(k.maxTs, maxTs);
      }
    };
    for (let i = 0; i < this.index.length; i++) {
      const e = this.index[i]!;
      let b: DecodedBlock;
      try {
        b = this.blockUncached(i);
      } catch (err) {
        if (!(err instanceof CorruptionError)) throw err;
        note(e.firstKey, 0, e.firstTs, e.firstKey === e.lastKey ? e.lastTs : e.firstTs);
        if (e.lastKey !== e.firstKey) note(e.lastKey, 0, e.lastTs, e.lastTs);
        continue;
      }
      for (let k = 0; k < b.keys.length; k++) {
        const ts = b.ts[k]!;
        if (ts.length) note(b.keys[k]!, ts.length, ts[0]!, ts[ts.length - 1]!);
      }
    }
    return [...byKey.values()].sort((a, b) => compareKeys(a.key, b.key));
  }

  private readKeysBlock(): KeyInfo[] {
    const contents = this.readBlockContents(this.keysHandle);
    const r: ByteReader = new ByteReader(contents, "sstable", this.name, this.keysHandle.offsetBytes);
    const n = r.uvarint();
    if (n > contents.length) r.fail(`key count ${n} exceeds keys block size`);
    const keyReader = new PrefixKeyReader();
    const out: KeyInfo[] = [];
    for (let i = 0; i < n; i++) {
      const key = keyReader.next(r);
      out.push({ key, points: r.uvarint(), minTs: r.svarint(), maxTs: r.svarint() });
    }
    return out;
  }

  /** Every chunk in file order (for compaction): key, timestamps, values. */
  *chunks(): Generator<{ key: string; ts: number[]; vals: Value[] }> {
    for (let i = 0; i < this.index.length; i++) {
      const b = this.blockUncached(i);
      for (let k = 0; k < b.keys.length; k++) yield { key: b.keys[k]!, ts: b.ts[k]!, vals: b.vals[k]! };
    }
  }
}
