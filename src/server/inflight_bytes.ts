// A node-wide budget of request-body bytes in memory: bytes counted as they arrive (chunked
// or not) and as gzip expands them, held until the request is answered. It bounds what
// many slow or large uploads can make the node hold, which --max-concurrent x --max-body
// does not (256 x 32 MiB = 8 GiB by default). Pure bookkeeping; no I/O.

import { totalmem } from "node:os";

/** Default budget: 1/8 of the machine's memory, at most 256 MiB (a Pi with 1 GiB gets 128 MiB). */
export function defaultInflightBytes(totalMemoryBytes = totalmem()): number {
  return Math.max(16 * 1024 * 1024, Math.min(256 * 1024 * 1024, Math.floor(totalMemoryBytes / 8)));
}

/** Least time between two forced collections (see collectionDue). */
export const COLLECTION_INTERVAL_MS = 1000;

export class InflightBytes {
  private heldBytes = 0;
  private garbageBytes = 0;
  private lastCollectionMs = -Infinity;
  constructor(readonly limitBytes: number) {}

  /**
   * Notes `n` bytes given back (now garbage) at `nowMs` (a monotonic clock); true when a full
   * collection should run now. Why force one at all: the collector runs by its own measure,
   * and under a stream of large or slow bodies it let the process reach 3x the budget (60
   * slow 33 MB uploads, a 256 MiB budget: 820 MB). Why so rarely: a forced collection is
   * synchronous and runs on the request path; with a large heap it stalls group commit and
   * replication heartbeats. So it is due only when all three hold:
   *  - at least a quarter of the budget was given back since the last one (worth reclaiming);
   *  - the body bytes the node may still have in memory (held now, plus given back since
   *    the last collection) reach 3/4 of the budget: near the limit, where the next body
   *    would otherwise land on top of uncollected garbage;
   *  - at least COLLECTION_INTERVAL_MS passed since the last one (at most one a second),
   *    unless those bytes reach twice the budget: the memory bound wins over the pause rate
   *    (measured: 24 slow 16 MiB uploads on a 32 MiB budget gave back 82 MiB within 1.4 s
   *    of a collection; peak RSS grew 100 MiB with the interval alone, 78 with this
   *    exception, 63 with a collection after every quarter budget given back).
   * A collection that is due but too soon stays due: the next release past the interval runs it.
   */
  collectionDue(n: number, nowMs: number): boolean {
    this.garbageBytes += n;
    if (this.garbageBytes < this.limitBytes / 4) return false;
    if (this.heldBytes + this.garbageBytes < (this.limitBytes * 3) / 4) return false;
    const overBound = this.heldBytes + this.garbageBytes >= 2 * this.limitBytes;
    if (!overBound && nowMs - this.lastCollectionMs < COLLECTION_INTERVAL_MS) return false;
    this.garbageBytes = 0;
    this.lastCollectionMs = nowMs;
    return true;
  }

  get held(): number {
    return this.heldBytes;
  }

  /** Opens an account for one request; `release()` it when the request is answered. */
  open(): InflightAccount {
    return new InflightAccount(this);
  }

  /** @internal */
  take(n: number): boolean {
    if (this.heldBytes + n > this.limitBytes) return false;
    this.heldBytes += n;
    return true;
  }

  /** @internal */
  give(n: number): void {
    this.heldBytes -= n;
  }
}

/** The bytes one request holds. INVARIANT: after release(), it holds none and takes none. */
export class InflightAccount {
  private bytes = 0;
  private released = false;
  constructor(private readonly pool: InflightBytes) {}

  /** Adds `n` bytes; false (and nothing taken) when the node-wide budget has no room. */
  reserve(n: number): boolean {
    if (this.released) return false;
    if (!this.pool.take(n)) return false;
    this.bytes += n;
    return true;
  }

  /** Gives the bytes back; returns how many this request held. */
  release(): number {
    if (this.released) return 0;
    this.released = true;
    const n = this.bytes;
    this.pool.give(n);
    this.bytes = 0;
    return n;
  }
}
