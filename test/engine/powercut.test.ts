// Simulated power cuts at exact, seeded points of every phase of the engine's life. MemFs
// drops every byte not covered by a finished fdatasync and every directory entry (files,
// renames, removals, new directories) not covered by a directory sync, keeps a random
// prefix of unsynced appends (torn tails), and completes each fdatasync some event-loop
// turns after it started, so a cut can fall between an append and its sync or during a
// sync. The cut point is "after the k-th operation of phase P" (MemFs.onOp), and each test
// asserts that every phase was actually hit.
//
// Every acknowledged write must be there after every cut, however late the acknowledgement
// came (once the power is out no byte can reach the disk, so a late ack is only truthful if
// the data was durable before the cut); unacknowledged batches all or nothing.
import { describe, expect, test } from "bun:test";
import { Db } from "../../src/engine/db.ts";
import type { DbOptions } from "../../src/engine/options.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import type { OpEvent } from "../../src/vfs/mem_fs.ts";
import { SEGMENT_HEADER_BYTES, parseSegmentFileName } from "../../src/wal/format.ts";
import { scanRecords } from "../../src/wal/record.ts";
import { rng } from "../helpers.ts";

const opts: DbOptions = { memtableBytes: 16 * 1024, walSegmentBytes: 32 * 1024, compaction: { trigger: 3, fanIn: 3 } };

/** Batch b writes 10 points of series k<b%7> at ts b*10+j; values identify the batch. */
function batch(b: number) {
  return Array.from({ length: 10 }, (_, j) => ({ key: `k${b % 7}`, ts: b * 10 + j, value: b + j / 10 }));
}

function batchPoints(db: Db, b: number): number[] {
  return [...db.range(`k${b % 7}`, b * 10, b * 10 + 9)].map((p) => p.value as number);
}

async function verify(db: Db, acked: Set<number>, maxBatch: number) {
  for (const b of acked) expect(batchPoints(db, b)).toEqual(batch(b).map((p) => p.value));
  // Unacknowledged batches may be there or not, but never partly and never garbled.
  for (let b = 0; b < maxBatch; b++) {
    if (acked.has(b)) continue;
    const got = batchPoints(db, b);
    if (got.length !== 0) expect(got).toEqual(batch(b).map((p) => p.value));
  }
}

const turn = () => new Promise((res) => setImmediate(res));

/** Waits for `p` at most `ms` milliseconds; true when it settled. */
async function settles(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((res) => (timer = setTimeout(() => res(false), ms)));
  const settled = p.then(
    () => true,
    () => true,
  );
  const done = await Promise.race([settled, timeout]);
  clearTimeout(timer);
  return done;
}

const isWal = (path: string) => parseSegmentFileName(path.slice(path.lastIndexOf("/") + 1)) !== undefined;

/**
 * Names the phase an operation belongs to, from the operation and the engine's state.
 * `creating` tracks WAL segments between their creation and the directory sync that makes
 * them durable (segment roll).
 */
function leaderPhase(e: OpEvent, db: Db | undefined, creating: Set<string>): string | undefined {
  if (!db) return "open/recovery";
  if (db === VERIFYING) return undefined;
  if (isWal(e.path)) {
    if (e.kind === "open" && e.mode === "create") creating.add(e.path);
    if (creating.has(e.path)) return "segment roll";
    if (e.kind === "append") return "wal append";
    if (e.kind === "datasync") return "between append and sync";
    if (e.kind === "datasync-wait") return "mid wal sync";
    if (e.kind === "datasync-done") return "wal sync done, not acked";
    return undefined;
  }
  if (e.kind === "syncDir" && e.path.endsWith("/wal") && creating.size > 0) {
    creating.clear();
    return "segment roll";
  }
  if (e.path.includes("MANIFEST")) {
    if (e.kind === "open" || e.kind === "append") return "manifest temp write";
    if (e.kind.startsWith("datasync")) return "manifest temp sync";
    if (e.kind === "rename") return "manifest rename";
    return undefined;
  }
  if (e.kind === "syncDir" && e.path === "/data") return "manifest dir sync";
  if (e.path.endsWith(".sst") || (e.kind === "syncDir" && e.path.endsWith("/sst"))) {
    const s = db.stats();
    if (s.compactionRunning && s.immutableMemtablePoints === 0) return "compaction";
    if (!s.compactionRunning && s.immutableMemtablePoints > 0) return "flush";
  }
  return undefined;
}

/** Stands for the engine while the test reads it back: no cut lands there. */
const VERIFYING = {} as Db;

const LEADER_PHASES = [
  "wal append",
  "between append and sync",
  "mid wal sync",
  "wal sync done, not acked",
  "segment roll",
  "manifest temp write",
  "manifest temp sync",
  "manifest rename",
  "manifest dir sync",
  "flush",
  "compaction",
  "open/recovery",
];

describe("power cut", () => {
  test("cuts at seeded points of every phase lose no acknowledged write; torn tails are cut and reported", async () => {
    const r = rng(2026);
    let fs = new MemFs({ seed: 7 });
    const acked = new Set<number>();
    let next = 0;
    const hits = new Map<string, number>();
    let tornReopens = 0;
    let lateAcks = 0;
    const ROUNDS_PER_PHASE = 4;
    for (let round = 0; round < LEADER_PHASES.length * ROUNDS_PER_PHASE; round++) {
      const target = LEADER_PHASES[round % LEADER_PHASES.length]!;
      // Phases with few operations per round get a small k, busy ones a larger one.
      const k = 1 + Math.floor(r() * (target === "open/recovery" ? 12 : target.startsWith("manifest") || target === "compaction" ? 4 : target === "segment roll" ? 10 : 25));
      let seen = 0;
      // A holder, not a `let`: the cut happens inside callbacks.
      const power: { cut: MemFs | null } = { cut: null };
      let db: Db | undefined;
      const creating = new Set<string>();
      const current = fs;
      const pull = (phase: string) => {
        hits.set(phase, (hits.get(phase) ?? 0) + 1);
        power.cut = current.powerCut();
      };
      current.onOp = (e) => {
        if (power.cut) return;
        if (leaderPhase(e, db, creating) === target && ++seen === k) pull(target);
      };
      let opened: Db | undefined;
      try {
        opened = await Db.open("/data", { ...opts, vfs: current });
      } catch (e) {
        if (!power.cut) throw e; // only a cut may stop the open
      }
      db = VERIFYING;
      if (power.cut) {
        fs = power.cut;
        continue;
      }
      if (target === "open/recovery") {
        pull(`${target} (not reached)`); // k was past the last operation of this open
        fs = power.cut!;
        continue;
      }
      if (!opened) throw new Error("unreachable: no database and no cut");
      const dropped = opened.stats().recovery.reduce((n, x) => n + x.droppedBytes, 0);
      if (dropped > 0) tornReopens++;
      await verify(opened, acked, next);
      db = opened;
      // Several writers at once, so group commits carry many batches.
      const writer = async () => {
        while (!power.cut) {
          const b = next++;
          try {
            await opened.putMany(batch(b));
            acked.add(b); // even after the cut: then it must have been durable before it
            if (power.cut) lateAcks++;
          } catch {
            return; // the power went out under this write: not acknowledged
          }
        }
      };
      const writers = Promise.all(Array.from({ length: 4 }, writer));
      // The phase is bound to come up (flushes compress on the thread pool, so wait in time,
      // not in event-loop turns); if it does not, cut anyway and count a miss.
      const deadline = Date.now() + 5000;
      while (!power.cut && Date.now() < deadline) await turn();
      if (!power.cut) pull(`${target} (not reached)`);
      expect(await settles(writers, 10_000)).toBe(true); // a cut must never leave a write hanging
      await settles(opened.close(), 1000); // a dead file system: close fails, and that is fine
      fs = power.cut!;
    }
    const db = await Db.open("/data", { ...opts, vfs: fs });
    await verify(db, acked, next);
    expect(acked.size).toBeGreaterThan(1000);
    expect(db.stats().tables).toBeGreaterThan(0);
    await db.close();
    console.log(`power cuts by phase: ${JSON.stringify(Object.fromEntries(hits))}; reopens that cut a torn tail: ${tornReopens}; acks after the cut: ${lateAcks}`);
    // Every phase was hit, and every cut landed in the phase it aimed at.
    for (const p of LEADER_PHASES) expect(hits.get(p) ?? 0).toBe(ROUNDS_PER_PHASE);
    // Torn tails happen (a cut after a WAL append keeps part of it) and recovery reports them.
    expect(tornReopens).toBeGreaterThan(0);
    // Acknowledgements that came after the cut (sync done, then the power went) were checked.
    expect(lateAcks).toBeGreaterThan(0);
  }, 60_000);

  test("a replica cut at seeded points of applying replicated WAL keeps every applied record, at a leader record boundary", async () => {
    // The leader's WAL: 2000 batches over several segments (no flush, so none is deleted).
    const leaderFs = new MemFs({ seed: 3 });
    const leader = await Db.open("/leader", { vfs: leaderFs, walSegmentBytes: 8 * 1024, memtableBytes: 64 << 20 });
    const TOTAL = 2000;
    for (let b = 0; b < TOTAL; b++) await leader.putMany(batch(b));
    const segments = new Map<number, { bytes: Uint8Array; ends: Set<number> }>();
    for (const name of leaderFs.list("/leader/wal")) {
      const no = parseSegmentFileName(name);
      if (no === undefined) continue;
      const bytes = leaderFs.readFile(`/leader/wal/${name}`);
      const scan = scanRecords(bytes, SEGMENT_HEADER_BYTES);
      expect(scan.problem).toBeUndefined();
      segments.set(no, { bytes, ends: new Set([SEGMENT_HEADER_BYTES, ...scan.records.map((x) => x.endBytes)]) });
    }
    await leader.close();
    const segNos = [...segments.keys()].sort((a, b) => a - b).filter((n) => segments.get(n)!.bytes.length > SEGMENT_HEADER_BYTES);
    expect(segNos.length).toBeGreaterThan(3);

    const PHASES = ["replica append", "replica mid sync", "replica sync done, not acked", "replica segment creation", "replica flush", "replica manifest"];
    const phaseOf = (e: OpEvent, db: Db | undefined): string | undefined => {
      if (!db) return undefined;
      if (isWal(e.path)) {
        if (e.kind === "open" && e.mode === "create") return "replica segment creation";
        if (e.kind === "append") return "replica append";
        if (e.kind === "datasync" || e.kind === "datasync-wait") return "replica mid sync";
        if (e.kind === "datasync-done") return "replica sync done, not acked";
        return undefined;
      }
      if (e.kind === "syncDir" && e.path.endsWith("/wal")) return "replica segment creation";
      if (e.path.endsWith(".sst")) return "replica flush";
      if (e.path.includes("MANIFEST")) return "replica manifest";
      return undefined;
    };
    const r = rng(99);
    let fs = new MemFs({ seed: 11 });
    const hits = new Map<string, number>();
    let ackedSeq = 0;
    const ROUNDS = PHASES.length * 4;
    for (let round = 0; round < ROUNDS; round++) {
      const target = PHASES[round % PHASES.length]!;
      const k = 1 + Math.floor(r() * (target === "replica append" || target.includes("sync") ? 30 : 2));
      let seen = 0;
      const power: { cut: MemFs | null } = { cut: null };
      let db: Db | undefined;
      const current = fs;
      current.onOp = (e) => {
        if (!power.cut && phaseOf(e, db) === target && ++seen === k) {
          hits.set(target, (hits.get(target) ?? 0) + 1);
          power.cut = current.powerCut();
        }
      };
      const replica = await Db.open("/replica", { vfs: current, role: "replica", memtableBytes: 8 * 1024, walSegmentBytes: 8 * 1024 });
      // What survived: exactly the leader's first lastSeq batches, and at least every applied one.
      const lastSeq = replica.stats().lastSeq;
      expect(lastSeq).toBeGreaterThanOrEqual(ackedSeq);
      for (let b = 0; b < TOTAL; b++) {
        const got = batchPoints(replica, b);
        if (b + 1 <= lastSeq) expect(got).toEqual(batch(b).map((p) => p.value));
        else expect(got).toEqual([]);
      }
      // Resume where the local copy ends, as the replication client does.
      let pos = replica.replicaPosition() ?? { segment: segNos[0]!, offset: 0 };
      db = replica; // cuts may land from here on
      try {
        while (!power.cut) {
          let seg = segments.get(pos.segment)!;
          if (pos.offset === seg.bytes.length) {
            const nextNo = segNos.find((n) => n > pos.segment);
            if (nextNo === undefined) break;
            pos = { segment: nextNo, offset: 0 };
            seg = segments.get(nextNo)!;
          }
          // The local end must be a record boundary of the leader's segment.
          expect(pos.offset === 0 || seg.ends.has(pos.offset)).toBe(true);
          // Send 1..6 whole records, like a DATA frame.
          let end = pos.offset === 0 ? SEGMENT_HEADER_BYTES : pos.offset;
          const n = 1 + Math.floor(r() * 6);
          for (let i = 0; i < n && end < seg.bytes.length; i++) {
            let e = end + 1;
            while (!seg.ends.has(e)) e++;
            end = e;
          }
          const res = await replica.applyReplicated(pos.segment, pos.offset, seg.bytes.slice(pos.offset, end));
          ackedSeq = Math.max(ackedSeq, res.lastSeq); // applied and acknowledged: must survive
          pos = { segment: pos.segment, offset: end };
        }
      } catch (e) {
        if (!power.cut) throw e;
      }
      if (!power.cut) {
        hits.set(`${target} (not reached)`, (hits.get(`${target} (not reached)`) ?? 0) + 1);
        power.cut = current.powerCut();
      }
      await settles(replica.close(), 1000);
      fs = power.cut!;
    }
    console.log(`replica power cuts by phase: ${JSON.stringify(Object.fromEntries(hits))}; applied up to seq ${ackedSeq}`);
    for (const p of PHASES) expect(hits.get(p) ?? 0).toBe(ROUNDS / PHASES.length);
    expect(ackedSeq).toBeGreaterThan(TOTAL / 3);
  }, 60_000);

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
