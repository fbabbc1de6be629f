//! Vetting a component before it is compiled: its imports, the contract version it
//! targets, and the functions it exports, read straight from the binary with
//! `wasmparser` (no compile, so a refused component costs milliseconds, not the
//! seconds a Python or JavaScript component takes to compile, and is never cached).
//!
//! This module only reads; what is allowed is decided by the callers' lists.

use wasmparser::{ComponentExternalKind, ComponentTypeRef, Parser, Payload};

/// What a component says about itself at its top level.
#[derive(Debug, Default)]
pub(crate) struct Shape {
    /// Interface names as written, with their versions (`wasi:cli/stdout@0.2.3`).
    pub(crate) imports: Vec<String>,
    /// Names of exported functions (`describe`, `check`, …).
    pub(crate) functions: Vec<String>,
}

/// Reads the top-level imports and exported functions of a component.
pub(crate) fn shape(bytes: &[u8]) -> Result<Shape, String> {
    let mut shape = Shape::default();
    // Depth 1 is the component itself; nested modules and components are deeper.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| e.to_string())?;
        match payload {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    let import = import.map_err(|e| e.to_string())?;
                    // Type imports (`use types.{handoff}` in a world) bring no code.
                    if !matches!(import.ty, ComponentTypeRef::Type(_)) {
                        shape.imports.push(import.name.name.to_string());
                    }
                }
            }
            Payload::ComponentExportSection(section) if depth == 1 => {
                for export in section {
                    let export = export.map_err(|e| e.to_string())?;
                    if export.kind == ComponentExternalKind::Func {
                        shape.functions.push(export.name.name.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(shape)
}

/// Splits `ns:pkg/iface@1.2.3` into (`ns:pkg/iface`, `Some("1.2.3")`).
pub(crate) fn split_version(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((interface, version)) => (interface, Some(version)),
        None => (name, None),
    }
}
