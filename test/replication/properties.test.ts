// Property tests of the replication wire codecs: frames through the incremental
// FrameDecoder (a growable buffer that is compacted and reused), the binary messages (ACK,
// DATA, SNAPSHOT_CHUNK) with their writer at each capacity 1..64 behind a random prefix, and
// every control message through encode, frame, decode and its checked parser.

import { describe, expect, test } from "bun:test";
import { MAX_ABS_TS_MS } from "../../src/codec/columns.ts";
import {
  FRAME_ACK,
  FRAME_DATA,
  FRAME_ERROR,
  FRAME_HEADER_BYTES,
  FRAME_HEARTBEAT,
  FRAME_HELLO,
  FRAME_SERVER_HELLO,
  FRAME_SNAPSHOT_BEGIN,
  FRAME_SNAPSHOT_CHUNK,
  FRAME_SNAPSHOT_END,
  FRAME_WELCOME,
} from "../../src/replication/format.ts";
import { FrameDecoder, ProtocolError, encodeFrame } from "../../src/replication/frame_codec.ts";
import type { Frame } from "../../src/replication/frame_codec.ts";
import {
  decodeAck,
  decodeControl,
  decodeData,
  decodeSnapshotChunk,
  encodeAck,
  encodeControl,
  encodeData,
  encodeSnapshotChunk,
  parseError,
  parseHeartbeat,
  parseHello,
  parseServerHello,
  parseSnapshotBegin,
  parseSnapshotEnd,
  parseWelcome,
} from "../../src/replication/messages.ts";
import { rng } from "../helpers.ts";
import {
  Failures,
  SIGNED_BOUNDARIES,
  UNSIGNED_BOUNDARIES,
  int,
  pick,
  prefixIntact,
  prefixedWriter,
  randomBytes,
  randomString,
  randomUnsigned,
  sameBytes,
  writerCases,
} from "../codec/property_gen.ts";
import type { Rand } from "../codec/property_gen.ts";

/** Frames in, pieces of random sizes out; next() drained at random moments. */
function deliver(r: Rand, frames: Uint8Array[]): Frame[] {
  const total = frames.reduce((n, f) => n + f.length, 0);
  const all = new Uint8Array(total);
  let o = 0;
  for (const f of frames) {
    all.set(f, o);
    o += f.length;
  }
  const d = new FrameDecoder();
  const got: Frame[] = [];
  for (let p = 0; p < total; ) {
    const n = Math.min(total - p, pick(r, [1, 2, 7, 9, 100, 4096, 65_536, 200_000]));
    // Pieces are views into a buffer the caller reuses, as a socket's may be.
    const piece = all.slice(p, p + n);
    d.push(piece);
    piece.fill(0xee);
    p += n;
    if (r() < 0.6 || p === total) for (let fr = d.next(); fr; fr = d.next()) got.push(fr);
  }
  expect(d.pendingBytes).toBe(0);
  return got;
}

function u(r: Rand): number {
  return r() < 0.5 ? pick(r, UNSIGNED_BOUNDARIES) : randomUnsigned(r);
}

describe("replication frame properties", () => {
  test("frames of any size survive any split into pieces; returned payloads stay intact", () => {
    const f = new Failures();
    const r = rng(81);
    for (let round = 0; round < 60; round++) {
      const sent = Array.from({ length: int(r, 1, 12) }, () => {
        const size = r() < 0.1 ? int(r, 65_000, 200_000) : r() < 0.2 ? 0 : int(r, 1, 300);
        return { type: int(r, 0, 255), payload: randomBytes(r, size) };
      });
      const got = deliver(r, sent.map((s) => encodeFrame(s.type, s.payload)));
      if (got.length !== sent.length) f.add(`round ${round}: ${got.length} of ${sent.length} frames`);
      // Checked after every frame was taken: a payload that aliased the decoder's buffer
      // would show later frames' bytes by now.
      for (let i = 0; i < Math.min(got.length, sent.length); i++) {
        if (got[i]!.type !== sent[i]!.type || !sameBytes(got[i]!.payload, sent[i]!.payload)) {
          f.add(`round ${round}: frame ${i} (type ${sent[i]!.type}, ${sent[i]!.payload.length} bytes) came back different`);
        }
      }
    }
    expect(f.report()).toBe("");
  });

  test("every flipped bit of a frame is refused", () => {
    const r = rng(82);
    for (let i = 0; i < 200; i++) {
      const frame = encodeFrame(int(r, 0, 255), randomBytes(r, int(r, 0, 100)));
      // Bits of the length field may make a frame look incomplete instead: that is fine,
      // as long as no frame comes out.
      const bad = frame.slice();
      bad[int(r, 0, bad.length - 1)]! ^= 1 << int(r, 0, 7);
      const d = new FrameDecoder();
      d.push(bad);
      let out: Frame | null = null;
      try {
        out = d.next();
      } catch (e) {
        expect(e).toBeInstanceOf(ProtocolError);
      }
      expect(out).toBeNull();
    }
  });
});

describe("replication binary message properties", () => {
  test("ACK, DATA and SNAPSHOT_CHUNK round-trip with their writer at every capacity 1..64 behind a prefix", () => {
    const f = new Failures();
    for (const c of writerCases(83, 4)) {
      const r = c.r;
      const ack = { segment: u(r), offset: u(r), seq: u(r) };
      const raw = r() < 0.3 ? new Uint8Array(int(r, 0, 3000)).fill(int(r, 0, 255)) : randomBytes(r, int(r, 0, 400));
      const compressed = r() < 0.5 ? Bun.zstdCompressSync(raw) : null;
      const segment = u(r);
      const offset = u(r);
      const fileNo = int(r, 0, 2 ** 32 - 1);

      const built: Uint8Array[] = [];
      const { w, prefix } = prefixedWriter(c);
      // One writer for all three: each encoder starts after whatever the writer holds.
      built.push(encodeAck(ack, w));
      built.push(encodeData(segment, offset, raw, compressed, w));
      built.push(encodeSnapshotChunk(fileNo, offset, raw, w));
      if (!prefixIntact(w, prefix)) f.add(`${c.label}: the prefix was overwritten`);
      const fresh = [encodeAck(ack), encodeData(segment, offset, raw, compressed), encodeSnapshotChunk(fileNo, offset, raw)];
      for (let i = 0; i < 3; i++) if (!sameBytes(built[i]!, fresh[i]!)) f.add(`${c.label}: message ${i} differs from a fresh writer's`);

      const got = deliver(r, built);
      if (got.length !== 3) {
        f.add(`${c.label}: ${got.length} frames`);
        continue;
      }
      try {
        const a = decodeAck(got[0]!.payload);
        if (got[0]!.type !== FRAME_ACK || a.segment !== ack.segment || a.offset !== ack.offset || a.seq !== ack.seq) f.add(`${c.label}: ACK ${JSON.stringify(ack)} read back as ${JSON.stringify(a)}`);
        const d = decodeData(got[1]!.payload);
        if (got[1]!.type !== FRAME_DATA || d.segment !== segment || d.offset !== offset || !sameBytes(d.raw, raw)) f.add(`${c.label}: DATA differs`);
        const s = decodeSnapshotChunk(got[2]!.payload);
        if (got[2]!.type !== FRAME_SNAPSHOT_CHUNK || s.fileNo !== fileNo || s.offset !== offset || !sameBytes(s.raw, raw)) f.add(`${c.label}: SNAPSHOT_CHUNK differs`);
      } catch (e) {
        f.add(`${c.label}: did not decode: ${(e as Error).message}`);
      }
    }
    expect(f.report()).toBe("");
  });

  test("numbers a binary message cannot carry are refused when encoding, wrong sizes when decoding", () => {
    for (const bad of [-1, 2 ** 53, NaN, Infinity, 0.5]) {
      expect(() => encodeAck({ segment: bad, offset: 0, seq: 0 })).toThrow(RangeError);
      expect(() => encodeAck({ segment: 0, offset: 0, seq: bad })).toThrow(RangeError);
      expect(() => encodeData(bad, 0, new Uint8Array(1), null)).toThrow(RangeError);
      expect(() => encodeSnapshotChunk(1, bad, new Uint8Array(1))).toThrow(RangeError);
    }
    expect(() => encodeSnapshotChunk(2 ** 32, 0, new Uint8Array(1))).toThrow(RangeError);
    for (const n of [0, 23, 25]) expect(() => decodeAck(new Uint8Array(n))).toThrow(ProtocolError);
    const ack = encodeAck({ segment: 1, offset: 2, seq: 3 }).subarray(FRAME_HEADER_BYTES);
    for (let cut = 0; cut < 21; cut++) expect(() => decodeData(new Uint8Array(cut))).toThrow(ProtocolError);
    expect(decodeAck(ack)).toEqual({ segment: 1, offset: 2, seq: 3 });
  });
});

// ------------------------------------------------------------------ control messages

function pos(r: Rand): { segment: number; offset: number } {
  return { segment: u(r), offset: u(r) };
}

/** A well-formed string; parsers take at most 256 UTF-16 units (120 code points <= 240). */
function str(r: Rand, maxCodePoints = 120): string {
  return randomString(r, maxCodePoints) || "x";
}

const ID_CHARS = "ABCXYZabcxyz0123456789._:-";

function replicaId(r: Rand): string {
  return Array.from({ length: r() < 0.1 ? 128 : int(r, 1, 40) }, () => pick(r, [...ID_CHARS])).join("");
}

function tableMeta(r: Rand) {
  const ts = () => pick(r, SIGNED_BOUNDARIES.filter((v) => Math.abs(v) <= MAX_ABS_TS_MS));
  return { fileNo: u(r), sizeBytes: u(r), points: u(r), tombstones: u(r), minTs: ts(), maxTs: ts(), minSeq: u(r), maxSeq: u(r) };
}

type ControlCase = { type: number; message: Record<string, unknown>; parse: (m: Record<string, unknown>) => unknown };

function randomControl(r: Rand): ControlCase {
  switch (int(r, 0, 6)) {
    case 0:
      return { type: FRAME_SERVER_HELLO, message: { protocol: u(r), leaderId: str(r), nonce: str(r), authRequired: r() < 0.5 }, parse: parseServerHello };
    case 1: {
      const m: Record<string, unknown> = { protocol: u(r), replicaId: replicaId(r), leaderId: r() < 0.3 ? null : str(r), position: r() < 0.3 ? null : pos(r), nonce: str(r) };
      if (r() < 0.5) m.proof = str(r, 64);
      if (r() < 0.5) m.snapshot = { id: str(r), have: Object.fromEntries(Array.from({ length: int(r, 0, 4) }, () => [String(u(r)), u(r)])) };
      return { type: FRAME_HELLO, message: m, parse: parseHello };
    }
    case 2: {
      const m: Record<string, unknown> = { leaderId: str(r), segments: Array.from({ length: int(r, 0, 6) }, () => ({ segment: u(r), sizeBytes: u(r) })), lastSeq: u(r) };
      if (r() < 0.5) m.proof = str(r, 64);
      return { type: FRAME_WELCOME, message: m, parse: parseWelcome };
    }
    case 3:
      return { type: FRAME_ERROR, message: { code: pick(r, ["PROTOCOL", "VERSION", "AUTH", "AHEAD"]), message: str(r, 300) }, parse: parseError };
    case 4: {
      const m: Record<string, unknown> = { timeMs: u(r) };
      if (r() < 0.5) m.lastSeq = u(r);
      if (r() < 0.5) m.position = pos(r);
      return { type: FRAME_HEARTBEAT, message: m, parse: parseHeartbeat };
    }
    case 5:
      return { type: FRAME_SNAPSHOT_BEGIN, message: { id: str(r), flushedSeq: u(r), tables: Array.from({ length: int(r, 0, 5) }, () => tableMeta(r)), follow: pos(r) }, parse: parseSnapshotBegin };
    default:
      return { type: FRAME_SNAPSHOT_END, message: { id: str(r) }, parse: parseSnapshotEnd };
  }
}

describe("replication control message properties", () => {
  test("every control message round-trips through encode, frames, decode and its parser", () => {
    const f = new Failures();
    const r = rng(84);
    for (let round = 0; round < 80; round++) {
      const cases = Array.from({ length: int(r, 1, 8) }, () => randomControl(r));
      const got = deliver(r, cases.map((c) => encodeControl(c.type, c.message)));
      for (let i = 0; i < cases.length; i++) {
        const c = cases[i]!;
        try {
          const parsed = c.parse(decodeControl(got[i]!.payload));
          // Deep equality regardless of key order (cborg writes map keys sorted).
          if (got[i]!.type !== c.type || !Bun.deepEquals(parsed, c.message, true)) {
            f.add(`round ${round}: type ${c.type} ${JSON.stringify(c.message).slice(0, 200)} parsed as ${JSON.stringify(parsed).slice(0, 200)}`);
          }
        } catch (e) {
          f.add(`round ${round}: type ${c.type} refused: ${(e as Error).message}`);
        }
      }
    }
    expect(f.report()).toBe("");
  });

  test("numbers that are not non-negative safe integers are refused by every parser", () => {
    const r = rng(85);
    for (const bad of [-1, 0.5, NaN, Infinity, -Infinity, 2 ** 53, "1", null]) {
      const roundTrip = (m: object) => decodeControl(encodeControl(FRAME_HEARTBEAT, m).subarray(FRAME_HEADER_BYTES));
      expect(() => parseHeartbeat(roundTrip({ timeMs: bad })), `timeMs ${bad}`).toThrow(ProtocolError);
      expect(() => parseHeartbeat(roundTrip({ timeMs: 1, position: { segment: bad, offset: 0 } }))).toThrow(ProtocolError);
      expect(() => parseWelcome(roundTrip({ leaderId: "l", segments: [], lastSeq: bad }))).toThrow(ProtocolError);
      expect(() => parseHello(roundTrip({ protocol: 1, replicaId: "r", leaderId: null, position: { segment: 1, offset: bad }, nonce: "n" }))).toThrow(ProtocolError);
      const t = { ...tableMeta(r), points: bad };
      expect(() => parseSnapshotBegin(roundTrip({ id: "s", flushedSeq: 1, tables: [t], follow: { segment: 1, offset: 0 } }))).toThrow(ProtocolError);
    }
  });
});
