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
//   first one that fails unless told to run them all).

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
  /** Test files (relative to the root) expected to fail on this defect, cheapest first. */
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
    tests: ["test/codec/uvarint_growth.test.ts", "test/codec/columns.test.ts"],
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
];
