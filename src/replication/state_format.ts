// Replication state files, in the checked CBOR container (codec/checked_cbor.ts), replaced
// atomically (temp file, fsync, rename, fsync dir). FROZEN numbers; documents may gain
// fields (readers ignore unknown ones) but never change existing ones.
//
//   <data-dir>/replication/replica.state    on a replica: whom it follows, where it stands,
//                                           its counters (read by `cityhall replica status`
//                                           without a running daemon)
//   <data-dir>/replication/replicas.state   on a leader: every known replica's acknowledged
//                                           position (decides which WAL segments must stay)

import { decodeCheckedCbor, encodeCheckedCbor } from "../codec/checked_cbor.ts";
import { CorruptionError, IoError } from "../errors.ts";
import type { TableMeta } from "../manifest/format.ts";
import { joinPath, mkdirpDurable, writeFileAtomic } from "../vfs/vfs.ts";
import type { Vfs } from "../vfs/vfs.ts";
import type { Position } from "./format.ts";

export const REPLICA_STATE_MAGIC = 0x53524843; // FROZEN: "CHRS"
export const LEADER_STATE_MAGIC = 0x4c524843; // FROZEN: "CHRL"
export const STATE_FORMAT_VERSION = 1; // FROZEN
export const REPLICATION_DIR = "replication";
export const REPLICA_STATE_FILE = "replica.state";
export const LEADER_STATE_FILE = "replicas.state";

export interface SnapshotProgress {
  id: string;
  flushedSeq: number;
  tables: TableMeta[];
  follow: Position;
  /** Bytes received so far, by leader file number. */
  have: Record<string, number>;
}

export interface ReplicaState {
  leaderAddress: string;
  leaderId: string | null;
  replicaId: string;
  /** End of the local copy of the leader's WAL (or where it will start after a snapshot). */
  position: Position | null;
  appliedSeq: number;
  /** Newest sequence number the leader reported. */
  leaderSeq: number;
  /** Points applied from the leader, snapshots included. */
  entriesApplied: number;
  bytesReceived: number;
  wireBytesReceived: number;
  lastContactMs: number;
  /** Last time the replica had everything the leader had reported. */
  caughtUpMs: number;
  reconnects: number;
  snapshots: number;
  lastError: string | null;
  /** "following", "connecting", "snapshot", or "stopped: <why>" after a fatal disagreement. */
  state: string;
  snapshot: SnapshotProgress | null;
  updatedMs: number;
  /**
   * Set when the replica found a sequence gap in what the leader sent: why it needs a
   * snapshot (it asks for one in HELLO until one is installed). Absent in older files.
   */
  snapshotWanted?: string | null;
  /** When this state was created (the replica first started following); absent in older files. */
  createdMs?: number;
}

export interface ReplicaRecord {
  replicaId: string;
  address: string;
  position: Position | null;
  ackedSeq: number;
  firstSeenMs: number;
  lastContactMs: number;
  /** Its position fell out of the WAL retention bound: it will get a snapshot. */
  needsSnapshot: boolean;
}

export interface LeaderState {
  replicas: ReplicaRecord[];
}

export function emptyReplicaState(leaderAddress: string, replicaId: string): ReplicaState {
  return {
    leaderAddress,
    leaderId: null,
    replicaId,
    position: null,
    appliedSeq: 0,
    leaderSeq: 0,
    entriesApplied: 0,
    bytesReceived: 0,
    wireBytesReceived: 0,
    lastContactMs: 0,
    caughtUpMs: 0,
    reconnects: 0,
    snapshots: 0,
    lastError: null,
    state: "connecting",
    snapshot: null,
    updatedMs: Date.now(),
    snapshotWanted: null,
    createdMs: Date.now(),
  };
}

function check(cond: boolean, file: string, what: string): asserts cond {
  if (!cond) throw new CorruptionError("replication", `state file lacks ${what}`, file, 0);
}

const int = (x: unknown) => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;

export function decodeReplicaState(bytes: Uint8Array, file: string): ReplicaState {
  const d = decodeCheckedCbor(bytes, REPLICA_STATE_MAGIC, STATE_FORMAT_VERSION, "replication", file, "replica state") as ReplicaState;
  check(!!d && typeof d === "object", file, "a document");
  check(typeof d.leaderAddress === "string" && typeof d.replicaId === "string", file, "leaderAddress/replicaId");
  for (const f of ["appliedSeq", "leaderSeq", "entriesApplied", "bytesReceived", "wireBytesReceived", "lastContactMs", "caughtUpMs", "reconnects", "snapshots"] as const) {
    check(int(d[f]), file, f);
  }
  check(d.position === null || (int(d.position?.segment) && int(d.position?.offset)), file, "position");
  return d;
}

export function decodeLeaderState(bytes: Uint8Array, file: string): LeaderState {
  const d = decodeCheckedCbor(bytes, LEADER_STATE_MAGIC, STATE_FORMAT_VERSION, "replication", file, "leader replication state") as LeaderState;
  check(!!d && Array.isArray(d.replicas), file, "replicas");
  for (const r of d.replicas) check(typeof r?.replicaId === "string" && int(r.ackedSeq), file, "replica records");
  return d;
}

export function statePath(dataDir: string, file: string): string {
  return joinPath(joinPath(dataDir, REPLICATION_DIR), file);
}

/** Reads a state file; undefined when there is none. Throws CorruptionError or IoError. */
export function loadStateFile<T>(vfs: Vfs, dataDir: string, file: string, decode: (b: Uint8Array, path: string) => T): T | undefined {
  const path = statePath(dataDir, file);
  if (!vfs.exists(path)) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = vfs.readFile(path);
  } catch (e) {
    throw new IoError("replication", `cannot read ${path}`, e);
  }
  return decode(bytes, path);
}

const madeDirs = new WeakMap<Vfs, Set<string>>();

export async function saveStateFile(vfs: Vfs, dataDir: string, file: string, magic: number, doc: unknown): Promise<void> {
  let made = madeDirs.get(vfs);
  if (!made) madeDirs.set(vfs, (made = new Set()));
  if (!made.has(dataDir)) {
    mkdirpDurable(vfs, joinPath(dataDir, REPLICATION_DIR)); // else a power cut can take the directory and its files
    made.add(dataDir);
  }
  await writeFileAtomic(vfs, statePath(dataDir, file), encodeCheckedCbor(magic, STATE_FORMAT_VERSION, doc));
}
