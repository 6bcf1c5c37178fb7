// Property tests of the byte-level codecs: ByteWriter/ByteReader primitives, the column
// encodings, the checked CBOR container and the documents kept in it (MANIFEST, replication
// state files). Every writer starts at each capacity 1..64 behind a random prefix (see
// property_gen.ts); decoding starts after the prefix. Seeded and fast.

import { describe, expect, test } from "bun:test";
import { ByteReader, ByteWriter } from "../../src/codec/bytes.ts";
import { decodeCheckedCbor, encodeCheckedCbor } from "../../src/codec/checked_cbor.ts";
import { MAX_ABS_TS_MS, decodeTimestamps, decodeValues, encodeTimestamps, encodeValues } from "../../src/codec/columns.ts";
import type { Value } from "../../src/codec/columns.ts";
import { CorruptionError } from "../../src/errors.ts";
import { decodeManifest, encodeManifest } from "../../src/manifest/format.ts";
import type { ManifestData, TableMeta } from "../../src/manifest/format.ts";
import {
  LEADER_STATE_MAGIC,
  REPLICA_STATE_MAGIC,
  STATE_FORMAT_VERSION,
  decodeLeaderState,
  decodeReplicaState,
  emptyReplicaState,
} from "../../src/replication/state_format.ts";
import type { LeaderState, ReplicaState } from "../../src/replication/state_format.ts";
import { rng } from "../helpers.ts";
import {
  F64_SPECIALS,
  Failures,
  SIGNED_BOUNDARIES,
  STRING_SAMPLES,
  U32_BOUNDARIES,
  UNSIGNED_BOUNDARIES,
  int,
  pick,
  prefixIntact,
  prefixedWriter,
  randomBytes,
  randomF64,
  randomSigned,
  randomString,
  randomTimestamps,
  randomUnsigned,
  randomValues,
  sameValues,
  show,
  shuffle,
  writerCases,
} from "./property_gen.ts";
import type { Rand, WriterCase } from "./property_gen.ts";

// ------------------------------------------------------------------ primitives

type Kind = "u8" | "u16" | "u32" | "u64" | "f64" | "uvarint" | "svarint" | "str" | "raw";
type Op = { kind: Kind; v: number | string | Uint8Array };

const BOUNDARIES: Record<Exclude<Kind, "raw">, readonly (number | string)[]> = {
  u8: [0, 1, 127, 128, 255],
  u16: [0, 1, 127, 128, 255, 256, 16383, 16384, 65535],
  u32: U32_BOUNDARIES,
  u64: UNSIGNED_BOUNDARIES,
  f64: [...F64_SPECIALS, ...UNSIGNED_BOUNDARIES.slice(0, 40), ...SIGNED_BOUNDARIES.slice(0, 20)],
  uvarint: UNSIGNED_BOUNDARIES,
  svarint: SIGNED_BOUNDARIES,
  str: STRING_SAMPLES.filter((s) => s.length < 1000),
};

function randomOp(r: Rand): Op {
  const kind = pick(r, ["u8", "u16", "u32", "u64", "f64", "uvarint", "svarint", "str", "raw"] as const);
  if (kind === "raw") return { kind, v: randomBytes(r, int(r, 0, r() < 0.9 ? 20 : 300)) };
  if (r() < 0.5) return { kind, v: pick(r, BOUNDARIES[kind]) };
  switch (kind) {
    case "u8":
      return { kind, v: int(r, 0, 255) };
    case "u16":
      return { kind, v: int(r, 0, 65535) };
    case "u32":
      return { kind, v: randomUnsigned(r, 32) % 2 ** 32 };
    case "u64":
    case "uvarint":
      return { kind, v: randomUnsigned(r) };
    case "svarint":
      return { kind, v: randomSigned(r) };
    case "f64":
      return { kind, v: randomF64(r) };
    case "str":
      return { kind, v: randomString(r, r() < 0.9 ? 60 : 400) };
  }
}

function write(w: ByteWriter, op: Op): void {
  if (op.kind === "str") w.str(op.v as string);
  else if (op.kind === "raw") w.raw(op.v as Uint8Array);
  else w[op.kind](op.v as number);
}

function read(r: ByteReader, op: Op): number | string | Uint8Array {
  if (op.kind === "str") return r.str();
  if (op.kind === "raw") return r.bytes((op.v as Uint8Array).length).slice();
  return r[op.kind]();
}

function same(a: Op["v"], b: Op["v"]): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i]);
  return Object.is(a, b);
}

/** A reader positioned just after the prefix: over the rest as a subarray, or over all of it. */
function readerAfterPrefix(c: WriterCase, w: ByteWriter): ByteReader {
  if (c.r() < 0.5) return new ByteReader(w.bytesSince(c.prefixBytes));
  const r = new ByteReader(w.bytes());
  r.pos = c.prefixBytes;
  return r;
}

/** Writes `ops` behind the case's prefix, reads them back; reports any difference. */
function roundTrip(c: WriterCase, ops: Op[], f: Failures): void {
  const { w, prefix } = prefixedWriter(c);
  for (const op of ops) write(w, op);
  if (!prefixIntact(w, prefix)) f.add(`${c.label}: the prefix was overwritten`);
  const r = readerAfterPrefix(c, w);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    let got: Op["v"];
    try {
      got = read(r, op);
    } catch (e) {
      f.add(`${c.label}: ${op.kind} #${i} ${show(op.v)} did not decode: ${(e as Error).message}`);
      return;
    }
    if (!same(got, op.v)) {
      f.add(`${c.label}: ${op.kind} #${i} ${show(op.v)} read back as ${show(got)}`);
      return;
    }
  }
  if (r.remaining() !== 0) f.add(`${c.label}: ${r.remaining()} bytes left after the last value`);
}

describe("ByteWriter/ByteReader properties", () => {
  test("the issue's repro: 3590600000000 after every prefix 0..64 at every capacity 1..64", () => {
    const f = new Failures();
    for (const c of writerCases(1, "all")) roundTrip(c, [{ kind: "uvarint", v: 3_590_600_000_000 }, { kind: "svarint", v: -3_590_600_000_000 }], f);
    expect(f.report()).toBe("");
  });

  for (const kind of Object.keys(BOUNDARIES) as Exclude<Kind, "raw">[]) {
    test(`${kind}: boundary values after every prefix 0..64 at every capacity 1..64`, () => {
      const f = new Failures();
      for (const c of writerCases(100 + kind.length, "all")) {
        // Up to 48 of the boundary values a case, in random order: over the 4,160 cases each
        // value lands at hundreds of (capacity, offset) pairs.
        roundTrip(c, shuffle(c.r, BOUNDARIES[kind].map((v) => ({ kind, v }))).slice(0, 48), f);
      }
      expect(f.report()).toBe("");
    });
  }

  test("random interleavings of every primitive, long strings included", () => {
    const f = new Failures();
    for (const c of writerCases(7, 16)) {
      const ops = Array.from({ length: int(c.r, 1, 60) }, () => randomOp(c.r));
      if (c.r() < 0.1) ops.splice(int(c.r, 0, ops.length), 0, { kind: "str", v: pick(c.r, STRING_SAMPLES) });
      roundTrip(c, ops, f);
    }
    expect(f.report()).toBe("");
  });

  test("values a primitive cannot hold are refused (RangeError) and nothing is written", () => {
    const bad: Record<string, readonly number[]> = {
      u8: [-1, 256, 1.5, NaN, Infinity, -0.5],
      u16: [-1, 65536, 2.5, NaN, -Infinity],
      u32: [-1, 2 ** 32, 2 ** 32 + 1, 0.5, NaN, Infinity],
      u64: [-1, 2 ** 53, 2 ** 53 + 2, 2 ** 64, 0.5, NaN, Infinity, -Infinity],
      uvarint: [-1, -(2 ** 31), 2 ** 53, 2 ** 64, 1.5, NaN, Infinity, -Infinity],
      svarint: [2 ** 52, -(2 ** 52) - 2, 2 ** 53, 0.5, -0.5, 1.5, NaN, Infinity, -Infinity],
    };
    for (const [kind, values] of Object.entries(bad)) {
      for (const v of values) {
        const w = new ByteWriter(3);
        w.u8(7);
        expect(() => (w as unknown as Record<string, (x: number) => void>)[kind]!(v), `${kind}(${v})`).toThrow(RangeError);
        expect(w.lengthBytes, `${kind}(${v}) wrote bytes`).toBe(1);
      }
    }
    // -0 is an integer: the varints store it as 0 (an integer has no sign of zero).
    const w = new ByteWriter(1);
    w.uvarint(-0);
    w.svarint(-0);
    const r = new ByteReader(w.bytes());
    expect(Object.is(r.uvarint(), 0)).toBe(true);
    expect(Object.is(r.svarint(), 0)).toBe(true);
  });

  test("a writer created with capacity 0 grows", () => {
    const w = new ByteWriter(0);
    w.uvarint(2 ** 40);
    w.str("😀");
    const r = new ByteReader(w.bytes());
    expect(r.uvarint()).toBe(2 ** 40);
    expect(r.str()).toBe("😀");
  });

  test("every truncation of an encoded sequence is a CorruptionError, never a wrong value", () => {
    const c = writerCases(9, 1).next().value!;
    const ops: Op[] = [
      { kind: "uvarint", v: 2 ** 53 - 1 },
      { kind: "svarint", v: -(2 ** 52) },
      { kind: "str", v: "😀".repeat(40) },
      { kind: "u64", v: 2 ** 32 + 7 },
      { kind: "f64", v: -0 },
    ];
    const w = new ByteWriter(1);
    for (const op of ops) write(w, op);
    const all = w.bytes().slice();
    for (let cut = 0; cut < all.length; cut++) {
      const r = new ByteReader(all.subarray(0, cut));
      expect(() => {
        for (const op of ops) if (!same(read(r, op), op.v)) throw new Error(`wrong value for ${op.kind}`);
      }).toThrow(CorruptionError);
    }
    expect(c.capacityBytes).toBe(1);
  });
});

// ------------------------------------------------------------------ columns

interface Series {
  ts: number[];
  vals: Value[];
  start: number;
  end: number;
}

function randomSeries(r: Rand): Series {
  const n = r() < 0.1 ? int(r, 1, 3) : int(r, 1, 80);
  const ts = randomTimestamps(r, n, r() < 0.7);
  const vals = randomValues(r, n);
  // Encoders take [start, end) of longer arrays.
  const start = r() < 0.5 ? 0 : int(r, 0, n - 1);
  const end = r() < 0.5 ? n : int(r, start + 1, n);
  return { ts, vals, start, end };
}

describe("column codec properties", () => {
  test("timestamp and value columns round-trip bit-exactly (decimal, float, string, mixed) at every capacity", () => {
    const f = new Failures();
    for (const c of writerCases(21, 8)) {
      const { w, prefix } = prefixedWriter(c);
      const series = Array.from({ length: int(c.r, 1, 4) }, () => randomSeries(c.r));
      for (const s of series) {
        encodeTimestamps(w, s.ts, s.start, s.end);
        encodeValues(w, s.vals, s.start, s.end);
      }
      if (!prefixIntact(w, prefix)) f.add(`${c.label}: the prefix was overwritten`);
      const r = readerAfterPrefix(c, w);
      for (const [i, s] of series.entries()) {
        const n = s.end - s.start;
        const ts: number[] = [];
        const vals: Value[] = [];
        try {
          decodeTimestamps(r, n, ts);
          decodeValues(r, n, vals);
        } catch (e) {
          f.add(`${c.label}: series ${i} did not decode: ${(e as Error).message}`);
          break;
        }
        const wantTs = s.ts.slice(s.start, s.end);
        const wantVals = s.vals.slice(s.start, s.end);
        if (!sameValues(ts, wantTs)) f.add(`${c.label}: series ${i} timestamps ${show(wantTs)} read back as ${show(ts)}`);
        if (!sameValues(vals, wantVals)) f.add(`${c.label}: series ${i} values ${show(wantVals)} read back as ${show(vals)}`);
      }
      if (r.remaining() !== 0) f.add(`${c.label}: ${r.remaining()} bytes left`);
    }
    expect(f.report()).toBe("");
  });

  test("extreme timestamps: ±2^49 alternating (delta-of-delta 2^51) and every boundary", () => {
    const cases = [
      [MAX_ABS_TS_MS, -MAX_ABS_TS_MS, MAX_ABS_TS_MS, -MAX_ABS_TS_MS],
      [-MAX_ABS_TS_MS, MAX_ABS_TS_MS, -MAX_ABS_TS_MS],
      SIGNED_BOUNDARIES.filter((v) => Math.abs(v) <= MAX_ABS_TS_MS),
      [0],
      [-1, 0, 1],
    ];
    for (const ts of cases) {
      for (let cap = 1; cap <= 64; cap++) {
        const w = new ByteWriter(cap);
        encodeTimestamps(w, ts, 0, ts.length);
        const out: number[] = [];
        decodeTimestamps(new ByteReader(w.bytes()), ts.length, out);
        expect(out).toEqual(ts);
      }
    }
  });

  test("a decimal scale raised by a later value falls back to float64 instead of an undecodable delta", () => {
    // 2^50 fits the decimal mode at scale 0; 0.5 raises the scale to 1, where 2^50 * 10
    // exceeds 2^50 and the delta left the svarint range (encoded, then never decoded).
    for (const vals of [[2 ** 50, 0.5], [1e15, 0.25], [0.5, 2 ** 50], [-(2 ** 50), 0.001, 2 ** 50]]) {
      const w = new ByteWriter(8);
      encodeValues(w, vals, 0, vals.length);
      const out: Value[] = [];
      decodeValues(new ByteReader(w.bytes()), vals.length, out);
      expect(out).toEqual(vals);
    }
  });

  test("a timestamp that is not an integer is refused, not stored as another number", () => {
    for (const ts of [[0.5], [1, 1.5], [1, 2, 3.25], [NaN], [Infinity]]) {
      expect(() => encodeTimestamps(new ByteWriter(4), ts, 0, ts.length), show(ts)).toThrow(RangeError);
    }
  });
});

// ------------------------------------------------------------------ checked CBOR documents

function randomDoc(r: Rand, depth = 0): unknown {
  const k = int(r, 0, depth > 2 ? 4 : 7);
  switch (k) {
    case 0:
      return pick(r, [...UNSIGNED_BOUNDARIES, ...SIGNED_BOUNDARIES]);
    case 1:
      return pick(r, F64_SPECIALS);
    case 2:
      return r() < 0.3 ? pick(r, STRING_SAMPLES) : randomString(r, 60);
    case 3:
      return pick(r, [true, false, null]);
    case 4:
      return randomBytes(r, int(r, 0, 200));
    case 5:
      return Array.from({ length: int(r, 0, 6) }, () => randomDoc(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = int(r, 0, 6); i > 0; i--) o[randomString(r, 12) || "k"] = randomDoc(r, depth + 1);
      return o;
    }
  }
}

/** The container's documents hold integers; cborg writes -0 as the integer 0. */
function withoutNegativeZero(x: unknown): unknown {
  if (Object.is(x, -0)) return 0;
  if (Array.isArray(x)) return x.map(withoutNegativeZero);
  if (x && typeof x === "object" && !(x instanceof Uint8Array)) return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, withoutNegativeZero(v)]));
  return x;
}

/** `bytes` copied into a larger buffer after a random prefix; returns the view of it. */
function behindPrefix(r: Rand, bytes: Uint8Array): Uint8Array {
  const p = int(r, 0, 64);
  const big = randomBytes(r, p + bytes.length + int(r, 0, 16));
  big.set(bytes, p);
  return big.subarray(p, p + bytes.length);
}

describe("checked CBOR container properties", () => {
  test("documents round-trip from inside larger buffers; any damaged byte is refused", () => {
    const r = rng(31);
    for (let i = 0; i < 300; i++) {
      const doc = { d: randomDoc(r) };
      const magic = int(r, 0, 2 ** 32 - 1);
      const version = int(r, 0, 65535);
      const bytes = encodeCheckedCbor(magic, version, doc);
      const view = behindPrefix(r, bytes);
      expect(decodeCheckedCbor(view, magic, version, "test", "f", "doc")).toEqual(withoutNegativeZero(doc));
      // Damage: every byte except the reserved u16 (bytes 6-7, which the reader ignores).
      const at = int(r, 0, bytes.length - 3);
      const pos = at >= 6 ? at + 2 : at;
      const bad = bytes.slice();
      bad[pos]! ^= 1 << int(r, 0, 7);
      expect(() => decodeCheckedCbor(behindPrefix(r, bad), magic, version, "test", "f", "doc")).toThrow(CorruptionError);
      expect(() => decodeCheckedCbor(bytes.subarray(0, int(r, 0, bytes.length - 1)), magic, version, "test", "f", "doc")).toThrow(CorruptionError);
    }
  });

  test("NaN and ±Infinity survive the container; -0 comes back as 0 (cborg writes integral floats as integers)", () => {
    const doc = { a: [-0, NaN, Infinity, -Infinity, 0.1, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 64] };
    const out = decodeCheckedCbor(encodeCheckedCbor(1, 1, doc), 1, 1, "test", "f", "doc") as typeof doc;
    expect(sameValues(out.a, [0, ...doc.a.slice(1)])).toBe(true);
  });
});

function randomTableMeta(r: Rand): TableMeta {
  const u = () => (r() < 0.5 ? pick(r, UNSIGNED_BOUNDARIES) : randomUnsigned(r));
  const s = () => (r() < 0.5 ? pick(r, SIGNED_BOUNDARIES.filter((v) => Math.abs(v) <= MAX_ABS_TS_MS)) : int(r, -MAX_ABS_TS_MS, MAX_ABS_TS_MS));
  return { fileNo: u(), sizeBytes: u(), points: u(), tombstones: u(), minTs: s(), maxTs: s(), minSeq: u(), maxSeq: u() };
}

describe("MANIFEST properties", () => {
  test("random manifests with boundary numbers round-trip from inside larger buffers", () => {
    const r = rng(41);
    for (let i = 0; i < 150; i++) {
      const m: ManifestData = {
        nextFileNo: pick(r, UNSIGNED_BOUNDARIES),
        flushedSeq: randomUnsigned(r),
        tables: Array.from({ length: r() < 0.05 ? int(r, 100, 200) : int(r, 0, 8) }, () => randomTableMeta(r)),
      };
      expect(decodeManifest(behindPrefix(r, encodeManifest(m)))).toEqual(m);
    }
  });

  test("numbers the reader would refuse (NaN, ±Infinity, fractions, beyond 2^53) are refused at write time too", () => {
    const r = rng(43);
    for (const bad of [NaN, Infinity, -Infinity, 0.5, 2 ** 53, -(2 ** 60)]) {
      for (const field of ["fileNo", "sizeBytes", "points", "tombstones", "minTs", "maxTs", "minSeq", "maxSeq"] as const) {
        const t = { ...randomTableMeta(r), [field]: bad };
        const m = { nextFileNo: 1, flushedSeq: 0, tables: [t] };
        expect(() => encodeManifest(m), `${field} = ${bad}`).toThrow(RangeError);
        const raw = encodeCheckedCbor(0x464d4843, 1, m);
        expect(() => decodeManifest(raw), `${field} = ${bad}`).toThrow(CorruptionError);
      }
      expect(() => encodeManifest({ nextFileNo: bad, flushedSeq: 0, tables: [] })).toThrow(RangeError);
      expect(() => encodeManifest({ nextFileNo: 1, flushedSeq: bad, tables: [] })).toThrow(RangeError);
    }
  });
});

describe("replication state file properties", () => {
  test("replica and leader state documents round-trip from inside larger buffers", () => {
    const r = rng(51);
    const u = () => (r() < 0.5 ? pick(r, UNSIGNED_BOUNDARIES) : randomUnsigned(r));
    for (let i = 0; i < 200; i++) {
      const rs: ReplicaState = {
        ...emptyReplicaState(randomString(r, 40) || "h:1", randomString(r, 40) || "r"),
        leaderId: r() < 0.3 ? null : randomString(r, 30),
        position: r() < 0.3 ? null : { segment: u(), offset: u() },
        appliedSeq: u(),
        leaderSeq: u(),
        entriesApplied: u(),
        bytesReceived: u(),
        wireBytesReceived: u(),
        lastContactMs: u(),
        caughtUpMs: u(),
        reconnects: u(),
        snapshots: u(),
        lastError: r() < 0.5 ? null : randomString(r, 200),
        state: pick(r, ["following", "connecting", "snapshot", `stopped: ${randomString(r, 30)}`]),
        snapshot:
          r() < 0.5
            ? null
            : {
                id: randomString(r, 30),
                flushedSeq: u(),
                tables: Array.from({ length: int(r, 0, 5) }, () => randomTableMeta(r)),
                follow: { segment: u(), offset: u() },
                have: Object.fromEntries(Array.from({ length: int(r, 0, 5) }, () => [String(u()), u()])),
              },
        updatedMs: u(),
      };
      const bytes = encodeCheckedCbor(REPLICA_STATE_MAGIC, STATE_FORMAT_VERSION, rs);
      expect(decodeReplicaState(behindPrefix(r, bytes), "replica.state")).toEqual(rs);

      const ls: LeaderState = {
        replicas: Array.from({ length: int(r, 0, 6) }, () => ({
          replicaId: randomString(r, 30) || "r",
          address: randomString(r, 30),
          position: r() < 0.3 ? null : { segment: u(), offset: u() },
          ackedSeq: u(),
          firstSeenMs: u(),
          lastContactMs: u(),
          needsSnapshot: r() < 0.5,
        })),
      };
      const lb = encodeCheckedCbor(LEADER_STATE_MAGIC, STATE_FORMAT_VERSION, ls);
      expect(decodeLeaderState(behindPrefix(r, lb), "replicas.state")).toEqual(ls);
      // The two kinds are not confused with each other.
      expect(() => decodeReplicaState(lb, "x")).toThrow(CorruptionError);
    }
  });

  test("counters that are not non-negative safe integers are refused", () => {
    for (const bad of [NaN, Infinity, -1, 0.5, 2 ** 53]) {
      const rs = { ...emptyReplicaState("h:1", "r"), appliedSeq: bad };
      expect(() => decodeReplicaState(encodeCheckedCbor(REPLICA_STATE_MAGIC, STATE_FORMAT_VERSION, rs), "f")).toThrow(CorruptionError);
      const ls = { replicas: [{ replicaId: "r", ackedSeq: bad }] };
      expect(() => decodeLeaderState(encodeCheckedCbor(LEADER_STATE_MAGIC, STATE_FORMAT_VERSION, ls), "f")).toThrow(CorruptionError);
    }
  });
});
