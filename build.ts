// Builds one executable per gateway platform with `bun build --compile`:
//   dist/cityhall-linux-arm64, dist/cityhall-linux-x64, dist/cityhall-linux-x64-baseline
// each also gzip-compressed (.gz) for download, and dist/SHA256SUMS over all of them.
// The version (package.json) is embedded; the binaries never load a .env, bunfig.toml,
// tsconfig.json or package.json from the directory they are started in.
//
//   bun build.ts [--target linux-x64 ...]   (default: all three)

import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import pkg from "./package.json" with { type: "json" };

const TARGETS = {
  "linux-arm64": "bun-linux-arm64",
  "linux-x64": "bun-linux-x64-modern",
  "linux-x64-baseline": "bun-linux-x64-baseline",
} as const;
type Name = keyof typeof TARGETS;

const DIST = join(import.meta.dir, "dist");
const ENTRY = join(import.meta.dir, "src", "cli", "main.ts");

const asked = process.argv.flatMap((a, i, all) => (a === "--target" ? [all[i + 1] as Name] : []));
const names = (asked.length ? asked : (Object.keys(TARGETS) as Name[])).filter((n) => {
  if (!(n in TARGETS)) {
    console.error(`build: unknown target "${n}"; choose from ${Object.keys(TARGETS).join(", ")}`);
    process.exit(2);
  }
  return true;
});

mkdirSync(DIST, { recursive: true });
const sums: string[] = [];
for (const name of names) {
  const outfile = join(DIST, `cityhall-${name}`);
  rmSync(outfile, { force: true });
  const t0 = performance.now();
  const r = await Bun.build({
    entrypoints: [ENTRY],
    compile: {
      target: TARGETS[name],
      outfile,
      autoloadDotenv: false,
      autoloadBunfig: false,
      autoloadTsconfig: false,
      autoloadPackageJson: false,
    },
    minify: true,
    sourcemap: "none",
  } as Parameters<typeof Bun.build>[0]);
  if (!r.success) {
    for (const log of r.logs) console.error(log);
    process.exit(1);
  }
  const bytes = readFileSync(outfile);
  const gz = gzipSync(bytes, { level: 9 });
  writeFileSync(`${outfile}.gz`, gz);
  for (const [file, data] of [
    [`cityhall-${name}`, bytes],
    [`cityhall-${name}.gz`, gz],
  ] as const) {
    sums.push(`${new Bun.CryptoHasher("sha256").update(data).digest("hex")}  ${file}`);
  }
  console.error(
    `build: dist/cityhall-${name} ${(bytes.length / 1048576).toFixed(1)} MiB (${(gz.length / 1048576).toFixed(1)} MiB gzipped) in ${Math.round(performance.now() - t0)} ms`,
  );
}
// Keep the checksums of targets not rebuilt this time.
let previous: string[] = [];
try {
  previous = readFileSync(join(DIST, "SHA256SUMS"), "utf8")
    .split("\n")
    .filter((l) => l && !sums.some((s) => s.split("  ")[1] === l.split("  ")[1]));
} catch {
  // first build
}
writeFileSync(join(DIST, "SHA256SUMS"), [...previous, ...sums].sort((a, b) => a.split("  ")[1]!.localeCompare(b.split("  ")[1]!)).join("\n") + "\n");
console.error(`build: version ${pkg.version}, checksums in dist/SHA256SUMS`);
