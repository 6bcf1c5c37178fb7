// Compaction policy as pure functions: table statistics in, a task out. No I/O here, so the
// policy can be tested (and simulated) on its own.
//
// Tables form one list ordered oldest to newest (a newer table overrides an older one), so
// a compaction always merges a run of ADJACENT tables and puts the result in their place.
// The policy merges the cheapest window of `fanIn` adjacent tables once there are
// `trigger` tables or more: small recent flushes get merged together first and big old
// tables are rewritten rarely (size-tiered behaviour, write amplification ~ log(n)).
// Tombstones can be dropped only when the window starts at the oldest table: then nothing
// older remains that they could still hide.

export interface TableStat {
  fileNo: number;
  sizeBytes: number;
  minTs: number;
  maxTs: number;
  points: number;
  tombstones: number;
}

export interface CompactionConfig {
  /** Merge once there are at least this many tables. */
  trigger: number;
  /** How many adjacent tables one merge takes. */
  fanIn: number;
}

export const DEFAULT_COMPACTION: CompactionConfig = { trigger: 4, fanIn: 4 };

export type CompactionTask =
  | { kind: "merge"; start: number; end: number; dropTombstones: boolean }
  /** Whole tables whose every point is older than the retention cutoff. */
  | { kind: "expire"; fileNos: number[] };

/**
 * REQUIRES: tables oldest first. `retentionCutoffTs` is the oldest timestamp still kept, or
 * undefined when retention is off.
 */
export function pickCompaction(
  tables: readonly TableStat[],
  config: CompactionConfig,
  retentionCutoffTs?: number,
): CompactionTask | null {
  if (retentionCutoffTs !== undefined) {
    // A table with tombstones must stay: they may hide newer-timestamped points in older
    // tables, which would resurface if the table vanished.
    const expired = tables.filter((t) => t.points > 0 && t.maxTs < retentionCutoffTs && t.tombstones === 0);
    if (expired.length > 0) return { kind: "expire", fileNos: expired.map((t) => t.fileNo) };
  }
  const n = tables.length;
  if (n < Math.max(2, config.trigger)) return null;
  const k = Math.max(2, Math.min(config.fanIn, n));
  let best = 0;
  let bestBytes = Infinity;
  for (let start = 0; start + k <= n; start++) {
    let bytes = 0;
    for (let i = start; i < start + k; i++) bytes += tables[i]!.sizeBytes;
    // Ties go to the newer window: recent small flushes are the cheapest to merge.
    if (bytes <= bestBytes) {
      bestBytes = bytes;
      best = start;
    }
  }
  return { kind: "merge", start: best, end: best + k, dropTombstones: best === 0 };
}

/** A full compaction: every table into one, tombstones dropped. */
export function fullCompaction(tableCount: number): CompactionTask | null {
  if (tableCount === 0) return null;
  return { kind: "merge", start: 0, end: tableCount, dropTombstones: true };
}
