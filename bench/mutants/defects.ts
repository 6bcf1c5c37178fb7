// Known defects ("mutants") the test suite must catch, as pure data: each is ONE exact text
// replacement in one source file. `bench/mutants.ts` applies each to a fresh copy of the tree
// and runs the test files it names; a mutant that no test file fails on has SURVIVED.
//
// Rules for an entry:
// - `search` must occur exactly once in `file` (the runner refuses it otherwise and reports
//   NOT APPLICABLE: the source changed and the entry must be updated, which fails the run).
// - The defect must be realistic: a mistake a maintainer could make in a plausible edit,
//   not a syntax error. The file must still load.
// - `tests` lists the test files that should kill it, cheapest first (the runner stops at the
//   first one that fails unless told to run them all). An entry "<file> -t <pattern>" runs only
//   the tests of that file whose names match (`bun test -t`): a cheap kill in a slow file.

export interface Mutant {
  /** Short, stable name (used by --only). */
  name: string;
  /** What the defect does, in one line. */
  description: string;
  /** Path relative to the repository root. */
  file: string;
  /** Text that must occur exactly once in `file`. */
  search: string;
  replace: string;
  /**
   * Test files (relative to the root) expected to fail on this defect, cheapest first; "<file>
   * -t <pattern>" runs only the tests of the file whose names match the pattern.
   */
  tests: string[];
}

export const MUTANTS: readonly Mutant[] = [
  // ------------------------------------------------------------------ durability: leader
  {
    name: "ack-before-fdatasync",
    description: "WAL group commit starts fdatasync but acknowledges and applies without waiting for it",
    file: "src/wal/writer.ts",
    search: "          await this.file.datasync();\n          this.syncCount++;",
    replace: "          void this.file.datasync().then(() => this.syncCount++, () => {});",
    tests: ["test/wal/ack_durability.test.ts", "test/wal/writer.test.ts", "test/engine/powercut.test.ts", "test/engine/model.test.ts"],
  },
  {
    name: "ack-before-fdatasync-poison-kept",
    description: "WAL acknowledges before fdatasync completes; a failed sync still poisons later writes",
    file: "src/wal/writer.ts",
    search: "          await this.file.datasync();\n          this.syncCount++;\n        } catch (e) {",
    replace:
      "          void this.file.datasync().then(\n" +
      "            () => this.syncCount++,\n" +
      '            (e) => (this.failure = new IoError("wal", "fdatasync failed; restart the node", e)),\n' +
      "          );\n" +
      "        } catch (e) {",
    tests: ["test/wal/ack_durability.test.ts", "test/engine/powercut.test.ts", "test/engine/model.test.ts", "test/wal/writer.test.ts"],
  },
  {
    name: "no-dirsync-segment",
    description: "a new WAL segment is synced but its directory entry is not (vfs.syncDir skipped)",
    file: "src/wal/writer.ts",
    search: "    await file.datasync();\n    vfs.syncDir(dir);\n",
    replace: "    await file.datasync();\n",
    tests: ["test/wal/writer.test.ts", "test/engine/powercut.test.ts", "test/engine/model.test.ts"],
  },
  {
    name: "no-dirsync-sstable",
    description: "the manifest names new SSTables before their directory entries are durable",
    file: "src/engine/db.ts",
    search: "    this.vfs.syncDir(this.sstDir);\n    await saveManifest(this.vfs, this.dir, next);",
    replace: "    await saveManifest(this.vfs, this.dir, next);",
    tests: ["test/engine/powercut.test.ts", "test/engine/model.test.ts"],
  },
  {
    name: "no-fsync-sstable",
    description: "TableBuilder.finish does not fdatasync the SSTable before the manifest names it",
    file: "src/sstable/table_builder.ts",
    search: "      await this.file.datasync();\n",
    replace: "",
    tests: ["test/engine/powercut.test.ts", "test/engine/model.test.ts"],
  },
  {
    name: "no-fsync-manifest-temp",
    description: "writeFileAtomic renames the temp file over the target without syncing its bytes",
    file: "src/vfs/vfs.ts",
    search: "    f.append(data);\n    await f.datasync();\n",
    replace: "    f.append(data);\n",
    tests: ["test/manifest/format.test.ts", "test/engine/powercut.test.ts"],
  },
  {
    name: "flushed-seq-too-high",
    description: "a flush records the newest sequence number (not the flushed memtable's) as flushedSeq",
    file: "src/engine/db.ts",
    search: "flushedSeq: mem.maxSeq, tables: [...cur.tables, meta]",
    replace: "flushedSeq: this.lastSeq, tables: [...cur.tables, meta]",
    tests: ["test/engine/crash.test.ts", "test/engine/powercut.test.ts", "test/engine/model.test.ts"],
  },
  {
    name: "wal-delete-unflushed-segment",
    description: "WAL retention deletes a segment whose last write is one past flushedSeq",
    file: "src/wal/retention_policy.ts",
    search: "if (s.maxSeq > flushedSeq) continue;",
    replace: "if (s.maxSeq > flushedSeq + 1) continue;",
    tests: ["test/compaction/policy.test.ts", "test/engine/crash.test.ts", "test/engine/powercut.test.ts"],
  },

  {
    name: "wal-seq-not-rewound",
    description: "a failed WAL append uses up its sequence number: later writes leave a gap that makes every replica take a snapshot",
    file: "src/engine/db.ts",
    search: "        this.wal.onDiscard(() => {\n          this.lastSeq = this.writtenSeq;\n        });\n",
    replace: "",
    tests: ["test/wal/seq_contiguity.test.ts"],
  },
  {
    name: "wal-discard-keeps-queue",
    description: "after a failed WAL batch the writer still writes the records queued behind it, numbered after the failed ones",
    file: "src/wal/writer.ts",
    search: "        behind = this.pending;\n        this.pending = [];\n        this.pendingBytes = 0;\n",
    replace: "",
    tests: ["test/wal/seq_contiguity.test.ts"],
  },
  // ------------------------------------------------------------------ WAL replay
  {
    name: "wal-replay-off-by-one",
    description: "WAL replay skips the first write above flushedSeq (<= flushedSeq + 1)",
    file: "src/engine/db.ts",
    search: "if (entry.seq <= this.manifest.flushedSeq) return;",
    replace: "if (entry.seq <= this.manifest.flushedSeq + 1) return;",
    tests: ["test/wal/replay.test.ts", "test/engine/crash.test.ts", "test/engine/powercut.test.ts"],
  },
  {
    name: "wal-scan-drops-last-record",
    description: "the WAL scanner treats a record ending exactly at the end of the segment as torn",
    file: "src/wal/record.ts",
    search: "if (end > bytes.length) {",
    replace: "if (end >= bytes.length) {",
    tests: ["test/wal/record.test.ts", "test/wal/writer.test.ts", "test/wal/replay.test.ts"],
  },

  // ------------------------------------------------------------------ codec
  {
    name: "uvarint-stale-buffer",
    description: "the issue-8 bug: uvarint grows the buffer again after taking `b` (values >= 2^31 land in the old buffer)",
    file: "src/codec/bytes.ts",
    search: "    } else {\n      while (v >= 0x80) {\n        b[p++] = (v % 128) | 0x80;",
    replace: "    } else {\n      this.ensure(9);\n      while (v >= 0x80) {\n        b[p++] = (v % 128) | 0x80;",
    tests: ["test/codec/uvarint_growth.test.ts", "test/codec/columns.test.ts", "test/codec/properties.test.ts"],
  },

  // ------------------------------------------------------------------ LSM order
  {
    name: "compaction-newest-wins-reversed",
    description: "compaction lets the OLDER table win equal (key, ts): overlay arguments swapped",
    file: "src/compaction/merge.ts",
    search: "[ts, vals] = overlay(ts, vals, tTs, tVals);",
    replace: "[ts, vals] = overlay(tTs, tVals, ts, vals);",
    tests: ["test/compaction/merge.test.ts", "test/engine/retention.test.ts", "test/engine/model.test.ts"],
  },
  {
    name: "read-newest-wins-reversed",
    description: "the read merge lets the OLDER source win equal timestamps (ties go to the last source)",
    file: "src/engine/read_merge.ts",
    search: "if (best < 0 || (reverse ? ts > bestTs : ts < bestTs)) {",
    replace: "if (best < 0 || (reverse ? ts >= bestTs : ts <= bestTs)) {",
    tests: ["test/compaction/merge.test.ts", "test/engine/model.test.ts"],
  },
  {
    name: "compaction-ignores-tombstones",
    description: "compaction does not apply a newer table's tombstones to older tables' points",
    file: "src/compaction/merge.ts",
    search: "      [ts, vals] = without(ts, vals, tables[i]!.tombstonesFor(minKey));\n",
    replace: "",
    tests: ["test/compaction/merge.test.ts", "test/engine/retention.test.ts", "test/engine/model.test.ts"],
  },
  {
    name: "read-ignores-tombstones",
    description: "the read merge returns points a newer source's tombstone covers",
    file: "src/engine/read_merge.ts",
    search: "const visible = bestTs >= cutoffTs && !covered(sources[best]!.hiddenBy, bestTs);",
    replace: "const visible = bestTs >= cutoffTs;",
    tests: ["test/compaction/merge.test.ts", "test/engine/model.test.ts"],
  },
  {
    name: "compaction-retention-off-by-one",
    description: "compaction drops points AT the retention cutoff, which reads still return",
    file: "src/compaction/merge.ts",
    search: "while (k < ts.length && ts[k]! < cutoffTs) k++;",
    replace: "while (k < ts.length && ts[k]! <= cutoffTs) k++;",
    tests: ["test/compaction/merge.test.ts", "test/engine/retention.test.ts"],
  },
  {
    name: "tombstones-dropped-early",
    description: "a size-tiered merge drops tombstones when its window starts at the SECOND oldest table",
    file: "src/compaction/policy.ts",
    search: "dropTombstones: start === 0 }",
    replace: "dropTombstones: start <= 1 }",
    tests: ["test/compaction/policy.test.ts"],
  },

  // ------------------------------------------------------------------ durability: replica
  {
    name: "replica-ack-before-fdatasync",
    description: "the replica's WAL copy returns (and the records are applied and acknowledged) before its fdatasync",
    file: "src/wal/follower.ts",
    search: "        await f.datasync();\n        this.syncCount++;",
    replace: "        void f.datasync().then(() => this.syncCount++, () => {});",
    tests: ["test/replication/replica_durability.test.ts", "test/engine/powercut.test.ts", "test/replication/integration.test.ts"],
  },
  {
    name: "replica-no-dirsync-segment",
    description: "the replica creates a WAL segment without syncing its directory",
    file: "src/wal/follower.ts",
    search: "        this.segmentNoValue = segmentNo;\n        this.vfs.syncDir(this.dir);\n",
    replace: "        this.segmentNoValue = segmentNo;\n",
    tests: ["test/replication/replica_durability.test.ts", "test/engine/powercut.test.ts", "test/replication/integration.test.ts"],
  },

  // ------------------------------------------------------------------ checksums on read
  {
    name: "crc-skipped-wal",
    description: "the WAL scanner does not compare record CRCs (recovery and the replica's check)",
    file: "src/wal/record.ts",
    search: "if (Bun.hash.crc32(bytes.subarray(p + 8, end)) !== crc) {",
    replace: "if (false) {",
    tests: ["test/wal/record.test.ts", "test/engine/corruption.test.ts"],
  },
  {
    name: "crc-skipped-sstable-block",
    description: "SSTable block reads do not check the block CRC",
    file: "src/sstable/block_reader.ts",
    search: "if (Bun.hash.crc32(framed.subarray(0, n + 1)) !== expected) {",
    replace: "if (false) {",
    tests: ["test/sstable/table.test.ts", "test/engine/corruption.test.ts"],
  },
  {
    name: "crc-skipped-replication-frame",
    description: "the replication frame decoder does not check frame CRCs",
    file: "src/replication/frame_codec.ts",
    search: "if (Bun.hash.crc32(this.buf.subarray(this.start + 8, this.start + FRAME_HEADER_BYTES + len)) !== crc) {",
    replace: "if (false) {",
    tests: ["test/replication/frames.test.ts"],
  },
  {
    name: "crc-skipped-checked-cbor",
    description: "the manifest and state-file container does not check its payload CRC",
    file: "src/codec/checked_cbor.ts",
    search: 'if (Bun.hash.crc32(payload) !== v.getUint32(12, true)) bad("checksum mismatch");',
    replace: "",
    tests: ["test/manifest/format.test.ts", "test/engine/corruption.test.ts"],
  },

  // ================================================================== issue-8 follow-up block
  // Folded in from the helpers' own mutant lists (the codec runner bench/codec_mutants.ts,
  // now deleted; the replication, power-cut, engine and input notes). Kept together so a
  // merge with entries added elsewhere stays simple.

  // ------------------------------------------------------------------ codec (was bench/codec_mutants.ts)
  {
    name: "zigzag-negative-sign",
    description: "svarint zigzag maps a negative v to -2v+1 instead of -2v-1 (collides with positives)",
    file: "src/codec/bytes.ts",
    search: "this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1);",
    replace: "this.uvarint(v >= 0 ? v * 2 : -v * 2 + 1);",
    tests: ["test/codec/properties.test.ts"],
  },
  {
    name: "str-length-off-by-one",
    description: "a string of 128+ bytes is written with its length prefix one short",
    file: "src/codec/bytes.ts",
    search: "      this.uvarint(written);\n      this.raw(tmp);",
    replace: "      this.uvarint(written - 1);\n      this.raw(tmp);",
    tests: ["test/codec/properties.test.ts"],
  },
  {
    name: "str-reserve-utf16-units",
    description: "str reserves one byte per UTF-16 unit, so encodeInto truncates non-ASCII text",
    file: "src/codec/bytes.ts",
    search: "this.ensure(s.length * 3 + MAX_UVARINT_BYTES + 1);",
    replace: "this.ensure(s.length + MAX_UVARINT_BYTES + 1);",
    tests: ["test/codec/properties.test.ts"],
  },
  {
    name: "svarint-accepts-fractions",
    description: "svarint no longer refuses fractions (zigzag turns 0.5 into garbage)",
    file: "src/codec/bytes.ts",
    search: "if (!Number.isInteger(v) || v < -TWO_52 || v >= TWO_52) throw",
    replace: "if (v < -TWO_52 || v >= TWO_52) throw",
    tests: ["test/codec/properties.test.ts"],
  },
  {
    name: "u64-wraps-out-of-range",
    description: "u64 writes negative, fractional or > 2^53 values instead of refusing them",
    file: "src/codec/bytes.ts",
    search: "if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER) || !Number.isInteger(v)) throw new RangeError(`u64",
    replace: "if (false) throw new RangeError(`u64",
    tests: ["test/codec/properties.test.ts"],
  },
  {
    name: "decimal-column-no-range-recheck",
    description: "the decimal column skips the 2^50 re-check at the final scale (large values lose digits)",
    file: "src/codec/columns.ts",
    search: "if (s / p !== v || Math.abs(s) > MAX_ABS_SCALED) {",
    replace: "if (s / p !== v) {",
    tests: ["test/codec/properties.test.ts", "test/codec/columns.test.ts"],
  },
  {
    name: "frame-decoder-view-of-reused-buffer",
    description: "FrameDecoder hands out a view of its reused buffer (a later frame overwrites an earlier payload)",
    file: "src/replication/frame_codec.ts",
    search: "const payload = this.buf.slice(",
    replace: "const payload = this.buf.subarray(",
    tests: ["test/replication/properties.test.ts", "test/replication/frames.test.ts"],
  },
  {
    name: "wal-record-header-no-ensure",
    description: "reserveRecordHeader moves past the header without growing the writer",
    file: "src/wal/record.ts",
    search: "  w.ensure(RECORD_HEADER_BYTES);\n  w.lengthBytes = start + RECORD_HEADER_BYTES;",
    replace: "  w.lengthBytes = start + RECORD_HEADER_BYTES;",
    tests: ["test/wal/properties.test.ts"],
  },
  {
    name: "wal-finish-record-stale-buffer",
    description: "finishRecord keeps the buffer it took before a grow (CRC and length land in the old one)",
    file: "src/wal/record.ts",
    search: "  const buf = w.buf;\n  const view = w.view;",
    replace: "  const buf = w.buf;\n  w.ensure(w.buf.length - w.lengthBytes + 1);\n  const view = w.view;",
    tests: ["test/wal/properties.test.ts"],
  },
  {
    name: "manifest-writes-unreadable",
    description: "encodeManifest writes a manifest its own reader refuses (the write-side check is skipped)",
    file: "src/manifest/format.ts",
    search: "  if (problem) throw new RangeError(`refusing to write",
    replace: "  if (problem && false) throw new RangeError(`refusing to write",
    tests: ["test/codec/properties.test.ts", "test/manifest/format.test.ts", "test/sstable/properties.test.ts"],
  },

  // ------------------------------------------------------------------ the power-cut simulation (src/vfs/mem_fs.ts)
  // Not product defects, but each would blind the power-cut and model tests to the
  // durability mutants above (the issue: "40 of 40 cuts landed mid-flush").
  {
    name: "memfs-sync-same-turn",
    description: "MemFs.datasync completes in the same turn, so no cut can fall between an append and its sync",
    file: "src/vfs/mem_fs.ts",
    search: "    const turns = this.fs.syncTurns();",
    replace: "    const turns = 0;",
    tests: ["test/vfs/mem_fs.test.ts"],
  },
  {
    name: "memfs-rename-durable-at-once",
    description: "MemFs makes a rename survive a power cut without a sync of its directory",
    file: "src/vfs/mem_fs.ts",
    search: "    this.entries.set(toPath, ino);\n    this.emit(\"rename\", fromPath);",
    replace: "    this.entries.set(toPath, ino);\n    this.durableEntries.delete(fromPath);\n    this.durableEntries.set(toPath, ino);\n    this.emit(\"rename\", fromPath);",
    tests: ["test/vfs/mem_fs.test.ts"],
  },
  {
    name: "memfs-mkdir-durable-at-once",
    description: "MemFs makes a new directory survive a power cut without a sync of its parent",
    file: "src/vfs/mem_fs.ts",
    search: "      this.dirs.add(d);\n      d = dirname(d);",
    replace: "      this.dirs.add(d);\n      this.durableDirs.add(d);\n      d = dirname(d);",
    tests: ["test/vfs/mem_fs.test.ts"],
  },

  // ------------------------------------------------------------------ WAL: torn tail vs corruption, salvage
  {
    name: "recovery-drops-last-record",
    description: "WAL recovery replays every record of a segment but the last",
    file: "src/wal/recovery.ts",
    search: "    for (let i = 0; i < records.length; i++) {",
    replace: "    for (let i = 0; i < records.length - 1; i++) {",
    tests: ["test/wal/recovery.test.ts", "test/engine/powercut.test.ts", "test/engine/model.test.ts"],
  },
  {
    name: "midlog-corruption-as-torn-tail",
    description: "a bad record in the newest segment is cut as a torn tail even when valid records follow it",
    file: "src/wal/recovery.ts",
    search: "const torn = isNewest && !g.followedByValid;",
    replace: "const torn = isNewest;",
    tests: ["test/wal/recovery.test.ts", "test/engine/damage.test.ts"],
  },
  {
    name: "older-segment-damage-as-torn-tail",
    description: "damage at the end of an OLDER segment is cut as a torn tail (acknowledged writes dropped)",
    file: "src/wal/recovery.ts",
    search: "const torn = isNewest && !g.followedByValid;",
    replace: "const torn = !g.followedByValid;",
    tests: ["test/wal/recovery.test.ts", "test/engine/damage.test.ts"],
  },
  {
    name: "torn-tail-as-corruption",
    description: "a torn tail (a crash mid-append) is treated as corruption: the node refuses to start",
    file: "src/wal/recovery.ts",
    search: "const torn = isNewest && !g.followedByValid;",
    replace: "const torn = false;",
    tests: ["test/wal/recovery.test.ts", "test/engine/powercut.test.ts"],
  },
  {
    name: "torn-tail-unreported",
    description: "a torn tail is cut silently: no report, no log line",
    file: "src/wal/recovery.ts",
    search: "      noteDamage({ file: name, offsetBytes: g.offsetBytes,",
    replace: "      if (!torn) noteDamage({ file: name, offsetBytes: g.offsetBytes,",
    tests: ["test/wal/recovery.test.ts", "test/engine/powercut.test.ts"],
  },
  {
    name: "recovery-no-resync-after-damage",
    description: "recovery does not look for valid records after damage (everything after it is dropped as a tail)",
    file: "src/wal/recovery.ts",
    search: "while (q < bytes.length && !validRecordAt(bytes, v, q)) q++;",
    replace: "q = bytes.length;",
    tests: ["test/wal/recovery.test.ts", "test/engine/damage.test.ts"],
  },
  {
    name: "salvage-deletes-segment",
    description: "salvage deletes the damaged segment instead of moving it aside",
    file: "src/wal/recovery.ts",
    search: "    vfs.rename(joinPath(dir, name), joinPath(dir, movedTo));",
    replace: "    vfs.remove(joinPath(dir, name));",
    tests: ["test/wal/recovery.test.ts", "test/engine/damage.test.ts"],
  },
  {
    name: "salvage-moves-before-flush",
    description: "salvage moves the damaged segment aside before its replayed writes are flushed (a crash then loses them)",
    file: "src/engine/db.ts",
    search: "      await this.flush();\n      moveSegmentsAside(vfs, walDir, result.salvaged, this.recovery);",
    replace: "      moveSegmentsAside(vfs, walDir, result.salvaged, this.recovery);",
    tests: ["test/engine/damage.test.ts", "test/wal/recovery.test.ts"],
  },

  // ------------------------------------------------------------------ retention against the clock
  {
    name: "retention-trusts-clock",
    description: "retention measures from the wall clock even when it is far ahead of the newest stored point",
    file: "src/engine/retention.ts",
    search: "if (newestStoredTsMs === undefined || nowMs <= newestStoredTsMs + maxClockLeadMs) {",
    replace: "if (true) {",
    tests: ["test/engine/retention.test.ts"],
  },
  {
    name: "retention-accepts-expired-writes",
    description: "a write older than the retention window is acknowledged (and then dropped) instead of refused",
    file: "src/engine/retention.ts",
    search: "  if (ts >= d.cutoffMs) return;",
    replace: "  return;",
    tests: ["test/engine/retention.test.ts"],
  },
  {
    name: "retention-removals-not-counted",
    description: "what retention removes is neither counted nor logged",
    file: "src/engine/db.ts",
    search: "    this.retentionRemovedPoints += points;",
    replace: "",
    tests: ["test/engine/retention.test.ts"],
  },

  // ------------------------------------------------------------------ damaged SSTables, read errors, full disk
  {
    name: "no-quarantine-at-open",
    description: "a damaged SSTable footer stops the node from starting (no quarantine)",
    file: "src/engine/quarantine.ts",
    search: "        if (!(e instanceof CorruptionError)) throw e;",
    replace: "        throw e;",
    tests: ["test/engine/damage.test.ts", "test/server/damage.test.ts"],
  },
  {
    name: "keys-fail-on-damaged-block",
    description: "keys() fails for the whole database when one data block is damaged",
    file: "src/engine/db.ts",
    search: "        if (!(e instanceof CorruptionError)) throw e;\n        damaged ??= e;",
    replace: "        throw e;",
    tests: ["test/engine/damage.test.ts", "test/server/damage.test.ts"],
  },
  {
    name: "range-stream-no-error-line",
    description: "an NDJSON /v1/range that hits a damaged block mid-stream ends without its {\"error\"} line",
    file: "src/server/http_api.ts",
    search: "            controller.enqueue(enc.encode(JSON.stringify({ error: msg }) + \"\\n\"));\n",
    replace: "",
    tests: ["test/server/damage.test.ts"],
  },
  {
    name: "client-ignores-stream-error-line",
    description: "the client treats a mid-stream {\"error\"} line as the end of the data",
    file: "src/client/http_client.ts",
    search: "        if (\"error\" in item) throw new ClientError(item.error, 500);",
    replace: "        if (\"error\" in item) break;",
    tests: ["test/server/damage.test.ts"],
  },
  {
    name: "failed-flush-keeps-partial-sst",
    description: "a flush that fails (disk full) leaves its partial .sst file in sst/",
    file: "src/engine/db.ts",
    search: "      if (builder) {\n        try {\n          builder.abandon();",
    replace: "      if (builder && false) {\n        try {\n          builder.abandon();",
    tests: ["test/engine/damage.test.ts"],
  },
  {
    name: "full-disk-refuses-start",
    description: "a leader that cannot create its WAL segment on a full disk refuses to start (no read-only start)",
    file: "src/engine/db.ts",
    search: "        // Every acknowledged write was just replayed: serve reads, refuse writes.\n",
    replace: "        throw e;\n",
    tests: ["test/engine/damage.test.ts", "test/server/damage.test.ts"],
  },
  {
    name: "stop-claims-clean-after-failed-save",
    description: "an orderly stop says \"all data is on disk\" (exit 0) after a failed save",
    file: "src/server/node_lifecycle.ts",
    search: "  if (problems.length) {",
    replace: "  if (false) {",
    tests: ["test/server/damage.test.ts"],
  },

  // ------------------------------------------------------------------ replication: pre-auth limits
  {
    name: "preauth-frame-limit-72mib",
    description: "a peer that has not passed HELLO may send a 72 MiB frame",
    file: "src/replication/format.ts",
    search: "export const PREAUTH_MAX_FRAME_PAYLOAD_BYTES = 16 * 1024;",
    replace: "export const PREAUTH_MAX_FRAME_PAYLOAD_BYTES = 72 * 1024 * 1024;",
    tests: ["test/replication/adversarial.test.ts -t huge frames from unauthenticated peers", "test/replication/adversarial.test.ts"],
  },
  {
    name: "no-cap-unauthenticated-connections",
    description: "any number of connections may sit before HELLO",
    file: "src/replication/format.ts",
    search: "export const MAX_UNAUTHENTICATED_CONNECTIONS = 16;",
    replace: "export const MAX_UNAUTHENTICATED_CONNECTIONS = 1_000_000;",
    tests: ["test/replication/adversarial.test.ts -t connections beyond 16 in the handshake", "test/replication/adversarial.test.ts"],
  },
  {
    name: "no-handshake-deadline",
    description: "a connection may take 10 minutes to say HELLO",
    file: "src/replication/format.ts",
    search: "export const HANDSHAKE_DEADLINE_MS = 5_000;",
    replace: "export const HANDSHAKE_DEADLINE_MS = 600_000;",
    tests: ["test/replication/adversarial.test.ts -t connections beyond 16 in the handshake", "test/replication/adversarial.test.ts"],
  },

  // ------------------------------------------------------------------ replication: continuity
  {
    name: "leader-accepts-mid-record-position",
    description: "the leader welcomes a replica position that is not on a record boundary",
    file: "src/replication/server.ts",
    search: "else if (!this.onRecordBoundary(p)) {",
    replace: "else if (false && !this.onRecordBoundary(p)) {",
    tests: ["test/replication/adversarial.test.ts -t not a record boundary gets a snapshot", "test/replication/adversarial.test.ts"],
  },
  {
    name: "boundary-check-accepts-inside-record",
    description: "the record-boundary check accepts an offset inside a record",
    file: "src/replication/segment_reader.ts",
    search: "  return p === offsetBytes;\n}\n\nconst BOUNDARY",
    replace: "  return p >= offsetBytes;\n}\n\nconst BOUNDARY",
    tests: ["test/replication/frames.test.ts"],
  },
  {
    name: "boundary-check-never-refills",
    description: "the record-boundary check reads only its first 1 MiB piece of the segment",
    file: "src/replication/segment_reader.ts",
    search: "    if (p < bufStart || p + RECORD_HEADER_BYTES > bufStart + bufLen) {",
    replace: "    if (bufLen === 0) {",
    tests: ["test/replication/frames.test.ts"],
  },
  {
    name: "replica-no-seq-continuity-check",
    description: "the replica applies records without checking that sequence numbers are contiguous",
    file: "src/replication/client.ts",
    search: "    let last = this.db.dataSequence;\n    for (const rec of scan.records) {",
    replace: "    let last = this.db.dataSequence;\n    for (const rec of scan.records.slice(0, 0)) {",
    tests: ["test/replication/adversarial.test.ts -t finds a sequence gap in its leader", "test/replication/adversarial.test.ts"],
  },
  {
    name: "leader-ships-damaged-records",
    description: "the leader ships WAL bytes that fail their checks instead of stopping the session",
    file: "src/replication/server.ts",
    search: "          if (scan.problem) {",
    replace: "          if (scan.problem && false) {",
    tests: ["test/replication/adversarial.test.ts -t fails its checksum after WELCOME", "test/replication/adversarial.test.ts"],
  },
  {
    name: "snapshot-without-flush",
    description: "the leader sends a requested snapshot without flushing first (writes only in its memtable are missing)",
    file: "src/replication/server.ts",
    search: "        await srv.db.flush();",
    replace: "        void 0;",
    tests: ["test/replication/adversarial.test.ts -t genuine gap in the leader", "test/replication/adversarial.test.ts"],
  },
  {
    name: "leader-drops-series-of-batch",
    description: "the leader stores only the first series of each write batch (6b compares every point)",
    file: "src/engine/db.ts",
    search: "    const groups = groupPoints(points, now);",
    replace: "    const groups = groupPoints(points, now).slice(0, 1);",
    tests: ["test/engine/model.test.ts", "test/replication/integration.test.ts"],
  },

  // ------------------------------------------------------------------ replication: reconnects, ids, status
  {
    name: "backoff-reset-at-welcome",
    description: "the reconnect backoff resets after every WELCOME (a failing session retries forever, fast)",
    file: "src/replication/client.ts",
    search: "            welcomedAtMs = Date.now();\n",
    replace: "            welcomedAtMs = Date.now();\n            this.attempt = 0;\n",
    tests: ["test/replication/adversarial.test.ts -t fails its checksum after WELCOME", "test/replication/adversarial.test.ts"],
  },
  {
    name: "backoff-progress-always",
    description: "every session counts as progress, so the backoff never grows",
    file: "src/replication/backoff.ts",
    search: "  return p.appliedBytes > 0 || p.welcomedMs >= HEALTHY_SESSION_MS;",
    replace: "  return true;",
    tests: ["test/replication/policy.test.ts"],
  },
  {
    name: "duplicate-replica-ids-undiagnosed",
    description: "two live replicas with one id replace each other at the leader without a diagnosis",
    file: "src/replication/server.ts",
    search: "    const other = srv.liveSessionOf(h.replicaId, this);",
    replace: "    const other = undefined as Session | undefined;",
    tests: ["test/replication/adversarial.test.ts -t two replicas sharing a NODE_ID", "test/replication/adversarial.test.ts"],
  },
  {
    name: "lag-from-last-state-save",
    description: "replica lag is measured from the last state save (a replica that never caught up shows no lag)",
    file: "src/replication/status.ts",
    search: "  const since = state.caughtUpMs || state.createdMs || state.lastContactMs || state.updatedMs;",
    replace: "  const since = state.caughtUpMs || state.updatedMs;",
    tests: ["test/replication/policy.test.ts"],
  },
  {
    name: "status-ignores-snapshot-demand",
    description: "replica status stays healthy while the replica waits for a snapshot",
    file: "src/replication/status.ts",
    search: "  if (state.snapshotWanted) problems.push",
    replace: "  if (false) problems.push",
    tests: ["test/replication/policy.test.ts"],
  },
  {
    name: "replica-entries-not-recounted",
    description: "after a replica crash, records applied since its last state save are not recounted (Total entries drifts)",
    file: "src/replication/client.ts",
    search: "      if (!this.state.snapshot) this.countUnsavedRecords(this.state.position, walPos);",
    replace: "",
    tests: ["test/replication/integration.test.ts -t SIGKILLed mid-catch-up", "test/replication/integration.test.ts"],
  },
  {
    name: "replica-misses-http-peer",
    description: "a replica pointed at an HTTP port does not recognise the answer (says \"half-open link?\")",
    file: "src/replication/client.ts",
    search: "  if (chunk.length < sig.length) return false;",
    replace: "  if (chunk.length >= 0) return false;",
    tests: ["test/replication/adversarial.test.ts -t pointed at the leader's HTTP port", "test/replication/adversarial.test.ts"],
  },

  // ------------------------------------------------------------------ input: values, keys, budgets
  {
    name: "engine-accepts-non-finite",
    description: "the engine stores NaN and +-Infinity (read back as null)",
    file: "src/engine/validate.ts",
    search: "    if (!Number.isFinite(value)) {",
    replace: "    if (false) {",
    tests: ["test/engine/validate.test.ts"],
  },
  {
    name: "http-json-accepts-non-finite",
    description: "JSON 1e309 (Infinity) reaches the engine instead of a 400 that names the float64 range",
    file: "src/server/http_api.ts",
    search: "      if (typeof p.value === \"number\" && !Number.isFinite(p.value)) {",
    replace: "      if (false) {",
    tests: ["test/server/limits.test.ts -t 400 naming the point, on JSON", "test/server/limits.test.ts", "test/engine/validate.test.ts"],
  },
  {
    name: "key-control-chars-accepted",
    description: "keys with newlines and other control characters are accepted (one-key-a-line listings become ambiguous)",
    file: "src/engine/validate.ts",
    search: "  if (purpose === \"write\") {",
    replace: "  if (false) {",
    tests: ["test/engine/validate.test.ts"],
  },
  {
    name: "write-budget-record-bound-off",
    description: "the write budget never refuses a request for the WAL record it would make (100 MB records, 500)",
    file: "src/server/write_budget.ts",
    search: "    if (this.recordBytes > l.maxRecordBytes) {",
    replace: "    if (false) {",
    tests: ["test/server/limits.test.ts -t a JSON body past the WAL record bound", "test/server/write_budget.test.ts", "test/server/limits.test.ts"],
  },
  {
    name: "write-budget-json-path-off",
    description: "JSON and NDJSON writes are not counted against the write budget",
    file: "src/server/http_api.ts",
    search: "      budget.add(p.key, p.value, unit, lineOf ? lineOf[i]! : i);",
    replace: "",
    tests: ["test/server/limits.test.ts -t a JSON body past the WAL record bound", "test/server/write_budget.test.ts", "test/server/limits.test.ts"],
  },
  {
    name: "write-budget-ts-underestimated",
    description: "the write budget counts 5 bytes for a timestamp (an epoch-ms svarint takes 6): the bound is not an upper bound",
    file: "src/server/write_budget.ts",
    search: "const POINT_TS_BYTES = 10;",
    replace: "const POINT_TS_BYTES = 5;",
    tests: ["test/server/write_budget.test.ts"],
  },
  {
    name: "write-budget-string-bytes-uncounted",
    description: "the write budget does not count the bytes of string values",
    file: "src/server/write_budget.ts",
    search: "STRING_VALUE_OVERHEAD_BYTES + utf8Length(value));",
    replace: "STRING_VALUE_OVERHEAD_BYTES);",
    tests: ["test/server/write_budget.test.ts"],
  },
  {
    name: "seq-taken-before-encoding",
    description: "a batch takes its sequence number before it is encoded, so a refused batch leaves a gap",
    file: "src/engine/db.ts",
    search: "    const seq = this.lastSeq + 1;\n    const record = encodePutBatch(seq, groups);\n    this.lastSeq = seq;",
    replace: "    const seq = ++this.lastSeq;\n    const record = encodePutBatch(seq, groups);",
    tests: ["test/engine/validate.test.ts -t a batch too large for one WAL record", "test/server/limits.test.ts", "test/server/write_budget.test.ts"],
  },
  {
    name: "inflight-never-released",
    description: "a request's in-flight body bytes are never given back (the node ends up refusing everything)",
    file: "src/server/inflight_bytes.ts",
    search: "    this.pool.give(n);",
    replace: "",
    tests: ["test/server/inflight_bytes.test.ts", "test/server/limits.test.ts"],
  },
  {
    name: "inflight-gzip-output-uncounted",
    description: "gunzipped bytes are not counted against the in-flight budget",
    file: "src/server/http_api.ts",
    search: "      parts = gunzipBounded(chunks, maxBody, (n) => {\n        if (!account.reserve(n)) throw this.inflightFull();\n      });",
    replace: "      parts = gunzipBounded(chunks, maxBody, () => {});",
    tests: ["test/server/limits.test.ts -t gzip output and decoded text count", "test/server/limits.test.ts"],
  },
  {
    name: "inflight-text-uncounted",
    description: "the decoded text of a body is not counted against the in-flight budget",
    file: "src/server/http_api.ts",
    search: "    if (!account.reserve(textBytes)) throw this.inflightFull();",
    replace: "",
    tests: ["test/server/limits.test.ts -t gzip output and decoded text count", "test/server/limits.test.ts"],
  },
  {
    name: "health-behind-request-limit",
    description: "/health and /ping wait behind --max-concurrent (a few slow uploads make /health answer 503)",
    file: "src/server/http_api.ts",
    search: "    if (isProbe(url.pathname)) {",
    replace: "    if (false) {",
    tests: ["test/server/limits.test.ts -t /health and /ping answer while", "test/server/limits.test.ts"],
  },

  {
    name: "cli-put-accepts-non-finite",
    description: "`client put k 1e309` sends Infinity (JSON null) instead of refusing it with one clear line",
    file: "src/cli/format.ts",
    search: "    if (!Number.isFinite(n)) {\n      throw new UsageError(`value ${t} is beyond the range of a float64",
    replace: "    if (false) {\n      throw new UsageError(`value ${t} is beyond the range of a float64",
    tests: ["test/server/limits.test.ts -t refuses 1e309, NaN and Infinity with one clear line", "test/server/limits.test.ts"],
  },
  {
    name: "token-file-ignored",
    description: "--token-file is read but not used: the node runs without the token it was given",
    file: "src/cli/secrets.ts",
    search: "  if (file) {\n    let text: string;",
    replace: "  if (false) {\n    let text: string;",
    tests: ["test/server/limits.test.ts -t token-file and CITYHALL_TOKEN keep the token off", "test/server/limits.test.ts"],
  },

  // ------------------------------------------------------------------ input: line protocol
  {
    name: "lp-keys-not-escaped",
    description: "line-protocol keys are not escaped: `coll\\,host=a` and `coll,host=a` map to one series",
    file: "src/server/line_protocol.ts",
    search: "  return needsEscape(s) ? s.replace(/[\\\\,=]/g, \"\\\\$&\") : s;",
    replace: "  return s;",
    tests: ["test/server/line_protocol.test.ts"],
  },
  {
    name: "lp-integer-beyond-2-53-rounded",
    description: "9223372036854775807i is rounded silently instead of refused",
    file: "src/server/line_protocol.ts",
    search: "    if (!Number.isSafeInteger(n)) {",
    replace: "    if (false) {",
    tests: ["test/server/line_protocol.test.ts"],
  },
  {
    name: "lp-negative-unsigned-accepted",
    description: "-5u is accepted as an unsigned integer",
    file: "src/server/line_protocol.ts",
    search: "    if (last === 117 && body.charCodeAt(0) === 45 /* - */) {",
    replace: "    if (false) {",
    tests: ["test/server/line_protocol.test.ts"],
  },
  {
    name: "lp-duplicate-tags-accepted",
    description: "a line with the same tag key twice is accepted",
    file: "src/server/line_protocol.ts",
    search: "    if (i > 0 && tags[i - 1]![0] === k) throw",
    replace: "    if (false) throw",
    tests: ["test/server/line_protocol.test.ts"],
  },
  {
    name: "lp-accepts-non-finite",
    description: "line protocol `v=1e309` is passed on as Infinity instead of refused with the line and field",
    file: "src/server/line_protocol.ts",
    search: "  if (!Number.isFinite(n)) {\n    throw new LineProtocolError(line, `field \"${field}\": ${raw} is beyond the range",
    replace: "  if (false) {\n    throw new LineProtocolError(line, `field \"${field}\": ${raw} is beyond the range",
    tests: ["test/server/line_protocol.test.ts"],
  },
  {
    name: "wal-roll-sync-failure-ignored",
    description: "a failed fdatasync before a WAL segment roll is rethrown without poisoning the writer, so later writes are acknowledged",
    file: "src/wal/writer.ts",
    search: "      throw this.failure;\n    }\n    // Create the next segment",
    replace: "      this.failure = null;\n      throw e;\n    }\n    // Create the next segment",
    tests: ["test/wal/writer.test.ts"],
  },
  {
    name: "replica-stop-hides-failed-save",
    description: "a replica whose state file could not be saved at stop says it stopped cleanly",
    file: "src/replication/client.ts",
    search: "    if (this.dirty) {\n      this.stopFailures.push(",
    replace: "    if (false) {\n      this.stopFailures.push(",
    tests: ["test/replication/stop_report.test.ts"],
  },
  {
    name: "leader-stop-hides-failed-save",
    description: "a leader whose replica positions could not be saved at stop says it stopped cleanly",
    file: "src/replication/server.ts",
    search: "    if (this.dirty) {\n      this.stopFailures.push(",
    replace: "    if (false) {\n      this.stopFailures.push(",
    tests: ["test/replication/stop_report.test.ts"],
  },
];
