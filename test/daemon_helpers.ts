// Starts real `cityhall` processes for tests and talks to them.
import { join } from "node:path";
import { bunBin } from "./helpers.ts";

export const MAIN = join(import.meta.dir, "..", "src", "cli", "main.ts");

export interface RunningNode {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  port: number;
  replicationPort: number;
  addr: string;
  /** Everything the node logged so far. */
  log(): string;
  /** SIGTERM and wait; returns the exit code. */
  stop(): Promise<number>;
  kill(): Promise<void>;
}

/** Starts `cityhall <role> ...args` on free ports and waits until it is ready. */
export async function startNode(
  role: "leader" | "replica",
  args: string[],
  env: Record<string, string> = {},
  command: string[] = [bunBin, MAIN],
  options: { cwd?: string; readyTimeoutMs?: number } = {},
): Promise<RunningNode> {
  const defaults = ["--port", "0", ...(role === "leader" ? ["--replication-port", "0"] : [])];
  const wanted: string[] = [];
  for (let i = 0; i < defaults.length; i += 2) if (!args.includes(defaults[i]!)) wanted.push(defaults[i]!, defaults[i + 1]!);
  const full = [...command, role, ...wanted, ...args];
  const proc = Bun.spawn(full, { stdout: "pipe", stderr: "pipe", stdin: "ignore", env: { ...process.env, ...env }, cwd: options.cwd });
  let logText = "";
  const decoder = new TextDecoder();
  const reader = proc.stderr.getReader();
  let port = 0;
  let replicationPort = 0;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000);
  while (!port) {
    if (Date.now() > deadline) throw new Error(`node did not start:\n${logText}`);
    const r = await reader.read();
    if (r.done) throw new Error(`node exited (${await proc.exited}) before it was ready:\n${logText}`);
    logText += decoder.decode(r.value);
    const m = /ready: http:\/\/[^\s:]+:(\d+)(?: \(replication on port (\d+)\))?/.exec(logText);
    if (m) {
      port = Number(m[1]);
      replicationPort = Number(m[2] ?? 0);
    }
  }
  // Keep draining the log so the pipe never fills.
  (async () => {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      logText += decoder.decode(r.value);
    }
  })();
  return {
    proc,
    port,
    replicationPort,
    addr: `127.0.0.1:${port}`,
    log: () => logText,
    async stop() {
      proc.kill("SIGTERM");
      return await proc.exited;
    },
    async kill() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI and collects its output. */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const p = Bun.spawn([bunBin, MAIN, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}
