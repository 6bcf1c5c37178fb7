// The shipped artefacts: compiled executables (x64 here, arm64 under qemu), install.sh
// against a local release server, the Debian packages and the systemd units.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startNode } from "../daemon_helpers.ts";
import { bunBin, tempDir } from "../helpers.ts";
import pkg from "../../package.json" with { type: "json" };

const ROOT = join(import.meta.dir, "..", "..");
const DIST = join(ROOT, "dist");
const RELEASE = join(DIST, "release");
const X64 = join(DIST, "cityhall-linux-x64");
const ARM64 = join(DIST, "cityhall-linux-arm64");
const QEMU = Bun.which("qemu-aarch64");
const ARM_LIBS = "/usr/aarch64-linux-gnu";
const HAVE_ARM64 = !!QEMU && existsSync(ARM_LIBS);
const HAVE_DPKG_DEB = !!Bun.which("dpkg-deb");

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

beforeAll(() => {
  // The real build: all three executables, .gz, .deb, SHA256SUMS, the release tree.
  const r = Bun.spawnSync([bunBin, join(ROOT, "build.ts")], { cwd: ROOT, stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`build failed: ${r.stderr}`);
}, 300_000);

/** Async, for commands that talk to a server in this process (spawnSync would block it). */
async function runAsync(cmd: string[], opts: { env?: Record<string, string>; stdin?: Uint8Array; cwd?: string } = {}) {
  const p = Bun.spawn(cmd, { env: { ...process.env, ...opts.env }, stdout: "pipe", stderr: "pipe", stdin: opts.stdin ?? "ignore", cwd: opts.cwd });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

function run(cmd: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = Bun.spawnSync(cmd, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe("compiled executables", () => {
  test("every target, its .gz and its checksum are in the release", () => {
    const sums = readFileSync(join(DIST, "SHA256SUMS"), "utf8");
    for (const t of ["linux-arm64", "linux-x64", "linux-x64-baseline"]) {
      expect(sums).toContain(`  cityhall-${t}\n`);
      expect(sums).toContain(`  cityhall-${t}.gz\n`);
      const want = new RegExp(`^([0-9a-f]{64})  cityhall-${t}$`, "m").exec(sums)![1];
      expect(new Bun.CryptoHasher("sha256").update(readFileSync(join(DIST, `cityhall-${t}`))).digest("hex")).toBe(want!);
    }
    expect(readFileSync(join(RELEASE, "latest"), "utf8").trim()).toBe(pkg.version);
  });

  test("x64: prints its version and ignores a .env and bunfig.toml in the working directory", async () => {
    const cwd = tempDir("cwd");
    cleanups.push(cwd.cleanup);
    writeFileSync(join(cwd.path, ".env"), "CITYHALL_DATA_DIR=/proc/nope\nCITYHALL_ADDR=127.0.0.1:1\n");
    writeFileSync(join(cwd.path, "bunfig.toml"), 'preload = ["./boom.ts"]\n');
    writeFileSync(join(cwd.path, "boom.ts"), "throw new Error('bunfig.toml was loaded');\n");
    const v = run([X64, "--version"], { cwd: cwd.path });
    expect(v).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: "" });
    const data = tempDir("bin-data");
    cleanups.push(data.cleanup);
    const n = await startNode("leader", ["--data-dir", data.path], {}, [X64], { cwd: cwd.path });
    cleanups.push(() => n.kill());
    // A put from the CLI in that directory goes to the default address, not the .env one.
    const put = run([X64, "client", "put", "k", "1.5", "--addr", n.addr], { cwd: cwd.path });
    expect(put.stdout).toBe("OK\n");
    expect(run([X64, "client", "get", "k", "--addr", n.addr]).stdout).toBe("VALUE 1.5\n");
    expect(await n.stop()).toBe(0);
  }, 60_000);

  test.skipIf(!HAVE_ARM64)(
    `arm64 under qemu: a leader and a replica replicate a few hundred points; replica status${HAVE_ARM64 ? "" : " (skipped: qemu-aarch64 or /usr/aarch64-linux-gnu is missing; install the Debian packages qemu-user and libc6-arm64-cross, as .ci/run does)"}`,
    async () => {
      const arm = [QEMU!, "-L", ARM_LIBS, ARM64];
      expect(run([...arm, "--version"]).stdout).toBe(`${pkg.version}\n`);
      const ld = tempDir("arm-leader");
      const rd = tempDir("arm-replica");
      cleanups.push(ld.cleanup, rd.cleanup);
      const l = await startNode("leader", ["--data-dir", ld.path], {}, arm, { readyTimeoutMs: 60_000 });
      cleanups.push(() => l.kill());
      const r = await startNode("replica", ["--leader", `127.0.0.1:${l.replicationPort}`, "--data-dir", rd.path], {}, arm, { readyTimeoutMs: 60_000 });
      cleanups.push(() => r.kill());
      const points = Array.from({ length: 300 }, (_, i) => ({ key: `arm.sensor.${i % 30}`, ts: 1_767_225_600_000 + i * 1000, value: (200 + i) / 10 }));
      const w = await fetch(`http://${l.addr}/v1/write`, { method: "POST", body: JSON.stringify(points) });
      expect(w.status).toBe(200);
      expect(run([...arm, "client", "get", "arm.sensor.7", "--addr", l.addr]).stdout).toBe("VALUE 47.7\n");
      const deadline = Date.now() + 60_000;
      let status = { code: -1, stdout: "", stderr: "" };
      while (Date.now() < deadline) {
        status = run([...arm, "replica", "status", "--data-dir", rd.path]);
        if (status.stdout.includes("Total entries: 300")) break;
        await Bun.sleep(200);
      }
      expect(status.stdout).toContain("Total entries: 300");
      expect(status.stdout).toContain("Last synced segment: 1");
      expect(status.code).toBe(0);
      const range = (await (await fetch(`http://${r.addr}/v1/range?key=arm.sensor.7`)).json()) as unknown[];
      expect(range.length).toBe(10);
    },
    240_000,
  );
});

describe("install.sh against a local release server", () => {
  let server: ReturnType<typeof Bun.serve>;
  let tamper = false;
  let base = "";
  beforeAll(() => {
    server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        const path = new URL(req.url).pathname.replace(/^\/+/, "");
        const file = join(RELEASE, path);
        if (path.includes("..") || !existsSync(file) || statSync(file).isDirectory()) return new Response("not found", { status: 404 });
        const bytes = readFileSync(file);
        if (tamper && path.endsWith(".gz")) bytes[bytes.length - 100]! ^= 0xff;
        return new Response(bytes);
      },
    });
    base = `http://127.0.0.1:${server.port}`;
  });
  afterAll(() => server.stop(true));

  const install = (args: string[], env: Record<string, string>) =>
    runAsync(["sh", join(ROOT, "install.sh"), ...args], { env: { CITYHALL_BASE_URL: base, CITYHALL_CPU_FLAGS: "flags : fpu sse2 avx avx2", ...env } });

  test("installs a leader into a temporary root, idempotently; --dry-run changes nothing; uninstall keeps data unless --purge", async () => {
    const root = tempDir("destdir");
    cleanups.push(root.cleanup);
    const env = { DESTDIR: root.path };
    const dry = await install(["--leader", "--dry-run"], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`would download: ${base}/${pkg.version}/cityhall-linux-x64.gz`);
    expect(existsSync(join(root.path, "usr/local/bin/cityhall"))).toBe(false);

    const first = await install(["--leader"], env);
    expect(first.stderr).toContain(`installed cityhall ${pkg.version} (linux-x64)`);
    expect(first.code).toBe(0);
    const bin = join(root.path, "usr/local/bin/cityhall");
    expect(run([bin, "--version"]).stdout).toBe(`${pkg.version}\n`);
    const unit = readFileSync(join(root.path, "etc/systemd/system/cityhall-leader.service"), "utf8");
    expect(unit).toContain("ExecStart=/usr/local/bin/cityhall leader --data-dir /var/lib/cityhall");
    expect(existsSync(join(root.path, "var/lib/cityhall"))).toBe(true);
    const mtime = statSync(bin).mtimeMs;

    const second = await install(["--leader"], env);
    expect(second.code).toBe(0);
    expect(second.stderr).toContain("is already installed");
    expect(statSync(bin).mtimeMs).toBe(mtime);

    writeFileSync(join(root.path, "var/lib/cityhall/MANIFEST"), "data");
    expect((await install(["--uninstall"], env)).code).toBe(0);
    expect(existsSync(bin)).toBe(false);
    expect(existsSync(join(root.path, "etc/systemd/system/cityhall-leader.service"))).toBe(false);
    expect(existsSync(join(root.path, "var/lib/cityhall/MANIFEST"))).toBe(true);
    expect((await install(["--uninstall", "--purge"], env)).code).toBe(0);
    expect(existsSync(join(root.path, "var/lib/cityhall"))).toBe(false);
  }, 120_000);

  test("a replica with a secret; the baseline build without AVX2; a chosen version; a custom prefix", async () => {
    const root = tempDir("destdir2");
    cleanups.push(root.cleanup);
    const secret = join(root.path, "secret.in");
    writeFileSync(secret, "0123456789abcdef0123\n");
    const r = await install(["--replica", "10.0.0.5:7879", "--secret-file", secret, "--prefix", "/opt/cityhall"], {
      DESTDIR: root.path,
      CITYHALL_CPU_FLAGS: "flags : fpu sse2 avx",
      CITYHALL_VERSION: pkg.version,
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("(linux-x64-baseline)");
    const defaults = readFileSync(join(root.path, "etc/default/cityhall"), "utf8");
    expect(defaults).toContain("CITYHALL_LEADER=10.0.0.5:7879");
    expect(defaults).toContain("CITYHALL_REPLICA_OPTS=--secret-file /etc/cityhall/secret");
    expect(readFileSync(join(root.path, "etc/cityhall/secret"), "utf8")).toBe("0123456789abcdef0123\n");
    expect(readFileSync(join(root.path, "etc/systemd/system/cityhall-replica.service"), "utf8")).toContain("ExecStart=/opt/cityhall/bin/cityhall replica");
    expect(run([join(root.path, "opt/cityhall/bin/cityhall"), "--version"]).code).toBe(0);
  }, 120_000);

  test("clear errors: a damaged download, a 32-bit system, an unknown version", async () => {
    const root = tempDir("destdir3");
    cleanups.push(root.cleanup);
    tamper = true;
    try {
      const bad = await install(["--leader"], { DESTDIR: root.path });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/checksum mismatch for cityhall-linux-x64.gz.*nothing was installed/);
      expect(existsSync(join(root.path, "usr/local/bin/cityhall"))).toBe(false);
    } finally {
      tamper = false;
    }
    const arm32 = await install(["--leader"], { DESTDIR: root.path, CITYHALL_ARCH: "armv7l" });
    expect(arm32.code).toBe(1);
    expect(arm32.stderr).toMatch(/armv7l is a 32-bit system, and CityHall needs a 64-bit one.*64-bit \(arm64\) Raspberry Pi OS/);
    const missing = await install(["--leader"], { DESTDIR: root.path, CITYHALL_VERSION: "9.9.9" });
    expect(missing.stderr).toMatch(/cannot download .*9.9.9\/SHA256SUMS \(is 9.9.9 released\?\)/);
  }, 60_000);

  // As users run it: `curl ... | sh -s -- --leader`, the script on stdin, so it works
  // wherever the checkout sits (even in a directory only root can read). As root, the test
  // drops to nobody with setpriv; as anyone else, it is already without root.
  const asRoot = process.getuid?.() === 0;
  test(`without root and without DESTDIR, install.sh piped to sh refuses and says how (${asRoot ? "as nobody" : "as this user"})`, async () => {
    const script = new Uint8Array(readFileSync(join(ROOT, "install.sh")));
    const sh = ["sh", "-s", "--", "--leader"];
    const cmd = asRoot ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...sh] : sh;
    const r = await runAsync(cmd, { env: { CITYHALL_BASE_URL: base, DESTDIR: "" }, stdin: script, cwd: "/" });
    expect(r.stderr).toContain("run as root (e.g. curl ... | sudo sh -s -- --leader), or set DESTDIR");
    expect(r.code).toBe(1);
  }, 60_000);
});

describe("Debian packages and systemd units", () => {
  test.skipIf(!HAVE_DPKG_DEB)(`a .deb per architecture with the binary, the units and the maintainer scripts${HAVE_DPKG_DEB ? "" : " (skipped: dpkg-deb is missing; install the Debian package dpkg)"}`, () => {
    for (const arch of ["amd64", "arm64"]) {
      const deb = join(DIST, `cityhall_${pkg.version}_${arch}.deb`);
      const info = run(["dpkg-deb", "--info", deb]);
      expect(info.stdout).toContain(`Architecture: ${arch}`);
      expect(info.stdout).toContain(`Version: ${pkg.version}`);
      const files = run(["dpkg-deb", "--contents", deb]).stdout;
      for (const f of ["./usr/bin/cityhall", "./lib/systemd/system/cityhall-leader.service", "./lib/systemd/system/cityhall-replica.service", "./etc/default/cityhall"]) {
        expect(files).toContain(f);
      }
    }
    const x = tempDir("deb-x");
    cleanups.push(x.cleanup);
    expect(run(["dpkg-deb", "-x", join(DIST, `cityhall_${pkg.version}_amd64.deb`), x.path]).code).toBe(0);
    expect(run([join(x.path, "usr/bin/cityhall"), "--version"]).stdout).toBe(`${pkg.version}\n`);
    expect(readFileSync(join(x.path, "lib/systemd/system/cityhall-leader.service"), "utf8")).toContain("ExecStart=/usr/bin/cityhall leader");
  }, 60_000);

  test("units run as the cityhall user, restart on failure, are hardened, and give the daemon time to flush", () => {
    for (const role of ["leader", "replica"]) {
      const unit = readFileSync(join(ROOT, "packaging", "systemd", `cityhall-${role}.service`), "utf8");
      for (const line of ["User=cityhall", "Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/cityhall", "PrivateTmp=yes", "KillSignal=SIGTERM"]) {
        expect(unit).toContain(line);
      }
      expect(Number(/TimeoutStopSec=(\d+)/.exec(unit)![1])).toBeGreaterThanOrEqual(60);
    }
    const cron = readFileSync(join(ROOT, "packaging", "cron", "cityhall-status"), "utf8");
    expect(cron).toMatch(/cityhall replica status --data-dir \/var\/lib\/cityhall --max-lag \S+ --max-silence \S+/);
    expect(cron).toContain("logger -t cityhall");
  });
});
