// A replica's copy of the leader's WAL survives a power cut once applyReplicated has
// returned: the bytes (fdatasync) and the segment files' directory entries (syncDir on the
// wal directory). Guarded by the `replica-no-dirsync-segment` and
// `replica-ack-before-fdatasync` mutants of bench/mutants.
import { describe, expect, test } from "bun:test";
import { Db } from "../../src/engine/db.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import { MAX_GROUP_COMMIT_BYTES, SEGMENT_HEADER_BYTES, segmentFileName } from "../../src/wal/format.ts";
import { scanRecords } from "../../src/wal/record.ts";
import { SlowSyncFs } from "../slow_sync_fs.ts";

describe("replica WAL durability", () => {
  test("segments a replica created and filled are all there after a power cut, at the same position", async () => {
    const leaderFs = new MemFs();
    const leader = await Db.open("/leader", { vfs: leaderFs, autoCompact: false });
    const shipped: [number, Uint8Array][] = [];
    const ship = () => {
      const no = leader.walActive().segmentNo;
      shipped.push([no, leaderFs.readFile(`/leader/wal/${segmentFileName(no)}`)]);
    };
    for (let i = 0; i < 20; i++) await leader.put("s.a", i, 1_795_000_000_000 + i);
    ship();
    await leader.flush(); // rolls the leader to a new segment
    for (let i = 20; i < 40; i++) await leader.put("s.a", i, 1_795_000_000_000 + i);
    ship();
    expect(shipped.map(([no]) => no)).toEqual([1, 2]);
    await leader.close();

    let replicaFs = new MemFs();
    const replica = await Db.open("/replica", { vfs: new SlowSyncFs(replicaFs), role: "replica", autoCompact: false });
    for (const [no, bytes] of shipped) await replica.applyReplicated(no, 0, bytes);
    const position = replica.replicaPosition();
    expect(position).toEqual({ segment: 2, offset: shipped[1]![1].length });
    replicaFs = replicaFs.powerCut(); // at once, and no close: nothing more reaches the disk

    const again = await Db.open("/replica", { vfs: replicaFs, role: "replica", autoCompact: false });
    expect(again.stats().recovery).toEqual([]);
    expect(again.replicaPosition()).toEqual(position);
    expect([...again.range("s.a")].map((p) => p.value)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    await again.close();
  });
});

// A replica writes a replication chunk (up to 2 MiB by default, here 3 MiB) with the leader's
// write rule, which recovery relies on (see MAX_GROUP_COMMIT_BYTES in wal/format.ts): every
// synced write starts at a record boundary and is at most MAX_GROUP_COMMIT_BYTES (or one larger
// record), and a new segment's header is synced before any record follows it. Otherwise a power
// cut during catch-up that persisted a later page of a write and not an earlier one reads as
// corruption, and the replica refuses to start. Guarded by the `follower-unsliced-write` and
// `follower-unsynced-segment-header` mutants of bench/mutants.
describe("replica WAL write rule", () => {
  const BIG = { autoCompact: false, walSegmentBytes: 64 * 1024 * 1024, memtableBytes: 256 * 1024 * 1024 } as const;
  const BASE_TS = 1_795_000_000_000;

  /** Leader segment 1 holding at least 3 MiB of records; point i of key "s.a" has value i. */
  async function leaderSegment(): Promise<{ bytes: Uint8Array; points: number }> {
    const fs = new MemFs();
    const leader = await Db.open("/leader", { ...BIG, vfs: fs });
    const path = `/leader/wal/${segmentFileName(1)}`;
    let points = 0;
    while (fs.stat(path).sizeBytes < 3 * 1024 * 1024) {
      // Records of varied sizes, so that slice ends fall at varied places inside records.
      const batch = Array.from({ length: 100 + ((points * 7919) % 900) }, (_, j) => ({ key: "s.a", ts: BASE_TS + points + j, value: points + j }));
      await leader.putMany(batch);
      points += batch.length;
    }
    expect(leader.walActive().segmentNo).toBe(1);
    const bytes = fs.readFile(path);
    await leader.close();
    return { bytes, points };
  }

  test("a 3 MiB chunk is synced in record-aligned writes of at most MAX_GROUP_COMMIT_BYTES, after its segment header", async () => {
    const { bytes } = await leaderSegment();
    const recordEnds = new Set(scanRecords(bytes, SEGMENT_HEADER_BYTES).records.map((r) => r.endBytes));
    const fs = new MemFs();
    const replica = await Db.open("/replica", { ...BIG, vfs: fs, role: "replica" });
    const path = `/replica/wal/${segmentFileName(1)}`;
    const events: { kind: string; sizeBytes: number }[] = [];
    fs.onOp = (e) => {
      if (e.kind === "syncDir" && e.path === "/replica/wal") events.push({ kind: "syncDir", sizeBytes: -1 });
      if (e.path === path && (e.kind === "append" || e.kind === "datasync")) events.push({ kind: e.kind, sizeBytes: fs.stat(path).sizeBytes });
    };
    await replica.applyReplicated(1, 0, bytes);
    fs.onOp = undefined;
    // The header alone, synced, and its directory entry synced, before any record is appended.
    expect(events.slice(0, 3)).toEqual([
      { kind: "append", sizeBytes: SEGMENT_HEADER_BYTES },
      { kind: "datasync", sizeBytes: SEGMENT_HEADER_BYTES },
      { kind: "syncDir", sizeBytes: -1 },
    ]);
    const synced = events.filter((e) => e.kind === "datasync").map((e) => e.sizeBytes);
    expect(synced.length).toBeGreaterThanOrEqual(4); // 3 MiB in writes of at most 1 MiB, plus the header
    expect(synced.at(-1)).toBe(bytes.length);
    for (let i = 1; i < synced.length; i++) {
      expect(synced[i]! - synced[i - 1]!).toBeLessThanOrEqual(MAX_GROUP_COMMIT_BYTES);
      expect(recordEnds.has(synced[i]!)).toBe(true);
    }
    // Every append is synced before the next one: a synced write is one append.
    for (let i = 0; i < events.length - 1; i++) if (events[i]!.kind === "append") expect(events[i + 1]!.kind).not.toBe("append");
    expect(replica.replicaPosition()).toEqual({ segment: 1, offset: bytes.length });
    await replica.close();
  });

  test("a power cut at any WAL sync of a large apply, persisting a later page but not an earlier one, leaves a replica that opens with a prefix", async () => {
    const { bytes, points } = await leaderSegment();
    let syncs = Infinity;
    const outcomes = { cut: 0, noEntry: 0, tornWrites: 0 };
    for (let k = 1; k <= syncs; k++) {
      const fs = new MemFs({ seed: k });
      const replica = await Db.open("/replica", { ...BIG, vfs: fs, role: "replica" });
      const durableBytes = new Map<string, number>();
      const pendingBytes = new Map<string, number>();
      let seen = 0;
      const power: { cut: MemFs | null } = { cut: null };
      fs.onOp = (e) => {
        if (power.cut || !e.path.endsWith(".wal")) return;
        if (e.kind === "datasync-done") durableBytes.set(e.path, pendingBytes.get(e.path)!);
        if (e.kind !== "datasync") return;
        const now = fs.readFile(e.path);
        pendingBytes.set(e.path, now.length);
        if (++seen !== k) return;
        // The worst a disk may do to an unsynced write: every page of it reaches the disk but the
        // first, which reads back as it was: the synced bytes, then zeros (the file was growing).
        const fromBytes = durableBytes.get(e.path) ?? 0;
        const damaged = now.slice();
        const pageEnd = (Math.floor(fromBytes / 4096) + 1) * 4096 + (k % 2) * 4096; // one or two pages
        damaged.fill(0, fromBytes, Math.min(pageEnd, damaged.length));
        const after = fs.powerCut();
        if (after.exists(e.path)) {
          const f = after.open(e.path, "create");
          f.append(damaged);
          f.close();
          outcomes.cut++;
        } else {
          outcomes.noEntry++;
        }
        power.cut = after;
      };
      try {
        await replica.applyReplicated(1, 0, bytes);
      } catch (e) {
        if (!power.cut) throw e;
      }
      if (!power.cut) {
        syncs = seen; // k went past the last sync: every sync has been cut at
        await replica.close();
        break;
      }
      const again = await Db.open("/replica", { ...BIG, vfs: power.cut, role: "replica" });
      expect(again.stats().recovery.filter((r) => r.damage === "corruption")).toEqual([]);
      outcomes.tornWrites += again.stats().recovery.filter((r) => r.damage === "torn-write").length;
      const values = [...again.range("s.a")].map((p) => p.value);
      expect(values).toEqual(Array.from({ length: values.length }, (_, i) => i));
      expect(values.length).toBeLessThan(points);
      await again.close();
    }
    expect(syncs).toBeGreaterThanOrEqual(4);
    expect(outcomes.cut).toBeGreaterThanOrEqual(3);
    expect(outcomes.tornWrites).toBeGreaterThanOrEqual(3); // the damage was seen, and cut as a torn write
  });
});
