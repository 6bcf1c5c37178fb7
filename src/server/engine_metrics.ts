// Engine figures for /metrics, read from Db.stats() at scrape time.

import type { Db } from "../engine/db.ts";
import { VERSION } from "../version.ts";
import type { Registry } from "./metrics.ts";

export function registerEngineMetrics(reg: Registry, db: Db, startedMs: number, role: string): void {
  const s = () => db.stats();
  reg.collect("cityhall_build_info", "Version and role of this node (always 1).", "gauge", () => [[{ version: VERSION, role }, 1]]);
  reg.collect("cityhall_uptime_seconds", "Seconds since the node started.", "gauge", () => (Date.now() - startedMs) / 1000);
  reg.collect("cityhall_last_sequence", "Sequence number of the newest write batch.", "gauge", () => s().lastSeq);
  reg.collect("cityhall_flushed_sequence", "Every batch up to this sequence number is in an SSTable.", "gauge", () => s().flushedSeq);
  reg.collect("cityhall_memtable_bytes", "Estimated memory of the active and frozen memtables.", "gauge", () => s().memtableBytes);
  reg.collect("cityhall_memtable_points", "Points in the memtables.", "gauge", () => s().memtablePoints + s().immutableMemtablePoints);
  reg.collect("cityhall_sstables", "Live SSTable files.", "gauge", () => s().tables);
  reg.collect("cityhall_sstable_bytes", "Bytes in live SSTable files.", "gauge", () => s().sstBytes);
  reg.collect("cityhall_sstable_points", "Points stored in SSTables (before deduplication across files).", "gauge", () => s().sstPoints);
  reg.collect("cityhall_wal_segments", "WAL segment files on disk.", "gauge", () => s().walSegments);
  reg.collect("cityhall_wal_bytes", "Bytes in WAL segment files.", "gauge", () => s().walBytes);
  reg.collect("cityhall_wal_syncs_total", "fdatasync calls made by the WAL (group commits).", "counter", () => s().walSyncs);
  reg.collect("cityhall_flushes_total", "Memtables written to SSTables.", "counter", () => s().flushes);
  reg.collect("cityhall_compactions_total", "Compactions finished.", "counter", () => s().compactions);
  reg.collect("cityhall_compaction_running", "1 while a compaction runs.", "gauge", () => (s().compactionRunning ? 1 : 0));
  reg.collect("cityhall_block_cache_bytes", "Memory held by decoded SSTable blocks.", "gauge", () => s().blockCacheBytes);
  reg.collect("cityhall_block_cache_hits_total", "Block cache hits.", "counter", () => s().blockCacheHits);
  reg.collect("cityhall_block_cache_misses_total", "Block cache misses.", "counter", () => s().blockCacheMisses);
  reg.collect("cityhall_wal_recovery_corruptions", "Damaged WAL regions followed by valid records found at the last start (salvaged).", "gauge", () =>
    s().recovery.filter((r) => r.damage === "corruption").length,
  );
  reg.collect("cityhall_sstables_quarantined", "SSTables found damaged at start and moved aside (their points are unreadable).", "gauge", () => s().quarantined.length);
  reg.collect("cityhall_retention_removed_points_total", "Points removed by retention since start.", "counter", () => s().retention.removedPoints);
  reg.collect("cityhall_retention_clock_ahead", "1 while the clock is too far ahead of the newest stored point for retention to trust it.", "gauge", () =>
    s().retention.clockAhead ? 1 : 0,
  );
  reg.collect("cityhall_read_only", "1 when the node started read-only (no writable WAL, e.g. a full disk).", "gauge", () => (s().readOnlyReason ? 1 : 0));
  reg.collect("cityhall_wal_recovery_dropped_bytes", "Bytes of damaged or torn WAL dropped at the last start.", "gauge", () =>
    s().recovery.reduce((n, r) => n + r.droppedBytes, 0),
  );
}
