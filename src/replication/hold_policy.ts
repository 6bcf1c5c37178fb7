// Which WAL the leader keeps for its replicas: a pure function, tested on its own.
//
// Each replica needs the segments from the one holding its acknowledged position. The
// leader keeps them, unless keeping them for that replica would hold more than `capBytes`
// of WAL or data older than `capAgeMs`; then the replica is abandoned to a snapshot (it
// will bootstrap from the leader's SSTables when it returns) and holds nothing.

import type { Position } from "./format.ts";

export interface SegmentStat {
  segment: number;
  sizeBytes: number;
  /** When the segment was last written (ms since the epoch). */
  lastWriteMs: number;
}

export interface HoldDecision {
  /** Keep every segment >= this; undefined: no replica holds anything. */
  holdFromSegment: number | undefined;
  /** Replicas whose position is beyond the bound (or already gone from the WAL). */
  abandoned: string[];
}

export function walHold(
  segments: readonly SegmentStat[],
  replicas: readonly { replicaId: string; position: Position | null }[],
  capBytes: number,
  capAgeMs: number,
  nowMs: number,
): HoldDecision {
  const sorted = [...segments].sort((a, b) => a.segment - b.segment);
  let hold: number | undefined;
  const abandoned: string[] = [];
  for (const r of replicas) {
    if (!r.position) continue;
    const need = r.position.segment;
    const kept = sorted.filter((s) => s.segment >= need);
    if (kept.length === 0 || kept[0]!.segment !== need) {
      // Its segment is already gone (or it is ahead; the session deals with that).
      if (sorted.length && need < sorted[0]!.segment) abandoned.push(r.replicaId);
      continue;
    }
    // The bound counts what holding would keep beyond the segment being written.
    const heldBytes = kept.slice(0, -1).reduce((n, s) => n + s.sizeBytes, 0);
    const ageMs = kept.length > 1 ? nowMs - kept[0]!.lastWriteMs : 0;
    if (heldBytes > capBytes || ageMs > capAgeMs) {
      abandoned.push(r.replicaId);
      continue;
    }
    hold = hold === undefined ? need : Math.min(hold, need);
  }
  return { holdFromSegment: hold, abandoned };
}
