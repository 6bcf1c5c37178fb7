export { Db } from "./engine/db.ts";
export type { DbStats, Point, PointWrite, RangeOptions, WriteResult } from "./engine/db.ts";
export type { DbOptions, Logger } from "./engine/options.ts";
export { parseSyncMode } from "./engine/options.ts";
export * from "./errors.ts";
export * from "./vfs/index.ts";
