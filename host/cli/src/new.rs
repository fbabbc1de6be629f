//! `seam new gate|router NAME`: a plugin crate on `seam-guest`, with a passing unit test,
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
    let (_, wit) = seam_runtime::CONTRACT_WIT[seam_runtime::CONTRACT_WIT.len() - 1];
    let mut files = vec![
        ("seam-guest/Cargo.toml".to_string(), sdk_manifest()),
        ("seam-guest/wit/seam.wit".to_string(), wit.to_string()),
    ];
    for (path, text) in SDK_SOURCES {
        // In a checkout the WIT is two folders up; in the copy it sits beside.
        let text = text.replace("path: \"../../wit\"", "path: \"wit\"");
        files.push((format!("seam-guest/{path}"), text));
    }
    files
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
    let mut files = vec![
        (
            "Cargo.toml",
            CARGO.replace("{name}", name).replace("{sdk}", &sdk),
        ),
        (".cargo/config.toml", CONFIG.to_string()),
        ("src/lib.rs", lib),
        (
            "bundle.toml",
            BUNDLE.replace("{name}", name).replace("{snake}", &snake) + &case,
        ),
        (
            "README.md",
            README
                .replace("{name}", name)
                .replace("{snake}", &snake)
                .replace("{kind}", kind),
        ),
        (".gitignore", "/target\n*.seam\n".to_string()),
    ];
    let vendored = if args.sdk.is_none() {
        sdk_files()
    } else {
        Vec::new()
    };
    files.extend(vendored.iter().map(|(p, t)| (p.as_str(), t.clone())));
    for (file, text) in files {
        let path = root.join(file);
        std::fs::create_dir_all(path.parent().expect("files are in the folder"))
            .with_context(|| format!("creating {}", root.display()))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    writeln!(out, "created {kind} `{name}` in {}", root.display())?;
    writeln!(out, "next:\n  cd {}\n  cargo test\n  cargo build --release --target wasm32-wasip2\n  seam bundle build . && seam bundle test {name}-0.1.0.seam", root.display())?;
    Ok(Exit::Passed)
}

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

const BUNDLE: &str = r#"# The bundle source: `seam bundle build .` fills in the rest from the component.
[bundle]
name = "{name}"
version = "0.1.0"
description = ""
authors = []
license = ""

[[plugins]]
name = "{name}"
file = "target/wasm32-wasip2/release/{snake}.wasm"
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
seam bundle build .                                # {name}-0.1.0.seam, with the cases in bundle.toml
seam bundle test {name}-0.1.0.seam                 # the cases, through the real host
```

The component is `target/wasm32-wasip2/release/{snake}.wasm`; `seam describe` prints
its settings schema. See seam's docs/plugin-authoring.md and docs/bundles.md.
"#;
