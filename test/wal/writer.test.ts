import { describe, expect, test } from "bun:test";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import { mkdirpDurable } from "../../src/vfs/vfs.ts";
import { encodeDelete } from "../../src/wal/batch.ts";
import { SEGMENT_HEADER_BYTES } from "../../src/wal/format.ts";
import { recoverWal } from "../../src/wal/recovery.ts";
import { WalWriter } from "../../src/wal/writer.ts";
import type { WalEntry } from "../../src/wal/batch.ts";

async function setup(segmentBytes = 1 << 20) {
  const fs = new MemFs();
  mkdirpDurable(fs, "/db/wal"); // durable, or a power cut takes the directory
  const w = await WalWriter.create(fs, "/db/wal", 1, { segmentBytes, sync: { kind: "always" } });
  return { fs, w };
}

describe("WAL writer", () => {
  test("group commit: records appended together share one fdatasync, applied in order", async () => {
    const { fs, w } = await setup();
    const applied: number[] = [];
    const all = Array.from({ length: 50 }, (_, i) => w.append(encodeDelete(i + 1, "k", 0, i).slice(), () => applied.push(i + 1)));
    await Promise.all(all);
    expect(applied).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(w.syncCount).toBeLessThanOrEqual(2);
    const after = fs.powerCut();
    const seqs: number[] = [];
    await recoverWal(after, "/db/wal", (e: WalEntry) => seqs.push(e.seq));
    expect(seqs).toEqual(applied);
  });

  test("segments roll at the size limit and positions name them", async () => {
    const { w } = await setup(200);
    const positions = [];
    for (let i = 1; i <= 20; i++) positions.push(await w.append(encodeDelete(i, "key", 0, 1).slice(), () => {}));
    expect(new Set(positions.map((p) => p.segmentNo)).size).toBeGreaterThan(1);
    for (const p of positions) expect(p.offsetBytes).toBeGreaterThanOrEqual(SEGMENT_HEADER_BYTES);
  });

  test("ENOSPC on append: the caller gets a clear error, the partial bytes are cut off, later writes work", async () => {
    const { fs, w } = await setup();
    await w.append(encodeDelete(1, "k", 0, 1).slice(), () => {});
    fs.failNext({ op: "append", errno: "ENOSPC", partialBytes: 5 });
    let applied = false;
    await expect(w.append(encodeDelete(2, "k", 0, 1).slice(), () => (applied = true))).rejects.toThrow(/disk is full \(ENOSPC\)/);
    expect(applied).toBe(false);
    await w.append(encodeDelete(3, "k", 0, 1).slice(), () => {});
    const seqs: number[] = [];
    const r = await recoverWal(fs, "/db/wal", (e) => seqs.push(e.seq));
    expect(seqs).toEqual([1, 3]);
    expect(r.reports).toEqual([]);
  });

  test("EIO on fdatasync poisons the writer: no later write is acknowledged", async () => {
    const { fs, w } = await setup();
    fs.failNext({ op: "datasync", errno: "EIO" });
    await expect(w.append(encodeDelete(1, "k", 0, 1).slice(), () => {})).rejects.toThrow(/EIO/);
    await expect(w.append(encodeDelete(2, "k", 0, 1).slice(), () => {})).rejects.toThrow(/restart the node/);
  });

  test("EIO on the fdatasync before a segment roll poisons the writer too (interval mode)", async () => {
    const fs = new MemFs();
    mkdirpDurable(fs, "/db/wal");
    const w = await WalWriter.create(fs, "/db/wal", 1, { segmentBytes: 64, sync: { kind: "interval", intervalMs: 60_000 } });
    await w.append(encodeDelete(1, "k", 0, 1).slice(), () => {}); // acknowledged, not yet synced
    fs.failNext({ op: "datasync", errno: "EIO" });
    // The next record does not fit: the roll syncs the segment first, and that fails.
    await expect(w.append(encodeDelete(2, "a-longer-key-that-fills-the-segment", 0, 1).slice(), () => {})).rejects.toThrow(/EIO/);
    await expect(w.append(encodeDelete(3, "k", 0, 1).slice(), () => {})).rejects.toThrow(/restart the node/);
    await w.close();
  });

  test("recovery truncates a torn tail and reports the dropped bytes", async () => {
    const { fs, w } = await setup();
    for (let i = 1; i <= 3; i++) await w.append(encodeDelete(i, "k", 0, 1).slice(), () => {});
    await w.close();
    const path = "/db/wal/000000000001.wal";
    const f = fs.open(path, "append");
    f.append(new Uint8Array([1, 2, 3, 4, 5, 6, 7]));
    await f.datasync();
    const before = f.size();
    f.close();
    const seqs: number[] = [];
    const r = await recoverWal(fs, "/db/wal", (e) => seqs.push(e.seq));
    expect(seqs).toEqual([1, 2, 3]);
    expect(r.reports).toEqual([{ file: "000000000001.wal", offsetBytes: before - 7, droppedBytes: 7, kind: "TruncatedHeader", damage: "torn-tail", lostSeqs: { from: 4 } }]);
    expect(fs.readFile(path).length).toBe(before - 7);
  });
});
