// A node that could not save its replication state at stop must not say it stopped cleanly:
// `stopFailures` carries the problem to `stopParts`, which exits non-zero with it.
import { describe, expect, test } from "bun:test";
import { Db } from "../../src/engine/db.ts";
import { ReplicationClient } from "../../src/replication/client.ts";
import { ReplicationServer } from "../../src/replication/server.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";

function logger() {
  const lines: string[] = [];
  const push = (m: string) => void lines.push(m);
  return { lines, log: { info: push, warn: push, error: push } };
}

describe("replication state at stop", () => {
  test("a replica whose state file cannot be saved at stop reports it", async () => {
    const fs = new MemFs();
    const db = await Db.open("/r", { vfs: fs, role: "replica", autoCompact: false });
    const { lines, log } = logger();
    // Nothing listens on port 1: the client keeps reconnecting, which is fine here.
    const client = new ReplicationClient(db, fs, "/r", { leaderHost: "127.0.0.1", leaderPort: 1, log, random: () => 0.5 });
    await client.start();
    expect(client.stopFailures).toEqual([]);
    fs.failNext({ op: "open", errno: "ENOSPC", pathIncludes: "replica.state", times: 10 });
    await client.stop();
    expect(client.stopFailures.join("\n")).toMatch(/replica state file could not be saved/);
    expect(lines.join("\n")).toMatch(/cannot save replica state/);
    await db.close();
  });

  test("a clean replica stop reports nothing", async () => {
    const fs = new MemFs();
    const db = await Db.open("/r", { vfs: fs, role: "replica", autoCompact: false });
    const { log } = logger();
    const client = new ReplicationClient(db, fs, "/r", { leaderHost: "127.0.0.1", leaderPort: 1, log, random: () => 0.5 });
    await client.start();
    await client.stop();
    expect(client.stopFailures).toEqual([]);
    await db.close();
  });

  test("a leader whose replica positions cannot be saved at stop reports it", async () => {
    const fs = new MemFs();
    const db = await Db.open("/l", { vfs: fs, autoCompact: false });
    const { log } = logger();
    const server = new ReplicationServer(db, fs, "/l", { host: "127.0.0.1", port: 0, log });
    await server.start();
    fs.failNext({ op: "open", errno: "ENOSPC", pathIncludes: "replicas.state", times: 10 });
    await server.stop();
    expect(server.stopFailures.join("\n")).toMatch(/positions could not be saved/);
    await db.close();
  });
});
