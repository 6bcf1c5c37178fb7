// Reconnect delays: exponential from 1 s to 60 s with full jitter (a random delay between 0
// and the exponential bound), so fifty replicas coming back after a regional outage do not
// reconnect in lockstep. The attempt counter goes back to 0 only when a session made
// progress (madeProgress): a leader that welcomes a replica and then refuses it, or sends
// data it cannot apply (a duplicate replica id, a damaged leader WAL, another history),
// must see that replica's attempts slow down to one a minute, not 1-3 a second forever.
// Pure; the random source is a parameter for tests.

export interface BackoffConfig {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffConfig = { baseMs: 1000, maxMs: 60_000 };

/** What one session (connect to close) achieved. */
export interface SessionProgress {
  /** WAL bytes applied and synced (a snapshot installed counts as progress too). */
  appliedBytes: number;
  /** How long the session stayed welcomed; 0 if it never was. */
  welcomedMs: number;
}

/** A session that stayed up this long was healthy, even without data to apply (an idle leader). */
export const HEALTHY_SESSION_MS = 60_000;

/** Whether a session counts as progress, so the next reconnect starts the backoff over. */
export function madeProgress(p: SessionProgress): boolean {
  return p.appliedBytes > 0 || p.welcomedMs >= HEALTHY_SESSION_MS;
}

/** The upper bound of the delay before reconnect attempt `attempt` (0-based). */
export function backoffCeilingMs(attempt: number, c: BackoffConfig = DEFAULT_BACKOFF): number {
  return Math.min(c.maxMs, c.baseMs * 2 ** Math.min(attempt, 30));
}

export function backoffDelayMs(attempt: number, random: () => number = Math.random, c: BackoffConfig = DEFAULT_BACKOFF): number {
  return Math.floor(random() * backoffCeilingMs(attempt, c));
}
