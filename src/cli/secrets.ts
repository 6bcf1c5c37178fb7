// Reading the replication secret and TLS files named by flags, with errors that say what to do.

import { readFileSync } from "node:fs";
import { UsageError } from "./dispatch.ts";

/** The text of the file `flag` names; one that cannot be read is a usage error naming the flag. */
function readFlagFile(flag: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${flag} ${path}: ${(e as Error).message}`);
  }
}

export function readSecretFile(path: string | undefined): Uint8Array | undefined {
  if (!path) return undefined;
  const secret = readFlagFile("--secret-file", path).replace(/[\r\n]+$/, "");
  if (secret.length < 16) {
    throw new UsageError(`--secret-file ${path} holds ${secret.length} characters; use at least 16 (e.g. openssl rand -hex 32 > ${path})`);
  }
  return new TextEncoder().encode(secret);
}

export function readPemFile(path: string | undefined, flag: string): string | undefined {
  if (!path) return undefined;
  return readFlagFile(flag, path);
}

/**
 * The HTTP token: from --token-file (preferred), CITYHALL_TOKEN, or --token. A token on the
 * command line is visible to every user of the machine (`ps`, /proc/<pid>/cmdline), so
 * `warn`, when given, is told about it.
 */
export function resolveToken(
  args: { token?: string; "token-file"?: string },
  warn?: (message: string) => void,
): string | undefined {
  const file = args["token-file"];
  if (file && args.token) throw new UsageError("give the token once: --token-file or --token, not both");
  if (file) {
    const token = readFlagFile("--token-file", file).replace(/[\r\n]+$/, "");
    if (token === "" || /[\r\n]/.test(token)) {
      throw new UsageError(`--token-file ${file} must hold the token on one line (e.g. openssl rand -hex 32 > ${file})`);
    }
    return token;
  }
  if (args.token) {
    warn?.("cityhall: --token on the command line is visible to every user of this machine (ps); use --token-file PATH or the CITYHALL_TOKEN environment variable");
    return args.token;
  }
  return process.env.CITYHALL_TOKEN || undefined;
}
