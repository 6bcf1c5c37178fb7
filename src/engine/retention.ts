// Retention against an untrusted clock (pure policy; Db acts on it).
//
// A gateway's clock can jump a year ahead (a Pi without a battery-backed RTC, a bad NTP
// answer). Retention measured from such a clock would delete every real point, and the
// points would stay gone after the clock is fixed. So the cutoff never moves past the
// newest stored point by more than `maxClockLeadMs`:
//
//   cutoff = min(now, newestStoredTs + maxClockLeadMs) - retentionMs
//
// Invariant: retention never hides or deletes a point less than `retentionMs` older than
// the newest point stored (up to the lead). The price: a node that stops receiving data
// keeps its last `retentionMs + maxClockLeadMs` of points until new data arrives.
//
// What counts as "stored" (Db keeps it): every point found at open (tables, WAL replay), in
// an installed snapshot or applied from a leader, plus the points callers wrote with a `ts`.
// A write is checked as if its own points were already stored, so an empty database measures
// the clock against the batch, never against nothing, and exactly what the retention would
// drop right after the write is refused. Points written without `ts` are stamped with the
// clock and lift the bound only while the clock is within `maxClockLeadMs` of the newest
// stored point (so a node fed only stamped points keeps its retention moving, and a clock
// that jumped ahead still cannot lift it). Limit: after a restart they are
// stored data like any other (the files do not say who chose a timestamp); that case needs
// a persisted clock floor, not this policy.

import { InvalidArgumentError } from "../errors.ts";

export const DEFAULT_RETENTION_CLOCK_LEAD_MS = 24 * 60 * 60 * 1000;

export interface RetentionDecision {
  /** Points with ts < cutoffMs are hidden by reads and dropped by compaction. */
  cutoffMs: number;
  /** True when the clock ran ahead of the stored data and the cutoff was held back. */
  clockAhead: boolean;
}

/**
 * `newestStoredTsMs` is the newest timestamp stored, as defined above (undefined when none:
 * there is nothing to protect, so the clock is used as is; a write brings its own).
 */
export function retentionCutoff(nowMs: number, newestStoredTsMs: number | undefined, retentionMs: number, maxClockLeadMs: number): RetentionDecision {
  if (newestStoredTsMs === undefined || nowMs <= newestStoredTsMs + maxClockLeadMs) {
    return { cutoffMs: nowMs - retentionMs, clockAhead: false };
  }
  return { cutoffMs: newestStoredTsMs + maxClockLeadMs - retentionMs, clockAhead: true };
}

/** Refuses a write the retention would drop at once (it would be acknowledged, then lost). */
export function checkNotExpired(ts: number, index: number, key: string, d: RetentionDecision, nowMs: number, retentionMs: number): void {
  if (ts >= d.cutoffMs) return;
  const clock = d.clockAhead ? ` (cutoff held back: the node's clock ${new Date(nowMs).toISOString()} is ahead of the newest stored point)` : "";
  throw new InvalidArgumentError(
    "db",
    `point ${index} (key "${key}") has ts ${ts} (${isoOrNumber(ts)}), older than the retention window of ${retentionMs} ms: ` +
      `everything before ${isoOrNumber(d.cutoffMs)} is dropped${clock}, so it is refused instead of being acknowledged and lost; ` +
      `send newer points, or start the node with a longer --retention`,
  );
}

function isoOrNumber(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}
