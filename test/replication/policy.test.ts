import { describe, expect, test } from "bun:test";
import { HEALTHY_SESSION_MS, backoffCeilingMs, backoffDelayMs, madeProgress } from "../../src/replication/backoff.ts";
import { walHold } from "../../src/replication/hold_policy.ts";
import { judgeReplica } from "../../src/replication/status.ts";
import { emptyReplicaState } from "../../src/replication/state_format.ts";

describe("reconnect backoff", () => {
  test("exponential from 1 s to 60 s", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 50].map((a) => backoffCeilingMs(a))).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  });
  test("full jitter: anywhere between 0 and the ceiling", () => {
    expect(backoffDelayMs(3, () => 0)).toBe(0);
    expect(backoffDelayMs(3, () => 0.999999)).toBe(7999);
    expect(backoffDelayMs(10, () => 0.5)).toBe(30000);
  });
  test("only progress resets the attempts: a WELCOME followed by a refusal or bad data does not", () => {
    expect(madeProgress({ appliedBytes: 0, welcomedMs: 0 })).toBe(false);
    expect(madeProgress({ appliedBytes: 0, welcomedMs: 300 })).toBe(false); // welcomed, then refused
    expect(madeProgress({ appliedBytes: 1, welcomedMs: 10 })).toBe(true);
    expect(madeProgress({ appliedBytes: 0, welcomedMs: HEALTHY_SESSION_MS })).toBe(true); // an idle but healthy session
    // Twenty sessions each welcomed then refused: the delays' ceiling climbs to 60 s and stays.
    let attempt = 0;
    const ceilings: number[] = [];
    for (let i = 0; i < 20; i++) {
      if (madeProgress({ appliedBytes: 0, welcomedMs: 200 })) attempt = 0;
      ceilings.push(backoffCeilingMs(attempt++));
    }
    expect(ceilings.slice(-10)).toEqual(Array(10).fill(60_000));
  });
});

describe("WAL hold for replicas", () => {
  const now = 1_000_000_000;
  const segs = [1, 2, 3, 4].map((segment) => ({ segment, sizeBytes: 100, lastWriteMs: now - (5 - segment) * 60_000 }));
  test("keeps from the oldest replica position", () => {
    const d = walHold(segs, [{ replicaId: "a", position: { segment: 3, offset: 10 } }, { replicaId: "b", position: { segment: 2, offset: 0 } }], 1e9, 1e9, now);
    expect(d).toEqual({ holdFromSegment: 2, abandoned: [] });
  });
  test("a replica past the byte bound is abandoned to a snapshot and holds nothing", () => {
    const d = walHold(segs, [{ replicaId: "slow", position: { segment: 1, offset: 0 } }, { replicaId: "ok", position: { segment: 4, offset: 0 } }], 250, 1e9, now);
    expect(d).toEqual({ holdFromSegment: 4, abandoned: ["slow"] });
  });
  test("and past the age bound", () => {
    const d = walHold(segs, [{ replicaId: "old", position: { segment: 1, offset: 0 } }], 1e9, 2 * 60_000, now);
    expect(d).toEqual({ holdFromSegment: undefined, abandoned: ["old"] });
  });
  test("a replica whose segment is already gone is abandoned; one without a position holds nothing", () => {
    const d = walHold(segs.slice(2), [{ replicaId: "gone", position: { segment: 1, offset: 0 } }, { replicaId: "new", position: null }], 1e9, 1e9, now);
    expect(d).toEqual({ holdFromSegment: undefined, abandoned: ["gone"] });
  });
});

describe("replica health for cron", () => {
  const now = 2_000_000_000_000;
  const base = { ...emptyReplicaState("leader:7879", "r1"), state: "following", lastContactMs: now - 2000, updatedMs: now };
  test("caught up and recently in contact: healthy", () => {
    const s = judgeReplica({ ...base, appliedSeq: 10, leaderSeq: 10, caughtUpMs: now - 2000 }, { maxLagMs: 60_000, maxSilenceMs: 60_000 }, now);
    expect(s.healthy).toBe(true);
    expect(s.lagSeconds).toBe(0);
  });
  test("behind for longer than --max-lag: unhealthy", () => {
    const s = judgeReplica({ ...base, appliedSeq: 5, leaderSeq: 10, caughtUpMs: now - 120_000 }, { maxLagMs: 60_000 }, now);
    expect(s.healthy).toBe(false);
    expect(s.problems[0]).toMatch(/lag 120.0 s \(5 write batches\) exceeds 60 s/);
  });
  test("silent for longer than --max-silence, or never reached: unhealthy", () => {
    expect(judgeReplica({ ...base, lastContactMs: now - 3_600_000 }, { maxSilenceMs: 900_000 }, now).problems[0]).toMatch(/no contact with the leader for 3600 s/);
    expect(judgeReplica({ ...base, lastContactMs: 0 }, { maxSilenceMs: 900_000 }, now).problems[0]).toMatch(/never been reached/);
  });
  test("a replica that never caught up: lag grows from when it started following, not from the last state save", () => {
    const started = now - 600_000;
    const st = { ...base, appliedSeq: 5, leaderSeq: 100, caughtUpMs: 0, createdMs: started, updatedMs: now - 100 };
    const s = judgeReplica(st, { maxLagMs: 300_000 }, now);
    expect(s.lagSeconds).toBe(600);
    expect(s.healthy).toBe(false);
    expect(s.problems[0]).toMatch(/lag 600.0 s \(95 write batches\) exceeds 300 s/);
    // And it keeps growing with time while the replica stays behind, whatever the saves do.
    expect(judgeReplica({ ...st, updatedMs: now + 60_000 }, {}, now + 60_000).lagSeconds).toBe(660);
  });
  test("a replica that found a sequence gap and waits for a snapshot is unhealthy", () => {
    const s = judgeReplica({ ...base, snapshotWanted: "sequence gap from the leader: ..." }, {}, now);
    expect(s.healthy).toBe(false);
    expect(s.problems[0]).toMatch(/waiting for a snapshot: sequence gap/);
  });
  test("replication stopped by a disagreement: unhealthy even without bounds", () => {
    expect(judgeReplica({ ...base, state: "stopped: leader refused: wrong secret" }, {}, now).healthy).toBe(false);
    expect(judgeReplica({ ...base, state: "stopped: replica shut down" }, {}, now).healthy).toBe(true);
  });
});
