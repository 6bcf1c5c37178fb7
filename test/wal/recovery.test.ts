// WAL recovery, LevelDB style: each named case is one kind of damage, and the test says
// whether it is a torn tail (cut, start) or corruption (refuse; with salvage, replay
// every valid record around it and report exactly what was lost).
import { describe, expect, test } from "bun:test";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import { encodeDelete, encodePutBatch, groupPoints } from "../../src/wal/batch.ts";
import type { WalEntry } from "../../src/wal/batch.ts";
import { MAX_GROUP_COMMIT_BYTES, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, segmentFileName } from "../../src/wal/format.ts";
import { encodeSegmentHeader } from "../../src/wal/record.ts";
import { WalWriter } from "../../src/wal/writer.ts";
import { WalCorruptionError, recoverWal } from "../../src/wal/recovery.ts";
import type { RecoveryResult } from "../../src/wal/recovery.ts";

const DIR = "/db/wal";

/** Record of write batch `seq` (a put with a few points, so records differ in size). */
function record(seq: number): Uint8Array {
  return encodePutBatch(seq, groupPoints(Array.from({ length: 1 + (seq % 5) }, (_, i) => ({ key: `k${seq % 3}`, ts: 1_767_225_600_000 + seq * 10 + i, value: seq + i / 7 })))).slice();
}

/** Writes segment `no` holding the records of `seqs`; returns the offset of each record. */
async function writeSegment(fs: MemFs, no: number, seqs: number[], tail?: Uint8Array, make: (seq: number) => Uint8Array = record): Promise<number[]> {
  const f = fs.open(`${DIR}/${segmentFileName(no)}`, "create");
  f.append(encodeSegmentHeader(no));
  const offsets: number[] = [];
  let at = SEGMENT_HEADER_BYTES;
  for (const s of seqs) {
    const r = make(s);
    offsets.push(at);
    f.append(r);
    at += r.length;
  }
  if (tail) f.append(tail);
  await f.datasync();
  f.close();
  fs.syncDir(DIR);
  return offsets;
}

function fresh(): MemFs {
  const fs = new MemFs();
  fs.mkdirp(DIR);
  return fs;
}

function flip(fs: MemFs, no: number, at: number): void {
  const path = `${DIR}/${segmentFileName(no)}`;
  const bytes = fs.readFile(path).slice();
  bytes[at]! ^= 0x5a;
  const f = fs.open(path, "create");
  f.append(bytes);
  f.close();
}

async function recover(fs: MemFs, salvage = false): Promise<{ seqs: number[]; result: RecoveryResult }> {
  const seqs: number[] = [];
  const result = await recoverWal(fs, DIR, (e: WalEntry) => seqs.push(e.seq), { salvage });
  return { seqs, result };
}

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/**
 * Seqs from `from` on whose records hold more than MAX_GROUP_COMMIT_BYTES: written after a
 * damaged record, they put it outside the last group-commit write, so the damage held
 * acknowledged writes (corruption, not a torn last write).
 */
const pastWindowCache = new Map<number, number[]>();
function pastWindow(from: number): number[] {
  const cached = pastWindowCache.get(from);
  if (cached) return cached;
  const out: number[] = [];
  pastWindowCache.set(from, out);
  for (let bytes = 0, s = from; bytes <= MAX_GROUP_COMMIT_BYTES; s++) {
    out.push(s);
    bytes += record(s).length;
  }
  return out;
}
const LAST = (from: number) => pastWindow(from).at(-1)!;

describe("WAL recovery: torn tails are cut", () => {
  test("TornTail: the newest segment's last record cut short is dropped, the rest replayed", async () => {
    const fs = fresh();
    const offsets = await writeSegment(fs, 1, range(1, 10));
    const path = `${DIR}/${segmentFileName(1)}`;
    const whole = fs.readFile(path).length;
    const f = fs.open(path, "append");
    f.truncate(whole - 3); // the last record lost its last 3 bytes
    f.close();
    const { seqs, result } = await recover(fs);
    expect(seqs).toEqual(range(1, 9));
    expect(result.reports).toEqual([
      { file: segmentFileName(1), offsetBytes: offsets[9]!, droppedBytes: whole - 3 - offsets[9]!, kind: "TruncatedRecord", damage: "torn-tail", lostSeqs: { from: 10 } },
    ]);
    expect(result.salvaged).toEqual([]);
    expect(fs.readFile(path).length).toBe(offsets[9]!);
  });

  test("ZerosToEnd: zeros after the last record (preallocated, never written) are cut", async () => {
    const fs = fresh();
    await writeSegment(fs, 1, range(1, 5));
    const end = fs.readFile(`${DIR}/${segmentFileName(1)}`).length;
    await writeSegment(fs, 1, range(1, 5), new Uint8Array(4096));
    const { seqs, result } = await recover(fs);
    expect(seqs).toEqual(range(1, 5));
    expect(result.reports.map((r) => [r.damage, r.offsetBytes, r.droppedBytes])).toEqual([["torn-tail", end, 4096]]);
    expect(fs.readFile(`${DIR}/${segmentFileName(1)}`).length).toBe(end);
  });

  test("TornCreation: the newest segment holds only a zeroed header: removed, nothing lost", async () => {
    const fs = fresh();
    await writeSegment(fs, 1, range(1, 5));
    const f = fs.open(`${DIR}/${segmentFileName(2)}`, "create");
    f.append(new Uint8Array(SEGMENT_HEADER_BYTES + 100));
    await f.datasync();
    f.close();
    const { seqs, result } = await recover(fs);
    expect(seqs).toEqual(range(1, 5));
    expect(result.reports.map((r) => [r.file, r.kind, r.damage])).toEqual([[segmentFileName(2), "BadSegmentHeader", "torn-tail"]]);
    expect(fs.exists(`${DIR}/${segmentFileName(2)}`)).toBe(false);
  });

  test("ChecksumMismatchAtEnd: a flipped byte in the very last record of the newest segment is a tear", async () => {
    const fs = fresh();
    const offsets = await writeSegment(fs, 1, range(1, 6));
    flip(fs, 1, offsets[5]! + RECORD_HEADER_BYTES + 3);
    const { seqs, result } = await recover(fs);
    expect(seqs).toEqual(range(1, 5));
    expect(result.reports.map((r) => r.damage)).toEqual(["torn-tail"]);
  });
});

describe("WAL recovery: corruption followed by valid records", () => {
  test("MidLogFlip: refused without salvage, nothing changed on disk; the error names file, offset, bytes and --salvage", async () => {
    const fs = fresh();
    const offsets = await writeSegment(fs, 1, [...range(1, 200), ...pastWindow(201)]);
    flip(fs, 1, offsets[50]! + RECORD_HEADER_BYTES + 4); // inside write batch 51's payload
    const before = fs.readFile(`${DIR}/${segmentFileName(1)}`).slice();
    let err: unknown;
    try {
      await recover(fs);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WalCorruptionError);
    const msg = String((err as Error).message);
    expect(msg).toContain(`in ${segmentFileName(1)} at offset ${offsets[50]}`);
    expect(msg).toContain(`${offsets[51]! - offsets[50]!} bytes (ChecksumMismatch)`);
    expect(msg).toContain("seq 51..51 lost");
    expect(msg).toContain("--salvage");
    expect(fs.readFile(`${DIR}/${segmentFileName(1)}`)).toEqual(before);
  });

  test("MidLogFlip with salvage: every record after the damage is replayed and the loss is reported exactly", async () => {
    const fs = fresh();
    const offsets = await writeSegment(fs, 1, [...range(1, 200), ...pastWindow(201)]);
    flip(fs, 1, offsets[50]! + RECORD_HEADER_BYTES + 4);
    const { seqs, result } = await recover(fs, true);
    expect(seqs).toEqual([...range(1, 50), ...range(52, LAST(201))]);
    expect(result.reports).toEqual([
      {
        file: segmentFileName(1),
        offsetBytes: offsets[50]!,
        droppedBytes: offsets[51]! - offsets[50]!,
        kind: "ChecksumMismatch",
        damage: "corruption",
        lostSeqs: { from: 51, to: 51 },
      },
    ]);
    expect(result.salvaged).toEqual([1]);
    // The segment is left whole for the engine to move aside after flushing.
    expect(fs.readFile(`${DIR}/${segmentFileName(1)}`).length).toBe(offsets.at(-1)! + record(LAST(201)).length);
  });

  test("MidLogBadLength: a flipped length byte (the record claims 2 GB) resynchronises on the next record", async () => {
    const fs = fresh();
    const offsets = await writeSegment(fs, 1, [...range(1, 30), ...pastWindow(31)]);
    flip(fs, 1, offsets[10]! + 7); // high byte of the length
    await expect(recover(fs)).rejects.toBeInstanceOf(WalCorruptionError);
    const { seqs, result } = await recover(fs, true);
    expect(seqs).toEqual([...range(1, 10), ...range(12, LAST(31))]);
    expect(result.reports.map((r) => [r.kind, r.lostSeqs])).toEqual([["BadLength", { from: 11, to: 11 }]]);
  });

  test("CorruptOlderSegment: a bad tail in a segment that is not the newest is never a tear", async () => {
    const fs = fresh();
    const offsets = await writeSegment(fs, 1, range(1, 20));
    await writeSegment(fs, 2, range(21, 40));
    flip(fs, 1, offsets[19]! + RECORD_HEADER_BYTES + 2); // the LAST record of segment 1
    await expect(recover(fs)).rejects.toThrow(/000000000001\.wal at offset \d+.*seq 20\.\.20 lost/);
    const { seqs, result } = await recover(fs, true);
    expect(seqs).toEqual([...range(1, 19), ...range(21, 40)]);
    expect(result.reports.map((r) => [r.file, r.damage, r.lostSeqs])).toEqual([[segmentFileName(1), "corruption", { from: 20, to: 20 }]]);
    expect(result.salvaged).toEqual([1]);
  });

  test("CorruptSegmentHeader: a damaged header is corruption; salvage still replays the segment's records", async () => {
    const fs = fresh();
    await writeSegment(fs, 1, range(1, 10));
    await writeSegment(fs, 2, range(11, 15));
    flip(fs, 1, 0);
    await expect(recover(fs)).rejects.toBeInstanceOf(WalCorruptionError);
    const { seqs, result } = await recover(fs, true);
    expect(seqs).toEqual(range(1, 15));
    expect(result.reports.map((r) => [r.kind, r.damage])).toEqual([["BadSegmentHeader", "corruption"]]);
  });

  test("TwoDamagedRegions: each is reported with its own lost range", async () => {
    const fs = fresh();
    const offsets = await writeSegment(fs, 1, [...range(1, 100), ...pastWindow(101)]);
    flip(fs, 1, offsets[9]! + RECORD_HEADER_BYTES);
    flip(fs, 1, offsets[59]! + 1); // the CRC itself
    const { seqs, result } = await recover(fs, true);
    expect(seqs).toEqual([...range(1, 9), ...range(11, 59), ...range(61, LAST(101))]);
    expect(result.reports.map((r) => r.lostSeqs)).toEqual([
      { from: 10, to: 10 },
      { from: 60, to: 60 },
    ]);
  });

  test("DeleteRecords: damage amid delete records is found too (every record type carries a seq)", async () => {
    const fs = fresh();
    const f = fs.open(`${DIR}/${segmentFileName(1)}`, "create");
    f.append(encodeSegmentHeader(1));
    const offsets: number[] = [];
    let at = SEGMENT_HEADER_BYTES;
    for (let s = 1; s <= 10; s++) {
      const r = encodeDelete(s, `key${s}`, 0, s).slice();
      offsets.push(at);
      f.append(r);
      at += r.length;
    }
    for (const s of pastWindow(11)) f.append(record(s));
    await f.datasync();
    f.close();
    flip(fs, 1, offsets[3]! + RECORD_HEADER_BYTES + 9);
    const { seqs } = await recover(fs, true);
    expect(seqs).toEqual([1, 2, 3, ...range(5, LAST(11))]);
  });
});

// Power-cut shapes that look like mid-log damage but hold nothing acknowledged (or nothing
// not already in SSTables): the node must start, cut or move aside, keep a copy, and report.
describe("WAL recovery: power cuts are not corruption", () => {
  /**
   * Zeros over the PAGE_BYTES-aligned pages [atBytes, atBytes + pages * PAGE_BYTES) of a
   * growing file (pages never written back while a later one was), as a power cut mid-
   * fdatasync leaves them. Returns the index of the first record they hit.
   */
  const PAGE_BYTES = 4096;
  function zeroPages(fs: MemFs, no: number, offsets: number[], atBytes: number, pages = 1): number {
    expect(atBytes % PAGE_BYTES).toBe(0);
    const path = `${DIR}/${segmentFileName(no)}`;
    const bytes = fs.readFile(path).slice();
    expect(atBytes + pages * PAGE_BYTES).toBeLessThan(offsets.at(-1)!); // valid records after
    bytes.fill(0, atBytes, atBytes + pages * PAGE_BYTES);
    const f = fs.open(path, "create");
    f.append(bytes);
    f.close();
    return offsets.findLastIndex((o) => o <= atBytes);
  }
  const pageAfter = (bytes: number) => Math.ceil(bytes / PAGE_BYTES) * PAGE_BYTES;

  test("TornLastWrite: an unwritten (zero) page inside the final group-commit write, valid records after it: cut there, a copy kept, the dropped seqs reported", async () => {
    const fs = fresh();
    const offsets = await writeSegment(fs, 1, range(1, 400));
    // The last write held seqs 300..400; its pages but one (zeros) made it to the disk.
    const i = zeroPages(fs, 1, offsets, pageAfter(offsets[299]!));
    const seq = i + 1;
    expect(seq).toBeGreaterThanOrEqual(300);
    const before = fs.readFile(`${DIR}/${segmentFileName(1)}`).slice();
    const nowMs = Date.UTC(2026, 10, 22, 1, 2, 3);
    const seqs: number[] = [];
    const result = await recoverWal(fs, DIR, (e) => seqs.push(e.seq), { nowMs });
    expect(seqs).toEqual(range(1, seq - 1));
    const copy = `${segmentFileName(1)}.torn-20261122T010203Z`;
    expect(result.reports).toEqual([
      {
        file: segmentFileName(1),
        offsetBytes: offsets[i]!,
        droppedBytes: before.length - offsets[i]!,
        kind: "ChecksumMismatch",
        damage: "torn-write",
        lostSeqs: { from: seq, to: 400 },
        copiedTo: copy,
      },
    ]);
    expect(result.salvaged).toEqual([]);
    expect(fs.readFile(`${DIR}/${segmentFileName(1)}`).length).toBe(offsets[i]!);
    expect(fs.readFile(`${DIR}/${copy}`)).toEqual(before); // the whole segment, as found
  });

  test("TornWriteInLastSector: the last write began in its page's last sector; the unwritten rest of that page (zeros, under 512 bytes) is enough evidence", async () => {
    const fs = fresh();
    const offsets = await writeSegment(fs, 1, range(1, 400));
    // The last write began at a record in the last sector of a page; that page never reached the disk.
    const i = offsets.findIndex((o, j) => j >= 299 && o % PAGE_BYTES >= PAGE_BYTES - 512 && o % 512 !== 0);
    expect(i).toBeGreaterThan(0);
    const at = offsets[i]!;
    const path = `${DIR}/${segmentFileName(1)}`;
    const bytes = fs.readFile(path).slice();
    bytes.fill(0, at, pageAfter(at));
    const f = fs.open(path, "create");
    f.append(bytes);
    f.close();
    const seqs: number[] = [];
    const result = await recoverWal(fs, DIR, (e) => seqs.push(e.seq), { nowMs: Date.UTC(2026, 10, 22) });
    expect(seqs).toEqual(range(1, i));
    expect(result.reports.map((r) => [r.damage, r.offsetBytes, r.lostSeqs])).toEqual([["torn-write", at, { from: i + 1, to: 400 }]]);
  });

  test("BitFlipInWindow: one flipped byte in an acknowledged record inside the window, valid records after it, is corruption, not a torn write", async () => {
    const fs = fresh();
    const offsets = await writeSegment(fs, 1, range(1, 200));
    expect(offsets.at(-1)! - offsets[100]!).toBeLessThan(MAX_GROUP_COMMIT_BYTES); // inside the window
    flip(fs, 1, offsets[100]! + RECORD_HEADER_BYTES + 3); // seq 101, synced and acknowledged long ago
    const before = fs.readFile(`${DIR}/${segmentFileName(1)}`).slice();
    const err = (await recover(fs).catch((e) => e)) as WalCorruptionError;
    expect(err).toBeInstanceOf(WalCorruptionError);
    expect(err.reports.map((r) => [r.damage, r.lostSeqs])).toEqual([["corruption", { from: 101, to: 101 }]]);
    expect(fs.list(DIR)).toEqual([segmentFileName(1)]); // nothing cut, nothing copied
    expect(fs.readFile(`${DIR}/${segmentFileName(1)}`)).toEqual(before);
    const { seqs, result } = await recover(fs, true);
    expect(seqs).toEqual(range(1, 200).filter((s) => s !== 101));
    expect(result.reports.map((r) => [r.damage, r.lostSeqs])).toEqual([["corruption", { from: 101, to: 101 }]]);
    expect(result.salvaged).toEqual([1]);
  });

  test("BadPayloadInWindow: a record whose CRC matches but whose payload does not decode, valid records after it, is corruption; last in the segment, a torn tail", async () => {
    // seq, a group count of 1, then nothing: the CRC covers exactly these bytes.
    const bad = (seq: number): Uint8Array => {
      const good = record(seq);
      const payloadBytes = 9;
      const out = good.slice(0, RECORD_HEADER_BYTES + payloadBytes);
      const v = new DataView(out.buffer);
      v.setUint32(4, payloadBytes, true);
      v.setUint32(0, Bun.hash.crc32(out.subarray(8)), true);
      return out;
    };
    const fs = fresh();
    await writeSegment(fs, 1, range(1, 200), undefined, (s) => (s === 150 ? bad(s) : record(s)));
    const err = (await recover(fs).catch((e) => e)) as WalCorruptionError;
    expect(err).toBeInstanceOf(WalCorruptionError);
    expect(err.reports.map((r) => [r.kind, r.damage, r.lostSeqs])).toEqual([["BadPayload", "corruption", { from: 150, to: 150 }]]);
    const { seqs } = await recover(fs, true);
    expect(seqs).toEqual(range(1, 200).filter((s) => s !== 150));

    const tail = fresh();
    await writeSegment(tail, 1, range(1, 200), undefined, (s) => (s === 200 ? bad(s) : record(s)));
    const t = await recover(tail);
    expect(t.seqs).toEqual(range(1, 199));
    expect(t.result.reports.map((r) => [r.kind, r.damage])).toEqual([["BadPayload", "torn-tail"]]);
  });

  test("TornWriteOutsideWindow: an unwritten page with more than MAX_GROUP_COMMIT_BYTES of valid records after it is corruption under --sync always", async () => {
    const fs = fresh();
    const offsets = await writeSegment(fs, 1, [...range(1, 300), ...pastWindow(301)]);
    expect(offsets[299]!).toBeGreaterThan(3 * PAGE_BYTES); // the zero pages lie before seq 300
    zeroPages(fs, 1, offsets, PAGE_BYTES, 2);
    await expect(recoverWal(fs, DIR, () => {}, { syncKind: "always" })).rejects.toBeInstanceOf(WalCorruptionError);
    expect(fs.list(DIR)).toEqual([segmentFileName(1)]); // nothing cut, nothing copied
  });

  test("TornWriteSyncNone: with --sync none or interval the same unwritten page is cut as a torn write, however far from the end; a flipped byte is not", async () => {
    for (const syncKind of ["none", "interval"] as const) {
      const fs = fresh();
      const offsets = await writeSegment(fs, 1, [...range(1, 300), ...pastWindow(301)]);
      expect(offsets[299]!).toBeGreaterThan(3 * PAGE_BYTES); // more than the window after the zero pages
      const i = zeroPages(fs, 1, offsets, PAGE_BYTES, 2);
      const seqs: number[] = [];
      const result = await recoverWal(fs, DIR, (e) => seqs.push(e.seq), { syncKind });
      expect(seqs).toEqual(range(1, i));
      expect(result.reports.map((r) => [r.damage, r.lostSeqs])).toEqual([["torn-write", { from: i + 1, to: LAST(301) }]]);
      expect(fs.list(DIR).some((n) => n.startsWith(`${segmentFileName(1)}.torn-`))).toBe(true);

      const flipped = fresh();
      const o2 = await writeSegment(flipped, 1, [...range(1, 300), ...pastWindow(301)]);
      flip(flipped, 1, o2[10]! + RECORD_HEADER_BYTES + 3);
      await expect(recoverWal(flipped, DIR, () => {}, { syncKind })).rejects.toBeInstanceOf(WalCorruptionError);
    }
  });

  test("TornTailBeforeEmptySegment: a torn tail of segment N followed only by N+1 holding a header is a tear, not corruption", async () => {
    const fs = fresh();
    const offsets = await writeSegment(fs, 1, range(1, 30));
    const path = `${DIR}/${segmentFileName(1)}`;
    const f = fs.open(path, "append");
    f.truncate(offsets[29]! + 5); // seq 30 torn
    f.close();
    await writeSegment(fs, 2, []); // created by the roll, header only
    const { seqs, result } = await recover(fs);
    expect(seqs).toEqual(range(1, 29));
    expect(result.reports.map((r) => [r.file, r.damage, r.lostSeqs])).toEqual([[segmentFileName(1), "torn-tail", { from: 30 }]]);
    expect(fs.readFile(path).length).toBe(offsets[29]!);
  });

  test("UnreadableNewestSegment: a bad header and no recognisable record, but bytes in it: moved aside, its number never reused", async () => {
    const fs = fresh();
    await writeSegment(fs, 1, range(1, 5));
    const f = fs.open(`${DIR}/${segmentFileName(2)}`, "create");
    const junk = new Uint8Array(3000).map((_, i) => (i * 37 + 11) & 0xff); // e.g. a newer format
    f.append(junk);
    await f.datasync();
    f.close();
    const { seqs, result } = await recover(fs);
    expect(seqs).toEqual(range(1, 5));
    expect(result.reports.map((r) => [r.file, r.damage])).toEqual([[segmentFileName(2), "unreadable-segment"]]);
    const movedTo = result.reports[0]!.movedTo!;
    expect(movedTo).toMatch(new RegExp(`^${segmentFileName(2)}\\.corrupt-\\d{8}T\\d{6}Z$`));
    expect(fs.readFile(`${DIR}/${movedTo}`)).toEqual(junk);
    expect(fs.exists(`${DIR}/${segmentFileName(2)}`)).toBe(false);
    expect(result.nextSegmentNo).toBe(3);
  });

  test("FlushedDamage: mid-log damage where every write is already in SSTables does not refuse; the segment is left for moving aside", async () => {
    const fs = fresh();
    const offsets = await writeSegment(fs, 1, [...range(1, 20), ...pastWindow(21)]);
    await writeSegment(fs, 2, range(LAST(21) + 1, LAST(21) + 5));
    flip(fs, 1, offsets[10]! + RECORD_HEADER_BYTES + 2);
    // Not yet flushed: refused as before.
    await expect(recoverWal(fs, DIR, () => {}, { flushedSeq: LAST(21) - 1 })).rejects.toBeInstanceOf(WalCorruptionError);
    const seqs: number[] = [];
    const result = await recoverWal(fs, DIR, (e) => seqs.push(e.seq), { flushedSeq: LAST(21) });
    expect(result.reports.map((r) => [r.damage, r.lostSeqs, r.alreadyFlushed])).toEqual([["corruption", { from: 11, to: 11 }, true]]);
    expect(result.salvaged).toEqual([1]);
    expect(seqs.at(-1)).toBe(LAST(21) + 5);
  });

  test("GroupCommitCap: one write carries at most MAX_GROUP_COMMIT_BYTES (a larger record alone), in order", async () => {
    const fs = new MemFs();
    fs.mkdirp(DIR);
    const w = await WalWriter.create(fs, DIR, 1, { segmentBytes: 1 << 30, sync: { kind: "always" } });
    const writes: [number, number][] = [];
    w.onCommit((_, start, end) => writes.push([start, end]));
    const big = (seq: number, points: number) =>
      encodePutBatch(seq, groupPoints(Array.from({ length: points }, (_, i) => ({ key: "k", ts: 1_767_225_600_000 + seq * 100_000 + i, value: Math.sin(seq + i) })))).slice();
    const recs = [...range(1, 60).map((s) => big(s, 4000)), big(61, 200_000), ...range(62, 70).map((s) => big(s, 4000))];
    const positions = await Promise.all(recs.map((r) => w.append(r, () => {})));
    await w.close();
    for (let i = 1; i < positions.length; i++) expect(positions[i]!.offsetBytes).toBe(positions[i - 1]!.endBytes);
    expect(recs[60]!.length).toBeGreaterThan(MAX_GROUP_COMMIT_BYTES);
    for (const [start, end] of writes) {
      const one = positions.some((p) => p.offsetBytes === start && p.endBytes === end);
      if (!one) expect(end - start).toBeLessThanOrEqual(MAX_GROUP_COMMIT_BYTES);
    }
    expect(writes.length).toBeGreaterThan(2);
  });
});

describe("WAL recovery: numbers of segments kept aside", () => {
  test("AsideNumberKept: a segment moved aside by an earlier open keeps its number after a crash", async () => {
    const fs = fresh();
    await writeSegment(fs, 3, [1, 2]);
    // An earlier open moved segment 5 aside, then the node crashed before segment 6 held anything.
    const kept = fs.open(`${DIR}/${segmentFileName(5)}.corrupt-1767225600000`, "create");
    kept.append(new Uint8Array(64).fill(7));
    kept.close();
    const torn = fs.open(`${DIR}/${segmentFileName(7)}.torn-1767225600000`, "create");
    torn.append(new Uint8Array(64).fill(7));
    torn.close();
    const { seqs, result } = await recover(fs);
    expect(seqs).toEqual([1, 2]);
    expect(result.nextSegmentNo).toBe(8);
  });
});
