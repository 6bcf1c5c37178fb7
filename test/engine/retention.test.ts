// Retention and space reclamation: expired points vanish from reads and from disk;
// tombstoned data is dropped by compaction.
import { describe, expect, test } from "bun:test";
import { Db } from "../../src/engine/db.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import { InvalidArgumentError } from "../../src/errors.ts";
import { DEFAULT_RETENTION_CLOCK_LEAD_MS, retentionCutoff } from "../../src/engine/retention.ts";
import { loadManifest } from "../../src/manifest/store.ts";
import { sstFileName } from "../../src/sstable/format.ts";

const DAY_MS = 24 * 3600 * 1000;
const REAL_NOW = 1_767_225_600_000; // 2026-01-01

describe("retention against a wrong clock", () => {
  test("policy: the cutoff never runs more than the lead past the newest stored point", () => {
    const r = 30 * DAY_MS;
    expect(DEFAULT_RETENTION_CLOCK_LEAD_MS).toBe(DAY_MS);
    expect(retentionCutoff(REAL_NOW, REAL_NOW - 1000, r, DAY_MS)).toEqual({ cutoffMs: REAL_NOW - r, clockAhead: false });
    expect(retentionCutoff(REAL_NOW, undefined, r, DAY_MS)).toEqual({ cutoffMs: REAL_NOW - r, clockAhead: false });
    expect(retentionCutoff(REAL_NOW + 365 * DAY_MS, REAL_NOW, r, DAY_MS)).toEqual({ cutoffMs: REAL_NOW + DAY_MS - r, clockAhead: true });
    expect(retentionCutoff(REAL_NOW + DAY_MS, REAL_NOW, r, DAY_MS).clockAhead).toBe(false); // exactly at the bound
    expect(retentionCutoff(REAL_NOW - DAY_MS, REAL_NOW, r, DAY_MS).cutoffMs).toBe(REAL_NOW - DAY_MS - r); // behind: the clock
  });

  test("a clock one year ahead deletes no real point (--retention 30d), and says why", async () => {
    let now = REAL_NOW;
    const warnings: string[] = [];
    const logger = { info() {}, warn: (m: string) => warnings.push(m), error() {} };
    const db = await Db.open("/db", { vfs: new MemFs(), retentionMs: 30 * DAY_MS, clock: () => now, autoCompact: false, logger });
    for (let day = 0; day < 20; day++) {
      await db.putMany(Array.from({ length: 24 }, (_, h) => ({ key: "temp", ts: now - (20 - day) * DAY_MS + h * 3600_000, value: day + h / 100 })));
    }
    await db.flush();
    await db.putMany([{ key: "temp", ts: now, value: -1 }]);
    await db.flush();
    now += 365 * DAY_MS; // bad RTC or NTP answer
    await db.compact();
    expect([...db.range("temp")].length).toBe(20 * 24 + 1);
    expect(db.stats().sstPoints).toBe(20 * 24 + 1);
    expect(db.stats().retention).toMatchObject({ clockAhead: true, removedPoints: 0 });
    expect(warnings.some((w) => w.includes("ahead of the newest stored point"))).toBe(true);
    now = REAL_NOW; // the clock is fixed: everything is still there
    expect([...db.range("temp")].length).toBe(20 * 24 + 1);
    await db.close();
  });

  test("what retention removes is counted and logged", async () => {
    let now = REAL_NOW;
    const infos: string[] = [];
    const logger = { info: (m: string) => infos.push(m), warn() {}, error() {} };
    const db = await Db.open("/db", { vfs: new MemFs(), retentionMs: 60_000, clock: () => now, autoCompact: false, logger });
    await db.putMany(Array.from({ length: 120 }, (_, i) => ({ key: "s", ts: now - 59_000 + i * 1000, value: i })));
    await db.flush();
    now += 70_000; // cutoff = start + 10 s: points with ts < start + 10 s go (i < 69)
    await db.compact();
    expect(db.stats().sstPoints).toBe(120 - 69);
    expect(db.stats().retention.removedPoints).toBe(69);
    expect(infos.some((m) => m.includes("retention removed 69 points"))).toBe(true);
    await db.close();
  });

  test("a write already older than retention is refused, not acknowledged and dropped", async () => {
    const now = REAL_NOW;
    const db = await Db.open("/db", { vfs: new MemFs(), retentionMs: 30 * DAY_MS, clock: () => now });
    const before = db.stats().lastSeq;
    const err = await db.putMany([{ key: "ok", ts: now, value: 1 }, { key: "old", ts: now - 31 * DAY_MS, value: 2 }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(String(err)).toMatch(/point 1 \(key "old"\).*older than the retention window.*refused/);
    expect(db.stats().lastSeq).toBe(before); // the whole batch is refused: nothing half-written
    await db.putMany([{ key: "edge", ts: now - 30 * DAY_MS, value: 3 }]); // exactly at the cutoff: kept
    expect(db.get("edge")?.value).toBe(3);
    await db.close();
  });
});

describe("retention against a wrong clock, with little or nothing stored", () => {
  test("an empty database and a clock a year ahead: real writes are accepted, and a point stamped by the node does not lift the bound", async () => {
    const clock = () => REAL_NOW + 365 * DAY_MS;
    const db = await Db.open("/db", { vfs: new MemFs(), retentionMs: 30 * DAY_MS, clock, autoCompact: false, logger: { info() {}, warn() {}, error() {} } });
    await db.putMany([{ key: "x", ts: REAL_NOW, value: 1 }]); // measured against itself, not against the bad clock
    await db.putMany([{ key: "y", value: 2 }]); // stamped with the bad clock
    await db.putMany([{ key: "x", ts: REAL_NOW + 1000, value: 3 }]); // still accepted: the stamp did not lift the bound
    expect([...db.range("x")].map((p) => p.value)).toEqual([1, 3]);
    expect(db.get("y")?.value).toBe(2);
    expect(db.stats().retention.clockAhead).toBe(true);
    // What the batch itself proves is out of the window is still refused.
    const err = await db.putMany([{ key: "z", ts: REAL_NOW - 40 * DAY_MS, value: 4 }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    await db.close();
  });

  test("a node fed only points it stamps itself keeps its retention moving after a restart (no false clock alarm)", async () => {
    let now = REAL_NOW;
    const fs = new MemFs();
    const opts = { vfs: fs, retentionMs: 7 * DAY_MS, clock: () => now, autoCompact: false, logger: { info() {}, warn() {}, error() {} } };
    let db = await Db.open("/db", opts);
    await db.putMany([{ key: "s", ts: REAL_NOW, value: 0 }]);
    await db.close();
    db = await Db.open("/db", opts); // the newest stored point is REAL_NOW
    for (let day = 1; day <= 30; day++) {
      now = REAL_NOW + day * DAY_MS;
      await db.putMany([{ key: "s", value: day }]); // no ts: stamped with the (correct) clock
    }
    expect(db.stats().retention.clockAhead).toBe(false);
    expect(db.stats().retention.cutoffMs).toBe(now - 7 * DAY_MS);
    // Only the last 7 days' points (and the one at the cutoff) remain visible.
    expect([...db.range("s")].map((p) => p.value)).toEqual([23, 24, 25, 26, 27, 28, 29, 30]);
    // A clock that then jumps a year ahead still cannot lift the bound with a stamp.
    now += 365 * DAY_MS;
    await db.putMany([{ key: "s", value: 999 }]);
    expect(db.stats().retention.clockAhead).toBe(true);
    expect([...db.range("s")].map((p) => p.value)).toContain(30);
    await db.close();
  });

  test("a replica with a clock a year ahead sees the snapshot it installs (the snapshot's newest point bounds the cutoff)", async () => {
    const fs = new MemFs();
    const leader = await Db.open("/leader", { vfs: fs, autoCompact: false });
    await leader.putMany(Array.from({ length: 100 }, (_, i) => ({ key: "s", ts: REAL_NOW - i * 3600_000, value: i })));
    await leader.flush();
    await leader.close();
    const manifest = loadManifest(fs, "/leader")!;
    fs.mkdirp("/staged");
    for (const t of manifest.tables) {
      const name = sstFileName(t.fileNo);
      const f = fs.open(`/staged/${name}`, "create");
      f.append(fs.readFile(`/leader/sst/${name}`));
      await f.datasync();
      f.close();
    }
    const replica = await Db.open("/replica", { vfs: fs, role: "replica", retentionMs: 30 * DAY_MS, clock: () => REAL_NOW + 365 * DAY_MS, autoCompact: false, logger: { info() {}, warn() {}, error() {} } });
    await replica.installSnapshot("/staged", manifest.tables, manifest.flushedSeq);
    expect([...replica.range("s")].length).toBe(100);
    expect(replica.stats().retention.clockAhead).toBe(true);
    await replica.close();
  });
});

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
    expect(db.stats().retention.removedPoints).toBe(1);
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

