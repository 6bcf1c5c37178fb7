// Compaction policy as pure functions: table statistics in, a task out. No I/O here, so the
// policy can be tested (and simulated) on its own.
//
// Tables form one list ordered oldest to newest (a newer table overrides an older one), so
// a compaction always merges a run of ADJACENT tables and puts the result in their place.
// Size-tiered: once there are `trigger` tables, the newest tables are merged together with
// older neighbours of comparable size, so small recent flushes merge often and big old
// tables are rewritten rarely (write amplification ~ log(total / flush size)).
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
  /** Consider merging once there are at least this many tables. */
  trigger: number;
  /** Most tables one merge takes. */
  fanIn: number;
  /**
   * Size-tiering: walking from the newest table to older ones, the next older table joins
   * the merge while its size <= sizeRatio x the sum of the tables already taken.
   */
  sizeRatio: number;
  /** Above this many tables, merge the cheapest window whatever the sizes (bounds reads). */
  maxTables: number;
}

export const DEFAULT_COMPACTION: CompactionConfig = { trigger: 4, fanIn: 8, sizeRatio: 1.5, maxTables: 16 };

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
  // Size-tiered run from the newest end.
  let start = n - 1;
  let acc = tables[start]!.sizeBytes;
  while (start > 0 && n - start < config.fanIn && tables[start - 1]!.sizeBytes <= acc * config.sizeRatio) {
    start--;
    acc += tables[start]!.sizeBytes;
  }
  if (n - start >= 2) return { kind: "merge", start, end: n, dropTombstones: start === 0 };
  if (n <= config.maxTables) return null;
  // Too many tables of very different sizes: merge the cheapest adjacent window.
  const k = Math.max(2, Math.min(config.fanIn, n));
  let best = 0;
  let bestBytes = Infinity;
  for (let s = 0; s + k <= n; s++) {
    let bytes = 0;
    for (let i = s; i < s + k; i++) bytes += tables[i]!.sizeBytes;
    if (bytes <= bestBytes) {
      bestBytes = bytes;
      best = s;
    }
  }
  return { kind: "merge", start: best, end: best + k, dropTombstones: best === 0 };
}

/** A full compaction: every table into one, tombstones dropped. */
export function fullCompaction(tableCount: number): CompactionTask | null {
  if (tableCount === 0) return null;
  return { kind: "merge", start: 0, end: tableCount, dropTombstones: true };
}
