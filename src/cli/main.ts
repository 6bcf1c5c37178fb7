#!/usr/bin/env bun
// The `cityhall` command: parses flags and formats output; the work happens in the library.

import { defineCommand } from "citty";
import { VERSION } from "../version.ts";
import { clientCommand } from "./client_command.ts";
import { runCli } from "./dispatch.ts";
import { leaderCommand } from "./leader_command.ts";
import { replicaCommand } from "./replica_command.ts";

export const rootCommand = defineCommand({
  meta: {
    name: "cityhall",
    version: VERSION,
    description: "Offline-first time-series store for edge gateways",
  },
  subCommands: {
    leader: leaderCommand,
    serve: { ...leaderCommand, meta: { name: "serve", description: "Alias of leader" } },
    replica: replicaCommand,
    client: clientCommand,
  },
});

if (import.meta.main) {
  const code = await runCli(rootCommand, process.argv.slice(2), VERSION);
  if (code !== 0) process.exit(code);
}
