// Engine options and their defaults. Defaults suit a 1 GB Raspberry Pi: a 16 MiB memtable
// (two may exist while one flushes), 16 MiB WAL segments, a 16 MiB block cache.

import type { CompactionConfig } from "../compaction/policy.ts";
import { DEFAULT_COMPACTION } from "../compaction/policy.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { Vfs } from "../vfs/vfs.ts";
import { RealFs } from "../vfs/real_fs.ts";
import type { SyncMode } from "../wal/writer.ts";
import { DEFAULT_RETENTION_CLOCK_LEAD_MS } from "./retention.ts";

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface DbOptions {
  vfs?: Vfs;
  /** "leader" (default) writes its own WAL; "replica" keeps a copy of a leader's WAL and refuses writes. */
  role?: "leader" | "replica";
  /** "always" (default: fdatasync before acknowledging), "none", or "interval:<ms>". */
  sync?: SyncMode | string;
  memtableBytes?: number;
  walSegmentBytes?: number;
  blockCacheBytes?: number;
  /** Points older than this (by timestamp, against the clock) are dropped; off when unset. */
  retentionMs?: number;
  /**
   * Retention never measures from a clock further ahead of the newest stored point than
   * this (engine/retention.ts); default 1 day.
   */
  retentionClockLeadMs?: number;
  /**
   * Start even when the WAL is damaged in the middle: replay every valid record around the
   * damage, move the damaged segment aside, report what was lost. Off by default: such
   * damage stops the open with a WalCorruptionError.
   */
  salvage?: boolean;
  compaction?: Partial<CompactionConfig>;
  /** Run compactions automatically after flushes (default true). */
  autoCompact?: boolean;
  zstdLevel?: number;
  /** Milliseconds since the epoch; stamps points written without a timestamp. */
  clock?: () => number;
  logger?: Logger;
}

export interface ResolvedOptions {
  vfs: Vfs;
  role: "leader" | "replica";
  sync: SyncMode;
  memtableBytes: number;
  walSegmentBytes: number;
  blockCacheBytes: number;
  retentionMs: number | undefined;
  retentionClockLeadMs: number;
  salvage: boolean;
  compaction: CompactionConfig;
  autoCompact: boolean;
  zstdLevel: number;
  clock: () => number;
  logger: Logger;
}

const MIB = 1024 * 1024;
const silent: Logger = { info() {}, warn() {}, error() {} };

export function parseSyncMode(s: string): SyncMode {
  if (s === "always" || s === "fsync") return { kind: "always" };
  if (s === "none") return { kind: "none" };
  const m = /^interval:(\d+)(ms)?$/.exec(s);
  if (m) {
    const intervalMs = Number(m[1]);
    if (intervalMs >= 1 && intervalMs <= 3_600_000) return { kind: "interval", intervalMs };
  }
  throw new InvalidArgumentError("options", `unknown sync mode "${s}"; use always, none or interval:<ms> (e.g. interval:100)`);
}

function positive(name: string, v: number | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v < min) throw new InvalidArgumentError("options", `${name} must be a number >= ${min}, got ${v}`);
  return Math.floor(v);
}

export function resolveOptions(o: DbOptions): ResolvedOptions {
  const sync = o.sync === undefined ? { kind: "always" as const } : typeof o.sync === "string" ? parseSyncMode(o.sync) : o.sync;
  const compaction = { ...DEFAULT_COMPACTION, ...o.compaction };
  if (compaction.fanIn < 2 || compaction.trigger < 2) throw new InvalidArgumentError("options", "compaction fanIn and trigger must be >= 2");
  if (o.retentionMs !== undefined && !(o.retentionMs > 0)) throw new InvalidArgumentError("options", "retentionMs must be > 0");
  return {
    vfs: o.vfs ?? new RealFs(),
    role: o.role ?? "leader",
    sync,
    memtableBytes: positive("memtableBytes", o.memtableBytes, 16 * MIB, 4096),
    walSegmentBytes: positive("walSegmentBytes", o.walSegmentBytes, 16 * MIB, 4096),
    blockCacheBytes: positive("blockCacheBytes", o.blockCacheBytes, 16 * MIB, 0),
    retentionMs: o.retentionMs,
    retentionClockLeadMs: positive("retentionClockLeadMs", o.retentionClockLeadMs, DEFAULT_RETENTION_CLOCK_LEAD_MS, 0),
    salvage: o.salvage ?? false,
    compaction,
    autoCompact: o.autoCompact ?? true,
    zstdLevel: positive("zstdLevel", o.zstdLevel, 3, 1),
    clock: o.clock ?? Date.now,
    logger: o.logger ?? silent,
  };
}
