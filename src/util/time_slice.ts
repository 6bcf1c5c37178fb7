// Cooperative time slicing for long synchronous work on the event loop (compaction's merge).
// A server built on the engine answers HTTP, replication and /health on the same thread, so
// background work must hand the loop back often: `due()` says when the current slice has
// used its budget, `yield()` lets every pending timer and I/O callback run (setImmediate
// runs after the poll phase, unlike a resolved promise, which never leaves the microtask
// queue) and starts a new slice.

/** Longest run of background work between two turns of the event loop, in ms. */
export const DEFAULT_SLICE_MS = 2;

export class TimeSlicer {
  private sliceStartMs = performance.now();
  /** How many times the work handed the loop back (for tests and curiosity). */
  yields = 0;

  constructor(private readonly sliceMs: number = DEFAULT_SLICE_MS) {}

  /** True once the current slice has run for sliceMs or more. */
  due(): boolean {
    return performance.now() - this.sliceStartMs >= this.sliceMs;
  }

  /** Gives the event loop one full turn, then starts a new slice. */
  async yield(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.yields++;
    this.sliceStartMs = performance.now();
  }
}
