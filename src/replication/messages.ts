// Encoders and checked decoders for every replication message (layouts in
// replication/format.ts). Decoders validate field types: a peer's CBOR is untrusted input.

import { decode, encode } from "cborg";
import { ByteReader, ByteWriter } from "../codec/bytes.ts";
import type { TableMeta } from "../manifest/format.ts";
import {
  ACK_BYTES,
  COMPRESSION_NONE,
  COMPRESSION_ZSTD,
  DATA_HEADER_BYTES,
  FRAME_ACK,
  FRAME_DATA,
  FRAME_SNAPSHOT_CHUNK,
  MAX_FRAME_PAYLOAD_BYTES,
  SNAPSHOT_CHUNK_HEADER_BYTES,
} from "./format.ts";
import type { ErrorCode, Position, SegmentInfo } from "./format.ts";
import { ProtocolError, encodeFrame } from "./frame_codec.ts";

export interface ServerHello {
  protocol: number;
  leaderId: string;
  nonce: string;
  authRequired: boolean;
}
export interface Hello {
  protocol: number;
  replicaId: string;
  leaderId: string | null;
  position: Position | null;
  nonce: string;
  proof?: string;
  snapshot?: { id: string; have: Record<string, number> };
  /** Why the replica cannot go on from its WAL (a sequence gap) and needs a snapshot. */
  wantSnapshot?: string;
}
export interface Welcome {
  leaderId: string;
  proof?: string;
  segments: SegmentInfo[];
  lastSeq: number;
}
export interface ErrorMessage {
  code: ErrorCode;
  message: string;
}
export interface Ack {
  segment: number;
  offset: number;
  seq: number;
}
export interface Heartbeat {
  timeMs: number;
  lastSeq?: number;
  position?: Position;
}
export interface SnapshotBegin {
  id: string;
  flushedSeq: number;
  tables: TableMeta[];
  follow: Position;
}
export interface SnapshotEnd {
  id: string;
}

export function encodeControl(type: number, message: object): Uint8Array {
  return encodeFrame(type, encode(message));
}

export function decodeControl(payload: Uint8Array): Record<string, unknown> {
  let m: unknown;
  try {
    m = decode(payload);
  } catch (e) {
    throw new ProtocolError(`control message is not valid CBOR: ${(e as Error).message}`);
  }
  if (!m || typeof m !== "object" || Array.isArray(m)) throw new ProtocolError("control message is not a CBOR map");
  return m as Record<string, unknown>;
}

const isInt = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
const isStr = (x: unknown, max = 256): x is string => typeof x === "string" && x.length > 0 && x.length <= max;

function need(cond: boolean, what: string): asserts cond {
  if (!cond) throw new ProtocolError(`bad message: ${what}`);
}

function position(x: unknown, what: string): Position {
  const p = x as Position;
  need(!!p && typeof p === "object" && isInt(p.segment) && isInt(p.offset), `${what} must be {segment, offset}`);
  return { segment: p.segment, offset: p.offset };
}

export function parseServerHello(m: Record<string, unknown>): ServerHello {
  need(isInt(m.protocol), "protocol");
  need(isStr(m.leaderId), "leaderId");
  need(isStr(m.nonce), "nonce");
  need(typeof m.authRequired === "boolean", "authRequired");
  return { protocol: m.protocol, leaderId: m.leaderId, nonce: m.nonce, authRequired: m.authRequired };
}

export function parseHello(m: Record<string, unknown>): Hello {
  need(isInt(m.protocol), "protocol");
  need(isStr(m.replicaId, 128) && /^[A-Za-z0-9._:-]+$/.test(m.replicaId), "replicaId (1-128 of A-Z a-z 0-9 . _ : -)");
  need(m.leaderId === null || isStr(m.leaderId), "leaderId");
  need(isStr(m.nonce), "nonce");
  need(m.proof === undefined || isStr(m.proof), "proof");
  const out: Hello = {
    protocol: m.protocol,
    replicaId: m.replicaId,
    leaderId: (m.leaderId as string | null) ?? null,
    position: m.position === null || m.position === undefined ? null : position(m.position, "position"),
    nonce: m.nonce,
  };
  if (m.proof !== undefined) out.proof = m.proof as string;
  if (m.wantSnapshot !== undefined && m.wantSnapshot !== null) {
    need(isStr(m.wantSnapshot, 1024), "wantSnapshot");
    out.wantSnapshot = m.wantSnapshot as string;
  }
  if (m.snapshot !== undefined && m.snapshot !== null) {
    const s = m.snapshot as { id: unknown; have: unknown };
    need(typeof s === "object" && isStr(s.id, 512) && !!s.have && typeof s.have === "object", "snapshot");
    const have: Record<string, number> = {};
    for (const [k, v] of Object.entries(s.have as object)) {
      need(/^\d+$/.test(k) && isInt(v), "snapshot.have");
      have[k] = v as number;
    }
    out.snapshot = { id: s.id, have };
  }
  return out;
}

export function parseWelcome(m: Record<string, unknown>): Welcome {
  need(isStr(m.leaderId), "leaderId");
  need(Array.isArray(m.segments), "segments");
  need(isInt(m.lastSeq), "lastSeq");
  const segments = (m.segments as unknown[]).map((s) => {
    const x = s as SegmentInfo;
    need(!!x && isInt(x.segment) && isInt(x.sizeBytes), "segments[]");
    return { segment: x.segment, sizeBytes: x.sizeBytes };
  });
  const out: Welcome = { leaderId: m.leaderId, segments, lastSeq: m.lastSeq };
  if (m.proof !== undefined) {
    need(isStr(m.proof), "proof");
    out.proof = m.proof;
  }
  return out;
}

export function parseError(m: Record<string, unknown>): ErrorMessage {
  return { code: (typeof m.code === "string" ? m.code : "PROTOCOL") as ErrorCode, message: typeof m.message === "string" ? m.message : "(no message)" };
}

// The binary encoders below take an optional writer (tests start it at every capacity,
// behind a prefix); `encodeFrame` copies the payload, so the writer may be reused after.

export function encodeAck(a: Ack, w: ByteWriter = new ByteWriter(ACK_BYTES)): Uint8Array {
  const start = w.lengthBytes;
  w.u64(a.segment);
  w.u64(a.offset);
  w.u64(a.seq);
  return encodeFrame(FRAME_ACK, w.bytesSince(start));
}

export function decodeAck(payload: Uint8Array): Ack {
  if (payload.length !== ACK_BYTES) throw new ProtocolError(`ACK of ${payload.length} bytes, expected ${ACK_BYTES}`);
  const r = new ByteReader(payload, "replication");
  try {
    return { segment: r.u64(), offset: r.u64(), seq: r.u64() };
  } catch (e) {
    throw new ProtocolError(`malformed ACK: ${(e as Error).message}`);
  }
}

export function parseHeartbeat(m: Record<string, unknown>): Heartbeat {
  need(isInt(m.timeMs), "timeMs");
  const out: Heartbeat = { timeMs: m.timeMs };
  if (m.lastSeq !== undefined) {
    need(isInt(m.lastSeq), "lastSeq");
    out.lastSeq = m.lastSeq;
  }
  if (m.position !== undefined) out.position = position(m.position, "position");
  return out;
}

export function parseSnapshotBegin(m: Record<string, unknown>): SnapshotBegin {
  need(isStr(m.id, 512), "id");
  need(isInt(m.flushedSeq), "flushedSeq");
  need(Array.isArray(m.tables), "tables");
  const tables = (m.tables as unknown[]).map((t) => {
    const x = t as TableMeta;
    for (const f of ["fileNo", "sizeBytes", "points", "tombstones", "minSeq", "maxSeq"] as const) need(isInt(x?.[f]), `tables[].${f}`);
    need(Number.isSafeInteger(x.minTs) && Number.isSafeInteger(x.maxTs), "tables[].minTs/maxTs");
    return { ...x };
  });
  return { id: m.id, flushedSeq: m.flushedSeq, tables, follow: position(m.follow, "follow") };
}

export function parseSnapshotEnd(m: Record<string, unknown>): SnapshotEnd {
  need(isStr(m.id, 512), "id");
  return { id: m.id };
}

// ------------------------------------------------------------------ binary frames

/** A DATA frame for WAL bytes [offset, offset + raw.length) of `segment`. */
export function encodeData(segment: number, offset: number, raw: Uint8Array, compressed: Uint8Array | null, into?: ByteWriter): Uint8Array {
  const body = compressed && compressed.length < raw.length ? compressed : raw;
  const w = into ?? new ByteWriter(DATA_HEADER_BYTES + body.length);
  const start = w.lengthBytes;
  w.u64(segment);
  w.u64(offset);
  w.u32(raw.length);
  w.u8(body === raw ? COMPRESSION_NONE : COMPRESSION_ZSTD);
  w.raw(body);
  return encodeFrame(FRAME_DATA, w.bytesSince(start));
}

export interface DataChunk {
  segment: number;
  offset: number;
  raw: Uint8Array;
  wireBytes: number;
}

function body(r: ByteReader, compression: number, rawBytes: number, what: string): Uint8Array {
  const b = r.bytes(r.remaining());
  if (compression === COMPRESSION_NONE) {
    if (b.length !== rawBytes) throw new ProtocolError(`${what}: ${b.length} bytes, header says ${rawBytes}`);
    return b;
  }
  if (compression !== COMPRESSION_ZSTD) throw new ProtocolError(`${what}: unknown compression ${compression}`);
  if (rawBytes > 4 * MAX_FRAME_PAYLOAD_BYTES) throw new ProtocolError(`${what}: ${rawBytes} raw bytes is too large`);
  let out: Uint8Array;
  try {
    out = Bun.zstdDecompressSync(b);
  } catch {
    throw new ProtocolError(`${what}: body does not decompress`);
  }
  if (out.length !== rawBytes) throw new ProtocolError(`${what}: decompressed to ${out.length} bytes, header says ${rawBytes}`);
  return out;
}

export function decodeData(payload: Uint8Array): DataChunk {
  const r = new ByteReader(payload, "replication");
  try {
    const segment = r.u64();
    const offset = r.u64();
    const rawBytes = r.u32();
    const compression = r.u8();
    return { segment, offset, raw: body(r, compression, rawBytes, "DATA"), wireBytes: payload.length };
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    throw new ProtocolError(`malformed DATA frame: ${(e as Error).message}`);
  }
}

export function encodeSnapshotChunk(fileNo: number, offset: number, raw: Uint8Array, into?: ByteWriter): Uint8Array {
  const w = into ?? new ByteWriter(SNAPSHOT_CHUNK_HEADER_BYTES + raw.length);
  const start = w.lengthBytes;
  w.u32(fileNo);
  w.u64(offset);
  w.u8(COMPRESSION_NONE); // SSTable blocks are already compressed
  w.raw(raw);
  return encodeFrame(FRAME_SNAPSHOT_CHUNK, w.bytesSince(start));
}

export function decodeSnapshotChunk(payload: Uint8Array): { fileNo: number; offset: number; raw: Uint8Array } {
  const r = new ByteReader(payload, "replication");
  try {
    const fileNo = r.u32();
    const offset = r.u64();
    const compression = r.u8();
    return { fileNo, offset, raw: body(r, compression, r.remaining(), "SNAPSHOT_CHUNK") };
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    throw new ProtocolError(`malformed SNAPSHOT_CHUNK frame: ${(e as Error).message}`);
  }
}
