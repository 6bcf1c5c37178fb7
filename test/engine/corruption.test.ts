// Damage on disk, on real files: detected, reported with file and offset, contained.
import { describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Db } from "../../src/engine/db.ts";
import { CorruptionError } from "../../src/errors.ts";
import { RealFs } from "../../src/vfs/real_fs.ts";
import { BlockCache } from "../../src/sstable/block_cache.ts";
import { TableReader } from "../../src/sstable/table_reader.ts";
import { tempDir } from "../helpers.ts";

async function seed(dir: string) {
  const db = await Db.open(dir, { autoCompact: false });
  for (const key of ["alpha", "beta", "gamma"]) {
    // Irregular floats (8 bytes a point) so each series spans several blocks.
    await db.putMany(Array.from({ length: 20000 }, (_, i) => ({ key, ts: i * 1000, value: Math.sin(i) * key.length })));
  }
  await db.flush();
  await db.close();
}

describe("corruption on disk", () => {
  test("a flipped byte in an SSTable block: reads of that block fail with file and offset, the rest stays readable", async () => {
    const d = tempDir("corrupt-sst");
    try {
      await seed(d.path);
      const sstDir = join(d.path, "sst");
      const name = readdirSync(sstDir).find((n) => n.endsWith(".sst"))!;
      const path = join(sstDir, name);
      const t = TableReader.open(new RealFs(), path, 1, new BlockCache(0));
      const victim = t.index.find((e) => e.firstKey === "beta" && e.lastKey === "beta")!;
      expect(t.index.length).toBeGreaterThan(0);
      t.close();
      const bytes = readFileSync(path);
      bytes[victim.offsetBytes + 10]! ^= 0x5a;
      writeFileSync(path, bytes);

      const db = await Db.open(d.path);
      let err: unknown;
      try {
        [...db.range("beta")];
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CorruptionError);
      expect(String(err)).toContain(`in ${name} at offset ${victim.offsetBytes}`);
      expect([...db.range("alpha")].length).toBe(20000);
      expect([...db.range("gamma")].length).toBe(20000);
      expect(db.get("gamma")?.ts).toBe(19999 * 1000);
      // The node keeps taking writes.
      await db.put("alpha", 1, 100_000_000);
      expect(db.get("alpha")?.value).toBe(1);
      await db.close();
    } finally {
      d.cleanup();
    }
  });

  test("garbage appended to the WAL is cut off on open and reported; nothing acknowledged is lost", async () => {
    const d = tempDir("corrupt-wal");
    try {
      const db = await Db.open(d.path);
      for (let i = 0; i < 100; i++) await db.put(`k${i % 3}`, i, i);
      // Simulate a crash: no close (the lock is taken over because it names our own pid).
      const walDir = join(d.path, "wal");
      const seg = readdirSync(walDir).filter((n) => n.endsWith(".wal")).sort().pop()!;
      appendFileSync(join(walDir, seg), crypto.getRandomValues(new Uint8Array(333)));
      const db2 = await Db.open(d.path);
      const rec = db2.stats().recovery;
      expect(rec.length).toBe(1);
      expect(rec[0]!.file).toBe(seg);
      expect(rec[0]!.droppedBytes).toBe(333);
      for (let i = 0; i < 100; i++) expect([...db2.range(`k${i % 3}`, i, i)].map((p) => p.value)).toEqual([i]);
      await db2.put("k0", "after", 1000);
      await db2.close();
      const db3 = await Db.open(d.path);
      expect(db3.stats().recovery).toEqual([]);
      expect(db3.get("k0")?.value).toBe("after");
      await db3.close();
    } finally {
      d.cleanup();
    }
  });

  test("a damaged MANIFEST stops the open with a clear error instead of guessing", async () => {
    const d = tempDir("corrupt-manifest");
    try {
      await seed(d.path);
      const path = join(d.path, "MANIFEST");
      const bytes = readFileSync(path);
      bytes[bytes.length - 2]! ^= 1;
      writeFileSync(path, bytes);
      await expect(Db.open(d.path)).rejects.toThrow(/cityhall\/manifest: checksum mismatch in .*MANIFEST/);
    } finally {
      d.cleanup();
    }
  });

  test("a second process cannot open a data directory in use", async () => {
    const d = tempDir("lock");
    try {
      const child = Bun.spawn([process.execPath, "-e", `import {Db} from ${JSON.stringify(join(import.meta.dir, "../../src/engine/db.ts"))}; await Db.open(${JSON.stringify(d.path)}); console.log("open"); await Bun.sleep(10000);`], { stdout: "pipe" });
      const reader = child.stdout.getReader();
      await reader.read();
      await expect(Db.open(d.path)).rejects.toThrow(/is in use by process \d+; stop that process/);
      child.kill("SIGKILL");
      await child.exited;
      const db = await Db.open(d.path); // the owner is dead: the lock is stale
      await db.close();
    } finally {
      d.cleanup();
    }
  });
});
