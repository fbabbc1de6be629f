//! `seam new gate|router NAME [--lang rust|python]`: a plugin project on the guest SDK (a
//! copy of it inside the project), with a passing unit test,
//! a bundle source manifest with a test case, and a README. It builds as it is.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use super::Exit;

/// What to scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Gate,
    Router,
}

/// The plugin's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Typescript,
}

/// Arguments of `seam new`.
#[derive(Args, Debug)]
pub struct NewArgs {
    /// gate or router.
    #[arg(value_enum)]
    kind: Kind,
    /// The plugin's name, kebab-case (e.g. `no-shouting`); also the folder's.
    name: String,
    /// The parent folder (default: the current one).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The language: rust (a crate on seam-guest) or python (a module on seam_guest,
    /// built with componentize-py).
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,
    /// Depend on the seam-guest SDK in this folder (a seam checkout's `guest-sdk/rust`)
    /// instead of the copy `seam new` writes into the project.
    #[arg(long, value_name = "DIR")]
    sdk: Option<PathBuf>,
}

/// The Rust SDK's sources, vendored into every new Rust project as `seam-guest/`, so
/// the project builds wherever it is and whatever machine `seam` was built on.
const SDK_SOURCES: &[(&str, &str)] = &[
    (
        "src/lib.rs",
        include_str!("../../../guest-sdk/rust/src/lib.rs"),
    ),
    (
        "src/__private.rs",
        include_str!("../../../guest-sdk/rust/src/__private.rs"),
    ),
    (
        "src/handoff.rs",
        include_str!("../../../guest-sdk/rust/src/handoff.rs"),
    ),
    (
        "src/log.rs",
        include_str!("../../../guest-sdk/rust/src/log.rs"),
    ),
    (
        "src/testing.rs",
        include_str!("../../../guest-sdk/rust/src/testing.rs"),
    ),
    (
        "src/verdict.rs",
        include_str!("../../../guest-sdk/rust/src/verdict.rs"),
    ),
    (
        "src/json.rs",
        include_str!("../../../guest-sdk/rust/src/json.rs"),
    ),
];

/// The SDK's manifest, made standalone: the workspace's inherited keys written out.
fn sdk_manifest() -> String {
    let mut text = include_str!("../../../guest-sdk/rust/Cargo.toml").to_string();
    for (inherited, own) in [
        ("rust-version.workspace = true", String::new()),
        (
            "version.workspace = true",
            format!("version = \"{}\"", env!("CARGO_PKG_VERSION")),
        ),
        ("edition.workspace = true", "edition = \"2021\"".to_string()),
        (
            "license.workspace = true",
            "license = \"Apache-2.0\"".to_string(),
        ),
        (
            "serde.workspace = true",
            "serde = { version = \"1\", features = [\"derive\"] }".to_string(),
        ),
        (
            "serde_json.workspace = true",
            "serde_json = \"1\"".to_string(),
        ),
        ("[lints]\nworkspace = true\n", String::new()),
    ] {
        text = text.replace(inherited, &own);
    }
    text.replace("\n\n\n", "\n\n")
}

/// The vendored SDK's files, relative to the project.
fn sdk_files() -> Vec<(String, String)> {
    let mut files = vec![
        ("seam-guest/Cargo.toml".to_string(), sdk_manifest()),
        (
            "seam-guest/wit/seam.wit".to_string(),
            newest_wit().to_string(),
        ),
    ];
    for (path, text) in SDK_SOURCES {
        // In a checkout the WIT is two folders up; in the copy it sits beside.
        let text = text.replace("path: \"../../wit\"", "path: \"wit\"");
        files.push((format!("seam-guest/{path}"), text));
    }
    files
}

/// The newest contract's WIT, which every vendored SDK carries.
fn newest_wit() -> &'static str {
    seam_runtime::CONTRACT_WIT[seam_runtime::CONTRACT_WIT.len() - 1].1
}

/// A Python or TypeScript SDK vendored as is: the contract at `wit`, then `sources`.
fn vendored(wit: &str, sources: &[(&str, &str)]) -> Vec<(String, String)> {
    std::iter::once((wit.to_string(), newest_wit().to_string()))
        .chain(sources.iter().map(|(p, t)| (p.to_string(), t.to_string())))
        .collect()
}

pub fn run(args: NewArgs, out: &mut (dyn Write + Send)) -> Result<Exit> {
    let name = &args.name;
    let valid = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !valid {
        bail!("`{name}` is not a plugin name: use kebab-case, lower-case letters, digits and dashes, starting with a letter (e.g. no-shouting)");
    }
    let root = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(name);
    if root.exists() {
        bail!("{} exists; choose another name or folder", root.display());
    }
    // The vendored copy by default; an explicit --sdk by its full path.
    let sdk = match &args.sdk {
        None => "seam-guest".to_string(),
        Some(dir) => {
            let dir = std::fs::canonicalize(dir).with_context(|| {
                format!("--sdk {}: no such folder; give a seam checkout's guest-sdk/rust, or leave --sdk out to use the copy seam new writes", dir.display())
            })?;
            if !dir.join("Cargo.toml").is_file() {
                bail!(
                    "--sdk {}: no Cargo.toml there; give a seam checkout's guest-sdk/rust",
                    dir.display()
                );
            }
            dir.display().to_string().replace('\\', "/")
        }
    };
    let snake = name.replace('-', "_");
    let camel: String = name
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    if args.lang != Lang::Rust {
        if args.sdk.is_some() {
            bail!("--sdk is for --lang rust; a Python or TypeScript project carries its own copy of the SDK");
        }
        let (files, next) = if args.lang == Lang::Python {
            python_project(args.kind, name, &snake, &camel)
        } else {
            typescript_project(args.kind, name, &snake)
        };
        write_project(&root, &files)?;
        writeln!(
            out,
            "created {} `{name}` in {}",
            kind_name(args.kind),
            root.display()
        )?;
        writeln!(out, "next:\n  cd {}\n{next}", root.display())?;
        return Ok(Exit::Passed);
    }
    let (lib, case, kind) = match args.kind {
        Kind::Gate => (
            gate_lib(name, &camel),
            GATE_CASE.replace("{name}", name),
            "gate",
        ),
        Kind::Router => (
            router_lib(name, &camel),
            ROUTER_CASE.replace("{name}", name),
            "router",
        ),
    };
    let mut files: Vec<(String, String)> = vec![
        (
            "Cargo.toml".into(),
            CARGO.replace("{name}", name).replace("{sdk}", &sdk),
        ),
        (".cargo/config.toml".into(), CONFIG.to_string()),
        ("src/lib.rs".into(), lib),
        (
            "bundle.toml".into(),
            (BUNDLE_HEAD.to_string() + BUNDLE)
                .replace("{name}", name)
                .replace("{snake}", &snake)
                + &case,
        ),
        (
            "README.md".into(),
            README
                .replace("{name}", name)
                .replace("{snake}", &snake)
                .replace("{kind}", kind),
        ),
        (".gitignore".into(), "/target\n*.seam\n".to_string()),
    ];
    if args.sdk.is_none() {
        files.extend(sdk_files());
    }
    write_project(&root, &files)?;
    writeln!(out, "created {kind} `{name}` in {}", root.display())?;
    writeln!(out, "next:\n  cd {}\n  cargo test\n  cargo build --release --target wasm32-wasip2\n  seam bundle build . && seam bundle test {name}-0.1.0.seam", root.display())?;
    Ok(Exit::Passed)
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Gate => "gate",
        Kind::Router => "router",
    }
}

fn write_project(root: &std::path::Path, files: &[(String, String)]) -> Result<()> {
    for (file, text) in files {
        let path = root.join(file);
        std::fs::create_dir_all(path.parent().expect("files are in the folder"))
            .with_context(|| format!("creating {}", root.display()))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The Python SDK's files, vendored into every new Python project as `seam_guest/`.
const PY_SDK_SOURCES: &[(&str, &str)] = &[
    (
        "seam_guest/__init__.py",
        include_str!("../../../guest-sdk/python/seam_guest/__init__.py"),
    ),
    (
        "seam_guest/_component.py",
        include_str!("../../../guest-sdk/python/seam_guest/_component.py"),
    ),
    (
        "seam_guest/testing.py",
        include_str!("../../../guest-sdk/python/seam_guest/testing.py"),
    ),
    (
        "seam_guest/build.py",
        include_str!("../../../guest-sdk/python/seam_guest/build.py"),
    ),
    ("seam_guest/py.typed", ""),
];

/// The TypeScript SDK's files, vendored into every new TypeScript project as
/// `seam-guest/` (an npm `file:` dependency).
const TS_SDK_SOURCES: &[(&str, &str)] = &[
    (
        "seam-guest/package.json",
        include_str!("../../../guest-sdk/typescript/package.json"),
    ),
    (
        "seam-guest/src/index.js",
        include_str!("../../../guest-sdk/typescript/src/index.js"),
    ),
    (
        "seam-guest/src/testing.js",
        include_str!("../../../guest-sdk/typescript/src/testing.js"),
    ),
    (
        "seam-guest/src/component.js",
        include_str!("../../../guest-sdk/typescript/src/component.js"),
    ),
    (
        "seam-guest/src/build.js",
        include_str!("../../../guest-sdk/typescript/src/build.js"),
    ),
];

/// A TypeScript gate or router project: the module, its native test, a
/// `package.json`, a `bundle.toml` whose `build` makes the component, a README, and
/// `seam-guest/`.
fn typescript_project(kind: Kind, name: &str, snake: &str) -> (Vec<(String, String)>, String) {
    let module = format!("{snake}_{}", kind_name(kind));
    let fill = |t: &str| {
        t.replace("{name}", name)
            .replace("{module}", &module)
            .replace("{kind}", kind_name(kind))
    };
    let (code, test, case) = match kind {
        Kind::Gate => (TS_GATE, TS_GATE_TEST, GATE_CASE),
        Kind::Router => (TS_ROUTER, TS_ROUTER_TEST, ROUTER_CASE),
    };
    let mut files = vec![
        (format!("{module}.ts"), fill(code)),
        (format!("{module}.test.ts"), fill(test)),
        ("package.json".to_string(), fill(TS_PACKAGE)),
        (
            "bundle.toml".to_string(),
            fill(BUNDLE_HEAD) + &fill(TS_BUNDLE) + &fill(case),
        ),
        ("README.md".to_string(), fill(TS_README)),
        (
            ".gitignore".to_string(),
            "node_modules/\n*.wasm\n*.seam\n".to_string(),
        ),
    ];
    files.extend(vendored("seam-guest/wit/seam.wit", TS_SDK_SOURCES));
    let next = fill(
        "  npm install\n  npm test\n  seam bundle build . && seam bundle test {name}-0.1.0.seam",
    );
    (files, next)
}

const TS_PACKAGE: &str = r#"{
  "name": "{name}",
  "version": "0.1.0",
  "private": true,
  "type": "module",
  "scripts": {
    "test": "seam-guest-ts test",
    "build": "seam-guest-ts build {module}.ts -o {name}.wasm"
  },
  "devDependencies": {
    "@seam/guest": "file:./seam-guest"
  }
}
"#;

const TS_GATE: &str = r#"// `{name}`: a seam gate.
import { Finding, Verdict, gate, s } from "@seam/guest";

export default gate({
  name: "{name}",
  version: "0.1.0",
  description: "Fails text longer than max_chars characters.",
  settings: s.object({
    max_chars: s.integer({ default: 280, description: "Most characters allowed (default 280)." }),
  }),
  // Setup to do once per settings goes in `prepare(settings) { ... }`.
  check(settings: { max_chars: number }, handoff) {
    const verdict = new Verdict();
    for (const t of handoff.texts("")) {
      const n = t.text.length;
      if (n > settings.max_chars) {
        verdict.add(Finding.error("length.chars", `${n} characters, at most ${settings.max_chars} allowed`).at(t, settings.max_chars));
      }
    }
    return verdict;
  },
});
"#;

const TS_GATE_TEST: &str = r#"// `{name}` natively, without building: npm test
import assert from "node:assert/strict";
import { test } from "node:test";

import { check } from "@seam/guest/testing";

import plugin from "./{module}.ts";

test("long text fails and short text passes", () => {
  const verdict = check(plugin, { max_chars: 3 }, "four");
  assert.deepEqual(verdict.codes, ["length.chars"]);
  assert.deepEqual(verdict.findings[0].span, [3, 4]);
  assert.equal(check(plugin, {}, "four").passed, true);
});
"#;

const TS_ROUTER: &str = r#"// `{name}`: a seam router.
import { Route, router, s } from "@seam/guest";

export default router({
  name: "{name}",
  version: "0.1.0",
  description: "Sends a handoff that failed a gate to on_failure, else on.",
  settings: s.object({
    on_failure: s.string({ default: "retry", description: "Where a handoff goes when a gate failed." }),
  }),
  route(settings: { on_failure: string }, handoff, verdicts) {
    const failed = verdicts.find((v) => !v.verdict.passed);
    return failed ? new Route(settings.on_failure, `gate \`${failed.gate}\` failed`) : new Route("next", "every gate passed");
  },
});
"#;

const TS_ROUTER_TEST: &str = r#"// `{name}` natively, without building: npm test
import assert from "node:assert/strict";
import { test } from "node:test";

import { Finding, Verdict } from "@seam/guest";
import { route } from "@seam/guest/testing";

import plugin from "./{module}.ts";

test("a failed gate is retried", () => {
  const failed = { gate: "g", verdict: new Verdict([Finding.error("x", "y")]) };
  assert.equal(route(plugin, {}, "x", [failed]).target, "retry");
  assert.equal(route(plugin, {}, "x", []).target, "next");
});
"#;

const TS_BUNDLE: &str = r#"[[plugins]]
name = "{name}"
file = "{name}.wasm"
build = ["npm", "run", "--silent", "build"]
"#;

const TS_README: &str = r#"# {name}

A seam {kind} in TypeScript, made with `seam new --lang typescript`.

```sh
npm install                                  # jco, componentize-js and esbuild, pinned by seam-guest/
npm test                                     # the tests, under node: no build
seam bundle build .                          # runs `npm run build` ({name}.wasm), then {name}-0.1.0.seam
seam bundle test {name}-0.1.0.seam           # the cases in bundle.toml, through the real host
```

`seam-guest/` is the SDK, copied from the seam that made this project (with the
contract it targets in `seam-guest/wit/seam.wit`). See seam's docs/plugin-authoring.md.
"#;

/// The componentize-py the Python SDK is tested with.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// A Python gate or router project: the module, its native test, a `bundle.toml`
/// whose `build` makes the component, requirements, a README, and `seam_guest/`.
fn python_project(
    kind: Kind,
    name: &str,
    snake: &str,
    camel: &str,
) -> (Vec<(String, String)>, String) {
    let module = format!("{snake}_{}", kind_name(kind));
    let fill = |t: &str| {
        t.replace("{name}", name)
            .replace("{camel}", camel)
            .replace("{module}", &module)
            .replace("{kind}", kind_name(kind))
            .replace("{componentize}", COMPONENTIZE_PY)
    };
    let (code, test, case) = match kind {
        Kind::Gate => (PY_GATE, PY_GATE_TEST, GATE_CASE),
        Kind::Router => (PY_ROUTER, PY_ROUTER_TEST, ROUTER_CASE),
    };
    let mut files = vec![
        (format!("{module}.py"), fill(code)),
        (format!("test_{module}.py"), fill(test)),
        (
            "bundle.toml".to_string(),
            fill(BUNDLE_HEAD) + &fill(PY_BUNDLE) + &fill(case),
        ),
        (
            "requirements.txt".to_string(),
            fill("{componentize}\npytest==9.2.0\n"),
        ),
        ("README.md".to_string(), fill(PY_README)),
        (
            ".gitignore".to_string(),
            "*.wasm\n*.seam\n__pycache__/\n.venv/\n".to_string(),
        ),
    ];
    files.extend(vendored("seam_guest/wit/seam.wit", PY_SDK_SOURCES));
    let next = fill(
        "  python3 -m venv .venv && . .venv/bin/activate && pip install -r requirements.txt\n  \
         python3 -m pytest -q\n  seam bundle build . && seam bundle test {name}-0.1.0.seam",
    );
    (files, next)
}

const PY_GATE: &str = r#""""`{name}`: a seam gate."""

from dataclasses import dataclass, field

from seam_guest import Finding, Gate, Verdict


@dataclass
class Settings:
    """Settings of `{name}`."""

    max_chars: int = field(default=280, metadata={"description": "Most characters allowed (default 280)."})


class {camel}(Gate):
    name = "{name}"
    version = "0.1.0"
    description = "Fails text longer than max_chars characters."
    Settings = Settings

    # Setup to do once per settings (compiling patterns, loading tables) goes in
    # `def prepare(self, settings)`, which keeps what it makes on `self`.

    def check(self, settings, handoff):
        verdict = Verdict()
        for t in handoff.texts(""):
            n = len(t.text)
            if n > settings.max_chars:
                message = f"{n} characters, at most {settings.max_chars} allowed"
                verdict.add(Finding.error("length.chars", message).at(t, settings.max_chars))
        return verdict
"#;

const PY_GATE_TEST: &str = r#""""`{name}` natively, without building: python3 -m pytest -q"""

from seam_guest.testing import check

from {module} import {camel}


def test_long_text_fails_and_short_text_passes():
    verdict = check({camel}, {"max_chars": 3}, "four")
    assert verdict.codes == ["length.chars"]
    assert verdict.findings[0].span == (3, 4)
    assert check({camel}, {}, "four").passed
"#;

const PY_ROUTER: &str = r#""""`{name}`: a seam router."""

from dataclasses import dataclass, field

from seam_guest import Route, Router


@dataclass
class Settings:
    """Settings of `{name}`."""

    on_failure: str = field(default="retry", metadata={"description": "Where a handoff goes when a gate failed."})


class {camel}(Router):
    name = "{name}"
    version = "0.1.0"
    description = "Sends a handoff that failed a gate to on_failure, else on."
    Settings = Settings

    def route(self, settings, handoff, verdicts):
        for v in verdicts:
            if not v.verdict.passed:
                return Route(settings.on_failure, f"gate `{v.gate}` failed")
        return Route("next", "every gate passed")
"#;

const PY_ROUTER_TEST: &str = r#""""`{name}` natively, without building: python3 -m pytest -q"""

from seam_guest import Finding, GateVerdict, Verdict
from seam_guest.testing import route

from {module} import {camel}


def test_a_failed_gate_is_retried():
    failed = GateVerdict("g", Verdict([Finding.error("x", "y")]))
    assert route({camel}, {}, "x", [failed]).target == "retry"
    assert route({camel}, {}, "x", []).target == "next"
"#;

const PY_BUNDLE: &str = r#"[[plugins]]
name = "{name}"
file = "{name}.wasm"
build = ["python3", "-m", "seam_guest.build", "build", "{module}.py", "-o", "{name}.wasm"]
"#;

const PY_README: &str = r#"# {name}

A seam {kind} in Python, made with `seam new --lang python`.

```sh
python3 -m venv .venv && . .venv/bin/activate
pip install -r requirements.txt                 # {componentize}, pytest
python3 -m pytest -q                            # the tests, natively: no build
seam bundle build .                             # builds {name}.wasm, then {name}-0.1.0.seam
seam bundle test {name}-0.1.0.seam              # the cases in bundle.toml, through the real host
```

`seam_guest/` is the SDK, copied from the seam that made this project (with the
contract it targets in `seam_guest/wit/seam.wit`). `python3 -m seam_guest.build build
{module}.py -o {name}.wasm` builds the component alone; `seam describe {name}.wasm`
prints its settings schema. See seam's docs/plugin-authoring.md.
"#;

const CARGO: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
seam-guest = { path = "{sdk}" }
serde = { version = "1", features = ["derive"] }
schemars = "1"

[profile.release]
opt-level = 3
lto = true
panic = "abort"

# A plugin crate is its own workspace.
[workspace]
"#;

const CONFIG: &str = r#"# A small shadow stack: a fresh instance's first call touches fewer pages.
[target.wasm32-wasip2]
rustflags = ["-C", "link-arg=-zstack-size=131072"]
"#;

/// The `[bundle]` table every new project's `bundle.toml` starts with.
const BUNDLE_HEAD: &str = r#"# The bundle source: `seam bundle build .` runs `build`, then fills in the rest from
# the component.
[bundle]
name = "{name}"
version = "0.1.0"
description = ""
authors = []
license = ""

"#;

const BUNDLE: &str = r#"[[plugins]]
name = "{name}"
file = "target/wasm32-wasip2/release/{snake}.wasm"
build = ["cargo", "build", "--release", "--target", "wasm32-wasip2"]
"#;

const GATE_CASE: &str = r#"
[[cases]]
plugin = "{name}"
name = "short text passes"
settings = { max_chars = 10 }
payload = "short"
expect = { outcome = "passed", codes = [] }

[[cases]]
plugin = "{name}"
name = "long text fails"
settings = { max_chars = 10 }
payload = "far too long for ten"
expect = { outcome = "failed", codes = ["length.chars"] }
"#;

const ROUTER_CASE: &str = r#"
[[cases]]
plugin = "{name}"
name = "a failed gate is retried"
payload = "x"
verdicts = [{ gate = "any", verdict = { passed = false } }]
expect = { outcome = "retry" }
"#;

fn gate_lib(name: &str, camel: &str) -> String {
    format!(
        r#"//! `{name}`: a seam gate.
use seam_guest::prelude::*;

/// Settings of `{name}`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {{
    /// Most characters allowed (default 280).
    #[serde(default = "default_max")]
    pub max_chars: usize,
}}

fn default_max() -> usize {{
    280
}}

pub struct {camel};

impl Gate for {camel} {{
    type Settings = Settings;
    // Setup to do once per settings (compiling patterns, tables) goes in a type of
    // its own that implements `Prepare<Settings>`; see docs/plugin-authoring.md.
    type Prepared = Settings;
    const NAME: &'static str = "{name}";
    const DESCRIPTION: &'static str = "Fails text longer than max_chars characters.";

    fn check(s: &Settings, handoff: &Handoff) -> Result<Verdict, String> {{
        let mut verdict = Verdict::new();
        for t in handoff.texts("")? {{
            let n = t.text.chars().count();
            if n > s.max_chars {{
                verdict.push(Finding::error("length.chars", format!("{{n}} characters, at most {{}} allowed", s.max_chars)).at(&t.pointer));
            }}
        }}
        Ok(verdict)
    }}
}}

export_gate!({camel});

#[cfg(test)]
mod tests {{
    use super::*;

    #[test]
    fn long_text_fails_and_short_text_passes() {{
        let v = seam_guest::testing::check::<{camel}>(json!({{"max_chars": 3}}), &Handoff::text("four")).unwrap();
        assert_eq!(v.findings[0].code, "length.chars");
        let v = seam_guest::testing::check::<{camel}>(json!({{}}), &Handoff::text("four")).unwrap();
        assert!(v.passed);
    }}
}}
"#
    )
}

fn router_lib(name: &str, camel: &str) -> String {
    format!(
        r#"//! `{name}`: a seam router.
use seam_guest::prelude::*;

/// Settings of `{name}`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {{
    /// Where a handoff goes when a gate failed (default `retry`).
    #[serde(default = "default_on_failure")]
    pub on_failure: String,
}}

fn default_on_failure() -> String {{
    "retry".into()
}}

pub struct {camel};

impl Router for {camel} {{
    type Settings = Settings;
    type Prepared = Settings;
    const NAME: &'static str = "{name}";
    const DESCRIPTION: &'static str = "Sends a handoff that failed a gate to on_failure, else on.";

    fn route(s: &Settings, _handoff: &Handoff, verdicts: &[GateVerdict]) -> Result<Route, String> {{
        Ok(match verdicts.iter().find(|v| !v.verdict.passed) {{
            Some(v) => Route::to(&s.on_failure, format!("gate `{{}}` failed", v.gate)),
            None => Route::to("next", "every gate passed"),
        }})
    }}
}}

export_router!({camel});

#[cfg(test)]
mod tests {{
    use super::*;

    #[test]
    fn a_failed_gate_is_retried() {{
        let failed = GateVerdict {{ gate: "g".into(), verdict: Verdict::from_findings(vec![Finding::error("x", "y")]) }};
        let r = seam_guest::testing::route::<{camel}>(json!({{}}), &Handoff::text("x"), &[failed]).unwrap();
        assert_eq!(r.target, "retry");
    }}
}}
"#
    )
}

const README: &str = r#"# {name}

A seam {kind}, made with `seam new`.

```sh
cargo test                                         # the unit tests, natively
cargo build --release --target wasm32-wasip2       # the component
seam bundle build .                                # runs `build` in bundle.toml, then {name}-0.1.0.seam
seam bundle test {name}-0.1.0.seam                 # the cases, through the real host
```

The component is `target/wasm32-wasip2/release/{snake}.wasm`; `seam describe` prints
its settings schema. See seam's docs/plugin-authoring.md and docs/bundles.md.
"#;

#[cfg(test)]
mod sdk_tests {
    /// A new SDK source file that is not vendored breaks every project `seam new` makes.
    #[test]
    fn every_sdk_source_file_is_vendored() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest-sdk/rust/src");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| format!("src/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        on_disk.sort();
        let mut vendored: Vec<String> = super::SDK_SOURCES
            .iter()
            .map(|(p, _)| p.to_string())
            .collect();
        vendored.sort();
        assert_eq!(vendored, on_disk);
    }
}
