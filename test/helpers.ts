// Shared test helpers: temp directories and a seeded PRNG.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function tempDir(label: string): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), `cityhall-${label}-`));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Seeded PRNG (mulberry32, src/util/prng.ts), the one the benchmark workloads and MemFs use. */
export { mulberry32 as rng } from "../src/util/prng.ts";

export const bunBin = process.execPath;
