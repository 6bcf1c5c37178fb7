export type { OpenMode, Vfs, VfsFile } from "./vfs.ts";
export { dirname, joinPath, writeFileAtomic } from "./vfs.ts";
export { RealFs } from "./real_fs.ts";
export { MemFs } from "./mem_fs.ts";
export type { Fault, FaultOp } from "./mem_fs.ts";
