// WAL replay after a crash (no clean close, so nothing is flushed on the way down): every
// write above manifest.flushedSeq comes back from the log, in order, exactly once; nothing
// at or below it is needed from the log. Guarded by the `wal-replay-off-by-one` and
// `wal-scan-drops-last-record` mutants of bench/mutants.
import { describe, expect, test } from "bun:test";
import type { Value } from "../../src/codec/columns.ts";
import { Db } from "../../src/engine/db.ts";
import type { DbOptions } from "../../src/engine/options.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import { rng } from "../helpers.ts";

const opts: DbOptions = { autoCompact: false };

describe("WAL replay after a crash", () => {
  test("the first write above flushedSeq, a delete, and the segment's last record all come back", async () => {
    const fs = new MemFs();
    const db = await Db.open("/data", { ...opts, vfs: fs });
    await db.putMany([
      { key: "a", ts: 1, value: 1 },
      { key: "b", ts: 1, value: 1 },
    ]);
    await db.flush();
    expect(db.stats().flushedSeq).toBe(1);
    expect((await db.put("a", 2, 2)).seq).toBe(2); // the first write above flushedSeq
    await db.delete("b");
    await db.put("c", 3, 5); // the last record of the active segment
    const crashed = fs.powerCut(); // every write above was acknowledged, so synced
    const re = await Db.open("/data", { ...opts, vfs: crashed });
    expect(re.stats().recovery).toEqual([]); // whole records only: nothing is torn
    expect(re.stats().flushedSeq).toBe(1);
    expect(re.stats().lastSeq).toBe(4);
    expect([...re.range("a")]).toEqual([
      { key: "a", ts: 1, value: 1 },
      { key: "a", ts: 2, value: 2 },
    ]);
    expect([...re.range("b")]).toEqual([]);
    expect([...re.range("c")]).toEqual([{ key: "c", ts: 5, value: 3 }]);
    expect((await re.put("d", 1, 1)).seq).toBe(5); // sequence numbers continue, none reused
    await re.close();
  });

  test("random writes and deletes over many segments, flushes at random points, three crashes: same contents as a reference", async () => {
    const r = rng(88);
    const keys = ["k0", "k1", "k2", "k3"];
    const ref = new Map<string, Map<number, Value>>(keys.map((k) => [k, new Map()]));
    let fs = new MemFs();
    const small: DbOptions = { ...opts, walSegmentBytes: 4096, memtableBytes: 1 << 20 };
    for (let round = 0; round < 3; round++) {
      const db = await Db.open("/data", { ...small, vfs: fs });
      expect(db.stats().recovery).toEqual([]);
      for (const k of keys) {
        const want = [...ref.get(k)!.entries()].sort((x, y) => x[0] - y[0]).map(([ts, value]) => ({ key: k, ts, value }));
        expect([...db.range(k)]).toEqual(want);
      }
      const ops = 400 + Math.floor(r() * 100);
      const flushAt = Math.floor((r() * ops) / 3); // leaves two segments or more to replay
      for (let i = 0; i < ops; i++) {
        if (i === flushAt) await db.flush();
        const k = keys[Math.floor(r() * keys.length)]!;
        if (r() < 0.1) {
          const from = round * 1000 + Math.floor(r() * i);
          const to = from + Math.floor(r() * 5);
          await db.delete(k, from, to);
          for (const ts of [...ref.get(k)!.keys()]) if (ts >= from && ts <= to) ref.get(k)!.delete(ts);
        } else {
          // Mostly new timestamps (so a lost write shows), sometimes an overwrite.
          const ts = r() < 0.2 ? Math.floor(r() * (round * 1000 + i)) : round * 1000 + i;
          const value = round * 1000 + i;
          await db.put(k, value, ts);
          ref.get(k)!.set(ts, value);
        }
      }
      expect(db.stats().walSegments).toBeGreaterThanOrEqual(2); // the replay crosses segments
      fs = fs.powerCut();
    }
    const db = await Db.open("/data", { ...small, vfs: fs });
    for (const k of keys) {
      const want = [...ref.get(k)!.entries()].sort((x, y) => x[0] - y[0]).map(([ts, value]) => ({ key: k, ts, value }));
      expect([...db.range(k)]).toEqual(want);
    }
    await db.close();
  });
});
