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

export function judgeReplica(state: ReplicaState, bounds: StatusBounds, nowMs: number): ReplicaStatus {
  const lagSequences = Math.max(0, state.leaderSeq - state.appliedSeq);
  const lagSeconds = lagSequences === 0 ? 0 : state.caughtUpMs ? (nowMs - state.caughtUpMs) / 1000 : (nowMs - state.updatedMs) / 1000;
  const silenceSeconds = state.lastContactMs ? (nowMs - state.lastContactMs) / 1000 : Infinity;
  const problems: string[] = [];
  if (state.state.startsWith("stopped:") && state.state !== "stopped: replica shut down") problems.push(`replication ${state.state}`);
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
