// A node-wide budget of request-body bytes in memory: bytes counted as they arrive (chunked
// or not) and as gzip expands them, held until the request is answered. It bounds what
// many slow or large uploads can make the node hold, which --max-concurrent x --max-body
// does not (256 x 32 MiB = 8 GiB by default). Pure bookkeeping; no I/O.

import { totalmem } from "node:os";

/** Default budget: 1/8 of the machine's memory, at most 256 MiB (a Pi with 1 GiB gets 128 MiB). */
export function defaultInflightBytes(totalMemoryBytes = totalmem()): number {
  return Math.max(16 * 1024 * 1024, Math.min(256 * 1024 * 1024, Math.floor(totalMemoryBytes / 8)));
}

export class InflightBytes {
  private heldBytes = 0;
  private garbageBytes = 0;
  constructor(readonly limitBytes: number) {}

  /**
   * Notes `n` bytes given back (now garbage); true when the garbage since the last call that
   * returned true passed a quarter of the budget. Why: the collector runs by its own measure, and
   * under a stream of large or slow bodies it let the process reach 3x the budget (60 slow
   * 33 MB uploads, a 256 MiB budget: 820 MB). Collecting after every quarter budget of bodies
   * keeps RSS near the budget and costs one collection per >= limit/4 bytes of bodies.
   */
  collectionDue(n: number): boolean {
    this.garbageBytes += n;
    if (this.garbageBytes < this.limitBytes / 4) return false;
    this.garbageBytes = 0;
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
