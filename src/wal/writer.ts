// Appends framed records to the newest WAL segment with group commit.
//
// Invariants:
// - Records are written in the order `append` was called, each wholly inside one segment.
// - In "always" mode a record's `apply` callback runs, and its promise resolves, only after
//   the bytes are on disk (fdatasync). Records that arrive while a sync is in flight wait
//   and go to disk together in the next write + sync (group commit), at most
//   MAX_GROUP_COMMIT_BYTES per write (a larger single record alone): recovery relies on it.
// - A roll fdatasyncs the old segment in every sync mode: only the newest segment can hold
//   unsynced bytes after a power cut (recovery cuts damage only there).
// - A failed write is cut back off the file, so the segment never holds a partial record
//   followed by good ones; its callers get the error. A failed fdatasync poisons the
//   writer: after EIO the kernel may have dropped the dirty pages, so no later write can be
//   acknowledged truthfully (the "fsyncgate" lesson). Restarting replays what is on disk.
// - A batch that fails without any of its bytes staying in the file (the write was cut back,
//   or the roll before it failed) is rejected together with every record queued behind it,
//   and the owner's discard listener runs in the same synchronous section: the records
//   behind were numbered assuming the failed ones would land, so none of them may be written
//   (the owner keeps the WAL's sequence numbers contiguous, see Db.putMany).

import { ClosedError, IoError } from "../errors.ts";
import { joinPath } from "../vfs/vfs.ts";
import type { Vfs, VfsFile } from "../vfs/vfs.ts";
import { MAX_GROUP_COMMIT_BYTES, SEGMENT_HEADER_BYTES, segmentFileName } from "./format.ts";
import { encodeSegmentHeader } from "./record.ts";

export type SyncMode = { kind: "always" } | { kind: "interval"; intervalMs: number } | { kind: "none" };

/** Where a record landed: segment number and the byte range inside that segment. */
export interface WalPosition {
  segmentNo: number;
  offsetBytes: number;
  endBytes: number;
}

export interface WalWriterOptions {
  /** A segment is closed and a new one started once it reaches this size. */
  segmentBytes: number;
  sync: SyncMode;
}

interface Pending {
  record: Uint8Array;
  apply: (pos: WalPosition) => void;
  resolve: (pos: WalPosition) => void;
  reject: (e: unknown) => void;
}

export type CommitListener = (segmentNo: number, startBytes: number, endBytes: number) => void;

/** What the engine needs of a WAL, whether it writes its own (leader) or copies one (replica). */
export interface WalSink {
  /** The segment being appended to; 0 when there is none yet. */
  readonly segmentNo: number;
  readonly segmentSizeBytes: number;
  readonly failed: Error | null;
  readonly syncCount: number;
  idle(): Promise<void>;
  rollSoon(): Promise<void>;
  close(): Promise<void>;
}

export class WalWriter implements WalSink {
  private file: VfsFile;
  private segmentNoValue: number;
  private pending: Pending[] = [];
  private pendingBytes = 0;
  private draining: Promise<void> | null = null;
  private rollWaiters: (() => void)[] = [];
  private failure: Error | null = null;
  private closed = false;
  private intervalTimer: ReturnType<typeof setInterval> | null = null;
  private unsyncedBytes = 0;
  private readonly listeners = new Set<CommitListener>();
  private discardListener: (() => void) | undefined;
  /**
   * End of what replication may ship from the active segment: the bytes acknowledged to
   * writers (synced in "always" mode). Bytes past it may still be cut off by a failure.
   */
  durableEndBytes: number;
  syncCount = 0;

  private constructor(
    private readonly vfs: Vfs,
    private readonly dir: string,
    private readonly options: WalWriterOptions,
    file: VfsFile,
    segmentNo: number,
  ) {
    this.file = file;
    this.segmentNoValue = segmentNo;
    this.durableEndBytes = file.size();
    if (options.sync.kind === "interval") {
      this.intervalTimer = setInterval(() => void this.backgroundSync(), options.sync.intervalMs);
      (this.intervalTimer as { unref?: () => void }).unref?.();
    }
  }

  /** Starts a new, empty segment `segmentNo` (recovery never appends to an old one). */
  static async create(vfs: Vfs, dir: string, segmentNo: number, options: WalWriterOptions): Promise<WalWriter> {
    const file = await createSegment(vfs, dir, segmentNo);
    return new WalWriter(vfs, dir, options, file, segmentNo);
  }

  get segmentNo(): number {
    return this.segmentNoValue;
  }

  /** Size of the active segment, durable or not. */
  get segmentSizeBytes(): number {
    return this.file.size();
  }

  onCommit(listener: CommitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Sets the function called, synchronously and before any rejection is delivered, when
   * queued records were dropped without reaching the file (see the invariants above). Not
   * called once the writer is poisoned: then records may have reached the file, and nothing
   * more is ever written.
   */
  onDiscard(listener: () => void): void {
    this.discardListener = listener;
  }

  /** The error that poisoned the writer, if any. */
  get failed(): Error | null {
    return this.failure;
  }

  /**
   * Queues a framed record. `apply` runs once the record is durable (per the sync mode),
   * in append order, right before the promise resolves.
   * REQUIRES: `record` is a complete framed record; the caller must not reuse its buffer.
   */
  append(record: Uint8Array, apply: (pos: WalPosition) => void): Promise<WalPosition> {
    if (this.closed) return Promise.reject(new ClosedError("wal", "the write-ahead log is closed"));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<WalPosition>((resolve, reject) => {
      this.pending.push({ record, apply, resolve, reject });
      this.pendingBytes += record.length;
      if (!this.draining) this.draining = this.drain();
    });
  }

  /** Waits until every queued record has been written (and synced in "always" mode). */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    // Let the current macrotask's other appends join this batch.
    await Promise.resolve();
    try {
      while (this.pending.length > 0 || this.rollWaiters.length > 0) {
        if (this.rollWaiters.length > 0) {
          const waiters = this.rollWaiters;
          this.rollWaiters = [];
          try {
            if (!this.failure && this.file.size() > SEGMENT_HEADER_BYTES) await this.roll();
          } catch {
            // Keep writing to the current segment; a later roll will try again.
          }
          for (const w of waiters) w();
          continue;
        }
        // At most MAX_GROUP_COMMIT_BYTES per write (a larger single record goes alone): recovery
        // relies on it to tell a torn last write from corruption. The rest waits, in order.
        let n = 0;
        let bytes = 0;
        while (n < this.pending.length && (n === 0 || bytes + this.pending[n]!.record.length <= MAX_GROUP_COMMIT_BYTES)) {
          bytes += this.pending[n]!.record.length;
          n++;
        }
        const batch = n === this.pending.length ? this.pending : this.pending.slice(0, n);
        this.pending = n === this.pending.length ? [] : this.pending.slice(n);
        this.pendingBytes -= bytes;
        await this.writeBatch(batch, bytes);
      }
    } finally {
      this.draining = null;
    }
  }

  private async writeBatch(batch: Pending[], totalBytes: number): Promise<void> {
    if (this.failure) {
      for (const p of batch) p.reject(this.failure);
      return;
    }
    let positions: WalPosition[];
    let startBytes = 0;
    try {
      if (this.file.size() > SEGMENT_HEADER_BYTES && this.file.size() + totalBytes > this.options.segmentBytes) {
        await this.roll();
      }
      startBytes = this.file.size();
      // One record (the common case under light load) is written as it is, without a copy.
      const buf = batch.length === 1 ? batch[0]!.record : new Uint8Array(totalBytes);
      positions = new Array(batch.length);
      let off = 0;
      for (let i = 0; i < batch.length; i++) {
        const rec = batch[i]!.record;
        if (batch.length > 1) buf.set(rec, off);
        positions[i] = { segmentNo: this.segmentNoValue, offsetBytes: startBytes + off, endBytes: startBytes + off + rec.length };
        off += rec.length;
      }
      try {
        this.file.append(buf);
      } catch (e) {
        this.cutBack(startBytes, e);
        throw new IoError("wal", `cannot append ${totalBytes} bytes to ${segmentFileName(this.segmentNoValue)}`, e);
      }
      if (this.options.sync.kind === "always") {
        try {
          await this.file.datasync();
          this.syncCount++;
        } catch (e) {
          this.failure = new IoError(
            "wal",
            `fdatasync of ${segmentFileName(this.segmentNoValue)} failed; refusing further writes, restart the node to recover from the log`,
            e,
          );
          throw this.failure;
        }
      } else {
        this.unsyncedBytes += totalBytes;
      }
    } catch (e) {
      let behind: Pending[] = [];
      if (!this.failure) {
        // Nothing of this batch is in the file and the writer goes on: drop what is queued
        // behind it too, in this same synchronous section, so no record numbered after the
        // failed ones is written (the owner then reuses their numbers).
        behind = this.pending;
        this.pending = [];
        this.pendingBytes = 0;
        this.discardListener?.();
      }
      for (const p of batch) p.reject(e);
      for (const p of behind) p.reject(e);
      return;
    }
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      try {
        p.apply(positions[i]!);
        p.resolve(positions[i]!);
      } catch (e) {
        p.reject(e);
      }
    }
    const endBytes = startBytes + totalBytes;
    this.durableEndBytes = endBytes;
    for (const l of this.listeners) l(this.segmentNoValue, startBytes, endBytes);
  }

  /** Removes a partial append; if even that fails the writer is poisoned. */
  private cutBack(sizeBytes: number, cause: unknown): void {
    try {
      this.file.truncate(sizeBytes);
    } catch (e) {
      this.failure = new IoError("wal", `cannot cut a failed append off ${segmentFileName(this.segmentNoValue)}; restart the node`, e ?? cause);
    }
  }

  private async roll(): Promise<void> {
    // In EVERY sync mode (once per segment is cheap): recovery cuts damage only in the newest
    // segment; an unsynced tail left in an older one would read as corruption after a power cut.
    try {
      await this.file.datasync();
    } catch (e) {
      // The same rule as any failed fdatasync: after EIO the kernel may have dropped this
      // segment's dirty pages (in interval mode, acknowledged writes) and a later sync
      // would "succeed" without them. Refuse further writes; a restart replays the disk.
      this.failure = new IoError(
        "wal",
        `fdatasync of ${segmentFileName(this.segmentNoValue)} before starting the next segment failed; refusing further writes, restart the node to recover from the log`,
        e,
      );
      throw this.failure;
    }
    // Create the next segment before letting go of this one, so a failure leaves a usable file.
    const next = await createSegment(this.vfs, this.dir, this.segmentNoValue + 1);
    this.file.close();
    this.file = next;
    this.segmentNoValue++;
    this.durableEndBytes = next.size();
    this.unsyncedBytes = 0;
    for (const l of this.listeners) l(this.segmentNoValue, 0, this.durableEndBytes);
  }

  /**
   * Starts a new segment before the next queued write (so that the current one becomes
   * complete and, once flushed, deletable). Resolves when done, without waiting for the
   * log to go idle.
   */
  rollSoon(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.rollWaiters.push(resolve);
      if (!this.draining) this.draining = this.drain();
    });
  }

  private async backgroundSync(): Promise<void> {
    if (this.unsyncedBytes === 0 || this.failure || this.closed) return;
    this.unsyncedBytes = 0;
    try {
      await this.file.datasync();
      this.syncCount++;
    } catch (e) {
      this.failure = new IoError("wal", `background fdatasync of ${segmentFileName(this.segmentNoValue)} failed; restart the node`, e);
    }
  }

  /** Finishes queued writes, syncs, and closes the segment. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.idle();
    this.closed = true;
    if (this.intervalTimer) clearInterval(this.intervalTimer);
    if (!this.failure && this.options.sync.kind !== "always") {
      try {
        await this.file.datasync();
      } catch {
        // Closing after a failed sync: the data is in the log as far as the OS kept it.
      }
    }
    this.file.close();
  }
}

async function createSegment(vfs: Vfs, dir: string, segmentNo: number): Promise<VfsFile> {
  const path = joinPath(dir, segmentFileName(segmentNo));
  const file = vfs.open(path, "create");
  try {
    file.append(encodeSegmentHeader(segmentNo));
    await file.datasync();
    vfs.syncDir(dir);
  } catch (e) {
    file.close();
    throw new IoError("wal", `cannot create WAL segment ${segmentFileName(segmentNo)}`, e);
  }
  return file;
}
