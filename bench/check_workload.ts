// Checks that bench/workload.ts yields exactly the points of the shared workload definition
// (run once, where ../shared exists: `bun bench/check_workload.ts`).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { factory, retail } from "./workload.ts";
import { gateway, lineToLineProtocol } from "./workload_more.ts";

const shared = join(import.meta.dir, "..", "..", "shared", "workloads", "sensors.ts");
if (!existsSync(shared)) {
  console.error(`no shared workload at ${shared}; nothing to compare against`);
  process.exit(2);
}
const ref = (await import(shared)) as typeof import("./workload.ts");
let n = 0;
const cmp = (name: string, a: Iterable<unknown>, b: Iterable<unknown>) => {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done !== y.done || JSON.stringify(x.value) !== JSON.stringify(y.value)) {
      console.error(`${name}: differs at point ${n}: ${JSON.stringify(x.value)} vs ${JSON.stringify(y.value)}`);
      process.exit(1);
    }
    if (x.done) return;
    n++;
  }
};
cmp("factory 100x10000", factory({ sensors: 100, seconds: 10_000 }), ref.factory({ sensors: 100, seconds: 10_000 }));
cmp("factory 7x100 seed 3", factory({ sensors: 7, seconds: 100, seed: 3 }), ref.factory({ sensors: 7, seconds: 100, seed: 3 }));
cmp("retail 10000", retail({}), ref.retail({}));
const refGateway = (ref as unknown as Record<string, unknown>).gateway as typeof gateway | undefined;
const refLp = (ref as unknown as Record<string, unknown>).lineToLineProtocol as typeof lineToLineProtocol | undefined;
if (refGateway && refLp) {
  const lp = (it: Iterable<Parameters<typeof lineToLineProtocol>[0]>, f: typeof lineToLineProtocol) => [...it].map(f);
  cmp("gateway 10x360 (line protocol)", lp(gateway({}), lineToLineProtocol), lp(refGateway({}), refLp));
  cmp("gateway 3x50 seed 4", lp(gateway({ hosts: 3, intervals: 50, seed: 4 }), lineToLineProtocol), lp(refGateway({ hosts: 3, intervals: 50, seed: 4 }), refLp));
} else console.error("the shared workload has no gateway generator; gateway not compared");
console.log(`identical: ${n} points compared`);
