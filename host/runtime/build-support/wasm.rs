// Shared by host/runtime/build.rs and tests/artifacts/build.rs (included with `#[path]`):
// builds a nested cargo workspace of plugins for wasm32-wasip2 and lists the components.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const TARGET: &str = "wasm32-wasip2";

/// The target directory shared by every nested wasm build, beside the outer one.
pub fn wasm_target_dir(repo_root: &Path) -> PathBuf {
    // OUT_DIR is always absolute: <target>/[<triple>/]<profile>/build/<pkg>-<hash>/out.
    // A relative CARGO_TARGET_DIR is relative to where cargo was started, which a build
    // script cannot know, so the target directory is read off OUT_DIR instead.
    let from_out_dir = std::env::var_os("OUT_DIR").and_then(|out| {
        let out = PathBuf::from(out);
        let build = out
            .ancestors()
            .find(|a| a.file_name().is_some_and(|n| n == "build"))?;
        let profile_dir = build.parent()?;
        let mut target = profile_dir.parent()?.to_path_buf();
        if target.join("CACHEDIR.TAG").exists() || target.join(".rustc_info.json").exists() {
            return Some(target);
        }
        // Cross builds put a <triple> level between the target dir and the profile.
        target = target.parent()?.to_path_buf();
        Some(target)
    });
    let outer = from_out_dir
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        })
        .unwrap_or_else(|| repo_root.join("target"));
    outer.join("wasm")
}

/// Makes sure the wasm32-wasip2 standard library is installed, installing it through
/// rustup when it is missing; stops the build with the command to run otherwise.
pub fn ensure_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = |root: &Option<PathBuf>| {
        root.as_ref()
            .is_some_and(|r| r.join("lib/rustlib").join(TARGET).join("lib").is_dir())
    };
    if installed(&sysroot) {
        return;
    }
    println!(
        "cargo:warning=installing the {TARGET} target with rustup (needed to build seam's plugins)"
    );
    let ok = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .is_ok_and(|s| s.success());
    if !ok || !installed(&sysroot) {
        panic!(
            "\n\nseam builds its plugins for {TARGET}, and that target is not installed.\n\
             Run:  rustup target add {TARGET}\nthen build again.\n"
        );
    }
}

/// Builds every package of the workspace at `workspace` in release mode for
/// wasm32-wasip2 and returns (package name, path of its .wasm), sorted by name.
pub fn build_workspace(workspace: &Path, repo_root: &Path) -> Vec<(String, PathBuf)> {
    ensure_target();
    let target_dir = wasm_target_dir(repo_root);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--release", "--workspace", "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's settings are not the inner build's business.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_")
            && key != "CARGO_HOME"
            && key != "CARGO_NET_OFFLINE"
            && key != "CARGO_REGISTRIES_CRATES_IO_PROTOCOL"
            || key == "RUSTFLAGS"
            || key == "RUSTC_WORKSPACE_WRAPPER"
            || key == "RUSTC_WRAPPER"
        {
            cmd.env_remove(key.as_ref());
        }
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build {}: {e}", workspace.display()));
    if !status.success() {
        panic!(
            "building the plugins in {} for {TARGET} failed (see the errors above)",
            workspace.display()
        );
    }
    let out = target_dir.join(TARGET).join("release");
    let manifest = std::fs::read_to_string(workspace.join("Cargo.toml"))
        .expect("reading the workspace manifest");
    let mut found = Vec::new();
    for member in members(&manifest) {
        let package = package_name(&workspace.join(&member).join("Cargo.toml"));
        let wasm = out.join(format!("{}.wasm", package.replace('-', "_")));
        assert!(
            wasm.exists(),
            "the build did not produce {}",
            wasm.display()
        );
        found.push((package, wasm));
    }
    found.sort();
    found
}

/// Emits rerun-if-changed for every source file of the workspace (not its target/).
pub fn watch(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') && name != ".cargo" {
            continue;
        }
        if path.is_dir() {
            watch(&path);
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

fn members(manifest: &str) -> Vec<String> {
    let start = manifest
        .find("members")
        .expect("workspace has no members list");
    let list = &manifest[start..];
    let open = list.find('[').unwrap();
    let close = list.find(']').unwrap();
    list[open + 1..close]
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

fn package_name(manifest: &Path) -> String {
    let text = std::fs::read_to_string(manifest)
        .unwrap_or_else(|e| panic!("reading {}: {e}", manifest.display()));
    text.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("name = ")
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| panic!("{} has no package name", manifest.display()))
}
