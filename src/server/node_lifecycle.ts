// Start and stop order shared by leader and replica processes: replication, then the HTTP
// API, on the way up; the reverse, then the engine (which flushes), on the way down.

import type { Db } from "../engine/db.ts";
import type { Logger } from "../engine/options.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { HttpApi } from "./http_api.ts";

interface Replication {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** What `stop()` could not save (reported instead of "stopped cleanly"). */
  readonly stopFailures: readonly string[];
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** A node whose API is reachable from other machines must require a token. */
export function requireTokenOffLoopback(component: string, host: string, token: string | undefined): void {
  if (!isLoopback(host) && !token) {
    throw new InvalidArgumentError(component, `--host ${host} exposes the API beyond this machine; set a token with --token or CITYHALL_TOKEN (or bind 127.0.0.1)`);
  }
}

/** Starts replication and the HTTP API; on failure undoes what started and closes the engine. */
export async function startParts(db: Db, http: HttpApi, replication: Replication): Promise<void> {
  try {
    await replication.start();
    http.start();
  } catch (e) {
    await replication.stop().catch(() => {});
    await http.stop(true);
    await db.close();
    throw e;
  }
}

/**
 * Orderly stop: no new replication or requests, requests in flight finish, the engine
 * flushes. Throws (so the process exits non-zero) when the engine could not save everything.
 */
export async function stopParts(db: Db, http: HttpApi, replication: Replication, log: Logger, role: string): Promise<void> {
  await replication.stop();
  await http.stop(false);
  await db.close();
  const problems = [...replication.stopFailures, ...db.closeFailures];
  if (problems.length) {
    // Say what happened, never "all data is on disk" after a failed save.
    throw new Error(`${role} stopped, but not cleanly: ${problems.join("; ")}`);
  }
  log.info(`cityhall: ${role} stopped cleanly; all data is on disk`);
}
