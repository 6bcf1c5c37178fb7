// Codec mutants: shows that the codec property tests fail on the defects they exist for.
// Copies the tree to a temporary directory, applies one known defect at a time, runs the
// property tests there and reports which tests killed each mutant. The working tree is
// never touched.
//
//   bun bench/codec_mutants.ts            every mutant
//   bun bench/codec_mutants.ts M1 M5      only those
//
// Exit status 1 when a mutant survives (or no longer applies: the code it breaks moved).

import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const TESTS = ["test/codec/properties.test.ts", "test/wal/properties.test.ts", "test/sstable/properties.test.ts", "test/replication/properties.test.ts"];

interface Mutant {
  id: string;
  what: string;
  file: string;
  from: string;
  to: string;
}

const MUTANTS: Mutant[] = [
  {
    id: "M1",
    what: "uvarint writes into a stale buffer (the issue's bug: ensure(9) after b = this.buf)",
    file: "src/codec/bytes.ts",
    from: "    } else {\n      while (v >= 0x80) {\n        b[p++] = (v % 128) | 0x80;",
    to: "    } else {\n      this.ensure(9);\n      while (v >= 0x80) {\n        b[p++] = (v % 128) | 0x80;",
  },
  { id: "M2", what: "zigzag sign wrong for negatives", file: "src/codec/bytes.ts", from: "this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1);", to: "this.uvarint(v >= 0 ? v * 2 : -v * 2 + 1);" },
  {
    id: "M3",
    what: "str length prefix off by one for strings of 128 bytes or more",
    file: "src/codec/bytes.ts",
    from: "      this.uvarint(written);\n      this.raw(tmp);",
    to: "      this.uvarint(written - 1);\n      this.raw(tmp);",
  },
  {
    id: "M4",
    what: "str reserves one byte per UTF-16 unit (encodeInto truncates non-ASCII)",
    file: "src/codec/bytes.ts",
    from: "this.ensure(s.length * 3 + MAX_UVARINT_BYTES + 1);",
    to: "this.ensure(s.length + MAX_UVARINT_BYTES + 1);",
  },
  { id: "M5", what: "FrameDecoder returns a view of its reused buffer", file: "src/replication/frame_codec.ts", from: "const payload = this.buf.slice(", to: "const payload = this.buf.subarray(" },
  {
    id: "M6",
    what: "reserveRecordHeader moves lengthBytes without ensure",
    file: "src/wal/record.ts",
    from: "  w.ensure(RECORD_HEADER_BYTES);\n  w.lengthBytes = start + RECORD_HEADER_BYTES;",
    to: "  w.lengthBytes = start + RECORD_HEADER_BYTES;",
  },
  {
    id: "M7",
    what: "decimal column without the 2^50 re-check at the final scale",
    file: "src/codec/columns.ts",
    from: "if (s / p !== v || Math.abs(s) > MAX_ABS_SCALED) {",
    to: "if (s / p !== v) {",
  },
  {
    id: "M8",
    what: "finishRecord keeps a buffer taken before a grow",
    file: "src/wal/record.ts",
    from: "  const buf = w.buf;\n  const view = w.view;",
    to: "  const buf = w.buf;\n  w.ensure(w.buf.length - w.lengthBytes + 1);\n  const view = w.view;",
  },
  {
    id: "M9",
    what: "svarint accepts fractions (zigzag turns 0.5 into -1)",
    file: "src/codec/bytes.ts",
    from: "if (!Number.isInteger(v) || v < -TWO_52 || v >= TWO_52) throw",
    to: "if (v < -TWO_52 || v >= TWO_52) throw",
  },
  {
    id: "M10",
    what: "u64 wraps out-of-range values instead of refusing them",
    file: "src/codec/bytes.ts",
    from: "if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER) || !Number.isInteger(v)) throw new RangeError(`u64",
    to: "if (false) throw new RangeError(`u64",
  },
  {
    id: "M11",
    what: "encodeManifest writes a manifest its reader refuses",
    file: "src/manifest/format.ts",
    from: "  if (problem) throw new RangeError(`refusing to write",
    to: "  if (problem && false) throw new RangeError(`refusing to write",
  },
];

function copyTree(): string {
  const dir = mkdtempSync(join(tmpdir(), "cityhall-codec-mutants-"));
  for (const p of ["src", "test", "bench", "package.json", "tsconfig.json"]) cpSync(join(ROOT, p), join(dir, p), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  return dir;
}

const only = process.argv.slice(2);
let survived = 0;
for (const m of MUTANTS) {
  if (only.length && !only.includes(m.id)) continue;
  const dir = copyTree();
  try {
    const path = join(dir, m.file);
    const text = readFileSync(path, "utf8");
    if (text.split(m.from).length !== 2) {
      console.log(`${m.id} ${m.what}: DOES NOT APPLY (the code it breaks changed in ${m.file}; update the mutant)`);
      survived++;
      continue;
    }
    writeFileSync(path, text.replace(m.from, m.to));
    const p = Bun.spawnSync([process.execPath, "test", ...TESTS, "--timeout", "60000"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    const out = p.stdout.toString() + p.stderr.toString();
    const failed = [...new Set([...out.matchAll(/^\(fail\) (.*?)(?: \[[\d.]+m?s\])?$/gm)].map((x) => x[1]!))];
    console.log(`${m.id} ${m.what}: ${failed.length ? `KILLED by ${failed.length} tests` : "SURVIVED"}`);
    for (const t of failed) console.log(`    ${t}`);
    if (!failed.length) survived++;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
process.exit(survived ? 1 : 0);
