// `cityhall replica status`: reads a replica's persisted state without a running daemon and
// judges its health against bounds (pure, so cron's view is testable).

import type { Vfs } from "../vfs/vfs.ts";
import { REPLICA_STATE_FILE, decodeReplicaState, loadStateFile } from "./state_format.ts";
import type { ReplicaState } from "./state_format.ts";

export interface ReplicaStatus {
  state: ReplicaState;
  lagSequences: number;
  /** Seconds since the replica last had all the leader had reported; 0 when caught up. */
  lagSeconds: number;
  /** Seconds since the leader was last heard from; Infinity if never. */
  silenceSeconds: number;
  healthy: boolean;
  problems: string[];
}

export interface StatusBounds {
  maxLagMs?: number;
  maxSilenceMs?: number;
}

/**
 * Seconds behind the leader: 0 when the replica has everything the leader last reported
 * (HEARTBEAT/WELCOME lastSeq), else the time since it last had everything, or, if it never
 * had, since it started following. Never measured from the last state save (which happens
 * every 200 ms while data flows, so a replica that never catches up would look current).
 */
export function lagSecondsOf(state: ReplicaState, nowMs: number): number {
  if (state.leaderSeq <= state.appliedSeq) return 0;
  const since = state.caughtUpMs || state.createdMs || state.lastContactMs || state.updatedMs;
  return Math.max(0, (nowMs - since) / 1000);
}

export function judgeReplica(state: ReplicaState, bounds: StatusBounds, nowMs: number): ReplicaStatus {
  const lagSequences = Math.max(0, state.leaderSeq - state.appliedSeq);
  const lagSeconds = lagSecondsOf(state, nowMs);
  const silenceSeconds = state.lastContactMs ? (nowMs - state.lastContactMs) / 1000 : Infinity;
  const problems: string[] = [];
  if (state.state.startsWith("stopped:") && state.state !== "stopped: replica shut down") problems.push(`replication ${state.state}`);
  if (state.snapshotWanted) problems.push(`waiting for a snapshot: ${state.snapshotWanted}`);
  if (bounds.maxLagMs !== undefined && lagSeconds * 1000 > bounds.maxLagMs) {
    problems.push(`lag ${lagSeconds.toFixed(1)} s (${lagSequences} write batches) exceeds ${bounds.maxLagMs / 1000} s`);
  }
  if (bounds.maxSilenceMs !== undefined && silenceSeconds * 1000 > bounds.maxSilenceMs) {
    problems.push(
      Number.isFinite(silenceSeconds)
        ? `no contact with the leader for ${silenceSeconds.toFixed(0)} s (bound ${bounds.maxSilenceMs / 1000} s)`
        : "the leader has never been reached",
    );
  }
  return { state, lagSequences, lagSeconds, silenceSeconds, healthy: problems.length === 0, problems };
}

/** The replica state in `dataDir`; undefined when the directory has never been a replica. */
export function readReplicaState(vfs: Vfs, dataDir: string): ReplicaState | undefined {
  return loadStateFile(vfs, dataDir, REPLICA_STATE_FILE, decodeReplicaState);
}
