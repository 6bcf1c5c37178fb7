// WAL sequence numbers stay contiguous across failed appends: a write whose WAL append fails
// (ENOSPC) gives its number back, and so do the writes queued behind it (the writer rejects
// them too), so the log holds exactly 1..N, every acknowledged write once with the number it
// was acknowledged with, and no rejected one. A gap would make every replica demand a full
// snapshot (src/replication/client.ts) and would read as lost data in WAL salvage reports.
// Guarded by the `wal-seq-not-rewound` and `wal-discard-keeps-queue` mutants of bench/mutants.
import { describe, expect, test } from "bun:test";
import { Db } from "../../src/engine/db.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import { joinPath } from "../../src/vfs/vfs.ts";
import type { Vfs } from "../../src/vfs/vfs.ts";
import { decodeEntry } from "../../src/wal/batch.ts";
import type { WalEntry } from "../../src/wal/batch.ts";
import { SEGMENT_HEADER_BYTES, parseSegmentFileName } from "../../src/wal/format.ts";
import { scanRecords } from "../../src/wal/record.ts";
import { encodeDelete } from "../../src/wal/batch.ts";
import { WalWriter } from "../../src/wal/writer.ts";
import { mkdirpDurable } from "../../src/vfs/vfs.ts";
import { mulberry32 } from "../../src/util/prng.ts";

/** Every entry in the WAL directory, segment by segment, as the bytes on file say. */
function readWal(vfs: Vfs, walDir: string): WalEntry[] {
  const segs = vfs
    .list(walDir)
    .map((n) => parseSegmentFileName(n))
    .filter((n): n is number => n !== undefined)
    .sort((a, b) => a - b);
  const out: WalEntry[] = [];
  for (const no of segs) {
    const name = vfs.list(walDir).find((n) => parseSegmentFileName(n) === no)!;
    const bytes = vfs.readFile(joinPath(walDir, name));
    const scan = scanRecords(bytes, SEGMENT_HEADER_BYTES);
    expect(scan.problem).toBeUndefined(); // a failed append leaves no partial record behind
    for (const r of scan.records) out.push(decodeEntry(r.type, r.payload));
  }
  return out;
}

/** The op id a WAL entry was written for (puts carry it as value, deletes as their range). */
function opIdOf(e: WalEntry): number {
  return e.kind === "put" ? (e.groups[0]!.vals[0] as number) : e.fromTs;
}

type Outcome = { id: number; kind: "put" | "delete"; seq: number | null };

// Long keys make records of a few hundred bytes, so the 4 KiB segments roll every dozen
// records or so and many injected failures hit a roll, while later writes queue behind it.
const KEY_TAIL = "/building-7/floor-3/room-12/sensor-temperature-humidity-co2".repeat(3);
const seriesKey = (w: number) => `w${w}${KEY_TAIL}`;

async function run(seed: number, sync: "always" | "interval:5" | "none") {
  const random = mulberry32(seed);
  const mem = new MemFs({ seed });
  // Small segments: rolls happen often, so some failures hit a roll (new segment header)
  // while later writes are queued behind it.
  const opts = { vfs: mem, autoCompact: false, walSegmentBytes: 4096, memtableBytes: 64 << 20, sync };
  const db = await Db.open("/data", opts);
  const outcomes: Outcome[] = [];
  let nextId = 1;
  let faults = 0;
  const writers = 6;
  const opsPerWriter = 60;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; i < opsPerWriter; i++) {
        if (random() < 0.06) {
          mem.failNext({ op: "append", errno: "ENOSPC", pathIncludes: ".wal", times: 1 + Math.floor(random() * 3) });
          faults++;
        }
        const id = nextId++;
        const isDelete = random() < 0.2;
        const o: Outcome = { id, kind: isDelete ? "delete" : "put", seq: null };
        outcomes.push(o);
        try {
          if (isDelete) {
            o.seq = (await db.delete(`del${KEY_TAIL}`, id, id)).seq;
          } else {
            const n = 1 + Math.floor(random() * 3);
            const points = Array.from({ length: n }, (_, j) => ({ key: seriesKey(w), ts: id * 10 + j, value: id }));
            o.seq = (await db.putMany(points)).seq;
          }
        } catch (e) {
          // Only the injected disk-full may fail a write.
          expect(String((e as Error).message)).toContain("ENOSPC");
        }
        // Let other writers' records pile up behind a batch now and then.
        if (random() < 0.3) await new Promise((r) => setTimeout(r, 0));
      }
    }),
  );
  mem.clearFaults();
  return { mem, db, outcomes, faults, opts };
}

function checkWal(entries: WalEntry[], outcomes: Outcome[]) {
  const acked = outcomes.filter((o) => o.seq !== null);
  const seqs = entries.map((e) => e.seq);
  // Contiguous from 1, in file order.
  expect(seqs).toEqual(Array.from({ length: entries.length }, (_, i) => i + 1));
  // Exactly the acknowledged writes, each under the number it was acknowledged with.
  const written = new Map(entries.map((e) => [opIdOf(e), e]));
  expect(written.size).toBe(entries.length);
  for (const o of acked) {
    const e = written.get(o.id);
    expect(e?.seq).toBe(o.seq!);
    expect(e?.kind).toBe(o.kind);
  }
  for (const o of outcomes) if (o.seq === null) expect(written.has(o.id)).toBe(false);
  expect(entries.length).toBe(acked.length);
}

describe("WAL sequence numbers stay contiguous across failed appends", () => {
  test("writer: a batch that fails on its roll takes the records queued behind it along, and tells its owner first", async () => {
    const fs = new MemFs({ seed: 7, maxSyncTurns: 3 });
    mkdirpDurable(fs, "/db/wal");
    const w = await WalWriter.create(fs, "/db/wal", 1, { segmentBytes: 4096, sync: { kind: "always" } });
    const rec = (seq: number) => encodeDelete(seq, "k".repeat(1500), seq, seq).slice();
    const settled: string[] = [];
    let discards = 0;
    w.onDiscard(() => {
      discards++;
      settled.push("discard");
    });
    const track = (seq: number, p: Promise<unknown>) =>
      p.then(
        () => settled.push(`ok ${seq}`),
        () => settled.push(`rejected ${seq}`),
      );
    await track(1, w.append(rec(1), () => {}));
    await track(2, w.append(rec(2), () => {}));
    // Record 3 does not fit: the writer rolls first, and creating segment 2 fails (its header
    // append). Record 4 arrives while the roll's fdatasync is in flight.
    fs.failNext({ op: "append", errno: "ENOSPC", pathIncludes: ".wal" });
    let p4: Promise<unknown> | undefined;
    fs.onOp = (e) => {
      if (e.kind === "datasync" && !p4) p4 = track(4, w.append(rec(4), () => {}));
    };
    const p3 = track(3, w.append(rec(3), () => {}));
    await p3;
    fs.onOp = undefined;
    expect(p4).toBeDefined();
    await p4;
    expect(settled).toEqual(["ok 1", "ok 2", "discard", "rejected 3", "rejected 4"]);
    expect(discards).toBe(1);
    // The writer goes on: the owner reuses 3.
    await track(3, w.append(rec(3), () => {}));
    await w.close();
    expect(readWal(fs, "/db/wal").map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  for (const sync of ["always", "interval:5", "none"] as const) {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      test(`sync=${sync} seed=${seed}: concurrent writers, injected ENOSPC`, async () => {
        const { mem, db, outcomes, faults, opts } = await run(seed, sync);
        const rejected = outcomes.filter((o) => o.seq === null).length;
        // The scenario must actually exercise failures and successes after them.
        expect(faults).toBeGreaterThan(0);
        expect(rejected).toBeGreaterThan(0);
        const entries = readWal(mem, "/data/wal");
        checkWal(entries, outcomes);
        const n = entries.length;
        expect(db.stats().lastSeq).toBe(n);

        // After a crash and a reopen the log replays to the same N, and numbering goes on.
        const after = mem.crash();
        const db2 = await Db.open("/data", { ...opts, vfs: after });
        expect(db2.stats().lastSeq).toBe(n);
        const more = await db2.putMany([{ key: seriesKey(0), ts: 1, value: -1 }]);
        expect(more.seq).toBe(n + 1);
        const seqs2 = readWal(after, "/data/wal").map((e) => e.seq);
        expect(seqs2).toEqual(Array.from({ length: n + 1 }, (_, i) => i + 1));
        // Every acknowledged put is readable, no rejected one is.
        const ackedPuts = new Set(outcomes.filter((o) => o.seq !== null && o.kind === "put").map((o) => o.id));
        const seen = new Set<number>();
        for (let w = 0; w < 6; w++) for (const p of db2.range(seriesKey(w))) if (p.value !== -1) seen.add(p.value as number);
        expect([...seen].sort((a, b) => a - b)).toEqual([...ackedPuts].sort((a, b) => a - b));
        await db2.close();
        await db.close().catch(() => {});
      });
    }
  }
});
