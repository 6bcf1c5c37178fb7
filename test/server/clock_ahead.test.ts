// Retention with a clock far ahead, through the HTTP API: line-protocol lines without a
// timestamp are stamped by the database with its clock (the one retention measures), so a
// stamp from a wrong clock does not lift the retention clock bound and real writes after it
// are still accepted (engine/retention.ts).
import { expect, test } from "bun:test";
import { Db } from "../../src/engine/db.ts";
import { HttpApi } from "../../src/server/http_api.ts";
import { Registry } from "../../src/server/metrics.ts";
import { MemFs } from "../../src/vfs/mem_fs.ts";

const DAY_MS = 24 * 3600 * 1000;

test("a line without a timestamp, stamped with a clock a year ahead, does not make later real writes be refused", async () => {
  const realNow = Date.now();
  const fastNow = realNow + 365 * DAY_MS;
  const quiet = { info() {}, warn() {}, error() {} };
  const db = await Db.open("/db", { vfs: new MemFs(), retentionMs: 30 * DAY_MS, clock: () => fastNow, autoCompact: false, logger: quiet });
  const http = new HttpApi(db, { host: "127.0.0.1", port: 0, role: "leader", dataDir: "/db" }, new Registry(), quiet);
  http.start();
  try {
    const base = `http://127.0.0.1:${http.port}`;
    const first = await fetch(`${base}/write?precision=ms`, { method: "POST", body: `m v=1 ${realNow}` });
    expect(first.status).toBe(204);
    const stamped = await fetch(`${base}/write`, { method: "POST", body: "m v=2" });
    expect(stamped.status).toBe(204);
    const later = await fetch(`${base}/write?precision=ms`, { method: "POST", body: `m v=3 ${realNow + 1000}` });
    expect(later.status).toBe(204);
    const [key] = db.keys();
    expect([...db.range(key!)].map((p) => [p.ts, p.value])).toEqual([
      [realNow, 1],
      [realNow + 1000, 3],
      [fastNow, 2], // stamped by the database's clock, the one retention measures
    ]);
  } finally {
    await http.stop(true);
    await db.close();
  }
});
