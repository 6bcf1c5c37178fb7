// A write is acknowledged only once its WAL record is durable: a power cut the moment a
// put or delete resolves loses nothing, even when fdatasync takes a turn of the event loop
// (as the real one does). Guarded by the `ack-before-fdatasync` and
// `ack-before-fdatasync-poison-kept` mutants of bench/mutants.
import { describe, expect, test } from "bun:test";
import { Db } from "../../src/engine/db.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import { SlowSyncFs } from "../slow_sync_fs.ts";

describe("acknowledged means durable", () => {
  test("a power cut right after each acknowledgement keeps every acknowledged write", async () => {
    let mem = new MemFs();
    const expected: number[] = [];
    for (let round = 0; round < 5; round++) {
      const db = await Db.open("/data", { vfs: new SlowSyncFs(mem), autoCompact: false });
      expect([...db.range("s")].map((p) => p.value)).toEqual(expected);
      // A few concurrent writers, so some acknowledgements come from one group commit.
      const n = 1 + round * 3;
      await Promise.all(Array.from({ length: n }, (_, i) => db.put("s", round * 100 + i, round * 100 + i)));
      for (let i = 0; i < n; i++) expected.push(round * 100 + i);
      if (round === 2) {
        await db.delete("s", 200, 200);
        expected.splice(expected.indexOf(200), 1);
      }
      mem = mem.powerCut(); // at once: no close, no flush, no further turn of the loop
    }
    const db = await Db.open("/data", { vfs: mem });
    expect([...db.range("s")].map((p) => p.value)).toEqual(expected);
    await db.close();
  });
});
