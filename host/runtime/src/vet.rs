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

/// Why instances of a component cannot be reset and reused between calls, or
/// `Ok(())` when they can. wasmtime resets memories and globals
/// (`Store::reset_for_reuse`, seam's patch); what it cannot see is whether code
/// changes a table, or whether a start function or a segment would have to run
/// again. Read from the binary, every core module at every depth:
/// - no start function;
/// - no passive element or data segments, and data segments only into the module's
///   own memory at a constant offset (so the copy-on-write image holds them);
/// - no instruction that changes a table or a segment's state (`table.set`,
///   `table.grow`, `table.fill`, `table.copy`, `table.init`, `elem.drop`,
///   `memory.init`, `data.drop`).
pub(crate) fn reusable(bytes: &[u8]) -> Result<(), String> {
    use wasmparser::{DataKind, ElementKind, Encoding, Operator, TypeRef};
    // One entry per module being read: how many memories it imports.
    let mut modules: Vec<u32> = Vec::new();
    let mut depth_kinds: Vec<Encoding> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| e.to_string())?;
        match payload {
            Payload::Version { encoding, .. } => {
                depth_kinds.push(encoding);
                if encoding == Encoding::Module {
                    modules.push(0);
                }
            }
            Payload::End(_) => {
                if depth_kinds.pop() == Some(Encoding::Module) {
                    modules.pop();
                }
            }
            Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    if matches!(import.map_err(|e| e.to_string())?.ty, TypeRef::Memory(_)) {
                        if let Some(n) = modules.last_mut() {
                            *n += 1;
                        }
                    }
                }
            }
            Payload::StartSection { .. } => return Err("a module has a start function".into()),
            Payload::ElementSection(section) => {
                for element in section {
                    if matches!(
                        element.map_err(|e| e.to_string())?.kind,
                        ElementKind::Passive
                    ) {
                        return Err("a module has a passive element segment".into());
                    }
                }
            }
            Payload::DataSection(section) => {
                for data in section {
                    match data.map_err(|e| e.to_string())?.kind {
                        DataKind::Passive => {
                            return Err("a module has a passive data segment".into())
                        }
                        DataKind::Active {
                            memory_index,
                            offset_expr,
                        } => {
                            if memory_index < modules.last().copied().unwrap_or(0) {
                                return Err("a module writes data into a memory it imports".into());
                            }
                            let mut ops = offset_expr.get_operators_reader();
                            let constant = matches!(
                                ops.read(),
                                Ok(Operator::I32Const { .. } | Operator::I64Const { .. })
                            ) && matches!(ops.read(), Ok(Operator::End));
                            if !constant {
                                return Err("a data segment has a computed offset".into());
                            }
                        }
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let mut ops = body.get_operators_reader().map_err(|e| e.to_string())?;
                while !ops.eof() {
                    let name = match ops.read().map_err(|e| e.to_string())? {
                        Operator::TableSet { .. } => "table.set",
                        Operator::TableGrow { .. } => "table.grow",
                        Operator::TableFill { .. } => "table.fill",
                        Operator::TableCopy { .. } => "table.copy",
                        Operator::TableInit { .. } => "table.init",
                        Operator::ElemDrop { .. } => "elem.drop",
                        Operator::MemoryInit { .. } => "memory.init",
                        Operator::DataDrop { .. } => "data.drop",
                        _ => continue,
                    };
                    return Err(format!("a module's code uses `{name}`"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use wasm_encoder::{
        CodeSection, ConstExpr, DataCountSection, DataSection, ElementSection, Elements, Function,
        FunctionSection, GlobalSection, GlobalType, ImportSection, Instruction, MemorySection,
        MemoryType, Module, RefType, StartSection, TableSection, TableType, TypeSection, ValType,
    };

    use super::reusable;

    /// What the module built by [`module`] differs in.
    #[derive(Default)]
    struct Spec {
        import_memory: bool,
        start: bool,
        passive_elem: bool,
        passive_data: bool,
        computed_offset: bool,
        code: Vec<Instruction<'static>>,
    }

    /// A module with one function, a table with an element segment, a memory with a
    /// data segment and a global, shaped by `s`.
    fn module(s: Spec) -> Vec<u8> {
        let memory = MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        };
        let mut m = Module::new();
        let mut types = TypeSection::new();
        types.ty().function([], []);
        m.section(&types);
        if s.import_memory {
            let mut imports = ImportSection::new();
            imports.import("env", "memory", memory);
            m.section(&imports);
        }
        let mut functions = FunctionSection::new();
        functions.function(0);
        m.section(&functions);
        let mut tables = TableSection::new();
        tables.table(TableType {
            element_type: RefType::FUNCREF,
            table64: false,
            minimum: 1,
            maximum: None,
            shared: false,
        });
        m.section(&tables);
        if !s.import_memory {
            let mut memories = MemorySection::new();
            memories.memory(memory);
            m.section(&memories);
        }
        let mut globals = GlobalSection::new();
        let ty = GlobalType {
            val_type: ValType::I32,
            mutable: false,
            shared: false,
        };
        globals.global(ty, &ConstExpr::i32_const(16));
        m.section(&globals);
        if s.start {
            m.section(&StartSection { function_index: 0 });
        }
        let mut elements = ElementSection::new();
        let funcs = Elements::Functions(Cow::Borrowed(&[0]));
        if s.passive_elem {
            elements.passive(funcs);
        } else {
            elements.active(Some(0), &ConstExpr::i32_const(0), funcs);
        }
        m.section(&elements);
        if s.passive_data {
            m.section(&DataCountSection { count: 1 });
        }
        let mut code = CodeSection::new();
        let mut f = Function::new([]);
        for instruction in &s.code {
            f.instruction(instruction);
        }
        f.instruction(&Instruction::End);
        code.function(&f);
        m.section(&code);
        let mut data = DataSection::new();
        if s.passive_data {
            data.passive([1u8, 2]);
        } else if s.computed_offset {
            data.active(0, &ConstExpr::global_get(0), [1u8]);
        } else {
            data.active(0, &ConstExpr::i32_const(8), [1u8]);
        }
        m.section(&data);
        m.finish()
    }

    #[test]
    fn a_module_that_only_reads_its_tables_is_reusable() {
        let code = vec![
            Instruction::I32Const(0),
            Instruction::TableGet(0),
            Instruction::Drop,
            Instruction::TableSize(0),
            Instruction::Drop,
            Instruction::I32Const(0),
            Instruction::CallIndirect {
                type_index: 0,
                table_index: 0,
            },
            Instruction::I32Const(1),
            Instruction::MemoryGrow(0),
            Instruction::Drop,
        ];
        assert_eq!(
            reusable(&module(Spec {
                code,
                ..Spec::default()
            })),
            Ok(())
        );
    }

    #[test]
    fn what_a_reset_would_not_restore_is_refused_by_name() {
        let cases: Vec<(Spec, &str)> = vec![
            (
                Spec {
                    start: true,
                    ..Spec::default()
                },
                "a module has a start function",
            ),
            (
                Spec {
                    passive_elem: true,
                    ..Spec::default()
                },
                "a module has a passive element segment",
            ),
            (
                Spec {
                    passive_data: true,
                    ..Spec::default()
                },
                "a module has a passive data segment",
            ),
            (
                Spec {
                    import_memory: true,
                    ..Spec::default()
                },
                "a module writes data into a memory it imports",
            ),
            (
                Spec {
                    computed_offset: true,
                    ..Spec::default()
                },
                "a data segment has a computed offset",
            ),
        ];
        for (spec, reason) in cases {
            assert_eq!(reusable(&module(spec)), Err(reason.to_string()));
        }
    }

    #[test]
    fn every_instruction_that_changes_a_table_or_a_segment_is_refused() {
        let ops: Vec<(Instruction<'static>, &str)> = vec![
            (Instruction::TableSet(0), "table.set"),
            (Instruction::TableGrow(0), "table.grow"),
            (Instruction::TableFill(0), "table.fill"),
            (
                Instruction::TableCopy {
                    src_table: 0,
                    dst_table: 0,
                },
                "table.copy",
            ),
            (
                Instruction::TableInit {
                    elem_index: 0,
                    table: 0,
                },
                "table.init",
            ),
            (Instruction::ElemDrop(0), "elem.drop"),
            (
                Instruction::MemoryInit {
                    mem: 0,
                    data_index: 0,
                },
                "memory.init",
            ),
            (Instruction::DataDrop(0), "data.drop"),
        ];
        for (op, name) in ops {
            let code = vec![Instruction::Nop, op];
            assert_eq!(
                reusable(&module(Spec {
                    code,
                    ..Spec::default()
                })),
                Err(format!("a module's code uses `{name}`"))
            );
        }
    }

    #[test]
    fn a_malformed_binary_is_not_reusable() {
        let mut bytes = module(Spec::default());
        bytes.truncate(bytes.len() - 3);
        assert!(reusable(&bytes).is_err());
    }
}
