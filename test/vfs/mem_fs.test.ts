// The simulated file system must be at least as unforgiving as a real one, or the power-cut
// tests prove nothing: each rule of the durability contract is checked here.
import { describe, expect, test } from "bun:test";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import type { OpEvent } from "../../src/vfs/mem_fs.ts";
import { mkdirpDurable } from "../../src/vfs/vfs.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function setup(opts = {}) {
  const fs = new MemFs({ tornTails: false, ...opts });
  mkdirpDurable(fs, "/d");
  return fs;
}

describe("MemFs durability model", () => {
  test("datasync makes durable the bytes present when it started, and completes in a later turn", async () => {
    const fs = setup({ maxSyncTurns: 3 });
    const f = fs.open("/d/f", "create");
    fs.syncDir("/d");
    f.append(bytes("one"));
    let done = false;
    const sync = f.datasync().then(() => (done = true));
    f.append(bytes("two")); // after the sync started: not covered by it
    expect(done).toBe(false);
    await Promise.resolve();
    expect(done).toBe(false); // not in the same turn
    await sync;
    expect(text(fs.powerCut().readFile("/d/f"))).toBe("one");
  });

  test("a cut while a sync is in flight leaves the previous durable bytes", async () => {
    const fs = setup({ maxSyncTurns: 3 });
    const f = fs.open("/d/f", "create");
    fs.syncDir("/d");
    f.append(bytes("old"));
    await f.datasync();
    f.append(bytes("new"));
    let after: MemFs | null = null;
    fs.onOp = (e) => {
      if (e.kind === "datasync" && !after) after = fs.powerCut();
    };
    await expect(f.datasync()).rejects.toThrow(/EIO/);
    expect(text(after!.readFile("/d/f"))).toBe("old");
  });

  test("new files, renames, removals and new directories need a sync of their parent", async () => {
    const fs = setup();
    const a = fs.open("/d/a", "create");
    a.append(bytes("A1"));
    await a.datasync();
    fs.syncDir("/d");
    const t = fs.open("/d/a.tmp", "create");
    t.append(bytes("A2"));
    await t.datasync();
    fs.rename("/d/a.tmp", "/d/a"); // over an existing file, no directory sync
    const b = fs.open("/d/b", "create"); // synced data, entry never synced
    b.append(bytes("B"));
    await b.datasync();
    fs.mkdirp("/d/sub"); // directory never synced in its parent
    const c = fs.open("/d/sub/c", "create");
    await c.datasync();
    fs.syncDir("/d/sub");
    let after = fs.powerCut();
    expect(text(after.readFile("/d/a"))).toBe("A1");
    expect(after.exists("/d/b")).toBe(false);
    expect(after.exists("/d/sub")).toBe(false);
    expect(after.exists("/d/sub/c")).toBe(false);

    // With the directory synced, all of it survives; a removal needs the sync too.
    const t2 = after.open("/d/a.tmp", "create");
    t2.append(bytes("A3"));
    await t2.datasync();
    after.rename("/d/a.tmp", "/d/a");
    mkdirpDurable(after, "/d/sub2");
    after.syncDir("/d");
    after.remove("/d/a.tmp"); // already gone: no-op
    after.remove("/d/a");
    const again = after.powerCut();
    expect(text(again.readFile("/d/a"))).toBe("A3"); // the removal was never synced
    expect(again.exists("/d/sub2")).toBe(true);
  });

  test("a crash keeps every written byte and entry, and durability is still tracked after it", async () => {
    const fs = setup();
    const f = fs.open("/d/f", "create");
    fs.syncDir("/d");
    f.append(bytes("synced"));
    await f.datasync();
    f.append(bytes("+buffered"));
    fs.mkdirp("/d/new");
    const crashed = fs.crash();
    expect(() => f.append(bytes("x"))).toThrow(/EIO/); // the old process is gone
    expect(text(crashed.readFile("/d/f"))).toBe("synced+buffered");
    expect(crashed.exists("/d/new")).toBe(true);
    const cut = crashed.powerCut();
    expect(text(cut.readFile("/d/f"))).toBe("synced");
    expect(cut.exists("/d/new")).toBe(false);
  });

  test("torn tails: a cut keeps the synced bytes plus none, all, or whole sectors of the rest", async () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) {
      const fs = new MemFs({ seed });
      mkdirpDurable(fs, "/d");
      const f = fs.open("/d/f", "create");
      fs.syncDir("/d");
      f.append(new Uint8Array(100).fill(1));
      await f.datasync();
      f.append(new Uint8Array(1500).fill(2));
      const size = fs.powerCut().readFile("/d/f").length;
      expect([100, 512, 1024, 1536, 1600]).toContain(size);
      seen.add(size);
    }
    expect(seen.size).toBeGreaterThan(3); // every kind of ending happens
  });

  test("every operation is reported once it took effect, counted, in order", async () => {
    const fs = setup({ maxSyncTurns: 1 });
    const ops: OpEvent[] = [];
    fs.onOp = (e) => ops.push(e);
    const f = fs.open("/d/f", "create");
    f.append(bytes("x"));
    await f.datasync();
    fs.rename("/d/f", "/d/g");
    fs.syncDir("/d");
    expect(ops.map((e) => `${e.kind} ${e.path}`)).toEqual(["open /d/f", "append /d/f", "datasync /d/f", "datasync-done /d/f", "rename /d/f", "syncDir /d"]);
    expect(ops.map((e) => e.n)).toEqual([1, 2, 3, 4, 5, 6].map((i) => i + ops[0]!.n - 1));
  });
});
