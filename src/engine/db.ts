// The embedded database: one data directory, one writer process.
//
// Data flow: put -> WAL (group commit) -> active memtable; a full memtable is frozen and
// flushed to an SSTable in the background while a new one takes writes; compaction merges
// adjacent SSTables in the background. Reads merge active memtable, frozen memtable and
// SSTables, newest first (engine/read_merge.ts).
//
// Invariants:
// - A write's promise resolves only after its WAL record is durable (per the sync mode)
//   and it is visible to reads. Writes are applied in sequence-number order.
// - manifest.flushedSeq is the highest seq such that every write with seq <= it is in an
//   SSTable listed in the manifest; WAL replay applies only records above it.
// - A WAL segment is deleted only when every write in it is flushed (and, once replication
//   exists, every replica has it).
// - A file is deleted only after a durable manifest no longer lists it and no iterator
//   holds it open.

import type { Value } from "../codec/columns.ts";
import { MAX_ABS_TS_MS } from "../codec/columns.ts";
import { carriedTombstones, mergeTables } from "../compaction/merge.ts";
import { fullCompaction, pickCompaction } from "../compaction/policy.ts";
import type { CompactionTask } from "../compaction/policy.ts";
import { ClosedError, CityHallError, CorruptionError, IoError, InvalidArgumentError } from "../errors.ts";
import type { TableMeta } from "../manifest/format.ts";
import type { ManifestData } from "../manifest/format.ts";
import { emptyManifest, loadManifest, saveManifest } from "../manifest/store.ts";
import { MemTable, compareKeys, lowerBound, upperBound } from "../memtable/memtable.ts";
import type { Tombstone } from "../memtable/memtable.ts";
import { BlockCache } from "../sstable/block_cache.ts";
import { bloomHash } from "../sstable/bloom.ts";
import { parseSstFileName, sstFileName } from "../sstable/format.ts";
import { TableBuilder } from "../sstable/table_builder.ts";
import { TableReader } from "../sstable/table_reader.ts";
import type { Run } from "../sstable/table_reader.ts";
import { joinPath, mkdirpDurable } from "../vfs/vfs.ts";
import type { Vfs } from "../vfs/vfs.ts";
import { encodeDelete, encodePutBatch, groupPoints } from "../wal/batch.ts";
import type { WalEntry } from "../wal/batch.ts";
import { describeRecoveryReport, moveSegmentsAside, recoverWal } from "../wal/recovery.ts";
import type { RecoveryReport } from "../wal/recovery.ts";
import { segmentsToDelete } from "../wal/retention_policy.ts";
import { WalFollower } from "../wal/follower.ts";
import { segmentFileName } from "../wal/format.ts";
import { WalWriter } from "../wal/writer.ts";
import type { CommitListener, WalPosition, WalSink } from "../wal/writer.ts";
import { decodeEntry } from "../wal/batch.ts";
import { readOrCreateNodeId } from "./node_id.ts";
import { acquireLock, releaseLock } from "./lock.ts";
import type { DbOptions, ResolvedOptions } from "./options.ts";
import { resolveOptions } from "./options.ts";
import { mergeSeries } from "./read_merge.ts";
import type { MergeSource } from "./read_merge.ts";
import { checkKey, checkTs, checkValue } from "./validate.ts";
import { checkNotExpired, retentionCutoff } from "./retention.ts";
import type { RetentionDecision } from "./retention.ts";
import { openTables } from "./quarantine.ts";
import type { QuarantineReport } from "./quarantine.ts";
import { errnoOf } from "../errors.ts";

export interface Point {
  key: string;
  ts: number;
  value: Value;
}

/** A point to write; `ts` defaults to the node's clock. */
export interface PointWrite {
  key: string;
  ts?: number;
  value: Value;
}

export interface WriteResult {
  seq: number;
  points: number;
}

export interface RangeOptions {
  limit?: number;
  reverse?: boolean;
}

export interface DbStats {
  lastSeq: number;
  flushedSeq: number;
  memtableBytes: number;
  memtablePoints: number;
  immutableMemtablePoints: number;
  tables: number;
  sstBytes: number;
  sstPoints: number;
  walSegments: number;
  walBytes: number;
  walSyncs: number;
  flushes: number;
  compactions: number;
  compactionRunning: boolean;
  blockCacheBytes: number;
  blockCacheHits: number;
  blockCacheMisses: number;
  recovery: RecoveryReport[];
  /** SSTables found damaged at open and moved aside (their points are unreadable). */
  quarantined: QuarantineReport[];
  /** Set when the node started without a writable WAL (disk full): reads only. */
  readOnlyReason: string | null;
  retention: {
    /** Oldest timestamp kept, or null when retention is off. */
    cutoffMs: number | null;
    /** True while the clock is ahead of the stored data and the cutoff is held back. */
    clockAhead: boolean;
    /** Points retention removed from SSTables since start. */
    removedPoints: number;
  };
}

const MIN_TS = -MAX_ABS_TS_MS;
/** Keys that passed checkKey, remembered up to this many. */
const CHECKED_KEYS_MAX = 100_000;
/** Minimum time between attempts to flush after a failed flush. */
const FLUSH_RETRY_MS = 1000;
const MAX_TS = MAX_ABS_TS_MS;
const WAL_DIR = "wal";
const SST_DIR = "sst";

/** The sink of a leader that started read-only: nothing to append to, nothing to sync. */
const NO_WAL: WalSink = {
  segmentNo: 0,
  segmentSizeBytes: 0,
  failed: null,
  syncCount: 0,
  idle: async () => {},
  rollSoon: async () => {},
  close: async () => {},
};

interface SegmentInfo {
  segmentNo: number;
  maxSeq: number;
  sizeBytes: number;
}

/** An SSTable being written: its builder, and how to finish, open or abandon it. */
interface PendingTable {
  builder: TableBuilder;
  finish(minSeq: number, maxSeq: number): Promise<TableMeta>;
  open(): TableReader;
  abandon(): void;
}

export class Db {
  readonly dir: string;
  private readonly opts: ResolvedOptions;
  private readonly vfs: Vfs;
  private readonly walDir: string;
  private readonly sstDir: string;
  private manifest: ManifestData;
  /** Oldest first, parallel to manifest.tables. */
  private tables: TableReader[];
  private active = new MemTable();
  private immutable: MemTable | null = null;
  /** The leader's own WAL, or null on a replica. */
  private wal: WalWriter | null = null;
  /** A replica's copy of its leader's WAL, or null on a leader. */
  private follower: WalFollower | null = null;
  /** This data directory's identity (a leader's id, a replica's default replica id). */
  nodeId = "";
  private segments = new Map<number, SegmentInfo>();
  /** Next SSTable file number; allocated here so a flush and a compaction never collide. */
  private nextFileNo: number;
  /** Serialises manifest replacements (flush and compaction both install new ones). */
  private manifestLock: Promise<void> = Promise.resolve();
  private readonly checkedKeys = new Set<string>();
  /**
   * Last sequence number handed out. WAL sequence numbers are contiguous: a number is reused
   * only if no record carrying it reached the file (replicas take a gap for lost history and
   * demand a snapshot). So on a leader every number above `writtenSeq` is in a record queued
   * in the WalWriter, and when the writer drops its queue after a failed write it rewinds
   * `lastSeq` to `writtenSeq` before any other write can take a number.
   */
  private lastSeq: number;
  /**
   * Leader: the highest sequence number whose record reached the WAL file. Set in the apply
   * callback, which in "always" mode runs after the fdatasync: no discard can fall between
   * (the writer writes one batch at a time, and a failed fdatasync poisons it instead).
   */
  private writtenSeq = 0;
  private readonly cache: BlockCache;
  private flushing: Promise<void> | null = null;
  private flushError: Error | null = null;
  private flushRetryTimer: ReturnType<typeof setTimeout> | null = null;
  private lastFlushFailureMs = 0;
  private compacting: Promise<void> | null = null;
  private compactionError: Error | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly recovery: RecoveryReport[];
  private quarantined: QuarantineReport[] = [];
  /** Why writes are refused on a leader that could not start its WAL (disk full), or null. */
  private readOnlyReason: string | null = null;
  /** Newest timestamp ever stored (retention never measures from a clock far past it). */
  private newestTsMs: number | undefined;
  private retentionRemovedPoints = 0;
  private clockAheadLogged = false;
  /** What went wrong while closing (reported by the node instead of "all data is on disk"). */
  private closeProblems: string[] = [];
  private flushCount = 0;
  private compactionCount = 0;
  /** Lowest WAL segment some other party still needs (set by replication). */
  private walHold: (() => number | undefined) | undefined;

  private constructor(dir: string, opts: ResolvedOptions, manifest: ManifestData, tables: TableReader[], cache: BlockCache, recovery: RecoveryReport[]) {
    this.dir = dir;
    this.opts = opts;
    this.vfs = opts.vfs;
    this.walDir = joinPath(dir, WAL_DIR);
    this.sstDir = joinPath(dir, SST_DIR);
    this.manifest = manifest;
    this.tables = tables;
    this.cache = cache;
    this.lastSeq = manifest.flushedSeq;
    this.nextFileNo = manifest.nextFileNo;
    this.recovery = recovery;
  }

  /** Opens (creating if needed) the database in `dir` and replays its WAL. */
  static async open(dir: string, options: DbOptions = {}): Promise<Db> {
    const opts = resolveOptions(options);
    const vfs = opts.vfs;
    try {
      // Durable directories: a wal/ or sst/ whose entry was never synced vanishes in a power
      // cut with every segment and table in it. The data directory is synced every open (not
      // only when wal/ or sst/ is new) in case a crash fell between a mkdir and its sync.
      mkdirpDurable(vfs, dir);
      vfs.mkdirp(joinPath(dir, WAL_DIR));
      vfs.mkdirp(joinPath(dir, SST_DIR));
      vfs.syncDir(dir);
    } catch (e) {
      throw new IoError("db", `cannot create data directory ${dir}`, e);
    }
    acquireLock(vfs, dir);
    try {
      return await Db.openLocked(dir, opts);
    } catch (e) {
      releaseLock(vfs, dir);
      throw e;
    }
  }

  private static async openLocked(dir: string, opts: ResolvedOptions): Promise<Db> {
    const vfs = opts.vfs;
    const manifest = loadManifest(vfs, dir) ?? emptyManifest();
    const cache = new BlockCache(opts.blockCacheBytes);
    const sstDir = joinPath(dir, SST_DIR);
    const live = new Set(manifest.tables.map((t) => t.fileNo));
    // Remove tables a crash left behind before the manifest named them, and temp files.
    for (const name of vfs.list(sstDir)) {
      const no = parseSstFileName(name);
      if ((no !== undefined && !live.has(no)) || name.endsWith(".tmp")) vfs.remove(joinPath(sstDir, name));
    }
    const opened = await openTables(vfs, dir, sstDir, manifest, cache, opts.logger);
    const db = new Db(dir, opts, opened.manifest, opened.tables, cache, []);
    db.quarantined = opened.quarantined;
    for (const t of opened.manifest.tables) if (t.points > 0) db.noteTs(t.maxTs);
    const walDir = joinPath(dir, WAL_DIR);
    try {
      await db.recoverAndStartWal(walDir);
    } catch (e) {
      await db.wal?.close().catch(() => {});
      for (const t of db.tables) t.close();
      throw e;
    }
    return db;
  }

  /**
   * Replays the WAL (engine/../wal/recovery.ts tells torn tails from corruption), starts the
   * WAL for new writes, and finishes a salvage: the salvaged writes are flushed to an
   * SSTable before their damaged segment is moved aside, so a crash in between only means
   * salvaging again.
   */
  private async recoverAndStartWal(walDir: string): Promise<void> {
    const { vfs, logger } = this.opts;
    const flushedSeq = this.manifest.flushedSeq;
    const result = await recoverWal(vfs, walDir, (entry) => this.replay(entry), {
      salvage: this.opts.salvage,
      flushedSeq,
      syncKind: this.opts.sync.kind,
      fix:
        this.opts.role === "replica"
          ? "This is a replica, whose WAL is a copy of its leader's: stop it, move its data directory aside, and start it again to take a fresh snapshot from the leader"
          : undefined,
    });
    this.recovery.push(...result.reports);
    const salvaged = new Set(result.salvaged);
    for (const s of result.segments) if (!salvaged.has(s.segmentNo)) this.segments.set(s.segmentNo, { ...s });
    const lastSegment = result.segments.length ? result.segments[result.segments.length - 1]!.segmentNo : 0;
    this.nodeId = await readOrCreateNodeId(vfs, this.dir);
    if (this.opts.role === "replica") {
      this.follower = WalFollower.open(vfs, walDir, this.opts.sync, lastSegment ? { segmentNo: lastSegment } : undefined);
    } else {
      try {
        // Not lastSegment + 1: a segment moved aside keeps its number (never reused).
        this.wal = await WalWriter.create(vfs, walDir, Math.max(lastSegment + 1, result.nextSegmentNo), { segmentBytes: this.opts.walSegmentBytes, sync: this.opts.sync });
        this.writtenSeq = this.lastSeq;
        this.wal.onDiscard(() => {
          this.lastSeq = this.writtenSeq;
        });
        this.segments.set(this.wal.segmentNo, { segmentNo: this.wal.segmentNo, maxSeq: 0, sizeBytes: this.wal.segmentSizeBytes });
      } catch (e) {
        const io = e instanceof IoError ? e : new IoError("wal", `cannot create WAL segment ${segmentFileName(lastSegment + 1)}`, e);
        if (io.errno !== "ENOSPC" && io.errno !== "EDQUOT" && errnoOf((e as { cause?: unknown }).cause) !== "ENOSPC") throw e;
        // Every acknowledged write was just replayed: serve reads, refuse writes.
        this.readOnlyReason = `this node started read-only (reads work, writes are refused): ${io.message.replace(/^cityhall\//, "")}; restart the node once there is free space to take writes again`;
        logger.error(`cityhall/db: ${this.readOnlyReason}`);
      }
    }
    if (result.salvaged.length) {
      // Segments whose writes are all in SSTables already need no flush to be moved aside.
      const needFlush = result.reports.some((r) => r.damage === "corruption" && !r.alreadyFlushed);
      if (needFlush) {
        if (!this.wal) throw new IoError("db", "cannot salvage the damaged WAL without a writable WAL to continue from", this.readOnlyReason);
        await this.flush();
      }
      moveSegmentsAside(vfs, walDir, result.salvaged, this.recovery);
    }
    for (const r of this.recovery) {
      const line = `cityhall/wal: ${describeRecoveryReport(r, flushedSeq)}`;
      if (r.damage === "corruption" && r.alreadyFlushed) logger.warn(`${line} (every write in it is already in SSTables)`);
      else if (r.damage === "corruption") logger.error(`${line} (salvaged: every valid record around it was replayed)`);
      // A torn write drops records on evidence (zeros) that could still be wrong: ERROR.
      else if (r.damage === "unreadable-segment" || r.damage === "torn-write") logger.error(line);
      else logger.warn(line);
    }
    this.maybeFreeze();
  }

  /** Remembers the newest timestamp stored (for the retention clock bound). */
  private noteTs(ts: number): void {
    if (this.newestTsMs === undefined || ts > this.newestTsMs) this.newestTsMs = ts;
  }

  private replay(entry: WalEntry): void {
    if (entry.seq > this.lastSeq) this.lastSeq = entry.seq;
    if (entry.seq <= this.manifest.flushedSeq) return;
    this.applyEntry(entry);
  }

  private applyEntry(entry: WalEntry): void {
    const mem = this.active;
    if (entry.kind === "put") {
      for (const g of entry.groups) {
        mem.putSeries(g.key, g.ts, g.vals);
        for (const ts of g.ts) this.noteTs(ts);
      }
    } else {
      mem.deleteRange(entry.key, entry.fromTs, entry.toTs);
    }
    mem.noteSeq(entry.seq);
  }

  // ---------------------------------------------------------------- writes

  private checkOpen(): void {
    if (this.closed) throw new ClosedError("db", "the database is closed");
  }

  /** The WAL in use, whichever role (a stand-in on a leader started read-only). */
  private get sink(): WalSink {
    return this.wal ?? this.follower ?? NO_WAL;
  }

  private leaderWal(): WalWriter {
    if (this.readOnlyReason) throw new CityHallError("UNAVAILABLE", "db", this.readOnlyReason);
    if (!this.wal) {
      throw new CityHallError("READ_ONLY", "db", "this node is a replica: it takes writes only from its leader; write to the leader instead");
    }
    return this.wal;
  }

  /**
   * Waits while both memtables are full. When the last flush failed (disk full), tries it
   * again at most once a second; a write that finds it still failing is rejected with the
   * cause instead of waiting forever.
   */
  private async waitForRoom(): Promise<void> {
    while (this.active.sizeBytes >= this.opts.memtableBytes && this.immutable) {
      if (this.flushing) {
        await this.flushing;
        continue;
      }
      if (this.flushError) {
        if (Date.now() - this.lastFlushFailureMs < FLUSH_RETRY_MS) {
          throw new IoError("db", "cannot accept writes: writing the memtable to disk failed", this.flushError);
        }
        this.startFlush();
        continue;
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** Writes one point; resolves once it is durable. */
  put(key: string, value: Value, ts?: number): Promise<WriteResult> {
    return this.putMany([{ key, value, ts }]);
  }

  /** Writes a batch atomically (one WAL record, one sequence number). */
  async putMany(points: readonly PointWrite[]): Promise<WriteResult> {
    this.checkOpen();
    this.leaderWal();
    if (!Array.isArray(points)) throw new InvalidArgumentError("db", "putMany takes an array of points");
    if (points.length === 0) return { seq: this.lastSeq, points: 0 };
    const now = this.opts.clock();
    // Newest timestamp the caller gave; points without one are stamped with the clock and
    // never lift the retention clock bound (engine/retention.ts).
    let newest: number | undefined;
    let stamped = false;
    let lastKey: string | null = null;
    for (let i = 0; i < points.length; i++) {
      const p = points[i]!;
      if (p === null || typeof p !== "object") throw new InvalidArgumentError("db", `point ${i} is not an object`);
      if (p.key !== lastKey) {
        // Gateways write the same series over and over: check each key once.
        if (!this.checkedKeys.has(p.key)) {
          checkKey(p.key);
          if (this.checkedKeys.size >= CHECKED_KEYS_MAX) this.checkedKeys.clear();
          this.checkedKeys.add(p.key);
        }
        lastKey = p.key;
      }
      if (p.ts !== undefined) {
        checkTs(p.ts);
        if (newest === undefined || p.ts > newest) newest = p.ts;
      } else {
        stamped = true;
      }
      checkValue(p.value, i);
    }
    if (this.opts.retentionMs !== undefined && newest !== undefined) {
      // Measured as it will be once the batch is stored (its own points count as stored), so
      // exactly what the retention would drop right after the write is refused, and an
      // empty database measures the clock against the batch, not against nothing.
      const retention = this.retentionDecision(now, newest);
      for (let i = 0; i < points.length; i++) {
        const p = points[i]!;
        if (p.ts !== undefined) checkNotExpired(p.ts, i, p.key, retention, now, this.opts.retentionMs);
      }
    }
    await this.waitForRoom();
    this.checkOpen();
    const groups = groupPoints(points, now);
    // Encode before taking the number: a batch that cannot be encoded (too large) must not
    // consume a sequence number (replicas check that sequence numbers are contiguous).
    const seq = this.lastSeq + 1;
    const record = encodePutBatch(seq, groups);
    this.lastSeq = seq;
    await this.leaderWal().append(record, (pos) => {
      this.writtenSeq = seq;
      const mem = this.active;
      for (const g of groups) mem.putSeries(g.key, g.ts, g.vals);
      mem.noteSeq(seq);
      if (newest !== undefined) this.noteTs(newest);
      // A point stamped with the clock counts as stored data only while the clock agrees
      // with the data already stored (within the retention clock lead): otherwise a node fed
      // only stamped points would freeze its retention (and cry "clock ahead") a day after a
      // restart, while a clock that jumped ahead still cannot lift the bound.
      if (stamped && this.newestTsMs !== undefined && now <= this.newestTsMs + this.opts.retentionClockLeadMs) this.noteTs(now);
      this.noteSegment(pos, seq);
      this.maybeFreeze();
    });
    return { seq, points: points.length };
  }

  /** Hides the series `key` between fromTs and toTs inclusive (the whole series by default). */
  async delete(key: string, fromTs: number = MIN_TS, toTs: number = MAX_TS): Promise<WriteResult> {
    this.checkOpen();
    this.leaderWal();
    checkKey(key, "lookup"); // an old series with a control character can still be deleted
    checkTs(fromTs, "from");
    checkTs(toTs, "to");
    if (fromTs > toTs) throw new InvalidArgumentError("db", `delete range is empty: from ${fromTs} > to ${toTs}`);
    await this.waitForRoom();
    this.checkOpen();
    const seq = this.lastSeq + 1;
    const record = encodeDelete(seq, key, fromTs, toTs);
    this.lastSeq = seq;
    await this.leaderWal().append(record, (pos) => {
      this.writtenSeq = seq;
      this.active.deleteRange(key, fromTs, toTs);
      this.active.noteSeq(seq);
      this.noteSegment(pos, seq);
      this.maybeFreeze();
    });
    return { seq, points: 0 };
  }

  private noteSegment(pos: WalPosition, seq: number): void {
    let s = this.segments.get(pos.segmentNo);
    if (!s) this.segments.set(pos.segmentNo, (s = { segmentNo: pos.segmentNo, maxSeq: 0, sizeBytes: 0 }));
    if (seq > s.maxSeq) s.maxSeq = seq;
    if (pos.endBytes > s.sizeBytes) s.sizeBytes = pos.endBytes;
  }

  // ---------------------------------------------------------------- flush

  private maybeFreeze(): void {
    if (this.immutable || this.closed) return;
    if (this.active.sizeBytes < this.opts.memtableBytes) return;
    this.freeze();
  }

  private freeze(): void {
    this.immutable = this.active;
    this.active = new MemTable();
    this.startFlush();
  }

  /** Starts writing the immutable memtable to an SSTable. REQUIRES: immutable set, no flush running. */
  private startFlush(): void {
    if (this.flushRetryTimer) clearTimeout(this.flushRetryTimer);
    this.flushRetryTimer = null;
    this.flushing = this.runFlush().finally(() => {
      this.flushing = null;
    });
  }

  private async runFlush(): Promise<void> {
    const mem = this.immutable!;
    let builder: PendingTable | null = null;
    try {
      const fileNo = this.nextFileNo++;
      builder = await this.newTable(fileNo);
      for (const key of mem.sortedKeys()) {
        const s = mem.series.get(key)!;
        if (s.ts.length > 0) await builder.builder.addSeries(key, s.ts, s.vals);
      }
      for (const t of mem.tombstones) builder.builder.addTombstone(t.key, t.fromTs, t.toTs);
      const meta = await builder.finish(mem.minSeq, mem.maxSeq);
      const reader = builder.open();
      // From here the file may be named by a durable manifest, even if saving it reports an
      // error: it must never be removed as "partial".
      builder = null;
      await this.updateManifest(
        (cur) => ({ nextFileNo: this.nextFileNo, flushedSeq: mem.maxSeq, tables: [...cur.tables, meta] }),
        [reader],
        [],
      );
      this.immutable = null;
      this.flushError = null;
      this.flushCount++;
    } catch (e) {
      // A partial table (disk full mid-build) must not sit in sst/ until the next start.
      if (builder) {
        try {
          builder.abandon();
        } catch (rmErr) {
          this.opts.logger.warn(`cityhall/db: cannot remove a partial SSTable: ${String(rmErr)}`);
        }
      }
      this.flushError = e instanceof Error ? e : new Error(String(e));
      this.lastFlushFailureMs = Date.now();
      this.opts.logger.error(`cityhall/db: flush failed, will retry in ${FLUSH_RETRY_MS} ms: ${this.flushError.message}`);
      if (!this.closed) {
        this.flushRetryTimer = setTimeout(() => {
          this.flushRetryTimer = null;
          if (this.immutable && !this.flushing && !this.closed) this.startFlush();
        }, FLUSH_RETRY_MS);
      }
      return;
    }
    // Once the active segment holds only flushed writes, start a new one so it can go.
    const activeSeg = this.segments.get(this.sink.segmentNo);
    if (activeSeg && activeSeg.maxSeq > 0 && activeSeg.maxSeq <= this.manifest.flushedSeq) await this.sink.rollSoon();
    this.deleteObsoleteSegments();
    this.maybeCompact();
  }

  private async newTable(fileNo: number): Promise<PendingTable> {
    const path = joinPath(this.sstDir, sstFileName(fileNo));
    let file;
    try {
      file = this.vfs.open(path, "create");
    } catch (e) {
      throw new IoError("db", `cannot create ${sstFileName(fileNo)}`, e);
    }
    const builder = new TableBuilder(file, { zstdLevel: this.opts.zstdLevel });
    const vfs = this.vfs;
    const cache = this.cache;
    let closed = false;
    return {
      builder,
      async finish(minSeq: number, maxSeq: number): Promise<TableMeta> {
        try {
          const s = await builder.finish();
          return { fileNo, sizeBytes: s.sizeBytes, points: s.points, tombstones: s.tombstones, minTs: s.minTs, maxTs: s.maxTs, minSeq, maxSeq };
        } finally {
          file.close();
          closed = true;
        }
      },
      open(): TableReader {
        if (!closed) file.close();
        return TableReader.open(vfs, path, fileNo, cache);
      },
      abandon(): void {
        if (!closed) file.close();
        vfs.remove(path);
      },
    };
  }

  /**
   * Makes `build(current)` the durable manifest, then swaps table readers: `added` take the
   * places `next.tables` gives them, `removed` are closed and deleted once unused.
   * Calls are serialised, so `build` always sees the latest manifest.
   */
  private updateManifest(build: (cur: ManifestData) => ManifestData, added: TableReader[], removed: TableReader[]): Promise<void> {
    const run = this.manifestLock.then(() => this.installManifest(build(this.manifest), added, removed));
    this.manifestLock = run.catch(() => {});
    return run;
  }

  private async installManifest(next: ManifestData, added: TableReader[], removed: TableReader[]): Promise<void> {
    // The new SST files must be durable in the directory before the manifest names them.
    this.vfs.syncDir(this.sstDir);
    await saveManifest(this.vfs, this.dir, next);
    const byNo = new Map<number, TableReader>();
    for (const t of this.tables) byNo.set(t.fileNo, t);
    for (const t of added) byNo.set(t.fileNo, t);
    this.manifest = next;
    this.tables = next.tables.map((m) => byNo.get(m.fileNo)!);
    for (const t of removed) {
      t.obsolete = true;
      this.releaseIfUnused(t);
    }
  }

  private releaseIfUnused(t: TableReader): void {
    if (!t.obsolete || t.refs > 0) return;
    t.close();
    try {
      this.vfs.remove(joinPath(this.sstDir, sstFileName(t.fileNo)));
    } catch (e) {
      this.opts.logger.warn(`cityhall/db: cannot remove obsolete ${sstFileName(t.fileNo)}: ${String(e)}`);
    }
  }

  /** Deletes the WAL segments nothing needs any more (see wal/retention_policy.ts). */
  pruneWal(): void {
    if (!this.closed) this.deleteObsoleteSegments();
  }

  private deleteObsoleteSegments(): void {
    const hold = this.walHold?.();
    const active = this.sink.segmentNo;
    if (active === 0) return;
    const doomed = segmentsToDelete([...this.segments.values()], active, this.manifest.flushedSeq, hold);
    this.removeSegments(doomed);
    if (!this.segments.has(active)) this.segments.set(active, { segmentNo: active, maxSeq: 0, sizeBytes: this.sink.segmentSizeBytes });
  }

  /** Deletes WAL segment files (a failure is logged: the file is retried at the next prune). */
  private removeSegments(segmentNos: number[]): void {
    for (const no of segmentNos) {
      try {
        this.vfs.remove(joinPath(this.walDir, segmentFileName(no)));
        this.segments.delete(no);
      } catch (e) {
        this.opts.logger.warn(`cityhall/db: cannot remove WAL segment ${segmentFileName(no)}: ${String(e)}`);
      }
    }
    if (segmentNos.length === 0) return;
    try {
      this.vfs.syncDir(this.walDir);
    } catch (e) {
      // Not fatal (and must not escape a background flush as an unhandled rejection): a
      // removal that did not reach the disk brings back a flushed segment, which replay skips.
      this.opts.logger.warn(`cityhall/db: cannot sync ${this.walDir} after removing WAL segments: ${String(e)}`);
    }
  }

  /** Writes the memtable (if not empty) to an SSTable and waits for it. */
  async flush(): Promise<void> {
    this.checkOpen();
    await this.sink.idle();
    while (this.flushing) await this.flushing;
    if (this.immutable) {
      // A previous flush failed; try it again now.
      this.startFlush();
      await this.flushing;
      if (this.immutable) throw new IoError("db", "flush failed", this.flushError);
    }
    if (this.active.isEmpty()) return;
    this.freeze();
    await this.flushing;
    if (this.immutable) throw new IoError("db", "flush failed", this.flushError);
  }

  // ---------------------------------------------------------------- compaction

  /** `alsoNewestMs`: the newest point of a batch about to be stored, counted as stored. */
  private retentionDecision(nowMs: number, alsoNewestMs?: number): RetentionDecision {
    const newest = alsoNewestMs === undefined || (this.newestTsMs !== undefined && this.newestTsMs >= alsoNewestMs) ? this.newestTsMs : alsoNewestMs;
    const d = retentionCutoff(nowMs, newest, this.opts.retentionMs!, this.opts.retentionClockLeadMs);
    if (d.clockAhead && !this.clockAheadLogged) {
      this.clockAheadLogged = true;
      this.opts.logger.warn(
        `cityhall/db: the clock (${new Date(nowMs).toISOString()}) is more than ${this.opts.retentionClockLeadMs} ms ahead of the newest stored point ` +
          `(${new Date(newest!).toISOString()}); retention measures from the newest point instead, so no real data is deleted; check the clock (NTP, RTC)`,
      );
    } else if (!d.clockAhead) this.clockAheadLogged = false;
    return d;
  }

  /** Oldest timestamp kept (MIN_TS with retention off); see engine/retention.ts. */
  private retentionCutoff(): number {
    return this.opts.retentionMs === undefined ? MIN_TS : this.retentionDecision(this.opts.clock()).cutoffMs;
  }

  private noteRetentionRemoved(points: number, cutoffMs: number): void {
    if (points <= 0) return;
    this.retentionRemovedPoints += points;
    this.opts.logger.info(`cityhall/db: retention removed ${points} points older than ${new Date(cutoffMs).toISOString()} (${this.retentionRemovedPoints} since start)`);
  }

  private maybeCompact(): void {
    if (!this.opts.autoCompact || this.compacting || this.closed || this.compactionError) return;
    const task = pickCompaction(
      this.manifest.tables,
      this.opts.compaction,
      this.opts.retentionMs === undefined ? undefined : this.retentionCutoff(),
    );
    if (!task) return;
    this.compacting = this.runCompaction(task)
      .catch((e) => {
        this.compactionError = e instanceof Error ? e : new Error(String(e));
        this.opts.logger.error(`cityhall/db: compaction failed: ${this.compactionError.message}`);
        // Try again later rather than in a tight loop.
        setTimeout(() => {
          this.compactionError = null;
          this.maybeCompact();
        }, 5000).unref?.();
      })
      .finally(() => {
        this.compacting = null;
        this.maybeCompact();
      });
  }

  private async runCompaction(task: CompactionTask): Promise<void> {
    if (task.kind === "expire") {
      const doomed = new Set(task.fileNos);
      const removed = this.tables.filter((t) => doomed.has(t.fileNo));
      const points = this.manifest.tables.filter((t) => doomed.has(t.fileNo)).reduce((n, t) => n + t.points, 0);
      await this.updateManifest((cur) => ({ ...cur, tables: cur.tables.filter((t) => !doomed.has(t.fileNo)) }), [], removed);
      this.compactionCount++;
      this.noteRetentionRemoved(points, this.retentionCutoff());
      return;
    }
    const inputs = this.tables.slice(task.start, task.end);
    const inputMetas = this.manifest.tables.slice(task.start, task.end);
    const cutoff = this.retentionCutoff();
    const fileNo = this.nextFileNo++;
    for (const t of inputs) t.refs++;
    let out: PendingTable | null = null;
    let expired = 0;
    try {
      out = await this.newTable(fileNo);
      // Retention is applied here rather than in mergeTables so what it removes is counted.
      for await (const s of mergeTables(inputs, MIN_TS)) {
        if (this.closed) throw new ClosedError("db", "compaction abandoned: the database is closing");
        const keepFrom = lowerBound(s.ts, cutoff);
        expired += keepFrom;
        if (keepFrom === 0) await out.builder.addSeries(s.key, s.ts, s.vals);
        else if (keepFrom < s.ts.length) await out.builder.addSeries(s.key, s.ts.slice(keepFrom), s.vals.slice(keepFrom));
      }
      for (const tb of carriedTombstones(inputs, task.dropTombstones, cutoff)) out.builder.addTombstone(tb.key, tb.fromTs, tb.toTs);
      const minSeq = Math.min(...inputMetas.map((m) => m.minSeq));
      const maxSeq = Math.max(...inputMetas.map((m) => m.maxSeq));
      const meta = await out.finish(minSeq, maxSeq);
      const keep = meta.points > 0 || meta.tombstones > 0;
      const added = keep ? [out.open()] : [];
      if (!keep) out.abandon();
      out = null;
      await this.updateManifest(
        (cur) => {
          // Replace the input window, found by file number: flushes may have appended since.
          const firstIdx = cur.tables.findIndex((m) => m.fileNo === inputMetas[0]!.fileNo);
          const tables = [...cur.tables];
          tables.splice(firstIdx, inputMetas.length, ...(keep ? [meta] : []));
          return { ...cur, nextFileNo: this.nextFileNo, tables };
        },
        added,
        inputs,
      );
      this.compactionCount++;
      this.noteRetentionRemoved(expired, cutoff);
    } catch (e) {
      out?.abandon();
      throw e;
    } finally {
      for (const t of inputs) {
        t.refs--;
        this.releaseIfUnused(t);
      }
    }
  }

  /** Flushes the memtable and merges every SSTable into one, applying tombstones and retention. */
  async compact(): Promise<void> {
    await this.flush();
    while (this.compacting) await this.compacting;
    const task = fullCompaction(this.tables.length);
    if (!task) return;
    if (this.tables.length === 1 && this.manifest.tables[0]!.tombstones === 0 && this.opts.retentionMs === undefined) return;
    const run = this.runCompaction(task);
    this.compacting = run.catch(() => {}).finally(() => {
      this.compacting = null;
    });
    await run;
  }

  // ---------------------------------------------------------------- reads

  /** Merge sources for `key`, newest first; null when no source can hold it. */
  private sourcesFor(key: string, fromTs: number, toTs: number, reverse: boolean, pinned: TableReader[]): MergeSource[] {
    const sources: MergeSource[] = [];
    let newerTombs: Tombstone[] = [];
    const addMem = (mem: MemTable): void => {
      const s = mem.series.get(key);
      const tombs = mem.tombstonesFor(key);
      if (s && s.ts.length > 0) {
        const a = lowerBound(s.ts, fromTs);
        const b = upperBound(s.ts, toTs, a);
        if (a < b) {
          // Copy: the active memtable keeps changing while a caller iterates lazily.
          const run: Run = { ts: s.ts.slice(a, b), vals: s.vals.slice(a, b), start: 0, end: b - a };
          sources.push({ runs: [run][Symbol.iterator](), hiddenBy: newerTombs });
        }
      }
      if (tombs.length) newerTombs = newerTombs.concat(tombs);
    };
    addMem(this.active);
    if (this.immutable) addMem(this.immutable);
    if (this.tables.length) {
      const h = bloomHash(key);
      for (let i = this.tables.length - 1; i >= 0; i--) {
        const t = this.tables[i]!;
        if (!t.mayContain(h)) continue;
        t.refs++;
        pinned.push(t);
        sources.push({ runs: t.runs(key, fromTs, toTs, reverse), hiddenBy: newerTombs });
        const tombs = t.tombstonesFor(key);
        if (tombs.length) newerTombs = newerTombs.concat(tombs);
      }
    }
    return sources;
  }

  private unpin(pinned: TableReader[]): void {
    for (const t of pinned) {
      t.refs--;
      this.releaseIfUnused(t);
    }
  }

  /** The newest point of a series, or null. */
  get(key: string): Point | null {
    this.checkOpen();
    checkKey(key, "lookup");
    const pinned: TableReader[] = [];
    try {
      const sources = this.sourcesFor(key, MIN_TS, MAX_TS, true, pinned);
      if (sources.length === 0) return null;
      for (const p of mergeSeries(key, sources, true, this.retentionCutoff(), 1)) return p;
      return null;
    } finally {
      this.unpin(pinned);
    }
  }

  /**
   * Points of `key` with fromTs <= ts <= toTs in time order (newest first with reverse).
   * The iterator reads lazily from the state at its first step; files it needs stay open
   * until it finishes or is returned.
   */
  range(key: string, fromTs: number = MIN_TS, toTs: number = MAX_TS, options: RangeOptions = {}): IterableIterator<Point> {
    this.checkOpen();
    checkKey(key, "lookup");
    checkTs(fromTs, "from");
    checkTs(toTs, "to");
    const limit = options.limit ?? Infinity;
    if (!(limit >= 0)) throw new InvalidArgumentError("db", `limit must be >= 0, got ${options.limit}`);
    const reverse = options.reverse ?? false;
    if (fromTs > toTs) return [][Symbol.iterator]();
    // Sources are taken (and their files pinned) when iteration starts, so an iterator that
    // is created but never used holds nothing.
    let inner: Generator<Point> | null = null;
    const start = (): Generator<Point> => {
      this.checkOpen();
      const pinned: TableReader[] = [];
      const sources = this.sourcesFor(key, fromTs, toTs, reverse, pinned);
      return mergeSeries(key, sources, reverse, this.retentionCutoff(), limit, () => this.unpin(pinned));
    };
    const it: IterableIterator<Point> = {
      next: () => (inner ??= start()).next(),
      return: (value?: unknown) => (inner ? inner.return(value as undefined) : { done: true, value: undefined }),
      [Symbol.iterator]: () => it,
    };
    return it;
  }

  /** Series keys starting with `prefix` that have at least one visible point, sorted. */
  keys(prefix = ""): string[] {
    this.checkOpen();
    if (typeof prefix !== "string") throw new InvalidArgumentError("db", "prefix must be a string");
    const candidates = new Set<string>();
    for (const mem of [this.active, this.immutable]) {
      if (!mem) continue;
      for (const [k, s] of mem.series) if (s.ts.length > 0 && k.startsWith(prefix)) candidates.add(k);
    }
    for (const t of this.tables) {
      const infos = t.keys();
      // Keys are sorted: binary-search the first key >= prefix, walk while it matches.
      let lo = 0;
      let hi = infos.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (compareKeys(infos[mid]!.key, prefix) < 0) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < infos.length && infos[i]!.key.startsWith(prefix); i++) candidates.add(infos[i]!.key);
    }
    // A key is listed when it has a visible point. A damaged data block must not fail the
    // whole listing: a key whose visibility cannot be read is listed (the keys block names it).
    let damaged: CorruptionError | null = null;
    const out = [...candidates].filter((k) => {
      try {
        return this.get(k) !== null;
      } catch (e) {
        if (!(e instanceof CorruptionError)) throw e;
        damaged ??= e;
        return true;
      }
    });
    if (damaged) this.opts.logger.warn(`cityhall/db: keys(): listed series whose data is unreadable: ${(damaged as CorruptionError).message}`);
    return out.sort(compareKeys);
  }

  // ---------------------------------------------------------------- status

  stats(): DbStats {
    let walBytes = 0;
    for (const s of this.segments.values()) {
      walBytes += s.segmentNo === this.sink.segmentNo ? this.sink.segmentSizeBytes : s.sizeBytes;
    }
    let sstBytes = 0;
    let sstPoints = 0;
    for (const m of this.manifest.tables) {
      sstBytes += m.sizeBytes;
      sstPoints += m.points;
    }
    return {
      lastSeq: this.lastSeq,
      flushedSeq: this.manifest.flushedSeq,
      memtableBytes: this.active.sizeBytes + (this.immutable?.sizeBytes ?? 0),
      memtablePoints: this.active.points,
      immutableMemtablePoints: this.immutable?.points ?? 0,
      tables: this.manifest.tables.length,
      sstBytes,
      sstPoints,
      walSegments: this.segments.size,
      walBytes,
      walSyncs: this.sink.syncCount,
      flushes: this.flushCount,
      compactions: this.compactionCount,
      compactionRunning: this.compacting !== null,
      blockCacheBytes: this.cache.sizeBytes,
      blockCacheHits: this.cache.hits,
      blockCacheMisses: this.cache.misses,
      recovery: [...this.recovery],
      quarantined: [...this.quarantined],
      readOnlyReason: this.readOnlyReason,
      retention: this.retentionStats(),
    };
  }

  private retentionStats(): DbStats["retention"] {
    if (this.opts.retentionMs === undefined) return { cutoffMs: null, clockAhead: false, removedPoints: this.retentionRemovedPoints };
    const d = retentionCutoff(this.opts.clock(), this.newestTsMs, this.opts.retentionMs, this.opts.retentionClockLeadMs);
    return { cutoffMs: d.cutoffMs, clockAhead: d.clockAhead, removedPoints: this.retentionRemovedPoints };
  }

  /** Problems met by close() (empty after a clean close): the node reports them truthfully. */
  get closeFailures(): readonly string[] {
    return this.closeProblems;
  }

  // ---------------------------------------------------------------- replication

  get role(): "leader" | "replica" {
    return this.opts.role;
  }

  get walDirectory(): string {
    return this.walDir;
  }

  get dataSequence(): number {
    return this.lastSeq;
  }

  /** Leader: calls `listener(segment, startBytes, endBytes)` after each durable commit and each roll. */
  onWalCommit(listener: CommitListener): () => void {
    return this.leaderWal().onCommit(listener);
  }

  /** Leader: the active segment and how far of it may be shipped. */
  walActive(): { segmentNo: number; durableEndBytes: number } {
    const w = this.leaderWal();
    return { segmentNo: w.segmentNo, durableEndBytes: w.durableEndBytes };
  }

  /**
   * Leader: the current tables and flushedSeq, pinned (not deleted by compaction) until
   * `release`. With the WAL from the oldest segment on disk, they hold every write.
   */
  pinTables(): { tables: TableMeta[]; flushedSeq: number; sstDir: string; release: () => void } {
    const readers = [...this.tables];
    for (const t of readers) t.refs++;
    let released = false;
    return {
      tables: this.manifest.tables.map((t) => ({ ...t })),
      flushedSeq: this.manifest.flushedSeq,
      sstDir: this.sstDir,
      release: () => {
        if (released) return;
        released = true;
        this.unpin(readers);
      },
    };
  }

  /** Replica: where the local copy of the leader's WAL ends, or null before the first byte. */
  replicaPosition(): { segment: number; offset: number } | null {
    const f = this.follower;
    if (!f || f.segmentNo === 0) return null;
    return { segment: f.segmentNo, offset: f.segmentSizeBytes };
  }

  private applying: Promise<unknown> = Promise.resolve();

  /**
   * Replica: appends leader WAL bytes for (segment, offset) to the local WAL, makes them
   * durable, and applies their records. Calls are serialised.
   * Returns the points applied and the newest sequence number.
   */
  applyReplicated(segmentNo: number, offsetBytes: number, bytes: Uint8Array): Promise<{ lastSeq: number; points: number }> {
    const run = this.applying.then(async () => {
      this.checkOpen();
      const f = this.follower;
      if (!f) throw new InvalidArgumentError("db", "applyReplicated is for replicas");
      await this.waitForRoom();
      const records = await f.append(segmentNo, offsetBytes, bytes);
      let points = 0;
      for (const rec of records) {
        const entry = decodeEntry(rec.type, rec.payload, String(segmentNo), rec.offsetBytes);
        if (entry.seq > this.lastSeq) this.lastSeq = entry.seq;
        this.noteSegment({ segmentNo, offsetBytes: rec.offsetBytes, endBytes: rec.endBytes }, entry.seq);
        if (entry.seq <= this.manifest.flushedSeq) continue; // already in a snapshot's tables
        if (entry.kind === "put") for (const g of entry.groups) points += g.ts.length;
        this.applyEntry(entry);
        this.maybeFreeze();
      }
      const seg = this.segments.get(segmentNo);
      if (seg) seg.sizeBytes = Math.max(seg.sizeBytes, offsetBytes + bytes.length);
      else this.segments.set(segmentNo, { segmentNo, maxSeq: 0, sizeBytes: offsetBytes + bytes.length });
      return { lastSeq: this.lastSeq, points };
    });
    this.applying = run.catch(() => {});
    return run;
  }

  /**
   * Replica: replaces everything with a leader snapshot: the SSTables staged in `stagedDir`
   * (named as on the leader), `flushedSeq`, and an empty WAL that will start at the
   * leader's follow position. The data directory stays consistent at every step: the new
   * manifest is the switch-over point.
   */
  async installSnapshot(stagedDir: string, tables: TableMeta[], flushedSeq: number): Promise<void> {
    const f = this.follower;
    if (!f) throw new InvalidArgumentError("db", "installSnapshot is for replicas");
    await this.applying;
    while (this.flushing) await this.flushing;
    while (this.compacting) await this.compacting;
    await this.manifestLock;
    const maxFileNo = tables.reduce((m, t) => Math.max(m, t.fileNo), 0);
    // Move staged files in under names no current table uses, then switch manifests.
    const renamed: TableMeta[] = [];
    let next = Math.max(this.nextFileNo, maxFileNo + 1);
    for (const t of tables) {
      const fileNo = next++;
      this.vfs.rename(joinPath(stagedDir, sstFileName(t.fileNo)), joinPath(this.sstDir, sstFileName(fileNo)));
      renamed.push({ ...t, fileNo });
    }
    this.nextFileNo = next;
    this.vfs.syncDir(this.sstDir);
    const old = this.tables;
    const added = renamed.map((t) => TableReader.open(this.vfs, joinPath(this.sstDir, sstFileName(t.fileNo)), t.fileNo, this.cache));
    await this.updateManifest(() => ({ nextFileNo: this.nextFileNo, flushedSeq, tables: renamed }), added, old);
    // The snapshot is the stored data now: the retention clock bound measures from it (else
    // a replica with a fast clock would hide every snapshot point until a WAL record came).
    this.newestTsMs = undefined;
    for (const t of renamed) if (t.points > 0) this.noteTs(t.maxTs);
    // The old WAL and memtables describe the replaced history.
    f.reset();
    this.removeSegments([...this.segments.keys()]);
    this.active = new MemTable();
    this.immutable = null;
    this.lastSeq = flushedSeq;
  }

  /** For replication: the lowest WAL segment that must be kept. */
  setWalHold(hold: (() => number | undefined) | undefined): void {
    this.walHold = hold;
  }

  /** Finishes in-flight work, flushes the memtable, closes files and releases the lock. */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    await this.applying;
    await this.sink.idle();
    while (this.flushing) await this.flushing;
    let flushFailure: unknown = null;
    try {
      if (this.immutable && !this.sink.failed) {
        this.startFlush(); // an earlier flush failed: one more try before stopping
        await this.flushing;
      }
      if (!this.immutable && !this.active.isEmpty() && !this.sink.failed) {
        this.freeze();
        await this.flushing;
      }
    } catch (e) {
      flushFailure = e;
    }
    this.closed = true;
    if (this.flushRetryTimer) clearTimeout(this.flushRetryTimer);
    while (this.compacting) await this.compacting;
    if (this.immutable || flushFailure) {
      const why = (flushFailure ?? this.flushError) as Error | null;
      this.closeProblems.push(
        `the memtable could not be written to an SSTable (${why?.message ?? "unknown error"}); its acknowledged writes stay in the write-ahead log and are replayed at the next start`,
      );
    }
    if (this.sink.failed) {
      this.closeProblems.push(`the write-ahead log failed (${this.sink.failed.message}); only acknowledged writes are on disk`);
    }
    try {
      await this.sink.close();
    } catch (e) {
      this.closeProblems.push(`closing the write-ahead log failed (${(e as Error).message}); writes not yet synced may be lost`);
    }
    for (const t of this.tables) t.close();
    releaseLock(this.vfs, this.dir);
    if (flushFailure && !(flushFailure instanceof CityHallError)) throw flushFailure;
  }
}
