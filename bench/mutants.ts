// Mutation check: does the test suite catch the defects it exists for?
//
//   bun bench/mutants.ts [--list] [--only a,b] [--jobs N] [--full] [--all-files]
//                        [--timeout-s S] [--no-baseline] [--keep]
//
// For each mutant of bench/mutants/defects.ts: copy the tree (everything but .git, with a
// symlink to node_modules) to a fresh temporary directory, apply the one text replacement,
// and run the test files the mutant names (`bun test <file> --timeout 60000`, one file at a
// time; an entry "<file> -t <pattern>" runs only the tests whose names match, with `-t`, stopping at the first failure unless --all-files; --full then runs the whole suite
// if no listed file failed). A test failure (or a load error) KILLS the mutant; all passing
// means it SURVIVED; a search text that does not occur exactly once is NOT APPLICABLE (the
// source moved on: update the entry). A mutant whose tests run past --timeout-s is reported
// as "killed (timeout)": a hang is a failure too, but worth a look.
//
// Then, unless --no-baseline, every test file that killed a mutant runs on an unmodified
// copy: a kill by a file that fails there too (twice) proves nothing and is reported as
// UNPROVEN; a file that fails once and then passes is FLAKY, and so is every kill it made.
// (Only killing files need this check, so a slow file listed as a fallback costs nothing
// unless it is needed.)
//
// Exit status: 0 when every mutant was killed; 1 when one survived, was not applicable, was
// unproven or names a missing test file; 2 on bad flags.
// The table goes to stdout, progress to stderr.

import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, openSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { MUTANTS } from "./mutants/defects.ts";
import type { Mutant } from "./mutants/defects.ts";

const ROOT = resolve(import.meta.dir, "..");
/** Top-level entries never copied: history, dependencies (symlinked), build and bench output. */
const NOT_COPIED = new Set([".git", "node_modules", "dist", ".bench-data", "tmp"]);
const BUN_TEST_TIMEOUT_MS = 60_000;

interface Flags {
  list: boolean;
  only: string[] | null;
  jobs: number;
  full: boolean;
  allFiles: boolean;
  timeoutS: number;
  baseline: boolean;
  keep: boolean;
}

function usage(msg: string): never {
  process.stderr.write(
    `mutants: ${msg}\nusage: bun bench/mutants.ts [--list] [--only a,b] [--jobs N] [--full] [--all-files] [--timeout-s S] [--no-baseline] [--keep]\n`,
  );
  process.exit(2);
}

function parseFlags(argv: string[]): Flags {
  const f: Flags = { list: false, only: null, jobs: 2, full: false, allFiles: false, timeoutS: 900, baseline: true, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === "--list") f.list = true;
    else if (a === "--only") f.only = value().split(",").map((s) => s.trim()).filter(Boolean);
    else if (a === "--jobs") f.jobs = Number(value());
    else if (a === "--full") f.full = true;
    else if (a === "--all-files") f.allFiles = true;
    else if (a === "--timeout-s") f.timeoutS = Number(value());
    else if (a === "--no-baseline") f.baseline = false;
    else if (a === "--keep") f.keep = true;
    else usage(`unknown flag ${a}`);
  }
  if (!Number.isInteger(f.jobs) || f.jobs < 1) usage("--jobs takes a whole number >= 1");
  if (!(f.timeoutS > 0)) usage("--timeout-s takes a number of seconds > 0");
  if (f.only) {
    const known = new Set(MUTANTS.map((m) => m.name));
    const unknown = f.only.filter((n) => !known.has(n));
    if (unknown.length) usage(`unknown mutant ${unknown.join(", ")} (see --list)`);
  }
  return f;
}

const log = (msg: string): void => void process.stderr.write(`mutants: ${msg}\n`);

// ---------------------------------------------------------------- the copy

interface Copy {
  /** Temporary directory holding the tree (`repo/`) and the `shared` link. */
  tmp: string;
  tree: string;
}

/**
 * Copies the tree to <tmp>/repo. Tests that read ../shared (the workloads next to the
 * checkout) find it through <tmp>/shared, a link to the original; CITYHALL_SOURCE_ROOT
 * names the original checkout.
 */
function makeCopy(label: string): Copy {
  const tmp = mkdtempSync(join(tmpdir(), `cityhall-mutant-${label}-`));
  // mkdtemp makes it mode 700; a checkout is normally readable by others (tests that run a
  // script as `nobody` depend on that).
  chmodSync(tmp, 0o755);
  const tree = join(tmp, "repo");
  cpSync(ROOT, tree, { recursive: true, filter: (src) => src === ROOT || !NOT_COPIED.has(src.slice(ROOT.length + 1)) });
  symlinkSync(join(ROOT, "node_modules"), join(tree, "node_modules"), "dir");
  const shared = resolve(ROOT, "..", "shared");
  if (existsSync(shared)) symlinkSync(shared, join(tmp, "shared"), "dir");
  return { tmp, tree };
}

function occurrences(text: string, search: string): number {
  return text.split(search).length - 1;
}

/** Applies the mutant to the copy; returns why it cannot be, or null. */
function applyMutant(tree: string, m: Mutant): string | null {
  const path = join(tree, m.file);
  if (!existsSync(path)) return `${m.file} does not exist`;
  const text = readFileSync(path, "utf8");
  const n = occurrences(text, m.search);
  if (n !== 1) return n === 0 ? `search text not found in ${m.file}` : `search text occurs ${n} times in ${m.file}`;
  const mutated = text.replace(m.search, () => m.replace);
  if (mutated === text) return `replacement changes nothing in ${m.file}`;
  writeFileSync(path, mutated);
  return null;
}

// ---------------------------------------------------------------- running tests

const running = new Set<ChildProcess>();

interface FileRun {
  file: string;
  outcome: "pass" | "fail" | "timeout";
  /** First failing test (or the error), for the table. */
  detail: string;
  seconds: number;
}

/** Kills the test process and everything it started (its own process group). */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // already gone
  }
}

function firstFailure(output: string): string {
  const fail = output.match(/^\(fail\) (.+?)(?: \[[\d.]+m?s\])?$/m);
  if (fail) return fail[1]!;
  const err = output.match(/^(?:error|SyntaxError|TypeError|ReferenceError)[^\n]*/m);
  if (err) return `load error: ${err[0].slice(0, 120)}`;
  return "failed (see log)";
}

/**
 * A test entry: "<file>", or "<file> -t <pattern>" to run only the tests of the file whose
 * names match (a cheap kill in a slow file; the baseline runs the same entry unmodified, so a
 * pattern that matches nothing is caught there).
 */
function splitTestSpec(spec: string): { path: string; pattern: string | null } {
  const i = spec.indexOf(" -t ");
  return i < 0 ? { path: spec, pattern: null } : { path: spec.slice(0, i), pattern: spec.slice(i + 4) };
}

/** Runs `bun test <file>` in `tree` until it ends or `deadlineMs` (epoch) passes. */
function runTestFile(tree: string, file: string, deadlineMs: number, logPath: string, env: Record<string, string>): Promise<FileRun> {
  const started = performance.now();
  return new Promise((done) => {
    const fd = openSync(logPath, "a");
    const { path, pattern } = splitTestSpec(file);
    // "" = the whole suite
    const args = ["test", ...(path ? [path] : []), ...(pattern ? ["-t", pattern] : []), "--timeout", String(BUN_TEST_TIMEOUT_MS)];
    const child = spawn(process.execPath, args, {
      cwd: tree,
      detached: true, // its own process group, so a timeout kills daemons it started too
      stdio: ["ignore", fd, fd],
      env: { ...process.env, ...env },
    });
    running.add(child);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, Math.max(0, deadlineMs - Date.now()));
    child.on("exit", (code) => {
      clearTimeout(timer);
      running.delete(child);
      killGroup(child); // leftovers (a daemon a failed test did not stop)
      closeSync(fd);
      const seconds = (performance.now() - started) / 1000;
      const output = readFileSync(logPath, "utf8");
      if (timedOut) done({ file, outcome: "timeout", detail: "time limit reached", seconds });
      else if (code === 0) done({ file, outcome: "pass", detail: "", seconds });
      else done({ file, outcome: "fail", detail: firstFailure(output.slice(output.lastIndexOf(`$ bun test ${file}`))), seconds });
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      running.delete(child);
      closeSync(fd);
      done({ file, outcome: "fail", detail: `cannot start bun: ${e.message}`, seconds: 0 });
    });
  });
}

function appendHeader(logPath: string, file: string): void {
  writeFileSync(logPath, `\n$ bun test ${file}\n`, { flag: "a" });
}

// ---------------------------------------------------------------- one mutant

type Status = "killed" | "killed (timeout)" | "SURVIVED" | "NOT APPLICABLE" | "UNPROVEN";

interface Result {
  mutant: Mutant;
  status: Status;
  /** Test file(s) that failed, or why it was not applicable. */
  by: string;
  /** The test files that failed ("" for the whole suite). */
  killerFiles: string[];
  detail: string;
  missingTests: string[];
  seconds: number;
  logPath: string;
}

async function runMutant(m: Mutant, flags: Flags, files: string[]): Promise<Result> {
  const started = performance.now();
  const copy = makeCopy(m.name);
  const logPath = join(copy.tmp, "tests.log");
  const finish = (status: Status, by: string, detail: string, killerFiles: string[] = []): Result => {
    if (!flags.keep) rmSync(copy.tmp, { recursive: true, force: true });
    const missingTests = m.tests.filter((t) => !existsSync(join(ROOT, splitTestSpec(t).path)));
    return { mutant: m, status, by, killerFiles, detail, missingTests, seconds: (performance.now() - started) / 1000, logPath };
  };
  const problem = applyMutant(copy.tree, m);
  if (problem) return finish("NOT APPLICABLE", problem, "update the entry in bench/mutants/defects.ts");
  const deadlineMs = Date.now() + flags.timeoutS * 1000;
  const env = { CITYHALL_SOURCE_ROOT: ROOT, CITYHALL_MUTANT: m.name };
  const killers: FileRun[] = [];
  const toRun = [...files];
  if (flags.full) toRun.push("");
  for (const file of toRun) {
    if (file === "" && killers.length > 0) break; // --full only when the listed files passed
    appendHeader(logPath, file || "(whole suite)");
    const r = await runTestFile(copy.tree, file, deadlineMs, logPath, env);
    if (r.outcome === "timeout") return finish("killed (timeout)", file || "(whole suite)", r.detail, [file]);
    if (r.outcome === "fail") {
      killers.push(r);
      if (!flags.allFiles) break;
    }
  }
  if (killers.length === 0) return finish("SURVIVED", "", `passed: ${files.join(", ")}${flags.full ? " and the whole suite" : ""}`);
  return finish(
    "killed",
    killers.map((k) => k.file || "(whole suite)").join(", "),
    killers[0]!.detail,
    killers.map((k) => k.file),
  );
}

// ---------------------------------------------------------------- pool, baseline, report

async function pool<T, R>(items: T[], jobs: number, work: (item: T) => Promise<R>, onDone: (r: R) => void): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!);
      onDone(out[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, worker));
  return out;
}

function existingTests(m: Mutant): string[] {
  return m.tests.filter((t) => existsSync(join(ROOT, splitTestSpec(t).path)));
}

/** Test files that failed once in the baseline and passed on a second try. */
const flakyFiles = new Set<string>();

/**
 * Runs `files` ("" = the whole suite) on an unmodified copy. A file that fails is tried once
 * more: passing then, it is recorded in `flakyFiles`. Returns the files that failed twice.
 */
async function baseline(files: string[], flags: Flags): Promise<Set<string>> {
  const failed = new Set<string>();
  if (files.length === 0) return failed;
  const copy = makeCopy("baseline");
  const started = performance.now();
  log(`baseline: ${files.length} test files on an unmodified copy`);
  const results = await pool(
    files,
    flags.jobs,
    async (file) => {
      const logPath = join(copy.tmp, `${file.replace(/[^\w.-]+/g, "_") || "whole_suite"}.log`);
      let r: FileRun | null = null;
      for (let attempt = 1; attempt <= 2 && r?.outcome !== "pass"; attempt++) {
        if (r) log(`baseline ${file} failed (${r.detail}); trying it once more`);
        appendHeader(logPath, file);
        r = await runTestFile(copy.tree, file, Date.now() + flags.timeoutS * 1000, logPath, { CITYHALL_SOURCE_ROOT: ROOT });
        if (attempt === 2 && r.outcome === "pass") flakyFiles.add(file);
      }
      return { r: r!, logPath };
    },
    ({ r }) => log(`baseline ${r.file}: ${r.outcome}${flakyFiles.has(r.file) ? " on the second try (FLAKY)" : ""} (${r.seconds.toFixed(1)} s)`),
  );
  const bad = results.filter(({ r }) => r.outcome !== "pass");
  for (const { r, logPath } of bad) {
    log(`baseline FAILED: ${r.file || "(whole suite)"}: ${r.detail} (log kept: ${logPath})`);
    failed.add(r.file);
  }
  if (bad.length === 0) rmSync(copy.tmp, { recursive: true, force: true });
  log(`baseline took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return failed;
}

function table(results: Result[]): string {
  const esc = (s: string): string => s.replaceAll("|", "\\|");
  const lines = [
    "| mutant | description | result | killed by | first failure / note | time |",
    "|---|---|---|---|---|---|",
  ];
  for (const r of results) {
    const note = r.missingTests.length ? `${r.detail}; MISSING test file ${r.missingTests.join(", ")}` : r.detail;
    lines.push(
      `| ${r.mutant.name} | ${esc(r.mutant.description)} | ${r.status} | ${esc(r.by)} | ${esc(note)} | ${r.seconds.toFixed(1)} s |`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<number> {
  const flags = parseFlags(process.argv.slice(2));
  const mutants = flags.only ? MUTANTS.filter((m) => flags.only!.includes(m.name)) : [...MUTANTS];
  if (flags.list) {
    for (const m of mutants) process.stdout.write(`${m.name}\t${m.file}\t${m.description}\n\ttests: ${m.tests.join(", ")}\n`);
    return 0;
  }
  const started = performance.now();
  process.on("SIGINT", () => {
    for (const c of running) killGroup(c);
    process.exit(130);
  });
  log(`${mutants.length} mutants, ${flags.jobs} at a time`);
  const results = await pool(
    mutants,
    flags.jobs,
    (m) => runMutant(m, flags, existingTests(m)),
    (r) => log(`${r.mutant.name}: ${r.status}${r.by ? ` (${r.by})` : ""} in ${r.seconds.toFixed(1)} s${flags.keep ? `, log ${r.logPath}` : ""}`),
  );
  if (flags.baseline) {
    const failed = await baseline([...new Set(results.flatMap((r) => r.killerFiles))], flags);
    for (const r of results) {
      const broken = r.killerFiles.filter((f) => failed.has(f));
      const flaky = r.killerFiles.filter((f) => flakyFiles.has(f));
      if (broken.length === r.killerFiles.length && broken.length > 0) {
        r.status = "UNPROVEN";
        r.detail = `${broken.map((f) => f || "(whole suite)").join(", ")} fails on the unmodified tree too: fix it first`;
      } else if (broken.length || flaky.length) {
        r.detail += ` (fails unmodified: ${broken.join(", ") || "none"}; FLAKY: ${flaky.join(", ") || "none"})`;
      }
    }
  }
  process.stdout.write(`${table(results)}\n`);
  const totalS = (performance.now() - started) / 1000;
  const killed = results.filter((r) => r.status.startsWith("killed")).length;
  const failing = results.filter((r) => !r.status.startsWith("killed") || r.missingTests.length > 0);
  process.stdout.write(
    `\n${killed} of ${results.length} mutants killed; ${results.length - killed} not; ${totalS.toFixed(0)} s in all with --jobs ${flags.jobs}\n`,
  );
  for (const r of failing) {
    if (r.status === "SURVIVED") log(`SURVIVED ${r.mutant.name}: no listed test fails on it; add a test that does`);
    else if (r.status === "NOT APPLICABLE") log(`NOT APPLICABLE ${r.mutant.name}: ${r.by}; update bench/mutants/defects.ts`);
    if (r.missingTests.length) log(`${r.mutant.name} names missing test files: ${r.missingTests.join(", ")}`);
  }
  return failing.length ? 1 : 0;
}

process.exit(await main());
