// Replication wire protocol (port 7879, raw TCP, optionally TLS). FROZEN: every number in
// this file is on the wire; never renumber. Page: docs/replication_protocol.md.
//
// Frame (all integers little-endian):
//   u32 lengthBytes    payload length, 0..MAX_FRAME_PAYLOAD_BYTES
//   u32 crc32          CRC-32 (IEEE, as Bun.hash.crc32) over the type byte and the payload
//   u8  type           FRAME_* below
//   payload
//
// Control frames carry one CBOR map (cborg). DATA carries WAL bytes:
//   u64 segmentNo | u64 offsetBytes | u32 rawBytes | u8 compression | body
//   compression: COMPRESSION_NONE (body = raw WAL bytes) or COMPRESSION_ZSTD
//   The raw bytes are whole WAL records (or the 16-byte segment header followed by whole
//   records when offsetBytes is 0), exactly as they sit in the leader's segment file at
//   [offsetBytes, offsetBytes + rawBytes).
// ACK is binary too (it follows every DATA frame, so it is kept cheap to parse):
//   u64 segmentNo | u64 offsetBytes | u64 seq     the replica has applied and synced up to there
// SNAPSHOT_CHUNK carries file bytes:
//   u32 fileNo | u64 offsetBytes | u8 compression | body      (compression as for DATA)
//
// Conversation:
//   leader  -> SERVER_HELLO {protocol, leaderId, nonce, authRequired}
//   replica -> HELLO {protocol, replicaId, leaderId|null, position: {segment, offset}|null,
//                     nonce, proof?: HMAC-SHA256(secret, "cityhall-repl-v1|replica|" + leaderNonce + "|" + replicaId),
//                     snapshot?: {id, have: {fileNo: bytes}}}
//   leader  -> WELCOME {leaderId, proof?, segments: [{segment, sizeBytes}], lastSeq}
//              or ERROR {code, message} and close
//   then either (the replica is within the leader's WAL)
//   leader  -> DATA ... (catch-up, then live tail as writes commit)
//   or (the replica's position is no longer in the leader's WAL, or it has none)
//   leader  -> SNAPSHOT_BEGIN {id, flushedSeq, tables: [TableMeta], follow: {segment, offset}}
//              SNAPSHOT_CHUNK ... SNAPSHOT_END {id}, then DATA from `follow`
//   both    -> HEARTBEAT {timeMs, lastSeq?, position?} at least every heartbeat interval
//   replica -> ACK (binary) after applying (and syncing) a DATA frame

export const REPLICATION_PROTOCOL_VERSION = 1; // FROZEN
/** The leader's default --replication-port (named in messages to misdirected replicas). */
export const DEFAULT_REPLICATION_PORT = 7879;

export const FRAME_HEADER_BYTES = 9; // FROZEN
/** Above the largest WAL record (64 MiB) plus headers: one record always fits one frame. */
export const MAX_FRAME_PAYLOAD_BYTES = 72 * 1024 * 1024; // FROZEN

/**
 * Before a peer's HELLO has passed every check (secret, version, leader id) the leader
 * accepts frames of at most this many payload bytes (a HELLO is a few hundred bytes; its
 * snapshot resume map a few KB), so an unauthenticated peer cannot make it allocate the
 * 72 MiB a DATA frame may need. FROZEN: a HELLO must always fit.
 */
export const PREAUTH_MAX_FRAME_PAYLOAD_BYTES = 16 * 1024; // FROZEN
/** A peer that has not completed the handshake (a valid HELLO) this long after connecting is closed. */
export const HANDSHAKE_DEADLINE_MS = 5_000;
/** At most this many connections may be in the handshake at once; more are closed at once. */
export const MAX_UNAUTHENTICATED_CONNECTIONS = 16;

export const FRAME_SERVER_HELLO = 1; // FROZEN
export const FRAME_HELLO = 2; // FROZEN
export const FRAME_WELCOME = 3; // FROZEN
export const FRAME_ERROR = 4; // FROZEN
export const FRAME_DATA = 5; // FROZEN
export const FRAME_ACK = 6; // FROZEN
export const FRAME_HEARTBEAT = 7; // FROZEN
export const FRAME_SNAPSHOT_BEGIN = 8; // FROZEN
export const FRAME_SNAPSHOT_CHUNK = 9; // FROZEN
export const FRAME_SNAPSHOT_END = 10; // FROZEN

export const DATA_HEADER_BYTES = 21; // FROZEN: u64 + u64 + u32 + u8
export const SNAPSHOT_CHUNK_HEADER_BYTES = 13; // FROZEN: u32 + u64 + u8
export const ACK_BYTES = 24; // FROZEN: u64 + u64 + u64
export const COMPRESSION_NONE = 0; // FROZEN
export const COMPRESSION_ZSTD = 1; // FROZEN

/** The string HMAC proofs are computed over, for each side. FROZEN. */
export function proofMessage(side: "replica" | "leader", nonce: string, replicaId: string): string {
  return `cityhall-repl-v1|${side}|${nonce}|${replicaId}`;
}

/** Error codes in ERROR frames. FROZEN strings. */
export type ErrorCode =
  | "PROTOCOL" // malformed frame, bad CBOR, unexpected message
  | "VERSION" // unsupported protocol version
  | "AUTH" // missing or wrong secret
  | "WRONG_LEADER" // the replica follows another leader (different leaderId)
  | "AHEAD" // the replica claims a position the leader never wrote
  | "FORGOTTEN" // the leader was told to forget this replica
  | "DUPLICATE_ID" // another live connection already uses this replica id (a copied data directory)
  | "SHUTDOWN"; // the leader is stopping

export interface Position {
  segment: number;
  offset: number;
}

export interface SegmentInfo {
  segment: number;
  sizeBytes: number;
}
