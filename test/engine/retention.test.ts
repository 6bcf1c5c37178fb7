// Retention and space reclamation: expired points vanish from reads and from disk;
// tombstoned data is dropped by compaction.
import { describe, expect, test } from "bun:test";
import { Db } from "../../src/engine/db.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";

describe("retention", () => {
  test("points older than the retention window are hidden at once and dropped by compaction", async () => {
    let now = 1_000_000_000;
    const db = await Db.open("/db", { vfs: new MemFs(), retentionMs: 60_000, clock: () => now, autoCompact: false });
    // Written a minute earlier, when every point was inside the window (older ones are refused).
    now -= 60_000;
    await db.putMany(Array.from({ length: 120 }, (_, i) => ({ key: "s", ts: now + 60_000 - 119_000 + i * 1000, value: i })));
    now += 60_000;
    await db.flush();
    expect([...db.range("s")].length).toBe(61); // ts >= now - 60 s: i = 59..119
    expect(db.get("s")?.value).toBe(119);
    now += 30_000;
    expect([...db.range("s")].length).toBe(31);
    await db.compact();
    expect(db.stats().sstPoints).toBe(31);
    now += 60_000;
    expect(db.get("s")).toBeNull();
    expect(db.keys()).toEqual([]);
    await db.close();
  });

  test("a whole table past retention is dropped without a rewrite", async () => {
    let now = 10_000_000;
    const db = await Db.open("/db", { vfs: new MemFs(), retentionMs: 1000, clock: () => now, compaction: { trigger: 2 } });
    await db.putMany([{ key: "old", ts: now - 500, value: 1 }]);
    await db.flush();
    now += 10_000;
    await db.putMany([{ key: "new", ts: now, value: 2 }]);
    await db.flush(); // triggers the policy: the first table is wholly expired
    for (let i = 0; i < 50 && db.stats().tables > 1; i++) await Bun.sleep(10);
    expect(db.stats().tables).toBe(1);
    expect(db.keys()).toEqual(["new"]);
    await db.close();
  });
});

describe("space reclamation", () => {
  test("compaction drops overwritten and deleted points and the tombstones themselves", async () => {
    const db = await Db.open("/db", { vfs: new MemFs(), autoCompact: false });
    for (let round = 0; round < 3; round++) {
      await db.putMany(Array.from({ length: 1000 }, (_, i) => ({ key: `k${i % 10}`, ts: i, value: round })));
      await db.flush();
    }
    await db.delete("k3");
    await db.delete("k4", 0, 499);
    await db.flush();
    expect(db.stats().tables).toBe(4);
    await db.compact();
    const s = db.stats();
    expect(s.tables).toBe(1);
    expect(s.sstPoints).toBe(1000 - 100 - 50);
    expect(db.keys()).not.toContain("k3");
    expect([...db.range("k4")].every((p) => p.ts >= 500 && p.value === 2)).toBe(true);
    await db.close();
  });

  test("an iterator pins old tables while it runs, and only then: compaction removes them afterwards", async () => {
    const fs = new MemFs();
    const db = await Db.open("/db", { vfs: fs, autoCompact: false });
    for (let r = 0; r < 2; r++) {
      await db.putMany(Array.from({ length: 100 }, (_, i) => ({ key: "s", ts: r * 1000 + i, value: i })));
      await db.flush();
    }
    const sst = () => fs.list("/db/sst").filter((n) => n.endsWith(".sst")).sort();
    const before = sst();
    expect(before.length).toBe(2);
    const idle = db.range("s"); // created, never started: pins nothing
    const running = db.range("s");
    expect(running.next().value?.ts).toBe(0); // started: pins the two tables
    await db.compact();
    expect(sst().length).toBe(3); // the merged table, plus the two still pinned
    expect([...running].length).toBe(199); // still reads the old files, to the end
    expect(sst()).not.toContain(before[0]);
    expect(sst().length).toBe(1);
    expect([...idle].length).toBe(200); // starts now, on the compacted table
    await db.close();
  });
});

