// A replica's copy of the leader's WAL survives a power cut once applyReplicated has
// returned: the bytes (fdatasync) and the segment files' directory entries (syncDir on the
// wal directory). Guarded by the `replica-no-dirsync-segment` and
// `replica-ack-before-fdatasync` mutants of bench/mutants.
import { describe, expect, test } from "bun:test";
import { Db } from "../../src/engine/db.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import { segmentFileName } from "../../src/wal/format.ts";
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
