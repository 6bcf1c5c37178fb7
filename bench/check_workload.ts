// Checks that bench/workload.ts yields exactly the points of the shared workload definition
// (run once, where ../shared exists: `bun bench/check_workload.ts`).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { factory, retail } from "./workload.ts";

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
console.log(`identical: ${n} points compared`);
