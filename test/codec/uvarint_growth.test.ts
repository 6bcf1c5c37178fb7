// Regression for issue 8: ByteWriter.uvarint wrote values >= 2^31 into a stale buffer when
// the write made the buffer grow (the new buffer kept zeros; the CRC, computed over the
// zeros, agreed). Guarded by the `uvarint-stale-buffer` mutant of bench/mutants.
import { describe, expect, test } from "bun:test";
import { ByteReader, ByteWriter } from "../../src/codec/bytes.ts";
import { Db } from "../../src/engine/db.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";

/** Values on both sides of each branch of uvarint, and a real epoch-ms timestamp. */
const VALUES = [0, 1, 127, 128, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, 2 ** 32, 3_590_600_000_000, 1_795_000_000_000, 2 ** 53 - 1];

describe("ByteWriter grows before it writes", () => {
  test("every value at every initial capacity 1..64 and prefix 0..64 reads back exactly", () => {
    let cases = 0;
    for (let cap = 1; cap <= 64; cap++) {
      for (let prefix = 0; prefix <= 64; prefix++) {
        for (const v of VALUES) {
          const signed = -Math.min(v, 2 ** 52); // svarint is exact for |v| <= 2^52
          const w = new ByteWriter(cap);
          for (let i = 0; i < prefix; i++) w.u8((i * 37 + 1) & 0xff);
          w.uvarint(v);
          w.svarint(signed);
          w.u8(0xab); // a sentinel after the varints: later writes land after them
          const r = new ByteReader(w.bytes().slice());
          for (let i = 0; i < prefix; i++) {
            if (r.u8() !== ((i * 37 + 1) & 0xff)) throw new Error(`capacity ${cap}: prefix byte ${i} changed`);
          }
          const got = r.uvarint();
          if (got !== v) throw new Error(`capacity ${cap}, prefix ${prefix}: wrote ${v}, read ${got}`);
          const gotNeg = r.svarint();
          if (gotNeg !== signed) throw new Error(`capacity ${cap}, prefix ${prefix}: wrote svarint ${signed}, read ${gotNeg}`);
          expect(r.u8()).toBe(0xab);
          expect(r.remaining()).toBe(0);
          cases++;
        }
      }
    }
    expect(cases).toBe(64 * 65 * VALUES.length);
  });

  test("the issue's repro: 300 series with one point each at epoch-ms timestamps survive a flush", async () => {
    // The stale write needed the keys block to grow exactly at a timestamp, so the repro
    // tries 16 key widths (under the bug, widths 8 and 14 failed with "shared key prefix
    // longer than previous key" or timestamps read back as 0).
    const base = 1_795_000_000_000;
    for (let pad = 0; pad < 16; pad++) {
      const fs = new MemFs();
      const db = await Db.open("/data", { vfs: fs });
      const points = Array.from({ length: 300 }, (_, i) => ({
        key: `plant.line_${"x".repeat(pad)}${String(i).padStart(3, "0")}.temp`,
        ts: base + i * 1000,
        value: i / 10,
      }));
      await db.putMany(points);
      await db.flush();
      expect(db.stats().memtablePoints).toBe(0);
      expect(db.keys()).toEqual(points.map((p) => p.key));
      for (const p of points) expect(db.get(p.key)).toEqual(p);
      await db.close();
    }
  });
});
