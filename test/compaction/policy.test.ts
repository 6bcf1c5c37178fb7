import { describe, expect, test } from "bun:test";
import { DEFAULT_COMPACTION, fullCompaction, pickCompaction } from "../../src/compaction/policy.ts";
import type { TableStat } from "../../src/compaction/policy.ts";
import { segmentsToDelete } from "../../src/wal/retention_policy.ts";

const t = (fileNo: number, sizeBytes: number, extra: Partial<TableStat> = {}): TableStat => ({
  fileNo,
  sizeBytes,
  minTs: 0,
  maxTs: 1000,
  points: 10,
  tombstones: 0,
  ...extra,
});

describe("compaction policy", () => {
  const cfg = { ...DEFAULT_COMPACTION, trigger: 4, fanIn: 8, sizeRatio: 1.5, maxTables: 6 };
  test("nothing to do below the trigger", () => {
    expect(pickCompaction([t(1, 10), t(2, 10), t(3, 10)], cfg)).toBeNull();
  });
  test("merges the newest tables with older neighbours of comparable size", () => {
    const task = pickCompaction([t(1, 1000), t(2, 10), t(3, 10), t(4, 10), t(5, 10)], cfg);
    expect(task).toEqual({ kind: "merge", start: 1, end: 5, dropTombstones: false });
  });
  test("leaves tiers of very different sizes alone until there are too many tables", () => {
    const tiers = [t(1, 10000), t(2, 1000), t(3, 100), t(4, 10)];
    expect(pickCompaction(tiers, cfg)).toBeNull();
    const many = [t(1, 10000), t(2, 3000), t(3, 1000), t(4, 300), t(5, 100), t(6, 30), t(7, 10)];
    expect(pickCompaction(many, { ...cfg, fanIn: 2 })).toEqual({ kind: "merge", start: 5, end: 7, dropTombstones: false });
  });
  test("tombstones are dropped only when the window starts at the oldest table", () => {
    const task = pickCompaction([t(1, 10), t(2, 10), t(3, 10), t(4, 10)], cfg);
    expect(task).toEqual({ kind: "merge", start: 0, end: 4, dropTombstones: true });
  });
  test("wholly expired tables are dropped, unless they hold tombstones", () => {
    const tables = [t(1, 5, { maxTs: 50 }), t(2, 5, { maxTs: 50, tombstones: 1 }), t(3, 5, { maxTs: 5000 })];
    expect(pickCompaction(tables, cfg, 100)).toEqual({ kind: "expire", fileNos: [1] });
    expect(pickCompaction(tables, cfg, 10)).toBeNull();
  });
  test("a simulated day of flushes keeps the table count bounded and rewrites little", () => {
    let tables: TableStat[] = [];
    let written = 0;
    let next = 1;
    for (let flush = 0; flush < 500; flush++) {
      tables.push(t(next++, 100));
      written += 100;
      for (let task = pickCompaction(tables, DEFAULT_COMPACTION); task; task = pickCompaction(tables, DEFAULT_COMPACTION)) {
        if (task.kind !== "merge") throw new Error("unexpected");
        const merged = tables.slice(task.start, task.end).reduce((n, x) => n + x.sizeBytes, 0);
        written += merged;
        tables = [...tables.slice(0, task.start), t(next++, merged), ...tables.slice(task.end)];
      }
      expect(tables.length).toBeLessThanOrEqual(DEFAULT_COMPACTION.maxTables);
    }
    // Write amplification stays logarithmic (log2 500 is about 9), far below the ~250 of
    // rewriting everything on every flush.
    expect(written / (500 * 100)).toBeLessThan(8);
  });
  test("full compaction covers every table", () => {
    expect(fullCompaction(0)).toBeNull();
    expect(fullCompaction(3)).toEqual({ kind: "merge", start: 0, end: 3, dropTombstones: true });
  });
});

describe("WAL segment retention policy", () => {
  const segs = [
    { segmentNo: 1, maxSeq: 10 },
    { segmentNo: 2, maxSeq: 20 },
    { segmentNo: 3, maxSeq: 30 },
    { segmentNo: 4, maxSeq: 0 },
  ];
  test("deletes flushed, inactive segments", () => {
    expect(segmentsToDelete(segs, 4, 20)).toEqual([1, 2]);
  });
  test("never deletes the active segment or unflushed ones", () => {
    expect(segmentsToDelete(segs, 3, 1000)).toEqual([1, 2]);
    expect(segmentsToDelete(segs, 5, 5)).toEqual([4]);
  });
  test("at the boundary: a segment whose last write is flushedSeq goes, one write past it stays", () => {
    expect(segmentsToDelete(segs, 5, 19)).toEqual([1, 4]);
    expect(segmentsToDelete(segs, 5, 20)).toEqual([1, 2, 4]);
    expect(segmentsToDelete(segs, 5, 29)).toEqual([1, 2, 4]);
  });
  test("keeps what a replica still needs", () => {
    expect(segmentsToDelete(segs, 5, 1000, 2)).toEqual([1]);
  });
});
