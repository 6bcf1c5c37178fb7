// The version comes from package.json; `bun build --compile` embeds it in the binary.
import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;
