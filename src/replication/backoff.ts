// Reconnect delays: exponential from 1 s to 60 s with full jitter (a random delay between 0
// and the exponential bound), so fifty replicas coming back after a regional outage do not
// reconnect in lockstep. Pure; the random source is a parameter for tests.

export interface BackoffConfig {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffConfig = { baseMs: 1000, maxMs: 60_000 };

/** The upper bound of the delay before reconnect attempt `attempt` (0-based). */
export function backoffCeilingMs(attempt: number, c: BackoffConfig = DEFAULT_BACKOFF): number {
  return Math.min(c.maxMs, c.baseMs * 2 ** Math.min(attempt, 30));
}

export function backoffDelayMs(attempt: number, random: () => number = Math.random, c: BackoffConfig = DEFAULT_BACKOFF): number {
  return Math.floor(random() * backoffCeilingMs(attempt, c));
}
