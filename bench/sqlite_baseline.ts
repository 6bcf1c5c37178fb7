// The bun:sqlite baseline the benchmarks compare CityHall with: one table of points keyed by
// (series, ts), WAL journal and synchronous=FULL, so a committed batch is on disk as an
// acknowledged CityHall write is. One definition, so that every figure compares with the same
// SQLite set-up.

import { Database } from "bun:sqlite";
import type { Point } from "./workload.ts";

/** Opens (creating) `${dir}/bench.sqlite`; `writeBatch` stores a batch in one durable transaction. */
export function openSqliteBaseline(dir: string): { db: Database; writeBatch: (points: Point[]) => void } {
  const db = new Database(`${dir}/bench.sqlite`, { create: true });
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
  db.exec("CREATE TABLE IF NOT EXISTS points (series TEXT NOT NULL, ts INTEGER NOT NULL, v, PRIMARY KEY (series, ts)) WITHOUT ROWID");
  const ins = db.prepare("INSERT OR REPLACE INTO points (series, ts, v) VALUES (?, ?, ?)");
  const tx = db.transaction((ps: Point[]) => {
    for (const p of ps) ins.run(p.key, p.ts, p.value);
  });
  return { db, writeBatch: (ps) => void tx(ps) };
}
