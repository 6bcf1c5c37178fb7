import { afterEach, expect } from "bun:test";
import { cli, startNode } from "../daemon_helpers.ts";
import type { RunningNode } from "../daemon_helpers.ts";
import { tempDir } from "../helpers.ts";

export async function waitFor(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (await cond()) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(25);
  }
}

export async function getJson<T = unknown>(node: RunningNode, path: string): Promise<T> {
  return (await (await fetch(`http://${node.addr}${path}`)).json()) as T;
}

export async function write(node: RunningNode, points: { key: string; ts?: number; value: number | string }[]): Promise<void> {
  const r = await fetch(`http://${node.addr}/v1/write`, { method: "POST", body: JSON.stringify(points) });
  if (r.status !== 200) throw new Error(`write failed: ${r.status} ${await r.text()}`);
}

/** Every point of every series, for comparing two nodes exactly. */
export async function contents(node: RunningNode): Promise<Record<string, [number, number | string][]>> {
  const { keys } = await getJson<{ keys: string[] }>(node, "/v1/keys");
  const out: Record<string, [number, number | string][]> = {};
  for (const k of keys) {
    const pts = await getJson<{ ts: number; value: number | string }[]>(node, `/v1/range?key=${encodeURIComponent(k)}`);
    out[k] = pts.map((p) => [p.ts, p.value]);
  }
  return out;
}

export async function lastSeq(node: RunningNode): Promise<number> {
  return (await getJson<{ db: { lastSeq: number } }>(node, "/v1/status")).db.lastSeq;
}

/** Waits until the replica applied everything the leader has, then compares every point. */
export async function expectConverged(leader: RunningNode, replica: RunningNode, timeoutMs = 30_000): Promise<void> {
  const target = await lastSeq(leader);
  await waitFor(`replica to reach sequence ${target}`, async () => (await lastSeq(replica)) >= target, timeoutMs);
  expect(await contents(replica)).toEqual(await contents(leader));
}

export const FAST = ["--heartbeat", "200ms", "--timeout", "1500ms"];
export const FAST_LEADER = ["--replication-heartbeat", "200ms", "--replication-timeout", "3s"];

/** `cityhall replica status --json` once the persisted state shows `ready` (it is saved within ~200 ms). */
export async function replicaStatus<T = Record<string, unknown>>(dataDir: string, ready: (s: T) => boolean): Promise<T> {
  let last: T | undefined;
  await waitFor("the replica state file", async () => {
    const r = await cli(["replica", "status", "--data-dir", dataDir, "--json"]);
    if (!r.stdout.trim()) return false;
    last = JSON.parse(r.stdout) as T;
    return ready(last);
  });
  return last!;
}

/**
 * Temp directories and leader/replica processes for one test file. Call once at the top of
 * the file: it registers an afterEach that runs `cleanups` newest first (kills the nodes, then
 * removes their directories); push onto `cleanups` whatever else a test must undo.
 */
export function nodeFixtures(): {
  cleanups: (() => Promise<void> | void)[];
  dir(label: string): string;
  leader(args?: string[], dataDir?: string): Promise<RunningNode>;
  replica(leaderPort: number, dataDir?: string, args?: string[]): Promise<RunningNode>;
} {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  function dir(label: string): string {
    const d = tempDir(label);
    cleanups.push(d.cleanup);
    return d.path;
  }
  async function leader(args: string[] = [], dataDir?: string): Promise<RunningNode> {
    const n = await startNode("leader", ["--data-dir", dataDir ?? dir("leader"), ...FAST_LEADER, ...args]);
    cleanups.push(() => n.kill());
    return n;
  }
  async function replica(leaderPort: number, dataDir?: string, args: string[] = []): Promise<RunningNode> {
    const n = await startNode("replica", ["--leader", `127.0.0.1:${leaderPort}`, "--data-dir", dataDir ?? dir("replica"), ...FAST, ...args]);
    cleanups.push(() => n.kill());
    return n;
  }
  return { cleanups, dir, leader, replica };
}
