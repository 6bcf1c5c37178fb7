// Damage seen through a real daemon process and real files: what a user of the HTTP API and
// the CLI sees when a WAL or SSTable byte flips (issue 8, items 2, 4 and 7).
import { describe, expect, test } from "bun:test";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Db } from "../../src/engine/db.ts";
import { BlockCache } from "../../src/sstable/block_cache.ts";
import { TableReader } from "../../src/sstable/table_reader.ts";
import { RealFs } from "../../src/vfs/real_fs.ts";
import { MAX_GROUP_COMMIT_BYTES, SEGMENT_HEADER_BYTES } from "../../src/wal/format.ts";
import { scanRecords } from "../../src/wal/record.ts";
import { cli, startNode } from "../daemon_helpers.ts";
import { HttpApi } from "../../src/server/http_api.ts";
import { Registry } from "../../src/server/metrics.ts";
import { stopParts } from "../../src/server/node_lifecycle.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import { tempDir } from "../helpers.ts";

const T0 = 1_767_225_600_000;
/** A log line longer than this is a dump (minified source, a stack), not a message. */
const MAX_LOG_LINE_CHARS = 1200;

function longestLine(text: string): number {
  return Math.max(0, ...text.split("\n").map((l) => l.length));
}

describe("WAL damaged in the middle, through the daemon", () => {
  test("the leader refuses to start and says how to salvage; with --salvage it starts, keeps every other batch and reports the loss", async () => {
    const d = tempDir("daemon-wal");
    try {
      const node = await startNode("leader", ["--data-dir", d.path]);
      const base = `http://${node.addr}`;
      for (let b = 1; b <= 300; b++) {
        const body = JSON.stringify(Array.from({ length: 20 }, (_, i) => ({ key: `s${b % 5}`, ts: T0 + b * 20 + i, value: b + i / 100 })));
        expect((await fetch(`${base}/v1/write`, { method: "POST", body })).status).toBe(200);
      }
      // More than one group-commit write of acknowledged batches after the damage below, so it
      // cannot be a torn last write (see MAX_GROUP_COMMIT_BYTES): it is corruption.
      const walDir = join(d.path, "wal");
      const walBytes = () => readdirSync(walDir).filter((n) => n.endsWith(".wal")).reduce((n, s) => n + statSync(join(walDir, s)).size, 0);
      const start = walBytes();
      for (let b = 0; walBytes() - start <= MAX_GROUP_COMMIT_BYTES + 4096; b++) {
        const body = JSON.stringify(Array.from({ length: 5000 }, (_, i) => ({ key: "filler", ts: T0 + b * 5000 + i, value: Math.sin(b * 5000 + i) })));
        expect((await fetch(`${base}/v1/write`, { method: "POST", body })).status).toBe(200);
      }
      await node.kill(); // SIGKILL: everything acknowledged is in the WAL only
      const seg = readdirSync(walDir).filter((n) => n.endsWith(".wal")).sort()[0]!;
      const bytes = readFileSync(join(walDir, seg));
      const recs = scanRecords(bytes, SEGMENT_HEADER_BYTES).records;
      expect(recs.length).toBeGreaterThan(300);
      const victim = recs[99]!; // batch 100
      bytes[victim.offsetBytes + 30]! ^= 0x10;
      writeFileSync(join(walDir, seg), bytes);

      const refused = await startNode("leader", ["--data-dir", d.path]).catch((e: Error) => e);
      expect(refused).toBeInstanceOf(Error);
      const msg = (refused as Error).message;
      expect(msg).toMatch(/exited \(\d+\) before it was ready/);
      expect(msg).toContain(`${seg} at offset ${victim.offsetBytes}`);
      expect(msg).toContain("seq 100..100 lost");
      expect(msg).toContain("--salvage");
      expect(longestLine(msg)).toBeLessThan(MAX_LOG_LINE_CHARS);

      const salvaged = await startNode("leader", ["--data-dir", d.path, "--salvage"]);
      try {
        const sbase = `http://${salvaged.addr}`;
        const status = (await (await fetch(`${sbase}/v1/status`)).json()) as { db: { recovery: { damage: string; lostSeqs: unknown; movedTo: string }[] } };
        expect(status.db.recovery.map((r) => [r.damage, r.lostSeqs])).toEqual([["corruption", { from: 100, to: 100 }]]);
        expect(readdirSync(walDir)).toContain(status.db.recovery[0]!.movedTo);
        expect(await (await fetch(`${sbase}/metrics`)).text()).toMatch(/^cityhall_wal_recovery_corruptions 1$/m);
        expect(salvaged.log()).toContain("seq 100..100 lost");
        for (let b = 1; b <= 300; b++) {
          const r = await fetch(`${sbase}/v1/range?key=s${b % 5}&from=${T0 + b * 20}&to=${T0 + b * 20 + 19}`);
          expect(((await r.json()) as unknown[]).length).toBe(b === 100 ? 0 : 20);
        }
      } finally {
        await salvaged.kill();
      }
    } finally {
      d.cleanup();
    }
  }, 60_000);
});

describe("SSTable damage, through the daemon", () => {
  test("a damaged footer quarantines its table at start; a damaged data block fails only what it covers, with a clear error", async () => {
    const d = tempDir("daemon-sst");
    try {
      const db = await Db.open(d.path, { autoCompact: false });
      for (const key of ["alpha", "beta", "gamma"]) {
        // Irregular floats (8 bytes a point) so each series spans several blocks.
        await db.putMany(Array.from({ length: 20000 }, (_, i) => ({ key, ts: T0 + i * 1000, value: Math.sin(i) * key.length })));
        await db.flush(); // one table per series
      }
      await db.close();
      const sstDir = join(d.path, "sst");
      const [alphaTable, betaTable] = readdirSync(sstDir).filter((n) => n.endsWith(".sst")).sort();
      // alpha: a flipped byte in the footer's magic number.
      const a = readFileSync(join(sstDir, alphaTable!));
      a[a.length - 2]! ^= 0xff;
      writeFileSync(join(sstDir, alphaTable!), a);
      // beta: a flipped byte in its last data block (the newest points).
      const t = TableReader.open(new RealFs(), join(sstDir, betaTable!), 2, new BlockCache(0));
      const victim = t.index[t.index.length - 1]!;
      const firstBlockPoints = t.index[0]!.points;
      t.close();
      const b = readFileSync(join(sstDir, betaTable!));
      b[victim.offsetBytes + 12]! ^= 0x5a;
      writeFileSync(join(sstDir, betaTable!), b);

      const node = await startNode("leader", ["--data-dir", d.path, "--retention", "1000d"]);
      try {
        const base = `http://${node.addr}`;
        // Quarantine: started, reported in the log, /v1/status and /metrics; the file kept.
        expect(node.log()).toContain(`DATA LOSS: ${alphaTable} is damaged`);
        expect(readdirSync(sstDir)).toContain(`${alphaTable}.quarantined`);
        const status = (await (await fetch(`${base}/v1/status`)).json()) as { db: { quarantined: { file: string; points: number }[] } };
        expect(status.db.quarantined.map((q) => [q.file, q.points])).toEqual([[alphaTable, 20000]]);
        expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^cityhall_sstables_quarantined 1$/m);
        expect((await cli(["client", "status", "--addr", node.addr])).stdout).toContain(`Quarantined: ${alphaTable} -> sst/${alphaTable}.quarantined (20000 points unreadable)`);

        // keys: every series the tables name, despite the damaged block.
        expect(await (await fetch(`${base}/v1/keys`)).json()).toEqual({ keys: ["beta", "gamma"] });
        expect((await cli(["client", "keys", "--addr", node.addr])).stdout).toBe("beta\ngamma\n");

        // Damage before the first byte is sent: a 500 with a JSON error naming file, offset and range.
        const early = await fetch(`${base}/v1/range?key=beta&reverse=true`);
        expect(early.status).toBe(500);
        const earlyErr = ((await early.json()) as { error: string }).error;
        expect(earlyErr).toContain(`in ${betaTable} at offset ${victim.offsetBytes}`);
        expect(earlyErr).toContain(`"beta" ts ${victim.firstTs} to "beta" ts ${victim.lastTs}`);

        // Damage mid-stream: the NDJSON body ends with an {"error": ...} line.
        const mid = await fetch(`${base}/v1/range?key=beta&format=ndjson`);
        expect(mid.status).toBe(200);
        const lines = (await mid.text()).trim().split("\n").map((l) => JSON.parse(l) as { ts?: number; error?: string });
        const last = lines[lines.length - 1]!;
        expect(last.error).toContain(`in ${betaTable} at offset ${victim.offsetBytes}`);
        expect(lines.length - 1).toBeGreaterThanOrEqual(firstBlockPoints);
        expect(lines.slice(0, -1).every((p) => typeof p.ts === "number" && p.ts < victim.firstTs)).toBe(true);

        // A JSON array cannot carry an error: the response is aborted, never a short valid array.
        const arr = await fetch(`${base}/v1/range?key=beta`).then((r) => r.text()).catch((e: Error) => `aborted: ${e.message}`);
        expect(() => JSON.parse(arr)).toThrow();

        // The CLI says what happened, not "cannot reach the node".
        const r = await cli(["client", "range", "beta", "--addr", node.addr]);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain("damaged data block");
        expect(r.stderr).not.toContain("cannot reach");

        // Other series stay readable, and the node still takes writes.
        expect(((await (await fetch(`${base}/v1/range?key=gamma`)).json()) as unknown[]).length).toBe(20000);
        expect((await cli(["client", "put", "delta", "1", "--addr", node.addr])).stdout).toBe("OK\n");

        // Retention: a point already past --retention is refused with a 400, not acknowledged and dropped.
        const old = await fetch(`${base}/v1/write`, { method: "POST", body: JSON.stringify({ key: "delta", ts: 0, value: 1 }) });
        expect(old.status).toBe(400);
        expect(((await old.json()) as { error: string }).error).toContain("older than the retention window");

        // Every failure logged in one line: no stack, no source dump.
        await Bun.sleep(100);
        expect(node.log()).toContain("aborted mid-stream");
        expect(longestLine(node.log())).toBeLessThan(MAX_LOG_LINE_CHARS);
      } finally {
        await node.kill();
      }
    } finally {
      d.cleanup();
    }
  }, 60_000);
});

describe("stopping", () => {
  test("a stop that could not save says so, never \"all data is on disk\"", async () => {
    const fs = new MemFs();
    const db = await Db.open("/db", { vfs: fs });
    await db.put("k", 1, T0);
    fs.failNext({ op: "append", errno: "ENOSPC", pathIncludes: ".sst", times: 100 });
    const lines: string[] = [];
    const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    const http = new HttpApi(db, { host: "127.0.0.1", port: 0, role: "leader", dataDir: "/db" }, new Registry(), log);
    const replication = { start: async () => {}, stop: async () => {}, stopFailures: [] };
    await expect(stopParts(db, http, replication, log, "leader")).rejects.toThrow(
      /leader stopped, but not cleanly: the memtable could not be written to an SSTable \(.*disk is full.*\); its acknowledged writes stay in the write-ahead log/,
    );
    expect(lines.join("\n")).not.toContain("all data is on disk");
  });
});

describe("full disk at start", () => {
  test("a leader that cannot create a WAL segment serves reads and answers writes with 503 and the reason", async () => {
    const fs = new MemFs();
    const seed = await Db.open("/db", { vfs: fs });
    await seed.put("k", 1, T0);
    await seed.close();
    fs.failNext({ op: "open", errno: "ENOSPC", pathIncludes: ".wal" });
    const db = await Db.open("/db", { vfs: fs });
    const log = { info() {}, warn() {}, error() {} };
    const http = new HttpApi(db, { host: "127.0.0.1", port: 0, role: "leader", dataDir: "/db" }, new Registry(), log);
    http.start();
    try {
      const base = `http://127.0.0.1:${http.port}`;
      expect(await (await fetch(`${base}/v1/get?key=k`)).json()).toEqual({ key: "k", ts: T0, value: 1 });
      const w = await fetch(`${base}/v1/write`, { method: "POST", body: JSON.stringify({ key: "k", value: 2 }) });
      expect(w.status).toBe(503);
      expect(((await w.json()) as { error: string }).error).toMatch(/started read-only.*disk is full.*restart the node once there is free space/);
      const lp = await fetch(`${base}/write`, { method: "POST", body: "m v=1" });
      expect(lp.status).toBe(503);
      const status = (await (await fetch(`${base}/v1/status`)).json()) as { db: { readOnlyReason: string | null } };
      expect(status.db.readOnlyReason).toContain("read-only");
    } finally {
      await http.stop(true);
      await db.close();
    }
  });
});
