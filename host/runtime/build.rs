//! Builds the standard plugins (`plugins/`) for wasm32-wasip2 and embeds them, so that
//! `seam` can run them with nothing else installed.

#[path = "build-support/wasm.rs"]
mod wasm;

use std::path::PathBuf;

fn main() {
    let host = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = host.parent().unwrap().parent().unwrap().to_path_buf();
    let plugins = root.join("plugins");
    wasm::watch(&plugins);
    wasm::watch(&root.join("guest-sdk"));
    wasm::watch(&root.join("wit"));
    println!("cargo:rerun-if-changed=build-support/wasm.rs");
    let built = wasm::build_workspace(&plugins, &root);
    let mut code = String::from("/// Every standard plugin: (name, component bytes), sorted by name.\npub static PLUGINS: &[(&str, &[u8])] = &[\n");
    for (package, path) in built {
        let name = package.strip_prefix("seam-").unwrap_or(&package);
        code.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("std_plugins.rs");
    std::fs::write(out, code).unwrap();
}
