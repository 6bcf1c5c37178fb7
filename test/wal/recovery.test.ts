// WAL recovery, LevelDB style: each named case is one kind of damage, and the test says
// whether it is a torn tail (cut, start) or corruption (refuse; with salvage, replay
// every valid record around it and report exactly what was lost).
import { describe, expect, test } from "bun:test";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import { encodeDelete, encodePutBatch, groupPoints } from "../../src/wal/batch.ts";
import type { WalEntry } from "../../src/wal/batch.ts";
import { RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, segmentFileName } from "../../src/wal/format.ts";
import { encodeSegmentHeader } from "../../src/wal/record.ts";
import { WalCorruptionError, recoverWal } from "../../src/wal/recovery.ts";
import type { RecoveryResult } from "../../src/wal/recovery.ts";

const DIR = "/db/wal";

/** Record of write batch `seq` (a put with a few points, so records differ in size). */
function record(seq: number): Uint8Array {
  return encodePutBatch(seq, groupPoints(Array.from({ length: 1 + (seq % 5) }, (_, i) => ({ key: `k${seq % 3}`, ts: 1_767_225_600_000 + seq * 10 + i, value: seq + i / 7 })))).slice();
}

/** Writes segment `no` holding the records of `seqs`; returns the offset of each record. */
async function writeSegment(fs: MemFs, no: number, seqs: number[], tail?: Uint8Array): Promise<number[]> {
  const f = fs.open(`${DIR}/${segmentFileName(no)}`, "create");
  f.append(encodeSegmentHeader(no));
  const offsets: number[] = [];
  let at = SEGMENT_HEADER_BYTES;
  for (const s of seqs) {
    const r = record(s);
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
    const offsets = await writeSegment(fs, 1, range(1, 200));
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
    const offsets = await writeSegment(fs, 1, range(1, 200));
    flip(fs, 1, offsets[50]! + RECORD_HEADER_BYTES + 4);
    const { seqs, result } = await recover(fs, true);
    expect(seqs).toEqual([...range(1, 50), ...range(52, 200)]);
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
    expect(fs.readFile(`${DIR}/${segmentFileName(1)}`).length).toBe(offsets[199]! + record(200).length);
  });

  test("MidLogBadLength: a flipped length byte (the record claims 2 GB) resynchronises on the next record", async () => {
    const fs = fresh();
    const offsets = await writeSegment(fs, 1, range(1, 30));
    flip(fs, 1, offsets[10]! + 7); // high byte of the length
    await expect(recover(fs)).rejects.toBeInstanceOf(WalCorruptionError);
    const { seqs, result } = await recover(fs, true);
    expect(seqs).toEqual([...range(1, 10), ...range(12, 30)]);
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
    const offsets = await writeSegment(fs, 1, range(1, 100));
    flip(fs, 1, offsets[9]! + RECORD_HEADER_BYTES);
    flip(fs, 1, offsets[59]! + 1); // the CRC itself
    const { seqs, result } = await recover(fs, true);
    expect(seqs).toEqual([...range(1, 9), ...range(11, 59), ...range(61, 100)]);
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
    await f.datasync();
    f.close();
    flip(fs, 1, offsets[3]! + RECORD_HEADER_BYTES + 9);
    const { seqs } = await recover(fs, true);
    expect(seqs).toEqual([1, 2, 3, 5, 6, 7, 8, 9, 10]);
  });
});
