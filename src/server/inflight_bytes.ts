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
  constructor(readonly limitBytes: number) {}

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

  release(): void {
    if (this.released) return;
    this.released = true;
    this.pool.give(this.bytes);
    this.bytes = 0;
  }
}
