// Flags shared by several commands.

import { homedir } from "node:os";
import { join } from "node:path";

export const DEFAULT_HTTP_PORT = 7878;
export const DEFAULT_REPLICATION_PORT = 7879;
export const DEFAULT_REPLICA_HTTP_PORT = 7880;

export function defaultDataDir(): string {
  return process.env.CITYHALL_DATA_DIR || join(homedir(), ".cityhall", "data");
}

export const addrArgs = {
  addr: {
    type: "string",
    description: "node to talk to (host:port)",
    default: process.env.CITYHALL_ADDR || `127.0.0.1:${DEFAULT_HTTP_PORT}`,
    valueHint: "host:port",
  },
  token: { type: "string", description: "bearer token, when the node requires one (prefer --token-file or CITYHALL_TOKEN: ps shows flags)" },
  "token-file": { type: "string", description: "file holding the bearer token", valueHint: "path" },
} as const;

export const dataDirArg = {
  "data-dir": { type: "string", description: "data directory (default ~/.cityhall/data, or CITYHALL_DATA_DIR)", valueHint: "dir" },
} as const;
