#!/usr/bin/env node
// `seam-guest-ts build gate.ts [-o gate.wasm]`: bundles the plugin module with esbuild
// (TypeScript compiled to JavaScript, the SDK included) and makes the component with
// componentize-js and the QuickJS backend, synchronous (the flags that work with the
// seam host): `jco componentize ENTRY -w WIT -n gate --backend qjs
// --backend-qjs-disable-async -o OUT`.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const wit = resolve(here, "..", "wit", "seam.wit");

function fail(message) {
  console.error(`seam-guest-ts: ${message}`);
  process.exit(2);
}

export async function build(source, out) {
  source = resolve(source);
  if (!existsSync(source) || !/\.(ts|mts|js|mjs)$/.test(source)) fail(`${source}: not a .ts or .js file; give the module that exports your gate`);
  const esbuild = await import("esbuild");
  const tmp = mkdtempSync(join(tmpdir(), "seam-guest-ts-"));
  try {
    // Natively first: a plain error for a mistake, and the plugin's name and kind.
    const native = join(tmp, "native.mjs");
    await esbuild.build({ entryPoints: [source], bundle: true, format: "esm", platform: "node", outfile: native, logLevel: "error" });
    const plugin = (await import(pathToFileURL(native).href)).default;
    if (!plugin || !["gate", "router"].includes(plugin.kind)) fail(`${basename(source)}: export default gate({...}) or router({...})`);
    out = resolve(out ?? `${plugin.name}.wasm`);
    const entry = join(tmp, "entry.js");
    writeFileSync(
      entry,
      `import plugin from ${JSON.stringify(source)};\n` +
        `import { world } from ${JSON.stringify(join(here, "component.js"))};\n` +
        `const w = world(plugin);\n` +
        `export const describe = w.describe;\nexport const prepare = w.prepare;\n` +
        (plugin.kind === "gate" ? `export const check = w.check;\n` : `export const route = w.route;\n`),
    );
    const bundled = join(tmp, "component.js");
    await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2020",
      external: ["seam:plugin/*"],
      outfile: bundled,
      logLevel: "error",
    });
    // jco exports no CLI path: its command line sits beside its API.
    const jco = join(dirname(fileURLToPath(import.meta.resolve("@bytecodealliance/jco"))), "jco.js");
    const started = Date.now();
    const r = spawnSync(process.execPath, [jco, "componentize", bundled, "-w", wit, "-n", plugin.kind, "--backend", "qjs", "--backend-qjs-disable-async", "-o", out], { encoding: "utf8" });
    if (r.status !== 0) {
      process.stderr.write((r.stdout ?? "") + (r.stderr ?? ""));
      fail(`componentize-js failed building ${basename(source)} (exit ${r.status}); its output is above`);
    }
    const size = (statSync(out).size / 1e6).toFixed(1);
    console.log(`built ${plugin.kind} \`${plugin.name}\` ${plugin.version} into ${out} (${size} MB, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return out;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Runs `*.test.ts` / `*.test.js` files under node's test runner, TypeScript compiled
 * by esbuild first (node 20 cannot run TypeScript itself). */
export async function test(files) {
  const { readdirSync } = await import("node:fs");
  if (!files.length) files = readdirSync(".").filter((f) => /\.test\.(ts|mts|js|mjs)$/.test(f));
  if (!files.length) fail("no *.test.ts files here; give the test files to run");
  const esbuild = await import("esbuild");
  const tmp = mkdtempSync(join(tmpdir(), "seam-guest-ts-test-"));
  try {
    const outs = [];
    for (const f of files) {
      const out = join(tmp, basename(f).replace(/\.(ts|mts|js)$/, ".mjs"));
      await esbuild.build({ entryPoints: [resolve(f)], bundle: true, format: "esm", platform: "node", outfile: out, logLevel: "error" });
      outs.push(out);
    }
    const r = spawnSync(process.execPath, ["--test", ...outs], { stdio: "inherit" });
    return r.status ?? 1;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// Run as a command (also through npm's .bin link), not when imported.
if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(resolve(process.argv[1]))) {
  const [command, ...rest] = process.argv.slice(2);
  if (command === "test") process.exit(await test(rest));
  const source = rest[0];
  if (command !== "build" || !source) fail("usage: seam-guest-ts build MODULE.ts [-o NAME.wasm] | seam-guest-ts test [FILE.test.ts…]");
  const o = rest.indexOf("-o");
  await build(source, o >= 0 ? rest[o + 1] : undefined);
}
