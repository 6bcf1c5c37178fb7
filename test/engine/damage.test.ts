// Damage on disk at the engine level, on real files: a flipped WAL byte in the middle of the
// log (refuse, or salvage around it), damaged SSTable footers (quarantine, start) and blocks
// (keys still listed), a full disk at start (read-only), a failed flush (no partial file
// left, close reports it).
import { describe, expect, test } from "bun:test";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Db } from "../../src/engine/db.ts";
import type { Logger } from "../../src/engine/options.ts";
import { CityHallError, CorruptionError } from "../../src/errors.ts";
import { BlockCache } from "../../src/sstable/block_cache.ts";
import { TableReader } from "../../src/sstable/table_reader.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import { RealFs } from "../../src/vfs/real_fs.ts";
import { scanRecords } from "../../src/wal/record.ts";
import { MAX_GROUP_COMMIT_BYTES, SEGMENT_HEADER_BYTES } from "../../src/wal/format.ts";
import { WalCorruptionError } from "../../src/wal/recovery.ts";
import { tempDir } from "../helpers.ts";

const T0 = 1_767_225_600_000;

function capture(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`INFO ${m}`), warn: (m) => lines.push(`WARN ${m}`), error: (m) => lines.push(`ERROR ${m}`) };
}

/**
 * Writes `batches` batches of 50 points (batch b: key s<b%7>, ts T0 + b*50 + i) and crashes
 * (no close). With `pastWindow`, then writes batches of incompressible points under key
 * "filler" until more than MAX_GROUP_COMMIT_BYTES of the same segment follows the first
 * batches: damage in them then lies outside the last group-commit write (it held
 * acknowledged writes, so it is corruption, not a torn last write). Returns the last seq.
 */
async function writeAndCrash(dir: string, batches: number, pastWindow = false): Promise<number> {
  const db = await Db.open(dir, { autoCompact: false });
  for (let b = 1; b <= batches; b++) {
    await db.putMany(Array.from({ length: 50 }, (_, i) => ({ key: `s${b % 7}`, ts: T0 + b * 50 + i, value: b * 1000 + i })));
  }
  let seq = batches;
  const size = () => walSegments(dir).reduce((n, s) => n + statSync(join(dir, "wal", s)).size, 0);
  const start = size();
  for (let b = 0; pastWindow && size() - start <= MAX_GROUP_COMMIT_BYTES + 4096; b++) {
    await db.putMany(Array.from({ length: 5000 }, (_, i) => ({ key: "filler", ts: T0 + b * 5000 + i, value: Math.sin(b * 5000 + i) })));
    seq++;
  }
  // No close: the WAL holds everything (a later open takes over our own pid's lock).
  return seq;
}

function walSegments(dir: string): string[] {
  return readdirSync(join(dir, "wal")).filter((n) => n.endsWith(".wal")).sort();
}

describe("WAL damage through the engine", () => {
  test("MidLogFlip: the open is refused; with salvage every batch but the damaged one is back, flushed, and the segment kept aside", async () => {
    const d = tempDir("wal-midlog");
    try {
      const lastSeq = await writeAndCrash(d.path, 400, true);
      const seg = walSegments(d.path)[0]!;
      const path = join(d.path, "wal", seg);
      const bytes = readFileSync(path);
      const recs = scanRecords(bytes, SEGMENT_HEADER_BYTES).records;
      expect(recs.length).toBe(lastSeq);
      const victim = recs[150]!; // write batch 151
      bytes[victim.offsetBytes + 20]! ^= 0x01;
      writeFileSync(path, bytes);

      const err = await Db.open(d.path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WalCorruptionError);
      expect(String((err as Error).message)).toMatch(new RegExp(`${seg} at offset ${victim.offsetBytes}: ${victim.endBytes - victim.offsetBytes} bytes.*seq 151\\.\\.151 lost.*--salvage`));
      expect(readFileSync(path)).toEqual(bytes); // untouched

      const log = capture();
      const db = await Db.open(d.path, { salvage: true, logger: log });
      const rec = db.stats().recovery;
      expect(rec.length).toBe(1);
      expect(rec[0]).toMatchObject({ file: seg, offsetBytes: victim.offsetBytes, damage: "corruption", lostSeqs: { from: 151, to: 151 } });
      expect(rec[0]!.movedTo).toMatch(new RegExp(`^${seg}\\.corrupt-\\d{8}T\\d{6}Z$`));
      expect(readdirSync(join(d.path, "wal"))).toContain(rec[0]!.movedTo!);
      expect(readFileSync(join(d.path, "wal", rec[0]!.movedTo!))).toEqual(bytes); // moved, never altered
      expect(log.lines.some((l) => l.startsWith("ERROR") && l.includes("seq 151..151 lost") && l.includes(seg))).toBe(true);
      // Every other batch, before and after the damage, is readable.
      for (let b = 1; b <= 400; b++) {
        const pts = [...db.range(`s${b % 7}`, T0 + b * 50, T0 + b * 50 + 49)];
        expect(pts.length).toBe(b === 151 ? 0 : 50);
        if (b !== 151) expect(pts[49]!.value).toBe(b * 1000 + 49);
      }
      expect(db.stats().flushedSeq).toBe(lastSeq); // salvaged writes are in an SSTable now
      await db.put("after", 1, T0);
      await db.close();

      // A plain restart works: nothing damaged is left in the WAL, nothing is lost again.
      const db2 = await Db.open(d.path);
      expect(db2.stats().recovery).toEqual([]);
      expect([...db2.range("s4", T0 + 200 * 50, T0 + 200 * 50 + 49)].length).toBe(50);
      expect(db2.get("after")?.value).toBe(1);
      await db2.close();
    } finally {
      d.cleanup();
    }
  });

  test("TornTail: garbage after the last record is cut and the node starts without salvage", async () => {
    const d = tempDir("wal-torn");
    try {
      await writeAndCrash(d.path, 20);
      const path = join(d.path, "wal", walSegments(d.path)[0]!);
      const bytes = readFileSync(path);
      writeFileSync(path, bytes.subarray(0, bytes.length - 7));
      const db = await Db.open(d.path);
      expect(db.stats().recovery.map((r) => [r.damage, r.lostSeqs])).toEqual([["torn-tail", { from: 20 }]]);
      expect([...db.range("s6")].length).toBe(50 * 2); // batches 6 and 13; 20 was torn
      await db.close();
    } finally {
      d.cleanup();
    }
  });
});

describe("WAL power-cut shapes that are not corruption, through the engine", () => {
  test("TornLastWrite: the last (unacknowledged) write persisted out of order: the node starts, cuts at the damage, keeps a copy, logs an ERROR", async () => {
    const d = tempDir("wal-tornwrite");
    try {
      await writeAndCrash(d.path, 100);
      const seg = walSegments(d.path).at(-1)!;
      const path = join(d.path, "wal", seg);
      const bytes = readFileSync(path);
      const recs = scanRecords(bytes, SEGMENT_HEADER_BYTES).records;
      // The last group-commit write spanned several pages: the last whole 4096-byte page before
      // its final record never reached the disk (a growing file: it reads back as zeros).
      const pageAt = Math.floor((recs.at(-1)!.offsetBytes - 4096) / 4096) * 4096;
      expect(pageAt).toBeGreaterThanOrEqual(4096);
      const first = recs.findLastIndex((r) => r.offsetBytes <= pageAt) + 1; // first batch hit
      expect(first).toBeLessThan(100);
      const damaged = Buffer.from(bytes);
      damaged.fill(0, pageAt, pageAt + 4096);
      writeFileSync(path, damaged);
      const log = capture();
      const db = await Db.open(d.path, { logger: log });
      const rec = db.stats().recovery;
      expect(rec.map((r) => [r.file, r.damage, r.lostSeqs])).toEqual([[seg, "torn-write", { from: first, to: 100 }]]);
      expect(readFileSync(join(d.path, "wal", rec[0]!.copiedTo!))).toEqual(damaged); // kept as found
      const line = log.lines.find((l) => l.includes("torn last write"));
      expect(line?.startsWith("ERROR")).toBe(true);
      expect(line).toContain(`seq ${first}..100 dropped`);
      expect(line).toContain(`kept in wal/${rec[0]!.copiedTo}`);
      for (let b = 1; b <= 100; b++) expect([...db.range(`s${b % 7}`, T0 + b * 50, T0 + b * 50 + 49)].length).toBe(b < first ? 50 : 0);
      await db.put("after", 1, T0);
      await db.close();
      const db2 = await Db.open(d.path);
      expect(db2.stats().recovery).toEqual([]);
      expect(db2.get("after")?.value).toBe(1);
      await db2.close();
    } finally {
      d.cleanup();
    }
  });

  test("FlushedWalDamage: damage in a WAL segment whose writes are all in SSTables: the node starts, the segment is moved aside, a WARN says nothing is lost", async () => {
    const d = tempDir("wal-flushed");
    try {
      const db = await Db.open(d.path, { autoCompact: false });
      for (let b = 1; b <= 50; b++) await db.putMany(Array.from({ length: 50 }, (_, i) => ({ key: `s${b % 7}`, ts: T0 + b * 50 + i, value: b })));
      const seg = walSegments(d.path)[0]!;
      const saved = readFileSync(join(d.path, "wal", seg));
      await db.flush();
      await db.close();
      const more = await Db.open(d.path, { autoCompact: false });
      await more.put("later", 1, T0); // a newer segment holds a record; no close (crash)
      // The segment comes back (its unlink never made durable) with a hole where writeback never reached.
      const recs = scanRecords(saved, SEGMENT_HEADER_BYTES).records;
      saved.fill(0, recs[10]!.offsetBytes, recs[10]!.offsetBytes + 30);
      writeFileSync(join(d.path, "wal", seg), saved);
      const log = capture();
      const db2 = await Db.open(d.path, { logger: log });
      const rec = db2.stats().recovery;
      expect(rec.map((r) => [r.file, r.damage, r.alreadyFlushed])).toEqual([[seg, "corruption", true]]);
      expect(readFileSync(join(d.path, "wal", rec[0]!.movedTo!))).toEqual(saved);
      expect(walSegments(d.path)).not.toContain(seg);
      expect(log.lines.some((l) => l.startsWith("WARN") && l.includes(seg) && l.includes("already in SSTables"))).toBe(true);
      expect(log.lines.some((l) => l.startsWith("ERROR"))).toBe(false);
      for (let b = 1; b <= 50; b++) expect([...db2.range(`s${b % 7}`, T0 + b * 50, T0 + b * 50 + 49)].length).toBe(50);
      expect(db2.get("later")?.value).toBe(1);
      await db2.close();
    } finally {
      d.cleanup();
    }
  });

  test("UnreadableNewestSegment: a newest segment with a bad header and unknown records is moved aside (not deleted) and its number is not reused", async () => {
    const d = tempDir("wal-unreadable");
    try {
      await writeAndCrash(d.path, 20);
      const seg = walSegments(d.path).at(-1)!;
      const path = join(d.path, "wal", seg);
      const bytes = readFileSync(path);
      const recs = scanRecords(bytes, SEGMENT_HEADER_BYTES).records;
      bytes[4] = 9; // e.g. written by a newer format version
      for (const r of recs) bytes[r.offsetBytes + 8] = 0x7f; // unknown record types
      writeFileSync(path, bytes);
      const log = capture();
      const db = await Db.open(d.path, { logger: log });
      const rec = db.stats().recovery;
      expect(rec.map((r) => [r.file, r.damage])).toEqual([[seg, "unreadable-segment"]]);
      expect(readFileSync(join(d.path, "wal", rec[0]!.movedTo!))).toEqual(bytes);
      const next = walSegments(d.path);
      expect(next.length).toBe(1);
      expect(next[0]! > seg).toBe(true); // a new number, never the moved-aside one
      await db.put("after", 1, T0);
      await db.close();
      const db2 = await Db.open(d.path);
      expect(db2.get("after")?.value).toBe(1);
      await db2.close();
    } finally {
      d.cleanup();
    }
  });

  test("RollSyncsInEveryMode: under --sync none a power cut keeps every record of the segments before the last roll", async () => {
    for (const seed of [1, 2, 3]) {
      const fs = new MemFs({ seed });
      const db = await Db.open("/db", { vfs: fs, sync: "none", autoCompact: false, walSegmentBytes: 4096 });
      for (let b = 1; b <= 60; b++) await db.putMany(Array.from({ length: 20 }, (_, i) => ({ key: `s${b % 7}`, ts: T0 + b * 20 + i, value: Math.sin(b * 20 + i) })));
      const segs = fs.list("/db/wal").filter((n) => n.endsWith(".wal")).sort();
      expect(segs.length).toBeGreaterThan(3);
      // Batches whose records lie in a segment before the active one: rolled, so durable.
      const rolled = new Set<number>();
      for (const s of segs.slice(0, -1)) {
        for (const r of scanRecords(fs.readFile(`/db/wal/${s}`), SEGMENT_HEADER_BYTES).records) {
          rolled.add(new DataView(r.payload.buffer, r.payload.byteOffset).getUint32(0, true));
        }
      }
      const after = fs.powerCut();
      const db2 = await Db.open("/db", { vfs: after, sync: "none", autoCompact: false });
      for (const b of rolled) expect([...db2.range(`s${b % 7}`, T0 + b * 20, T0 + b * 20 + 19)].length).toBe(20);
      expect(db2.stats().recovery.filter((r) => r.damage === "corruption")).toEqual([]);
      await db2.close();
    }
  });
});

async function seedTables(dir: string): Promise<void> {
  const db = await Db.open(dir, { autoCompact: false });
  for (const key of ["alpha", "beta", "gamma"]) {
    await db.putMany(Array.from({ length: 20000 }, (_, i) => ({ key, ts: T0 + i * 1000, value: Math.sin(i) * key.length })));
    await db.flush(); // one table per series
  }
  await db.close();
}

function tables(dir: string): string[] {
  return readdirSync(join(dir, "sst")).filter((n) => n.endsWith(".sst")).sort();
}

describe("SSTable damage through the engine", () => {
  test("a flipped footer byte: the table is quarantined (renamed, not deleted), the node starts and says what is lost", async () => {
    const d = tempDir("sst-footer");
    try {
      await seedTables(d.path);
      const [, betaTable] = tables(d.path);
      const path = join(d.path, "sst", betaTable!);
      const bytes = readFileSync(path);
      bytes[bytes.length - 3]! ^= 0xff; // in the magic number
      writeFileSync(path, bytes);
      const log = capture();
      const db = await Db.open(d.path, { logger: log });
      const q = db.stats().quarantined;
      expect(q.map((r) => [r.file, r.movedTo, r.points])).toEqual([[betaTable, `${betaTable}.quarantined`, 20000]]);
      expect(readdirSync(join(d.path, "sst"))).toContain(`${betaTable}.quarantined`);
      expect(readFileSync(join(d.path, "sst", `${betaTable}.quarantined`))).toEqual(bytes);
      expect(log.lines.some((l) => l.startsWith("ERROR") && l.includes("DATA LOSS") && l.includes("20000 points"))).toBe(true);
      expect([...db.range("alpha")].length).toBe(20000);
      expect([...db.range("gamma")].length).toBe(20000);
      expect(db.keys()).toEqual(["alpha", "gamma"]);
      await db.close();
      const db2 = await Db.open(d.path); // the manifest no longer names it: a clean start
      expect(db2.stats().quarantined).toEqual([]);
      expect(db2.keys()).toEqual(["alpha", "gamma"]);
      await db2.close();
    } finally {
      d.cleanup();
    }
  });

  // The quarantine renames the table, syncs sst/, then saves the manifest. A crash (every
  // entry kept) right after the rename, or a power cut right after the directory sync,
  // leaves a manifest naming a file that is gone with its .quarantined copy beside it.
  for (const [cutAfter, how] of [["rename", "crash"], ["syncDir", "powerCut"]] as const) {
    test(`a ${how} right after the quarantine's ${cutAfter}: the next open finishes the quarantine and starts`, async () => {
      const fs = new MemFs({ seed: 7 });
      const db = await Db.open("/data", { vfs: fs, autoCompact: false });
      for (const key of ["alpha", "beta", "gamma"]) {
        await db.putMany(Array.from({ length: 2000 }, (_, i) => ({ key, ts: T0 + i * 1000, value: i })));
        await db.flush();
      }
      await db.close();
      const names = fs.list("/data/sst").filter((n) => n.endsWith(".sst")).sort();
      const beta = `/data/sst/${names[1]!}`;
      const size = fs.stat(beta).sizeBytes;
      fs.corrupt(beta, size - 3, new Uint8Array([fs.readFile(beta)[size - 3]! ^ 0xff]));
      let after: MemFs | undefined;
      let renamed = false;
      fs.onOp = (e) => {
        if (after) return;
        if (e.kind === "rename" && e.path === beta) renamed = true;
        if (renamed && e.kind === cutAfter) after = how === "crash" ? fs.crash() : fs.powerCut();
      };
      await Db.open("/data", { vfs: fs, autoCompact: false }).then(
        (x) => x.close(),
        () => {}, // the first process is dead from the cut on
      );
      expect(after).toBeDefined();
      const next = after!;
      expect(next.exists(beta)).toBe(false);
      expect(next.exists(`${beta}.quarantined`)).toBe(true);
      const log = capture();
      const db2 = await Db.open("/data", { vfs: next, autoCompact: false, logger: log });
      expect(db2.stats().quarantined.map((r) => [r.file, r.movedTo, r.points])).toEqual([[names[1]!, `${names[1]!}.quarantined`, 2000]]);
      expect(log.lines.some((l) => l.startsWith("ERROR") && l.includes("DATA LOSS") && l.includes("2000 points"))).toBe(true);
      expect(db2.keys()).toEqual(["alpha", "gamma"]);
      expect([...db2.range("alpha")].length).toBe(2000);
      await db2.close();
      expect(next.exists(`${beta}.quarantined`)).toBe(true); // kept, never deleted
      const db3 = await Db.open("/data", { vfs: next, autoCompact: false }); // the manifest no longer names it
      expect(db3.stats().quarantined).toEqual([]);
      expect(db3.keys()).toEqual(["alpha", "gamma"]);
      await db3.close();
    });
  }

  test("a listed table missing with no quarantined copy: the open stops and says it is data loss and what to do", async () => {
    const fs = new MemFs({ seed: 3 });
    const db = await Db.open("/data", { vfs: fs, autoCompact: false });
    await db.putMany(Array.from({ length: 100 }, (_, i) => ({ key: "a", ts: T0 + i, value: i })));
    await db.flush();
    await db.close();
    const [name] = fs.list("/data/sst").filter((n) => n.endsWith(".sst"));
    fs.remove(`/data/sst/${name!}`);
    const err = await Db.open("/data", { vfs: fs }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CorruptionError);
    expect(String(err)).toContain(`DATA LOSS: the manifest lists /data/sst/${name!} (100 points`);
    expect(String(err)).toContain("restore it from a replica or a backup");
  });

  test("a damaged data block: keys() still lists every series, the error names file, offset and key range", async () => {
    const d = tempDir("sst-block");
    try {
      await seedTables(d.path);
      const [, betaTable] = tables(d.path);
      const path = join(d.path, "sst", betaTable!);
      const t = TableReader.open(new RealFs(), path, 2, new BlockCache(0));
      const victim = t.index[t.index.length - 1]!; // beta's last block: the newest points
      t.close();
      const bytes = readFileSync(path);
      bytes[victim.offsetBytes + 12]! ^= 0x5a;
      writeFileSync(path, bytes);
      const db = await Db.open(d.path);
      expect(db.keys()).toEqual(["alpha", "beta", "gamma"]);
      let err: unknown;
      try {
        db.get("beta");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CorruptionError);
      expect(String(err)).toContain(`"beta" ts ${victim.firstTs} to "beta" ts ${victim.lastTs}`);
      expect(String(err)).toContain(`in ${betaTable} at offset ${victim.offsetBytes}`);
      expect([...db.range("beta", T0, victim.firstTs - 1)].length).toBeGreaterThan(0); // older blocks readable
      await db.close();
    } finally {
      d.cleanup();
    }
  });

  test("a damaged keys block: keys() is rebuilt from the data blocks", async () => {
    const d = tempDir("sst-keys");
    try {
      await seedTables(d.path);
      const [, betaTable] = tables(d.path);
      const path = join(d.path, "sst", betaTable!);
      const bytes = readFileSync(path);
      const footerAt = bytes.length - 64;
      const keysOffset = new DataView(bytes.buffer, bytes.byteOffset).getUint32(footerAt, true); // handle 0: the keys block
      bytes[keysOffset + 6]! ^= 0x5a;
      writeFileSync(path, bytes);
      const db = await Db.open(d.path);
      expect(db.keys()).toEqual(["alpha", "beta", "gamma"]);
      expect([...db.range("beta")].length).toBe(20000);
      await db.close();
    } finally {
      d.cleanup();
    }
  });
});

describe("disk full", () => {
  test("a WAL segment cannot be created at start: the node opens read-only, reads work, writes are refused with the reason", async () => {
    const fs = new MemFs();
    const db = await Db.open("/db", { vfs: fs });
    await db.put("k", 1, T0);
    await db.close();
    fs.failNext({ op: "open", errno: "ENOSPC", pathIncludes: ".wal" });
    const log = capture();
    const ro = await Db.open("/db", { vfs: fs, logger: log });
    expect(ro.get("k")?.value).toBe(1);
    expect(ro.stats().readOnlyReason).toMatch(/read-only.*cannot create WAL segment .*disk is full.*restart the node/);
    const err = await ro.put("k", 2, T0 + 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CityHallError);
    expect((err as CityHallError).code).toBe("UNAVAILABLE");
    expect(log.lines.some((l) => l.startsWith("ERROR") && l.includes("read-only"))).toBe(true);
    await ro.close();
    const again = await Db.open("/db", { vfs: fs }); // space is back
    await again.put("k", 3, T0 + 2);
    expect(again.get("k")?.value).toBe(3);
    await again.close();
  });

  test("the new segment's header cannot be written (ENOSPC on append): read-only as well", async () => {
    const fs = new MemFs();
    const db = await Db.open("/db", { vfs: fs });
    await db.put("k", 1, T0);
    await db.close();
    fs.failNext({ op: "append", errno: "ENOSPC", pathIncludes: ".wal" });
    const ro = await Db.open("/db", { vfs: fs });
    expect(ro.stats().readOnlyReason).not.toBeNull();
    expect(ro.get("k")?.value).toBe(1);
    await ro.close();
  });

  test("a flush that fails for a full disk leaves no partial .sst behind, and close() says the data is only in the WAL", async () => {
    const fs = new MemFs();
    const db = await Db.open("/db", { vfs: fs, autoCompact: false });
    await db.putMany(Array.from({ length: 5000 }, (_, i) => ({ key: "k", ts: T0 + i, value: Math.random() })));
    fs.failNext({ op: "append", errno: "ENOSPC", pathIncludes: ".sst", times: 1000 });
    await expect(db.flush()).rejects.toThrow(/flush failed/);
    expect(fs.list("/db/sst").filter((n) => n.endsWith(".sst"))).toEqual([]);
    await db.close();
    expect(db.closeFailures.join("\n")).toMatch(/could not be written to an SSTable.*disk is full.*write-ahead log/);
    fs.clearFaults();
    const db2 = await Db.open("/db", { vfs: fs });
    expect([...db2.range("k")].length).toBe(5000);
    await db2.close();
    expect(db2.closeFailures).toEqual([]);
  });
});
