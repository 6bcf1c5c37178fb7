// Real crashes: a child process writes and reports what was acknowledged; the test kills it
// with SIGKILL at random moments (25 times), reopens the data directory, and checks that
// every acknowledged point is there and nothing is half-written.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Db } from "../../src/engine/db.ts";
import { bunBin, rng, tempDir } from "../helpers.ts";

const WRITER = join(import.meta.dir, "..", "fixtures", "crash_writer.ts");

async function runAndKill(dir: string, start: number, killAfterMs: number): Promise<number[]> {
  const child = Bun.spawn([bunBin, WRITER, dir, String(start)], { stdout: "pipe", stderr: "pipe" });
  const acked: number[] = [];
  let buf = "";
  let ready = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    buf += decoder.decode(chunk);
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line === "READY" && !ready) {
        ready = true;
        killTimer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
      } else if (line.startsWith("ACK ")) acked.push(Number(line.slice(4)));
    }
  }
  clearTimeout(killTimer);
  const code = await child.exited;
  if (!ready) throw new Error(`writer never became ready (exit ${code}): ${await new Response(child.stderr).text()}`);
  expect(child.signalCode).toBe("SIGKILL");
  return acked;
}

describe("SIGKILL crash recovery", () => {
  test("25 kills at random moments lose no acknowledged write", async () => {
    const d = tempDir("crash");
    const r = rng(7);
    const acked: number[] = [];
    try {
      for (let round = 0; round < 25; round++) {
        acked.push(...(await runAndKill(d.path, round * 1_000_000, 20 + Math.floor(r() * 250))));
      }
      expect(acked.length).toBeGreaterThan(1000);
      const db = await Db.open(d.path);
      const present = new Set<number>();
      for (let k = 0; k < 7; k++) {
        const byBatch = new Map<number, number[]>();
        for (const p of db.range(`k${k}`)) {
          const b = Math.floor(p.ts / 10);
          const j = p.ts - b * 10;
          expect(p.value).toBe(b + j / 10); // never garbled
          let l = byBatch.get(b);
          if (!l) byBatch.set(b, (l = []));
          l.push(j);
        }
        for (const [b, js] of byBatch) {
          expect(js).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]); // batches are atomic
          present.add(b);
        }
      }
      const missing = acked.filter((b) => !present.has(b));
      expect(missing).toEqual([]);
      expect(db.stats().tables).toBeGreaterThan(0);
      await db.close();
    } finally {
      d.cleanup();
    }
  }, 180_000);
});
