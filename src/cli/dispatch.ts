// Runs a citty command tree with the behaviour a user expects of a database CLI:
// `--help` anywhere shows that command's usage, `--version` prints the version, an unknown
// command or flag is one clear line and exit 2, and errors never print a stack trace.

import { renderUsage, runCommand } from "citty";
import type { ArgsDef, CommandDef } from "citty";
import { CityHallError } from "../errors.ts";
import { ClientError } from "../client/http_client.ts";

/** Exit codes: 0 ok, 1 "no" (not found, unhealthy), 2 usage or operational error. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

async function resolve<T>(v: T | Promise<T> | (() => T | Promise<T>) | undefined): Promise<T | undefined> {
  return typeof v === "function" ? await (v as () => T | Promise<T>)() : await v;
}

function flagNames(args: ArgsDef): Set<string> {
  const names = new Set<string>(["help", "h"]);
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    names.add(name);
    // citty accepts both kebab-case and camelCase spellings.
    names.add(name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
    const alias = (def as { alias?: string | string[] }).alias;
    for (const a of alias === undefined ? [] : Array.isArray(alias) ? alias : [alias]) names.add(a);
    if (def.type === "boolean") names.add(`no-${name}`);
  }
  return names;
}

function stringFlags(args: ArgsDef): Set<string> {
  const names = new Set<string>();
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "string" || def.type === "enum") {
      names.add(name);
      const alias = (def as { alias?: string | string[] }).alias;
      for (const a of alias === undefined ? [] : Array.isArray(alias) ? alias : [alias]) names.add(a);
    }
  }
  return names;
}

export async function runCli(root: CommandDef<ArgsDef>, argv: string[], version: string): Promise<number> {
  const chain: CommandDef<ArgsDef>[] = [root];
  let cmd = root;
  let rest = argv;
  try {
    if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
      console.log(version);
      return 0;
    }
    // Walk down sub-commands: the first token that is not a flag names the next one.
    for (;;) {
      const subs = await resolve(cmd.subCommands);
      if (!subs || rest.length === 0 || rest[0]!.startsWith("-")) break;
      const next = subs[rest[0]!];
      if (!next) {
        if (cmd.run) break; // a positional argument of this command
        throw new UsageError(`unknown command "${rest[0]}"; try: cityhall ${chainName(chain)} --help`.replace(/\s+--help/, " --help"));
      }
      cmd = (await resolve(next))!;
      chain.push(cmd);
      rest = rest.slice(1);
    }
    if (rest.includes("--help") || rest.includes("-h") || (!cmd.run && rest.length === 0)) {
      console.log(await renderUsage(cmd, chain.length > 1 ? chain[chain.length - 2] : undefined));
      return cmd.run || rest.includes("--help") || rest.includes("-h") ? 0 : 2;
    }
    const args = (await resolve(cmd.args)) ?? {};
    const known = flagNames(args);
    const takesValue = stringFlags(args);
    for (let i = 0; i < rest.length; i++) {
      const a = rest[i]!;
      if (a === "--") break;
      if (!a.startsWith("-") || /^-\d/.test(a)) continue;
      const name = a.replace(/^--?/, "").split("=")[0]!;
      if (!known.has(name)) throw new UsageError(`unknown flag ${a.split("=")[0]}; see: cityhall ${chainName(chain)} --help`);
      if (takesValue.has(name) && !a.includes("=")) {
        if (i + 1 >= rest.length) throw new UsageError(`flag ${a} needs a value`);
        i++;
      }
    }
    for (const [name, def] of Object.entries(args)) {
      if (def.type === "positional" && def.required) {
        const positionals = countPositionals(rest, takesValue);
        const index = Object.entries(args).filter(([, d]) => d.type === "positional").findIndex(([n]) => n === name);
        if (positionals <= index) throw new UsageError(`missing ${name.toUpperCase()}; see: cityhall ${chainName(chain)} --help`);
      }
    }
    await runCommand(cmd, { rawArgs: rest });
    return 0;
  } catch (e) {
    if (e instanceof ExitCode) return e.code;
    const msg = e instanceof UsageError || e instanceof ClientError || e instanceof CityHallError ? e.message : describe(e);
    process.stderr.write(`cityhall: ${msg.replace(/^cityhall\//, "")}\n`);
    return 2;
  }
}

function countPositionals(rest: string[], takesValue: Set<string>): number {
  let n = 0;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === "--") return n + rest.length - i - 1;
    if (a.startsWith("-") && !/^-\d/.test(a)) {
      const name = a.replace(/^--?/, "").split("=")[0]!;
      if (takesValue.has(name) && !a.includes("=")) i++;
      continue;
    }
    n++;
  }
  return n;
}

function chainName(chain: CommandDef<ArgsDef>[]): string {
  return chain
    .slice(1)
    .map((c) => (typeof c.meta === "object" && c.meta && "name" in c.meta ? (c.meta as { name?: string }).name : ""))
    .join(" ");
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    // citty's own errors (e.g. a bad enum value) are already one line.
    return e.message;
  }
  return String(e);
}

export class UsageError extends Error {}
