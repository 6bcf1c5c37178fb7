// Typed errors. Every message names the component, what happened and, where a user can act,
// what to do: `cityhall/wal: checksum mismatch in 000007.wal at offset 81920`.

/** Stable error codes; callers (HTTP layer, CLI) map them to statuses and exit codes. */
export type ErrorCode =
  | "INVALID_ARGUMENT" // the caller passed something the data model does not allow
  | "CORRUPTION" // bytes on disk or on the wire fail a checksum or a structural check
  | "IO" // the operating system refused an operation (ENOSPC, EIO, EACCES, ...)
  | "CLOSED" // the database was closed or failed and accepts no more work
  | "READ_ONLY" // the node refuses writes (a replica, or a failed WAL)
  | "UNAVAILABLE"; // the node cannot take this request now (e.g. started read-only on a full disk); retry later

export class CityHallError extends Error {
  readonly code: ErrorCode;
  readonly component: string;
  constructor(code: ErrorCode, component: string, message: string, options?: { cause?: unknown }) {
    super(`cityhall/${component}: ${message}`, options);
    this.name = "CityHallError";
    this.code = code;
    this.component = component;
  }
}

export class InvalidArgumentError extends CityHallError {
  constructor(component: string, message: string) {
    super("INVALID_ARGUMENT", component, message);
    this.name = "InvalidArgumentError";
  }
}

/** A checksum or structural check failed. `file` and `offsetBytes` locate the damage. */
export class CorruptionError extends CityHallError {
  readonly file: string | undefined;
  readonly offsetBytes: number | undefined;
  constructor(component: string, message: string, file?: string, offsetBytes?: number) {
    const where = file === undefined ? "" : ` in ${file}${offsetBytes === undefined ? "" : ` at offset ${offsetBytes}`}`;
    super("CORRUPTION", component, `${message}${where}`);
    this.name = "CorruptionError";
    this.file = file;
    this.offsetBytes = offsetBytes;
  }
}

export class IoError extends CityHallError {
  /** errno name from the OS, e.g. "ENOSPC". */
  readonly errno: string | undefined;
  constructor(component: string, message: string, cause: unknown) {
    const errno = errnoOf(cause);
    super("IO", component, `${message}: ${describeErrno(errno, cause)}`, { cause });
    this.name = "IoError";
    this.errno = errno;
  }
}

export class ClosedError extends CityHallError {
  constructor(component: string, message: string) {
    super("CLOSED", component, message);
    this.name = "ClosedError";
  }
}

export function errnoOf(e: unknown): string | undefined {
  if (e && typeof e === "object" && "code" in e && typeof (e as { code: unknown }).code === "string") {
    return (e as { code: string }).code;
  }
  return undefined;
}

function describeErrno(errno: string | undefined, cause: unknown): string {
  switch (errno) {
    case "ENOSPC":
      return "the disk is full (ENOSPC); free space or move --data-dir, then retry";
    case "EDQUOT":
      return "the disk quota is exhausted (EDQUOT); raise the quota or free space";
    case "EACCES":
    case "EPERM":
      return `permission denied (${errno}); check the owner and mode of the data directory`;
    case "EIO":
      return "the device reported an I/O error (EIO); check the storage medium";
    case "EROFS":
      return "the file system is read-only (EROFS)";
    default:
      return cause instanceof Error ? cause.message : String(cause);
  }
}
