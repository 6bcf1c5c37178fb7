import { expect } from "bun:test";
import type { RunningNode } from "../daemon_helpers.ts";

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
  const { cli } = await import("../daemon_helpers.ts");
  let last: T | undefined;
  await waitFor("the replica state file", async () => {
    const r = await cli(["replica", "status", "--data-dir", dataDir, "--json"]);
    if (!r.stdout.trim()) return false;
    last = JSON.parse(r.stdout) as T;
    return ready(last);
  });
  return last!;
}
