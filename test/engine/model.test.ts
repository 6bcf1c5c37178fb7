// Model-based test: random writes, deletes and reads against the engine and against a
// plain in-memory map, across flushes, compactions and reopenings. Same answers every time.
// Reopenings follow a clean close (which flushes), a crash (the Db is abandoned: the OS keeps
// every written byte, the process loses its memory) or a power cut (only synced bytes and
// entries survive), so WAL replay is compared with the reference too. Writes in flight at a
// crash or cut are "maybe": present whole or absent whole, and the reference follows what
// the engine shows; every acknowledged write (even one acknowledged after the cut) is certain.
import { describe, expect, test } from "bun:test";
import type { Value } from "../../src/codec/columns.ts";
import { Db } from "../../src/engine/db.ts";
import type { DbOptions } from "../../src/engine/options.ts";
import { compareKeys } from "../../src/memtable/memtable.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import type { Vfs } from "../../src/vfs/vfs.ts";
import { RealFs } from "../../src/vfs/real_fs.ts";
import { rng, tempDir } from "../helpers.ts";

const KEYS = ["a", "a.b", "a.c", "b", "sensor.temp.line_1", "sensor.temp.line_10", "ключ.é", "z".repeat(300)];

class Reference {
  private data = new Map<string, Map<number, Value>>();
  put(key: string, ts: number, v: Value) {
    let m = this.data.get(key);
    if (!m) this.data.set(key, (m = new Map()));
    m.set(ts, v);
  }
  delete(key: string, from: number, to: number) {
    const m = this.data.get(key);
    if (!m) return;
    for (const ts of [...m.keys()]) if (ts >= from && ts <= to) m.delete(ts);
  }
  range(key: string, from: number, to: number, reverse: boolean, limit: number): [number, Value][] {
    const m = this.data.get(key);
    if (!m) return [];
    const pts = [...m.entries()].filter(([ts]) => ts >= from && ts <= to).sort((x, y) => x[0] - y[0]);
    if (reverse) pts.reverse();
    return pts.slice(0, limit);
  }
  keys(prefix: string): string[] {
    return [...this.data.entries()].filter(([k, m]) => k.startsWith(prefix) && m.size > 0).map(([k]) => k).sort(compareKeys);
  }
}

/** Waits for `p` at most `ms` milliseconds. */
async function settles(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p.catch(() => {}), new Promise((res) => (timer = setTimeout(res, ms)))]);
  clearTimeout(timer);
}

async function runModel(seed: number, initialVfs: Vfs, dir: string, steps: number) {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  let vfs = initialVfs;
  const options = (): DbOptions => ({ vfs, memtableBytes: 8192, compaction: { trigger: 3, fanIn: 3, sizeRatio: 2, maxTables: 5 } });
  let db = await Db.open(dir, options());
  const ref = new Reference();
  const stats = { flushes: 0, compactions: 0, reopens: 0, crashes: 0, powerCuts: 0, replayedReopens: 0, maybeKept: 0, maybeLost: 0 };
  // Writes in flight at a crash use timestamps no other write uses, so each can be found.
  let inflightTs = 100_000;
  const check = () => {
    for (const key of KEYS) {
      const expected = ref.range(key, -Infinity, Infinity, true, 1)[0];
      const got = db.get(key);
      expect(got === null ? undefined : [got.ts, got.value]).toEqual(expected);
    }
  };
  for (let step = 0; step < steps; step++) {
    const op = r();
    if (op < 0.45) {
      const n = 1 + Math.floor(r() * 40);
      const batch = [];
      for (let i = 0; i < n; i++) {
        const key = pick(KEYS);
        const ts = Math.floor(r() * 400) - 50;
        const value: Value = r() < 0.7 ? Math.round(r() * 1000) / 10 : r() < 0.5 ? `s${Math.floor(r() * 100)}` : r() * 1e6;
        batch.push({ key, ts, value });
      }
      await db.putMany(batch);
      for (const p of batch) ref.put(p.key, p.ts, p.value);
    } else if (op < 0.52) {
      const key = pick(KEYS);
      if (r() < 0.3) {
        await db.delete(key);
        ref.delete(key, -Infinity, Infinity);
      } else {
        const from = Math.floor(r() * 400) - 50;
        const to = from + Math.floor(r() * 100);
        await db.delete(key, from, to);
        ref.delete(key, from, to);
      }
    } else if (op < 0.8) {
      const key = pick(KEYS);
      const from = Math.floor(r() * 400) - 60;
      const to = from + Math.floor(r() * 300);
      const reverse = r() < 0.5;
      const limit = r() < 0.3 ? 1 + Math.floor(r() * 10) : Infinity;
      const got = [...db.range(key, from, to, { reverse, limit })].map((p) => [p.ts, p.value]);
      expect(got).toEqual(ref.range(key, from, to, reverse, limit));
    } else if (op < 0.87) {
      const prefix = pick(["", "a", "a.", "sensor.", "ключ", "q"]);
      expect(db.keys(prefix)).toEqual(ref.keys(prefix));
    } else if (op < 0.92) {
      await db.flush();
      stats.flushes++;
    } else if (op < 0.96) {
      await db.compact();
      stats.compactions++;
    } else {
      const how = vfs instanceof MemFs ? pick(["close", "crash", "power cut"] as const) : "close";
      if (how === "close") {
        await db.close();
      } else {
        // Some writes in flight, then the crash or cut a few event-loop turns later.
        const memFs = vfs as MemFs;
        const inflight: { batch: { key: string; ts: number; value: Value }[]; acked: boolean; done: Promise<unknown> }[] = [];
        const n = Math.floor(r() * 5);
        for (let i = 0; i < n; i++) {
          const batch = Array.from({ length: 1 + Math.floor(r() * 8) }, () => ({ key: pick(KEYS), ts: inflightTs++, value: Math.round(r() * 1000) }));
          const w = { batch, acked: false, done: Promise.resolve() as Promise<unknown> };
          w.done = db.putMany(batch).then(() => (w.acked = true)); // acked at any time: it must be there
          inflight.push(w);
        }
        const turns = Math.floor(r() * 8);
        for (let i = 0; i < turns; i++) await new Promise((res) => setImmediate(res));
        vfs = how === "crash" ? memFs.crash() : memFs.powerCut();
        await Promise.all(inflight.map((w) => settles(w.done, 2000)));
        await settles(db.close(), 1000); // on a dead file system: fails, and that is fine
        if (how === "crash") stats.crashes++;
        else stats.powerCuts++;
        db = await Db.open(dir, options());
        for (const w of inflight) {
          const present = w.batch.filter((p) => {
            const got = [...db.range(p.key, p.ts, p.ts)];
            return got.length === 1 && got[0]!.value === p.value;
          }).length;
          if (w.acked) expect(present).toBe(w.batch.length);
          else expect(present === 0 || present === w.batch.length).toBe(true); // all or nothing
          if (present > 0) for (const p of w.batch) ref.put(p.key, p.ts, p.value);
          if (!w.acked) present > 0 ? stats.maybeKept++ : stats.maybeLost++;
        }
        check(); // before anything else changes: this is what WAL replay rebuilt
      }
      if (how === "close") db = await Db.open(dir, options());
      const s = db.stats();
      if (s.memtablePoints + s.immutableMemtablePoints > 0) stats.replayedReopens++;
      stats.reopens++;
    }
    if (step % 25 === 0) check();
  }
  check();
  await db.close();
  // And once more after a final reopen.
  db = await Db.open(dir, options());
  check();
  for (const key of KEYS) {
    expect([...db.range(key)].map((p) => [p.ts, p.value])).toEqual(ref.range(key, -Infinity, Infinity, false, Infinity));
  }
  const s = db.stats();
  await db.close();
  return { ...stats, tables: s.tables };
}

describe("engine vs reference model", () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    test(`seed ${seed} on the in-memory file system`, async () => {
      const s = await runModel(seed, new MemFs({ seed }), "/db", 600);
      expect(s.flushes + s.compactions + s.reopens).toBeGreaterThan(20);
      // Crashes and power cuts happened, and some reopenings rebuilt data from the WAL.
      expect(s.crashes).toBeGreaterThan(0);
      expect(s.powerCuts).toBeGreaterThan(0);
      expect(s.replayedReopens).toBeGreaterThan(0);
      console.log(`seed ${seed}: ${JSON.stringify(s)}`);
    }, 60_000);
  }
  test("seed 42 on real files", async () => {
    const d = tempDir("model");
    try {
      await runModel(42, new RealFs(), d.path, 400);
    } finally {
      d.cleanup();
    }
  }, 60_000);
});

describe("input validation", () => {
  test("bad keys, timestamps and values are refused before anything is written", async () => {
    const db = await Db.open("/db", { vfs: new MemFs() });
    const bad: [unknown[], RegExp][] = [
      [[{ key: "", value: 1 }], /key must not be empty/],
      [[{ key: "a", value: 1 }, { key: "", value: 1 }], /key must not be empty/],
      [[{ key: "x".repeat(1025), value: 1 }], /longer than 1024 bytes/],
      [[{ key: "a\u0000b", value: 1 }], /NUL/],
      [[{ key: "a", value: 1, ts: 1.5 }], /integer number of milliseconds/],
      [[{ key: "a", value: 1, ts: 2 ** 50 }], /within ±2\^49/],
      [[{ key: "a", value: null }], /must be a number or a string/],
      [[{ key: "a", value: "x".repeat(70_000) }], /longer than 65536 bytes/],
    ];
    for (const [points, re] of bad) {
      await expect(db.putMany(points as never)).rejects.toThrow(re);
    }
    expect(db.stats().lastSeq).toBe(0);
    await expect(db.delete("a", 10, 5)).rejects.toThrow(/from 10 > to 5/);
    await db.close();
  });
});
