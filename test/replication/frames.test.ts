import { describe, expect, test } from "bun:test";
import { FRAME_DATA, FRAME_HEADER_BYTES, FRAME_HELLO, MAX_FRAME_PAYLOAD_BYTES } from "../../src/replication/format.ts";
import { FrameDecoder, ProtocolError, encodeFrame } from "../../src/replication/frame_codec.ts";
import { decodeAck, decodeControl, decodeData, encodeAck, encodeControl, encodeData, parseHello, parseSnapshotBegin } from "../../src/replication/messages.ts";
import { encode } from "cborg";
import { isRecordBoundary } from "../../src/replication/segment_reader.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import { encodePutBatch } from "../../src/wal/batch.ts";
import { SEGMENT_HEADER_BYTES } from "../../src/wal/format.ts";
import { encodeSegmentHeader } from "../../src/wal/record.ts";

describe("replication frames", () => {
  test("round trip, delivered one byte at a time", () => {
    const frames = [encodeControl(FRAME_HELLO, { a: 1 }), encodeFrame(42, new Uint8Array(0)), encodeFrame(7, crypto.getRandomValues(new Uint8Array(5000)))];
    const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let o = 0;
    for (const f of frames) {
      all.set(f, o);
      o += f.length;
    }
    const d = new FrameDecoder();
    const got = [];
    for (let i = 0; i < all.length; i++) {
      d.push(all.subarray(i, i + 1));
      for (let f = d.next(); f; f = d.next()) got.push(f);
    }
    expect(got.map((f) => f.type)).toEqual([FRAME_HELLO, 42, 7]);
    expect(decodeControl(got[0]!.payload)).toEqual({ a: 1 });
    expect(got[2]!.payload).toEqual(frames[2]!.subarray(FRAME_HEADER_BYTES));
    expect(d.pendingBytes).toBe(0);
  });

  test("BadLength: an absurd length is refused before any allocation", () => {
    const d = new FrameDecoder();
    const h = new Uint8Array(FRAME_HEADER_BYTES);
    new DataView(h.buffer).setUint32(0, MAX_FRAME_PAYLOAD_BYTES + 1, true);
    d.push(h);
    expect(() => d.next()).toThrow(/exceeds the maximum/);
  });

  test("ChecksumMismatch: a flipped payload bit is caught", () => {
    const f = encodeControl(FRAME_HELLO, { hello: "world" });
    f[f.length - 1]! ^= 1;
    const d = new FrameDecoder();
    d.push(f);
    expect(() => d.next()).toThrow(ProtocolError);
  });

  test("bad CBOR and wrong fields are ProtocolErrors, never crashes", () => {
    expect(() => decodeControl(new Uint8Array([0xff, 0x00, 0x13]))).toThrow(/not valid CBOR/);
    expect(() => decodeControl(encode([1, 2]))).toThrow(/not a CBOR map/);
    expect(() => parseHello({ protocol: 1, replicaId: "r1", leaderId: null, nonce: "n", position: { segment: -1, offset: 0 } })).toThrow(/position/);
    expect(() => parseHello({ protocol: 1, replicaId: "has space", leaderId: null, nonce: "n" })).toThrow(/replicaId/);
    expect(() => decodeAck(new Uint8Array(23))).toThrow(/ACK of 23 bytes/);
    const ack = encodeAck({ segment: 2, offset: 4096, seq: 77 });
    expect(decodeAck(ack.subarray(FRAME_HEADER_BYTES))).toEqual({ segment: 2, offset: 4096, seq: 77 });
    expect(() => parseSnapshotBegin({ id: "x", flushedSeq: 1, tables: [{ fileNo: 1 }], follow: { segment: 1, offset: 0 } })).toThrow(/tables/);
    for (let i = 0; i < 300; i++) {
      const junk = crypto.getRandomValues(new Uint8Array(1 + (i % 64)));
      try {
        parseHello(decodeControl(junk));
      } catch (e) {
        expect(e).toBeInstanceOf(ProtocolError);
      }
    }
  });

  test("DATA frames carry exact WAL byte ranges, compressed or not", () => {
    const raw = new TextEncoder().encode("x".repeat(10_000));
    const z = Bun.zstdCompressSync(raw);
    for (const frame of [encodeData(3, 4096, raw, z), encodeData(3, 4096, raw, null)]) {
      const d = new FrameDecoder();
      d.push(frame);
      const f = d.next()!;
      expect(f.type).toBe(FRAME_DATA);
      const data = decodeData(f.payload);
      expect(data.segment).toBe(3);
      expect(data.offset).toBe(4096);
      expect(data.raw).toEqual(raw);
    }
    const lying = encodeData(1, 0, raw, z).subarray(FRAME_HEADER_BYTES).slice();
    new DataView(lying.buffer).setUint32(16, 99, true); // rawBytes says 99
    expect(() => decodeData(lying)).toThrow(/decompressed to 10000 bytes, header says 99/);
  });
});

describe("record boundaries of a leader segment (HELLO position check)", () => {
  test("true exactly at 0, the header end and each record end; false anywhere else, across 1 MiB read pieces", () => {
    const vfs = new MemFs();
    vfs.mkdirp("/w");
    const f = vfs.open("/w/000000000001.wal", "create");
    f.append(encodeSegmentHeader(1));
    const ends = new Set<number>([0, SEGMENT_HEADER_BYTES]);
    let seq = 1;
    // Small records, then one larger than a read piece, then small ones again.
    const sizes = [...Array(200).fill(3), 40_000, 200_000, ...Array(50).fill(5)];
    for (const n of sizes) {
      const pts = Array.from({ length: n }, (_, i) => 1_767_225_600_000 + i * 997);
      f.append(encodePutBatch(seq++, [{ key: `s${seq % 7}`, ts: pts, vals: pts.map((x) => x / 3) }]));
      ends.add(f.size());
    }
    const size = f.size();
    expect(size).toBeGreaterThan(1024 * 1024 + 100_000);
    // Every offset of the first 3,000 bytes, both neighbours of every record end, and 300
    // seeded random offsets (most of them inside the two large records).
    const offsets = new Set<number>();
    for (let off = 0; off <= 3000; off++) offsets.add(off);
    for (const e of ends) for (const d of [-1, 0, 1]) if (e + d >= 0 && e + d <= size) offsets.add(e + d);
    let x = 12345;
    for (let i = 0; i < 300; i++) offsets.add((x = (x * 1103515245 + 12345) % 2 ** 31) % (size + 1));
    let wrong = 0;
    for (const off of offsets) if (isRecordBoundary(f, off) !== ends.has(off)) wrong++;
    expect(wrong).toBe(0);
    expect(isRecordBoundary(f, size + 1)).toBe(false);
  });
});
