//! Bundles: the round trip from `seam new` to a signed bundle loaded in a pipeline, and
//! every refusal, each naming the bundle and the cause.

use std::path::{Path, PathBuf};

use seam_bundle::{Bundle, BundleError, PluginRef, TrustPolicy};
use serde_json::json;

use crate::pipeline::scratch;
use crate::seam;

/// A source folder for a bundle `demo` of two standard plugins, with one case each.
fn source(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for name in ["max-words", "pii"] {
        std::fs::write(
            src.join(format!("{name}.wasm")),
            seam_runtime::std_plugins::get(name).unwrap(),
        )
        .unwrap();
    }
    std::fs::write(
        src.join("bundle.toml"),
        r#"[bundle]
name = "demo"
version = "1.2.0"
description = "two gates"
authors = ["ana"]
license = "MIT"

[[plugins]]
name = "short"
file = "max-words.wasm"

[[plugins]]
name = "pii"
file = "pii.wasm"

[[cases]]
plugin = "short"
name = "four words fail"
settings = { max_words = 3 }
payload = "one two three four"
expect = { outcome = "failed", codes = ["length.words"] }

[[cases]]
plugin = "pii"
name = "mail is redacted"
payload = "a@b.io"
expect = { outcome = "failed", codes = ["pii.email"], fix = "[EMAIL]" }
"#,
    )
    .unwrap();
    src
}

/// Builds the demo bundle as a folder (`out` without .seam) or an archive.
fn build(dir: &Path, out: &Path) {
    let src = source(dir);
    let (code, o, e) = seam(&[
        "bundle",
        "build",
        src.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{o}{e}");
}

fn open_err(path: &Path) -> String {
    Bundle::open(path)
        .and_then(|b| b.verify(&TrustPolicy::default()).map(|_| b))
        .unwrap_err()
        .to_string()
}

#[test]
fn a_built_bundle_passes_its_cases_and_inspects() {
    let dir = scratch("bundle-build");
    let out = dir.join("demo.seam");
    build(&dir, &out);
    let (code, o, _) = seam(&["bundle", "test", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{o}");
    assert!(
        o.contains("case short/four words fail ... ok\ncase pii/mail is redacted ... ok\n"),
        "{o}"
    );
    assert!(o.ends_with("\n2 passed, 0 failed\n"), "{o}");
    let (code, o, _) = seam(&[
        "bundle",
        "inspect",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(doc["bundle"]["version"], "1.2.0");
    assert_eq!(doc["plugins"][0]["name"], "short");
    assert_eq!(doc["plugins"][0]["kind"], "gate");
    assert_eq!(
        doc["plugins"][0]["sha256"],
        seam_types::sha256_hex(seam_runtime::std_plugins::get("max-words").unwrap())
    );
    assert!(doc["plugins"][0]["imports"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i.as_str().unwrap().starts_with("wasi:cli/stdout")));
    assert_eq!(doc["files"], "ok");
    assert_eq!(doc["signatures"], json!([]));
}

#[test]
fn a_failing_case_fails_the_bundle_test() {
    let dir = scratch("bundle-case-fails");
    let src = source(&dir);
    let manifest = std::fs::read_to_string(src.join("bundle.toml"))
        .unwrap()
        .replace("codes = [\"length.words\"]", "codes = [\"length.chars\"]");
    std::fs::write(src.join("bundle.toml"), manifest).unwrap();
    let out = dir.join("demo.seam");
    seam(&[
        "bundle",
        "build",
        src.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let (code, o, _) = seam(&["bundle", "test", out.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(o.contains("case short/four words fail ... FAILED\n    finding codes [\"length.words\"], expected [\"length.chars\"]\n"), "{o}");
    assert!(o.ends_with("\n1 passed, 1 failed\n"), "{o}");
}

#[test]
fn signatures_are_checked_against_trusted_keys() {
    let dir = scratch("bundle-sign");
    let out = dir.join("demo.seam");
    build(&dir, &out);
    let (alice, mallory) = (dir.join("alice"), dir.join("mallory"));
    assert_eq!(seam(&["keygen", "--out", alice.to_str().unwrap()]).0, 0);
    assert_eq!(seam(&["keygen", "--out", mallory.to_str().unwrap()]).0, 0);
    let (apub, mpub) = (dir.join("alice.pub"), dir.join("mallory.pub"));
    let b = out.to_str().unwrap();

    // Not signed, signature required.
    let (code, _, e) = seam(&["bundle", "verify", b, "--require-signature"]);
    assert_eq!(code, 2);
    assert!(
        e.contains("it is not signed, and the trust policy requires a signature by a trusted key"),
        "{e}"
    );

    assert_eq!(
        seam(&[
            "bundle",
            "sign",
            b,
            "--key",
            dir.join("alice.key").to_str().unwrap()
        ])
        .0,
        0
    );
    let (code, o, _) = seam(&[
        "bundle",
        "verify",
        b,
        "--trusted-key",
        apub.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{o}");
    assert!(
        o.ends_with("every digest matches; 1 trusted signature(s)\n"),
        "{o}"
    );

    // Signed, but by a key the verifier does not trust.
    let (code, _, e) = seam(&[
        "bundle",
        "verify",
        b,
        "--trusted-key",
        mpub.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        e.contains("it is signed only by untrusted keys (seam-ed25519-public:"),
        "{e}"
    );

    // Several signatures on one bundle.
    assert_eq!(
        seam(&[
            "bundle",
            "sign",
            b,
            "--key",
            dir.join("mallory.key").to_str().unwrap()
        ])
        .0,
        0
    );
    assert_eq!(Bundle::open(&out).unwrap().signatures.len(), 2);
    assert_eq!(
        seam(&[
            "bundle",
            "verify",
            b,
            "--trusted-key",
            mpub.to_str().unwrap()
        ])
        .0,
        0
    );
}

#[test]
fn a_changed_manifest_breaks_its_signature() {
    let dir = scratch("bundle-manifest-changed");
    let out = dir.join("demo"); // a folder bundle
    build(&dir, &out);
    seam(&["keygen", "--out", dir.join("k").to_str().unwrap()]);
    seam(&[
        "bundle",
        "sign",
        out.to_str().unwrap(),
        "--key",
        dir.join("k.key").to_str().unwrap(),
    ]);
    let manifest = std::fs::read_to_string(out.join("bundle.toml"))
        .unwrap()
        .replace("two gates", "two gates, trust me");
    std::fs::write(out.join("bundle.toml"), manifest).unwrap();
    assert!(
        open_err(&out)
            .contains("does not match the manifest; the bundle was changed after it was signed"),
        "{}",
        open_err(&out)
    );
}

#[test]
fn a_changed_or_missing_component_is_refused_before_compiling() {
    let dir = scratch("bundle-wasm-changed");
    let out = dir.join("demo");
    build(&dir, &out);
    let mut bytes = std::fs::read(out.join("short.wasm")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(out.join("short.wasm"), &bytes).unwrap();
    let err = open_err(&out);
    assert!(
        err.starts_with(&format!(
            "bundle {}: plugin `short`: file `short.wasm` has SHA-256 ",
            out.display()
        )),
        "{err}"
    );
    assert!(
        err.ends_with("the bundle was changed after it was built"),
        "{err}"
    );
    std::fs::remove_file(out.join("short.wasm")).unwrap();
    assert_eq!(
        open_err(&out),
        format!(
            "bundle {}: plugin `short`: file `short.wasm` is missing",
            out.display()
        )
    );
}

#[test]
fn manifest_mistakes_name_line_and_column() {
    let dir = scratch("bundle-manifest-errors");
    let out = dir.join("demo");
    build(&dir, &out);
    let good = std::fs::read_to_string(out.join("bundle.toml")).unwrap();
    let cases = [
        (
            good.replacen("[bundle]", "[bundle", 1),
            "bundle.toml:1:8: unclosed table, expected `]`",
        ),
        (
            good.replacen("version = \"1.2.0\"\n", "", 1),
            "missing field `version`",
        ),
        (
            good.replacen("version = \"1.2.0\"", "version = \"one\"", 1),
            "version `one` is not a semantic version",
        ),
        (
            good.replacen("name = \"pii\"", "name = \"short\"", 1),
            "two plugins are named `short`; plugin names must be unique",
        ),
        (
            good.replacen("file = \"short.wasm\"", "file = \"../short.wasm\"", 1),
            "plugin `short`: file `../short.wasm` climbs out of the bundle with `..`",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(out.join("bundle.toml"), &text).unwrap();
        let err = Bundle::open(&out).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}\nexpected: {expected}");
        assert!(
            err.starts_with(&format!("bundle {}", out.display())),
            "{err}"
        );
    }
}

/// Writes a .seam archive with one crafted entry beside a valid manifest.
fn archive_with(path: &Path, name: &[u8], kind: tar::EntryType, size: u64, data: &[u8]) {
    let file = std::fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let manifest = b"[bundle]\nname = \"x\"\nversion = \"1.0.0\"\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(manifest.len() as u64);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "bundle.toml", &manifest[..])
        .unwrap();
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_size(size);
    h.set_entry_type(kind);
    h.set_mode(0o644);
    if kind == tar::EntryType::Symlink {
        h.set_link_name("/etc/passwd").unwrap();
    }
    h.set_cksum();
    tar.append(&h, data).unwrap();
    tar.into_inner().unwrap().finish().unwrap();
}

#[test]
fn archive_entries_that_escape_or_are_too_big_are_refused() {
    let dir = scratch("bundle-archive-safety");
    let cases: [(&[u8], tar::EntryType, u64, &str); 5] = [
        (
            b"../evil.wasm",
            tar::EntryType::Regular,
            1,
            "archive entry `../evil.wasm` climbs out of the bundle with `..`; refused",
        ),
        (
            b"/etc/evil.wasm",
            tar::EntryType::Regular,
            1,
            "archive entry `/etc/evil.wasm` is an absolute path; refused",
        ),
        (
            b"link.wasm",
            tar::EntryType::Symlink,
            0,
            "archive entry `link.wasm` is a symbolic link; refused",
        ),
        (
            b"hard.wasm",
            tar::EntryType::Link,
            0,
            "archive entry `hard.wasm` is a hard link; refused",
        ),
        (
            b"big.wasm",
            tar::EntryType::Regular,
            100 << 20,
            "archive entry `big.wasm` is 104857600 bytes, over the 67108864-byte cap",
        ),
    ];
    for (i, (name, kind, size, expected)) in cases.into_iter().enumerate() {
        let path = dir.join(format!("{i}.seam"));
        let data = vec![0u8; (size as usize).min(1)];
        archive_with(&path, name, kind, size, &data);
        let err = Bundle::open(&path).unwrap_err().to_string();
        assert_eq!(err, format!("bundle {}: {expected}", path.display()));
    }
    // An archive over the size cap is refused before it is read.
    let big = dir.join("huge.seam");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(seam_bundle::MAX_ARCHIVE_BYTES + 1).unwrap();
    assert_eq!(
        Bundle::open(&big).unwrap_err().to_string(),
        format!(
            "bundle {}: the archive is 268435457 bytes, over the 268435456-byte cap",
            big.display()
        )
    );
}

#[test]
fn version_requirements_are_honoured_and_checked() {
    assert!(
        matches!(PluginRef::parse("demo@^1/short"), Some(Ok(r)) if r.bundle == "demo" && r.plugin == "short")
    );
    let err = PluginRef::parse("demo@^x/short")
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("`demo@^x/short`: `^x` is not a version requirement"),
        "{err}"
    );
    assert!(PluginRef::parse("max-words").is_none());
    assert!(PluginRef::parse("dir/gate.wasm").is_none());

    let dir = scratch("bundle-versions");
    let bundles = dir.join("bundles");
    std::fs::create_dir_all(&bundles).unwrap();
    build(&dir, &bundles.join("demo-1.2.0.seam"));
    let payload = crate::repo("examples/headphones/draft-2.txt");
    let path = bundles.to_str().unwrap();
    let (code, o, _) = seam(&[
        "check",
        "--gate",
        "demo@^1/short",
        "--settings",
        r#"{"max_words": 40}"#,
        "--bundle-path",
        path,
        "--payload",
        &payload,
    ]);
    assert_eq!(code, 0, "{o}");
    assert!(o.contains("✓ demo/short  passed"), "{o}");
    let (code, _, e) = seam(&[
        "check",
        "--gate",
        "demo@^2/short",
        "--bundle-path",
        path,
        "--payload",
        &payload,
    ]);
    assert_eq!(code, 2);
    assert!(
        e.contains(&format!(
            "no bundle `demo` matching `^2` in the bundle paths ({path}); found: demo 1.2.0"
        )),
        "{e}"
    );
}

#[test]
fn a_lock_file_pins_bundle_digests() {
    let dir = scratch("bundle-lock");
    let bundles = dir.join("bundles");
    std::fs::create_dir_all(&bundles).unwrap();
    build(&dir, &bundles.join("demo.seam"));
    let pipeline = dir.join("p.toml");
    std::fs::write(
        &pipeline,
        "[pipeline]\nname = \"p\"\n[bundles]\npaths = [\"bundles\"]\n[[steps]]\nname = \"w\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", '''cat >/dev/null; echo '\"ok\"' ''']\n[[seams]]\nfrom = \"w\"\n[[seams.gates]]\nplugin = \"demo@1.2/short\"\nsettings = { max_words = 3 }\n",
    )
    .unwrap();
    let (code, o, e) = seam(&["lock", pipeline.to_str().unwrap()]);
    assert_eq!(code, 0, "{o}{e}");
    let lock = std::fs::read_to_string(dir.join("p.lock")).unwrap();
    assert!(
        lock.contains("name = \"demo\"\nversion = \"1.2.0\"\nsha256 = \""),
        "{lock}"
    );
    let ledger = dir.join("l.db");
    assert_eq!(
        seam(&[
            "run",
            pipeline.to_str().unwrap(),
            "--ledger",
            ledger.to_str().unwrap()
        ])
        .0,
        0
    );

    // Rebuild the bundle with another description: a new digest the lock refuses.
    let src = dir.join("src");
    let manifest = std::fs::read_to_string(src.join("bundle.toml"))
        .unwrap()
        .replace("two gates", "two gates, rebuilt");
    std::fs::write(src.join("bundle.toml"), manifest).unwrap();
    seam(&[
        "bundle",
        "build",
        src.to_str().unwrap(),
        "--out",
        bundles.join("demo.seam").to_str().unwrap(),
    ]);
    let (code, _, e) = seam(&[
        "run",
        pipeline.to_str().unwrap(),
        "--ledger",
        ledger.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(e.contains("p.toml:12:10: bundle "), "{e}");
    assert!(
        e.contains(&format!(
            "but {} pins demo 1.2.0 at ",
            dir.join("p.lock").display()
        )),
        "{e}"
    );
    assert!(
        e.contains("run `seam lock` to accept the new bundle"),
        "{e}"
    );
}

#[test]
fn round_trip_from_seam_new_to_a_signed_bundle_in_a_pipeline() {
    let dir = scratch("bundle-round-trip");
    let (code, o, e) = seam(&["new", "gate", "tiny-gate", "--dir", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{o}{e}");
    let krate = dir.join("tiny-gate");
    // The project carries its own copy of the SDK and names no path of this machine,
    // so it builds wherever it is moved (and from an installed seam).
    let checkout = std::fs::canonicalize(crate::repo("")).unwrap();
    let mut files = vec![krate.clone()];
    let mut seen = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(checkout.to_str().unwrap()) && !text.contains("../../"),
            "{} names a path outside the project",
            path.display()
        );
        seen += 1;
    }
    assert_eq!(seen, 15, "the project's files and the SDK's copy");
    assert!(std::fs::read_to_string(krate.join("Cargo.toml"))
        .unwrap()
        .contains("seam-guest = { path = \"seam-guest\" }"));
    assert_eq!(
        std::fs::read_to_string(krate.join("seam-guest/wit/seam.wit")).unwrap(),
        std::fs::read_to_string(crate::repo("wit/seam.wit")).unwrap()
    );
    // Moved elsewhere, it still builds: the copy goes with it.
    let moved = dir.join("moved");
    std::fs::create_dir_all(&moved).unwrap();
    std::fs::rename(&krate, moved.join("tiny-gate")).unwrap();
    let krate = moved.join("tiny-gate");

    // Build the scaffolded crate as it is, for wasm32-wasip2 (sharing the workspace's
    // wasm target folder so its dependencies are not compiled again).
    let shared = PathBuf::from(crate::repo("target/wasm"));
    let status = {
        let _alone = crate::exclusive();
        let mut cmd =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(&krate)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--target-dir",
            ])
            .arg(&shared);
        for (k, _) in std::env::vars() {
            if k.starts_with("CARGO_") && k != "CARGO_HOME" || k == "RUSTFLAGS" {
                cmd.env_remove(k);
            }
        }
        cmd.status().unwrap()
    };
    assert!(status.success(), "the scaffolded crate does not build");
    let built = krate.join("target/wasm32-wasip2/release");
    std::fs::create_dir_all(&built).unwrap();
    std::fs::copy(
        shared.join("wasm32-wasip2/release/tiny_gate.wasm"),
        built.join("tiny_gate.wasm"),
    )
    .unwrap();

    let bundles = dir.join("bundles");
    std::fs::create_dir_all(&bundles).unwrap();
    let archive = bundles.join("tiny-gate-0.1.0.seam");
    // Built above with the shared target folder: its `build` need not run again.
    let (code, o, e) = seam(&[
        "bundle",
        "build",
        krate.to_str().unwrap(),
        "--out",
        archive.to_str().unwrap(),
        "--no-build",
    ]);
    assert_eq!(code, 0, "{o}{e}");
    let (code, o, _) = seam(&["bundle", "test", archive.to_str().unwrap()]);
    assert_eq!(code, 0, "{o}");
    assert!(o.ends_with("\n2 passed, 0 failed\n"), "{o}");

    seam(&["keygen", "--out", dir.join("team").to_str().unwrap()]);
    assert_eq!(
        seam(&[
            "bundle",
            "sign",
            archive.to_str().unwrap(),
            "--key",
            dir.join("team.key").to_str().unwrap()
        ])
        .0,
        0
    );
    assert_eq!(
        seam(&[
            "bundle",
            "verify",
            archive.to_str().unwrap(),
            "--trusted-key",
            dir.join("team.pub").to_str().unwrap()
        ])
        .0,
        0
    );

    let pipeline = dir.join("p.toml");
    std::fs::write(
        &pipeline,
        "[pipeline]\nname = \"p\"\n[bundles]\npaths = [\"bundles\"]\ntrusted_keys = [\"team.pub\"]\n[[steps]]\nname = \"w\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", '''cat >/dev/null; echo '\"a little too long\"' ''']\n[[seams]]\nfrom = \"w\"\n[[seams.gates]]\nplugin = \"tiny-gate@^0.1/tiny-gate\"\nsettings = { max_chars = 5 }\n",
    )
    .unwrap();
    let ledger = dir.join("l.db");
    let (code, o, e) = seam(&[
        "run",
        pipeline.to_str().unwrap(),
        "--ledger",
        ledger.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{o}{e}");
    assert!(o.contains("    ✗ tiny-gate (tiny-gate/tiny-gate)\n        length.chars  17 characters, at most 5 allowed\n"), "{o}");

    // And directly, with seam check.
    let payload = crate::repo("examples/headphones/draft-2.txt");
    let (code, o, _) = seam(&[
        "check",
        "--gate",
        "tiny-gate/tiny-gate",
        "--settings",
        r#"{"max_chars": 500}"#,
        "--bundle-path",
        bundles.to_str().unwrap(),
        "--trusted-key",
        dir.join("team.pub").to_str().unwrap(),
        "--payload",
        &payload,
    ]);
    assert_eq!(code, 0, "{o}");

    // An untrusted signer is refused at load, with the pipeline's line and column.
    std::fs::write(
        &pipeline,
        std::fs::read_to_string(&pipeline)
            .unwrap()
            .replace("team.pub", "other.pub"),
    )
    .unwrap();
    seam(&["keygen", "--out", dir.join("other").to_str().unwrap()]);
    let (code, _, e) = seam(&[
        "run",
        pipeline.to_str().unwrap(),
        "--ledger",
        ledger.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        e.contains("p.toml:13:10: bundle ") && e.contains("it is signed only by untrusted keys"),
        "{e}"
    );
}

#[test]
fn an_unknown_plugin_in_a_bundle_lists_what_it_has() {
    let dir = scratch("bundle-unknown-plugin");
    let out = dir.join("demo.seam");
    build(&dir, &out);
    let b = Bundle::open(&out).unwrap();
    let err = b.plugin("long").unwrap_err();
    assert!(matches!(err, BundleError::Invalid { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "bundle {}: it has no plugin `long` (plugins: short, pii)",
            out.display()
        )
    );
}

#[test]
fn a_bare_name_that_a_bundle_holds_suggests_its_reference() {
    let dir = scratch("bundle-suggest");
    let bundles = dir.join("bundles");
    std::fs::create_dir_all(&bundles).unwrap();
    build(&dir, &bundles.join("demo.seam"));
    let (code, _, err) = seam(&[
        "check",
        "--gate",
        "short",
        "--payload",
        "/dev/null",
        "--bundle-path",
        bundles.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("the bundle paths hold `demo/short`: name a bundle's plugin as BUNDLE/PLUGIN"),
        "{err}"
    );
}

/// `build` in a plugin of `bundle.toml` runs in the source folder before the file is
/// read; a failing build, a missing program and an empty command are refused naming
/// the plugin, and `--no-build` uses the file as it is.
#[test]
fn bundle_build_runs_each_plugins_build_command_first() {
    let dir = scratch("bundle-build-command");
    let src = source(&dir);
    let manifest = std::fs::read_to_string(src.join("bundle.toml")).unwrap();
    let with_build = |build: &str| {
        std::fs::write(
            src.join("bundle.toml"),
            manifest.replace(
                "file = \"pii.wasm\"\n",
                &format!("file = \"pii.wasm\"\n{build}\n"),
            ),
        )
        .unwrap()
    };
    // The build makes the file from nothing: it is there only because it ran.
    std::fs::rename(src.join("pii.wasm"), src.join("pii.source")).unwrap();
    with_build(r#"build = ["cp", "pii.source", "pii.wasm"]"#);
    let out = dir.join("built.seam");
    let (code, o, e) = seam(&[
        "bundle",
        "build",
        src.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{o}{e}");
    assert!(
        o.starts_with("building plugin `pii`: cp pii.source pii.wasm\nbuilt demo 1.2.0 → "),
        "{o}"
    );
    // --no-build: the file as it is (here: gone).
    std::fs::remove_file(src.join("pii.wasm")).unwrap();
    let (code, o, e) = seam(&[
        "bundle",
        "build",
        src.to_str().unwrap(),
        "--out",
        dir.join("skipped.seam").to_str().unwrap(),
        "--no-build",
    ]);
    assert_eq!(code, 2, "{o}");
    assert!(
        e.contains("plugin `pii`: ") && e.contains("build it first"),
        "{e}"
    );
    assert!(!o.contains("building plugin"), "{o}");

    let file = src.join("bundle.toml").display().to_string();
    for (build, expected) in [
        (
            r#"build = ["sh", "-c", "exit 3"]"#,
            format!(
                "building plugin `pii` failed (exit status: 3): `sh -c exit 3` in {}; fix it, or pass --no-build to use the file as it is",
                src.display()
            ),
        ),
        (
            r#"build = ["no-such-builder-here", "x"]"#,
            format!("building plugin `pii`: cannot run `no-such-builder-here` (No such file or directory (os error 2)); install it, or fix `build` in {file}"),
        ),
        (
            r#"build = []"#,
            "plugin `pii`: `build` is empty; give the program and its arguments".to_string(),
        ),
        (
            r#"build = "make""#,
            "invalid type: string \"make\", expected a sequence".to_string(),
        ),
    ] {
        with_build(build);
        let target = dir.join("refused.seam");
        let (code, o, e) = seam(&[
            "bundle",
            "build",
            src.to_str().unwrap(),
            "--out",
            target.to_str().unwrap(),
        ]);
        assert_eq!(code, 2, "{build}: {o}");
        assert!(e.contains(&expected), "{build}: {e}");
        assert!(!target.exists(), "{build}: nothing written");
    }
}
