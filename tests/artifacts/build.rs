//! Builds every fixture in `tests/fixtures` for wasm32-wasip2 and generates, for the
//! test binary, one path constant per fixture and `foreach_fixture!`, which the tests
//! use to make an untested fixture a compile error.

#[path = "../../host/runtime/build-support/wasm.rs"]
mod wasm;

use std::path::PathBuf;

fn main() {
    let here = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = here.parent().unwrap().parent().unwrap().to_path_buf();
    let fixtures = root.join("tests").join("fixtures");
    wasm::watch(&fixtures);
    wasm::watch(&root.join("guest-sdk"));
    wasm::watch(&root.join("wit"));
    println!("cargo:rerun-if-changed=../../host/runtime/build-support/wasm.rs");
    let built = wasm::build_workspace(&fixtures, &root);
    let mut code = String::new();
    let mut names = Vec::new();
    for (package, path) in &built {
        let ident = package.replace('-', "_");
        code.push_str(&format!(
            "/// The `{package}` fixture component.\npub const {}: &str = {:?};\n",
            ident.to_uppercase(),
            path.display().to_string()
        ));
        names.push(ident);
    }
    code.push_str("/// Calls `$m!(fixture_name)` for every fixture.\n#[macro_export]\nmacro_rules! foreach_fixture {\n    ($m:ident) => {\n");
    for n in &names {
        code.push_str(&format!("        $m!({n});\n"));
    }
    code.push_str("    };\n}\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("fixtures.rs");
    std::fs::write(out, code).unwrap();
}
