// The node's logger: consola, every level to stderr (stdout carries data only).

import { createConsola } from "consola";
import type { Logger } from "../engine/options.ts";

export function createLogger(level = 3): Logger & { debug(message: string): void } {
  const c = createConsola({ level, stdout: process.stderr, stderr: process.stderr });
  return {
    info: (m) => c.info(m),
    warn: (m) => c.warn(m),
    error: (m) => c.error(m),
    debug: (m) => c.debug(m),
  };
}
