// A replica's WAL: byte-for-byte copies of the leader's segments, appended as they arrive.
//
// Invariants:
// - Segment numbers and offsets are the leader's: bytes for (segment, offset) land at that
//   offset of that segment file, so the replica's WAL can itself be served to replicas.
// - Only whole, checksummed records are written (checked before writing), and each append is
//   synced before `append` resolves, so the recovered WAL end is the replica's true position.
// - The same write rule as WalWriter, which recovery relies on to tell a torn last write from
//   corruption (see MAX_GROUP_COMMIT_BYTES): every synced write starts at a record boundary
//   and is at most MAX_GROUP_COMMIT_BYTES bytes, or is a single larger record written alone.
//   A replication chunk (up to 2 MiB by default) is therefore written and synced in slices.
// - A new segment's header is written and synced, and the directory synced, before any record
//   is appended to it (as WalWriter's createSegment), so a durable record never follows a
//   header that a power cut could still lose.

import { CorruptionError, IoError } from "../errors.ts";
import { joinPath } from "../vfs/vfs.ts";
import type { Vfs, VfsFile } from "../vfs/vfs.ts";
import { MAX_GROUP_COMMIT_BYTES, SEGMENT_HEADER_BYTES, segmentFileName } from "./format.ts";
import { checkSegmentHeader, scanRecords } from "./record.ts";
import type { ScannedRecord } from "./record.ts";
import type { SyncMode, WalSink } from "./writer.ts";

export class PositionMismatchError extends CorruptionError {
  constructor(message: string) {
    super("replication", message);
    this.name = "PositionMismatchError";
  }
}

export class WalFollower implements WalSink {
  private file: VfsFile | null = null;
  private segmentNoValue = 0;
  private failure: Error | null = null;
  syncCount = 0;

  private constructor(
    private readonly vfs: Vfs,
    private readonly dir: string,
    private readonly sync: SyncMode,
  ) {}

  /** Continues the newest recovered segment, if any. */
  static open(vfs: Vfs, dir: string, sync: SyncMode, last?: { segmentNo: number }): WalFollower {
    const f = new WalFollower(vfs, dir, sync);
    if (last) {
      f.file = vfs.open(joinPath(dir, segmentFileName(last.segmentNo)), "append");
      f.segmentNoValue = last.segmentNo;
    }
    return f;
  }

  get segmentNo(): number {
    return this.segmentNoValue;
  }

  get segmentSizeBytes(): number {
    return this.file?.size() ?? 0;
  }

  get failed(): Error | null {
    return this.failure;
  }

  /**
   * Appends leader bytes for [offsetBytes, offsetBytes + bytes.length) of `segmentNo` and
   * returns the whole records they hold.
   * REQUIRES: offsetBytes is this segment's current end, or 0 for a later segment.
   */
  async append(segmentNo: number, offsetBytes: number, bytes: Uint8Array): Promise<ScannedRecord[]> {
    if (this.failure) throw this.failure;
    const current = this.segmentNoValue;
    if (segmentNo === current) {
      if (offsetBytes !== this.segmentSizeBytes) {
        throw new PositionMismatchError(`got bytes for ${segmentFileName(segmentNo)} at offset ${offsetBytes}, but the local copy ends at ${this.segmentSizeBytes}`);
      }
    } else if (segmentNo < current || offsetBytes !== 0) {
      throw new PositionMismatchError(`got bytes for ${segmentFileName(segmentNo)} at offset ${offsetBytes} while following ${segmentFileName(current)}`);
    }
    let start = 0;
    if (offsetBytes === 0) {
      if (checkSegmentHeader(bytes, segmentNo)) throw new CorruptionError("replication", `bad segment header for ${segmentFileName(segmentNo)}`);
      start = SEGMENT_HEADER_BYTES;
    }
    const scan = scanRecords(bytes, start);
    if (scan.problem) {
      throw new CorruptionError("replication", `received WAL bytes fail their check (${scan.problem.kind})`, segmentFileName(segmentNo), offsetBytes + scan.problem.offsetBytes);
    }
    try {
      if (segmentNo !== current) {
        if (this.file) {
          await this.file.datasync();
          this.file.close();
        }
        this.file = this.vfs.open(joinPath(this.dir, segmentFileName(segmentNo)), "create");
        this.segmentNoValue = segmentNo;
        // The header is synced on its own whatever the sync mode, like WalWriter's segments.
        this.file.append(bytes.subarray(0, SEGMENT_HEADER_BYTES));
        await this.file.datasync();
        this.vfs.syncDir(this.dir);
      }
      const f = this.file!;
      for (const [from, to] of writeSlices(scan.records, start, bytes.length)) {
        const before = f.size();
        try {
          f.append(bytes.subarray(from, to));
        } catch (e) {
          f.truncate(before);
          throw e;
        }
        if (this.sync.kind !== "none") {
          await f.datasync();
          this.syncCount++;
        }
      }
    } catch (e) {
      this.failure = new IoError("replication", `cannot write ${segmentFileName(segmentNo)}; restart the replica`, e);
      throw this.failure;
    }
    return scan.records.map((r) => ({ ...r, offsetBytes: r.offsetBytes + offsetBytes, endBytes: r.endBytes + offsetBytes }));
  }

  /** Forgets the current segment (after a snapshot replaced the WAL). */
  reset(): void {
    this.file?.close();
    this.file = null;
    this.segmentNoValue = 0;
    this.failure = null;
  }

  idle(): Promise<void> {
    return Promise.resolve();
  }

  /** The leader decides where segments end. */
  rollSoon(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {
    if (!this.file) return;
    try {
      await this.file.datasync();
    } catch {
      // closing anyway; recovery cuts what did not reach the disk
    }
    this.file.close();
    this.file = null;
  }
}

/**
 * Splits [startBytes, endBytes) of a chunk into writes: each starts at a record boundary and
 * holds whole records of at most MAX_GROUP_COMMIT_BYTES together, or a single larger record.
 * REQUIRES: `records` are the records of [startBytes, endBytes), back to back, in order.
 */
function writeSlices(records: readonly ScannedRecord[], startBytes: number, endBytes: number): [number, number][] {
  const slices: [number, number][] = [];
  let from = startBytes;
  let to = startBytes;
  for (const r of records) {
    if (to > from && r.endBytes - from > MAX_GROUP_COMMIT_BYTES) {
      slices.push([from, to]);
      from = to;
    }
    to = r.endBytes;
  }
  if (endBytes > from) slices.push([from, endBytes]);
  return slices;
}
