// What the engine refuses at its door (src/engine/validate.ts), through the embedded API.
import { describe, expect, test } from "bun:test";
import { Db } from "../../src/engine/db.ts";
import { InvalidArgumentError } from "../../src/errors.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";
import { checkKey, checkValue } from "../../src/engine/validate.ts";

describe("values", () => {
  test("NaN and ±Infinity are refused by putMany, naming the value; nothing is written and no sequence number is used", async () => {
    const db = await Db.open("/db", { vfs: new MemFs() });
    await db.put("ok", 1, 1000);
    const seqBefore = db.stats().lastSeq;
    for (const bad of [NaN, Infinity, -Infinity, Number("1e309")]) {
      await expect(db.putMany([{ key: "ok", ts: 2000, value: 2 }, { key: "x", ts: 1000, value: bad }])).rejects.toThrow(/point 1: value must be a finite number/);
      await expect(db.put("x", bad, 1000)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    expect(db.stats().lastSeq).toBe(seqBefore);
    expect(db.get("x")).toBeNull();
    expect([...db.range("ok")].map((p) => p.value)).toEqual([1]);
    // Finite extremes are fine.
    await db.putMany([{ key: "x", ts: 1, value: Number.MAX_VALUE }, { key: "x", ts: 2, value: -Number.MIN_VALUE }, { key: "x", ts: 3, value: -0 }]);
    expect([...db.range("x")].map((p) => p.value)).toEqual([Number.MAX_VALUE, -Number.MIN_VALUE, -0]);
    await db.close();
  });
  test("checkValue alone", () => {
    expect(() => checkValue(Number.NaN)).toThrow(/finite number, got NaN/);
    expect(() => checkValue(-Infinity)).toThrow(/finite number, got -Infinity/);
    checkValue(1.5);
    checkValue("Infinity"); // text is text
  });
});

describe("keys", () => {
  test("control characters (U+0000-U+001F, U+007F) are refused for writes, with the character named", async () => {
    const db = await Db.open("/db", { vfs: new MemFs() });
    for (const [key, code] of [["a\nb", "000A"], ["tab\there", "0009"], ["cr\r", "000D"], ["del\u007f", "007F"], ["\u001fx", "001F"], ["nul\u0000", ""]] as const) {
      const err = await db.put(key, 1, 1000).catch((e) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(String(err)).toMatch(code ? new RegExp(`U\\+${code}`) : /NUL/);
    }
    expect(db.keys()).toEqual([]);
    // Not control characters: printable ASCII, non-ASCII, U+0080 and up.
    for (const key of ["a b", "é.ü,t=ç", "x\u0080y", "emoji 🌡"]) await db.put(key, 1, 1000);
    expect(db.keys().length).toBe(4);
    // Reads and deletes of such a key answer (nothing there) instead of refusing, so a
    // series stored before the rule can still be read and removed.
    expect(db.get("a\nb")).toBeNull();
    expect([...db.range("a\nb")]).toEqual([]);
    await db.delete("a\nb");
    await db.close();
  });
  test("checkKey alone", () => {
    expect(() => checkKey("x\ny")).toThrow(/U\+000A at character 1/);
    checkKey("x\ny", "lookup");
    expect(() => checkKey("x\u0000y", "lookup")).toThrow(/NUL/);
  });
});

describe("sequence numbers", () => {
  test("a batch too large for one WAL record is refused without using a sequence number", async () => {
    const db = await Db.open("/db", { vfs: new MemFs() });
    await db.put("a", 1, 1000);
    const seqBefore = db.stats().lastSeq;
    const big = "x".repeat(64 * 1024 - 16);
    // 1100 x 64 KiB = 70 MB: more than a WAL record may hold (64 MiB).
    const points = Array.from({ length: 1100 }, (_, i) => ({ key: "big", ts: i, value: big }));
    await expect(db.putMany(points)).rejects.toThrow(/exceeds/);
    expect(db.stats().lastSeq).toBe(seqBefore);
    const r = await db.put("a", 2, 2000);
    expect(r.seq).toBe(seqBefore + 1);
    await db.close();
  });
});
