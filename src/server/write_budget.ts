// What one write request may make the node build, counted while the request is parsed,
// before anything is encoded. Pure; no I/O.
//
// Why: a request's size on the wire says little about what it expands to. In line protocol
// every field of a line becomes its own series key, tags included, so 890 KB of one 1 KB tag
// and 100,000 fields made 100 MB of keys and a 102 MB WAL record. The budget stops the parse
// at the line (or point) that passes a limit, so the node never holds the expansion.
//
// The record estimate is an UPPER BOUND of the payload `encodePutBatch` (src/wal/batch.ts,
// columns in src/codec/columns.ts) writes for the same points, whatever their grouping:
//   record   8 (u64 seq) + 5 (uvarint group count)
//   a series (each distinct key, once) uvarint length (<= 5) + UTF-8 key + uvarint point count
//            (<= 5) + value mode and decimal digits (2)
//   a point  timestamp svarint (<= 10) + value: a float64 with a mixed-column tag (9), or a
//            string with its tag, uvarint length (<= 5) and UTF-8 bytes
// test/server/write_budget.test.ts checks the bound against the real encoder.

import { utf8Length } from "../codec/bytes.ts";
import type { Value } from "../codec/columns.ts";
import { InvalidArgumentError } from "../errors.ts";

export interface WriteBudgetLimits {
  /** Points in one request. */
  maxPoints: number;
  /** Bytes (UTF-8) of the distinct series keys one request names. */
  maxKeyBytes: number;
  /** Upper bound of the WAL record payload one request may produce. */
  maxRecordBytes: number;
}

/** A request that would build more than a limit allows: HTTP 413. */
export class RequestTooLargeError extends InvalidArgumentError {
  constructor(message: string) {
    super("http", message);
    this.name = "RequestTooLargeError";
  }
}

const RECORD_OVERHEAD_BYTES = 8 + 5;
const SERIES_OVERHEAD_BYTES = 5 + 5 + 2;
const POINT_TS_BYTES = 10;
const NUMBER_VALUE_BYTES = 9;
const STRING_VALUE_OVERHEAD_BYTES = 1 + 5;

export class WriteBudget {
  points = 0;
  keyBytes = 0;
  recordBytes = RECORD_OVERHEAD_BYTES;
  private readonly keys = new Set<string>();
  private lastKey: string | null = null;

  constructor(readonly limits: WriteBudgetLimits) {}

  /** Only a point limit (what the line protocol parser had before the other limits). */
  static points(maxPoints: number): WriteBudget {
    return new WriteBudget({ maxPoints, maxKeyBytes: Infinity, maxRecordBytes: Infinity });
  }

  get series(): number {
    return this.keys.size;
  }

  /**
   * Counts one point; throws RequestTooLargeError naming where it is (e.g. "line 12", "point
   * 3") when a limit is passed. Every error message says to split the request.
   */
  add(key: string, value: Value, unit: "line" | "point", n: number): void {
    const l = this.limits;
    if (++this.points > l.maxPoints) {
      throw new RequestTooLargeError(`${unit} ${n}: more than ${l.maxPoints} points in one request; split the batch into smaller requests`);
    }
    if (key !== this.lastKey) {
      this.lastKey = key;
      if (!this.keys.has(key)) {
        this.keys.add(key);
        const kb = utf8Length(key);
        this.keyBytes += kb;
        this.recordBytes += kb + SERIES_OVERHEAD_BYTES;
        if (this.keyBytes > l.maxKeyBytes) {
          throw new RequestTooLargeError(
            `${unit} ${n}: the series keys of this request add up to more than ${l.maxKeyBytes} bytes (${this.keys.size} distinct series; in line protocol each field of a line is a series, tags included); split the body into smaller requests`,
          );
        }
      }
    }
    this.recordBytes += POINT_TS_BYTES + (typeof value === "number" ? NUMBER_VALUE_BYTES : STRING_VALUE_OVERHEAD_BYTES + utf8Length(value));
    if (this.recordBytes > l.maxRecordBytes) {
      throw new RequestTooLargeError(
        `${unit} ${n}: this request would make a write-ahead log record of more than ${l.maxRecordBytes} bytes (${this.points} points, ${this.keys.size} series so far); split the body into smaller requests`,
      );
    }
  }
}
