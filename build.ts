// Builds one executable per gateway platform with `bun build --compile`:
//   dist/cityhall-linux-arm64, dist/cityhall-linux-x64, dist/cityhall-linux-x64-baseline
// each also compressed for download (.gz; with --xz also .xz, 25% smaller but ~25 s a file),
// a Debian package per architecture (when dpkg-deb is present), dist/SHA256SUMS over all of
// them, and a release tree for install.sh:
//   dist/release/latest                       the version, one line
//   dist/release/<version>/cityhall-linux-*.gz|.xz, SHA256SUMS, *.deb
// The version (package.json) is embedded; the binaries never load a .env, bunfig.toml,
// tsconfig.json or package.json from the directory they are started in.
//
//   bun build.ts [--target linux-x64 ...] [--no-deb] [--xz]   (default: all three, .gz, .deb)

import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import pkg from "./package.json" with { type: "json" };

const TARGETS = {
  "linux-arm64": { bun: "bun-linux-arm64", deb: "arm64" },
  "linux-x64": { bun: "bun-linux-x64-modern", deb: "amd64" },
  "linux-x64-baseline": { bun: "bun-linux-x64-baseline", deb: null },
} as const;
type Name = keyof typeof TARGETS;

const ROOT = import.meta.dir;
const DIST = join(ROOT, "dist");
const ENTRY = join(ROOT, "src", "cli", "main.ts");
const VERSION = pkg.version;

const asked = process.argv.flatMap((a, i, all) => (a === "--target" ? [all[i + 1] as Name] : []));
for (const n of asked) {
  if (!(n in TARGETS)) {
    console.error(`build: unknown target "${n}"; choose from ${Object.keys(TARGETS).join(", ")}`);
    process.exit(2);
  }
}
const names = asked.length ? asked : (Object.keys(TARGETS) as Name[]);
const wantDeb = !process.argv.includes("--no-deb") && !!Bun.which("dpkg-deb");
const wantXz = process.argv.includes("--xz");
if (wantXz && !Bun.which("xz")) {
  console.error("build: --xz needs the xz command (Debian package xz-utils)");
  process.exit(2);
}

const sha256 = (data: Uint8Array) => new Bun.CryptoHasher("sha256").update(data).digest("hex");
const release = join(DIST, "release", VERSION);
// A full build starts the release over; a partial one (--target) keeps the other targets.
if (!asked.length) rmSync(release, { recursive: true, force: true });
mkdirSync(release, { recursive: true });
const sums = new Map<string, string>();
try {
  for (const line of readFileSync(join(release, "SHA256SUMS"), "utf8").split("\n")) {
    const [h, f] = line.split("  ");
    if (h && f) sums.set(f, h);
  }
} catch {
  // first build of this version
}
// Artefacts of the targets being rebuilt are replaced; drop their old entries and files.
for (const name of names) {
  for (const suffix of ["", ".gz", ".xz"]) {
    sums.delete(`cityhall-${name}${suffix}`);
    rmSync(join(release, `cityhall-${name}${suffix}`), { force: true });
    rmSync(join(DIST, `cityhall-${name}${suffix}`), { force: true });
  }
}

for (const name of names) {
  const outfile = join(DIST, `cityhall-${name}`);
  rmSync(outfile, { force: true });
  const t0 = performance.now();
  const r = await Bun.build({
    entrypoints: [ENTRY],
    compile: {
      target: TARGETS[name].bun,
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
  chmodSync(outfile, 0o755);
  const bytes = readFileSync(outfile);
  const gz = gzipSync(bytes, { level: 6 });
  writeFileSync(`${outfile}.gz`, gz);
  copyFileSync(`${outfile}.gz`, join(release, `cityhall-${name}.gz`));
  sums.set(`cityhall-${name}`, sha256(bytes));
  sums.set(`cityhall-${name}.gz`, sha256(gz));
  if (wantXz) {
    const xz = Bun.spawnSync(["xz", "-T0", "-6", "-c", outfile], { stdout: "pipe" });
    if (xz.exitCode !== 0) {
      console.error(`build: xz failed: ${xz.stderr}`);
      process.exit(1);
    }
    writeFileSync(`${outfile}.xz`, xz.stdout);
    copyFileSync(`${outfile}.xz`, join(release, `cityhall-${name}.xz`));
    sums.set(`cityhall-${name}.xz`, sha256(xz.stdout));
  }
  console.error(
    `build: dist/cityhall-${name} ${(bytes.length / 1048576).toFixed(1)} MiB (${(gz.length / 1048576).toFixed(1)} MiB gzipped) in ${Math.round(performance.now() - t0)} ms`,
  );
  const debArch = TARGETS[name].deb;
  if (wantDeb && debArch) {
    const deb = buildDeb(outfile, debArch);
    copyFileSync(deb, join(release, deb.split("/").pop()!));
    sums.set(deb.split("/").pop()!, sha256(readFileSync(deb)));
  }
}

// install.sh and the systemd units it installs travel with the release, checksummed.
for (const [src, name] of [
  [join(ROOT, "install.sh"), "install.sh"],
  [join(ROOT, "packaging", "systemd", "cityhall-leader.service"), "cityhall-leader.service"],
  [join(ROOT, "packaging", "systemd", "cityhall-replica.service"), "cityhall-replica.service"],
] as const) {
  copyFileSync(src, join(release, name));
  sums.set(name, sha256(readFileSync(src)));
}

const sumText = [...sums.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([f, h]) => `${h}  ${f}`).join("\n") + "\n";
writeFileSync(join(DIST, "SHA256SUMS"), sumText);
writeFileSync(join(release, "SHA256SUMS"), sumText);
writeFileSync(join(DIST, "release", "latest"), `${VERSION}\n`);
console.error(`build: version ${VERSION}; checksums in dist/SHA256SUMS; release tree in dist/release/`);

/** A Debian package: /usr/bin/cityhall, the systemd units, /etc/default/cityhall, maintainer scripts. */
function buildDeb(binary: string, arch: "arm64" | "amd64"): string {
  const root = join(DIST, `deb-${arch}`);
  rmSync(root, { recursive: true, force: true });
  const p = (...parts: string[]) => join(root, ...parts);
  for (const d of ["DEBIAN", "usr/bin", "lib/systemd/system", "etc/default", "etc/cron.d", "usr/share/doc/cityhall"]) mkdirSync(p(d), { recursive: true });
  copyFileSync(binary, p("usr/bin/cityhall"));
  chmodSync(p("usr/bin/cityhall"), 0o755);
  for (const unit of ["cityhall-leader.service", "cityhall-replica.service"]) {
    const text = readFileSync(join(ROOT, "packaging", "systemd", unit), "utf8").replaceAll("@BINDIR@", "/usr/bin");
    writeFileSync(p("lib/systemd/system", unit), text);
  }
  copyFileSync(join(ROOT, "packaging", "debian", "default"), p("etc/default/cityhall"));
  // The cron check ships disabled (commented); enable it on replicas.
  const cron = readFileSync(join(ROOT, "packaging", "cron", "cityhall-status"), "utf8")
    .replaceAll("/usr/local/bin/cityhall", "/usr/bin/cityhall")
    .split("\n")
    .map((l) => (l.startsWith("*/5") ? `#${l}` : l))
    .join("\n");
  writeFileSync(p("etc/cron.d/cityhall-status"), cron);
  for (const s of ["postinst", "prerm"]) {
    copyFileSync(join(ROOT, "packaging", "debian", s), p("DEBIAN", s));
    chmodSync(p("DEBIAN", s), 0o755);
  }
  writeFileSync(p("DEBIAN", "conffiles"), "/etc/default/cityhall\n/etc/cron.d/cityhall-status\n");
  const sizeKiB = Math.ceil(readFileSync(binary).length / 1024);
  writeFileSync(
    p("DEBIAN", "control"),
    [
      "Package: cityhall",
      `Version: ${VERSION}`,
      `Architecture: ${arch}`,
      "Maintainer: CityHall developers <cityhall@localhost>",
      `Installed-Size: ${sizeKiB}`,
      "Depends: adduser",
      "Section: database",
      "Priority: optional",
      "Description: offline-first time-series store for edge gateways",
      " One executable: LSM storage engine, HTTP API (JSON, InfluxDB line protocol,",
      " Prometheus metrics) and leader-to-replica WAL replication.",
      "",
    ].join("\n"),
  );
  writeFileSync(p("usr/share/doc/cityhall/copyright"), "CityHall is licensed under the MIT License.\n");
  const out = join(DIST, `cityhall_${VERSION}_${arch}.deb`);
  const r = Bun.spawnSync(["dpkg-deb", "--root-owner-group", wantXz ? "-Zxz" : "-Zgzip", "--build", root, out]);
  if (r.exitCode !== 0) {
    console.error(`build: dpkg-deb failed: ${r.stderr}`);
    process.exit(1);
  }
  rmSync(root, { recursive: true, force: true });
  console.error(`build: ${out.replace(ROOT + "/", "")}`);
  return out;
}
