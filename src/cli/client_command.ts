// `cityhall client ...`: talks to a running node over HTTP. Data goes to stdout.

import { defineCommand } from "citty";
import { CityHallClient } from "../client/http_client.ts";
import { formatDurationMs } from "../util/units.ts";
import { ExitCode } from "./dispatch.ts";
import { addrArgs } from "./common_args.ts";
import { formatValue, intFlag, parseValueArg } from "./format.ts";
import { resolveToken } from "./secrets.ts";

function client(args: { addr: string; token?: string; "token-file"?: string }): CityHallClient {
  return new CityHallClient(args.addr, { token: resolveToken(args) });
}

const put = defineCommand({
  meta: { name: "put", description: "Write one point: prints OK (numbers are stored as numbers, anything else as text)" },
  args: {
    key: { type: "positional", description: "series key, e.g. sensor.temp.line_7", required: true },
    value: { type: "positional", description: "value: a number or any text", required: true },
    ts: { type: "string", description: "timestamp in ms since the epoch (default: the node's clock)" },
    text: { type: "boolean", description: "store the value as text even if it looks like a number" },
    ...addrArgs,
  },
  async run({ args }) {
    await client(args).put(args.key, parseValueArg(args.value, args.text), intFlag(args.ts, "ts"));
    console.log("OK");
  },
});

const get = defineCommand({
  meta: { name: "get", description: "Newest point of a series: prints VALUE <value>, or NOT_FOUND and exits 1" },
  args: {
    key: { type: "positional", description: "series key", required: true },
    ts: { type: "boolean", description: "also print the timestamp (VALUE <value> <ts>)" },
    ...addrArgs,
  },
  async run({ args }) {
    const p = await client(args).get(args.key);
    if (!p) {
      console.log("NOT_FOUND");
      throw new ExitCode(1);
    }
    console.log(args.ts ? `VALUE ${formatValue(p.value)} ${p.ts}` : `VALUE ${formatValue(p.value)}`);
  },
});

const del = defineCommand({
  meta: { name: "del", description: "Delete a series, or the part between --from and --to (inclusive): prints OK" },
  args: {
    key: { type: "positional", description: "series key", required: true },
    from: { type: "string", description: "first timestamp to delete (ms)" },
    to: { type: "string", description: "last timestamp to delete (ms)" },
    ...addrArgs,
  },
  async run({ args }) {
    await client(args).del(args.key, intFlag(args.from, "from"), intFlag(args.to, "to"));
    console.log("OK");
  },
});

const range = defineCommand({
  meta: { name: "range", description: "Points of a series in time order: one '<ts> <value>' line each (--json: NDJSON)" },
  args: {
    key: { type: "positional", description: "series key", required: true },
    from: { type: "string", description: "first timestamp (ms, inclusive)" },
    to: { type: "string", description: "last timestamp (ms, inclusive)" },
    limit: { type: "string", description: "at most this many points" },
    reverse: { type: "boolean", description: "newest first" },
    json: { type: "boolean", description: "one JSON object a line" },
    ...addrArgs,
  },
  async run({ args }) {
    const out: string[] = [];
    const flush = () => {
      if (out.length) process.stdout.write(out.join("\n") + "\n");
      out.length = 0;
    };
    for await (const p of client(args).range(args.key, {
      from: intFlag(args.from, "from"),
      to: intFlag(args.to, "to"),
      limit: intFlag(args.limit, "limit"),
      reverse: args.reverse,
    })) {
      out.push(args.json ? JSON.stringify(p) : `${p.ts} ${formatValue(p.value)}`);
      if (out.length >= 1000) flush();
    }
    flush();
  },
});

const keys = defineCommand({
  meta: { name: "keys", description: "Series keys starting with PREFIX, one a line" },
  args: { prefix: { type: "positional", description: "key prefix (default: all)", required: false }, ...addrArgs },
  async run({ args }) {
    const ks = await client(args).keys(args.prefix ?? "");
    if (ks.length) process.stdout.write(ks.join("\n") + "\n");
  },
});

const metrics = defineCommand({
  meta: { name: "metrics", description: "The node's Prometheus metrics" },
  args: { ...addrArgs },
  async run({ args }) {
    process.stdout.write(await client(args).metrics());
  },
});

const status = defineCommand({
  meta: { name: "status", description: "Node status: role, version, uptime, storage figures (--json for all of it)" },
  args: { json: { type: "boolean", description: "print the full status as JSON" }, ...addrArgs },
  async run({ args }) {
    const s = await client(args).status();
    if (args.json) {
      console.log(JSON.stringify(s, null, 2));
      return;
    }
    const db = s.db as Record<string, number>;
    console.log(`Role: ${s.role}`);
    console.log(`Version: ${s.version}`);
    console.log(`Data directory: ${s.dataDir}`);
    console.log(`Uptime: ${formatDurationMs((s.uptimeSeconds as number) * 1000)}`);
    console.log(`Last sequence: ${db.lastSeq}`);
    console.log(`SSTables: ${db.tables} (${db.sstBytes} bytes, ${db.sstPoints} points)`);
    console.log(`Memtable: ${db.memtablePoints + db.immutableMemtablePoints} points`);
    console.log(`WAL: ${db.walSegments} segments, ${db.walBytes} bytes`);
    // Damage and degraded modes: only when present, each on its own line.
    const d = s.db as { readOnlyReason?: string | null; quarantined?: { file: string; movedTo: string; points: number }[]; recovery?: { damage: string }[] };
    if (d.readOnlyReason) console.log(`READ-ONLY: ${d.readOnlyReason}`);
    for (const q of d.quarantined ?? []) console.log(`Quarantined: ${q.file} -> sst/${q.movedTo} (${q.points} points unreadable)`);
    const corrupt = (d.recovery ?? []).filter((r) => r.damage === "corruption").length;
    if (corrupt) console.log(`WAL corruption salvaged at start: ${corrupt} damaged region(s); see --json for what was lost`);
  },
});

export const clientCommand = defineCommand({
  meta: { name: "client", description: "Talk to a running node (--addr, default 127.0.0.1:7878)" },
  subCommands: { put, get, del, range, keys, metrics, status },
});
