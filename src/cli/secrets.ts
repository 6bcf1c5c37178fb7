// Reading the replication secret and TLS files named by flags, with errors that say what to do.

import { readFileSync } from "node:fs";
import { UsageError } from "./dispatch.ts";

export function readSecretFile(path: string | undefined): Uint8Array | undefined {
  if (!path) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read --secret-file ${path}: ${(e as Error).message}`);
  }
  const secret = text.replace(/[\r\n]+$/, "");
  if (secret.length < 16) {
    throw new UsageError(`--secret-file ${path} holds ${secret.length} characters; use at least 16 (e.g. openssl rand -hex 32 > ${path})`);
  }
  return new TextEncoder().encode(secret);
}

export function readPemFile(path: string | undefined, flag: string): string | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${flag} ${path}: ${(e as Error).message}`);
  }
}
