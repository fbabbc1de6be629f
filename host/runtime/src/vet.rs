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
    /// Names of exported instances.
    pub(crate) instances: Vec<String>,
    /// How many other things it exports (types, modules, components, values).
    pub(crate) other_exports: usize,
}

impl Shape {
    /// Records what `payload` adds, when it is an import or export section of the
    /// component this shape describes.
    fn record(&mut self, payload: &Payload<'_>) -> Result<(), String> {
        match payload {
            Payload::ComponentImportSection(section) => {
                for import in section.clone() {
                    let import = import.map_err(|e| e.to_string())?;
                    // Type imports (`use types.{handoff}` in a world) bring no code.
                    if !matches!(import.ty, ComponentTypeRef::Type(_)) {
                        self.imports.push(import.name.name.to_string());
                    }
                }
            }
            Payload::ComponentExportSection(section) => {
                for export in section.clone() {
                    let export = export.map_err(|e| e.to_string())?;
                    let name = export.name.name.to_string();
                    match export.kind {
                        ComponentExternalKind::Func => self.functions.push(name),
                        ComponentExternalKind::Instance => self.instances.push(name),
                        _ => self.other_exports += 1,
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Reads the top-level imports and exports of a component.
pub(crate) fn shape(bytes: &[u8]) -> Result<Shape, String> {
    let mut shape = Shape::default();
    // Depth 1 is the component itself; nested modules and components are deeper.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| e.to_string())?;
        match payload {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            _ if depth == 1 => shape.record(&payload)?,
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

/// The import componentize-js's QuickJS backend leaves in the component it builds
/// (`jco componentize --backend qjs`): it loads the JavaScript while the component is
/// built, and is a stub that traps at run time.
pub(crate) const MODULE_LOADER: &str = "local:init/module-loader";

/// The byte range of the component wrapped inside `bytes`, when `bytes` is nothing but
/// a wrapper that instantiates it beside a stub for [`MODULE_LOADER`] whose every
/// function traps or does nothing, as componentize-js's QuickJS backend builds it.
/// Read from the binary, all of:
/// - the wrapper holds exactly two components and no core module of its own;
/// - one, the stub, imports nothing and exports only the [`MODULE_LOADER`] instance,
///   and every function of every core module in it is `unreachable` or empty;
/// - the other, the wrapped component, imports [`MODULE_LOADER`] and otherwise only
///   what the wrapper imports, and exports the same functions as the wrapper.
///
/// Running the wrapped component with the host's own trapping [`MODULE_LOADER`] is
/// then the same as running the wrapper, and its shape is one Wizer can snapshot
/// (Wizer takes no nested components) and recycling can reset.
pub(crate) fn loader_wrapped(bytes: &[u8]) -> Option<std::ops::Range<usize>> {
    use wasmparser::{Encoding, Operator};
    /// One nested component: where it lies, what it shows at its own top level, and
    /// whether every function of its modules only traps or returns.
    struct Nested {
        range: std::ops::Range<usize>,
        shape: Shape,
        only_traps: bool,
    }
    let mut outer = Shape::default();
    let mut nested: Vec<Nested> = Vec::new();
    let mut kinds: Vec<Encoding> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.ok()?;
        let depth = kinds.len();
        match payload {
            Payload::Version { encoding, .. } => kinds.push(encoding),
            Payload::End(_) => {
                kinds.pop();
            }
            Payload::ModuleSection { .. } if depth == 1 => return None,
            Payload::ComponentSection {
                unchecked_range, ..
            } if depth == 1 => {
                if nested.len() == 2 {
                    return None;
                }
                let start = usize::try_from(unchecked_range.start).ok()?;
                let end = usize::try_from(unchecked_range.end).ok()?;
                nested.push(Nested {
                    range: start..end,
                    shape: Shape::default(),
                    only_traps: true,
                });
            }
            _ if depth == 1 => outer.record(&payload).ok()?,
            _ if depth == 2 => nested.last_mut()?.shape.record(&payload).ok()?,
            Payload::CodeSectionEntry(body) if depth > 2 => {
                let n = nested.last_mut()?;
                if !n.only_traps {
                    continue;
                }
                let mut ops = body.get_operators_reader().ok()?;
                let mut first = true;
                while !ops.eof() {
                    match ops.read().ok()? {
                        Operator::Unreachable if first => {}
                        Operator::End => {}
                        _ => n.only_traps = false,
                    }
                    first = false;
                }
            }
            _ => {}
        }
    }
    let [a, b] = <[Nested; 2]>::try_from(nested).ok()?;
    let is_stub = |n: &Nested| {
        n.shape.imports.is_empty()
            && n.shape.functions.is_empty()
            && n.shape.other_exports == 0
            && n.shape.instances == [MODULE_LOADER]
            && n.only_traps
    };
    let inner = match (is_stub(&a), is_stub(&b)) {
        (true, false) => b,
        (false, true) => a,
        _ => return None,
    };
    let mut functions = inner.shape.functions;
    let mut outer_functions = outer.functions;
    functions.sort();
    outer_functions.sort();
    let imports = &inner.shape.imports;
    let imports_covered = imports
        .iter()
        .all(|i| i == MODULE_LOADER || outer.imports.contains(i));
    (imports.iter().any(|i| i == MODULE_LOADER)
        && imports_covered
        && functions == outer_functions
        && inner.range.start < inner.range.end
        && inner.range.end <= bytes.len())
    .then_some(inner.range)
}

/// Why instances of a component cannot be reset and reused between calls, or
/// `Ok(())` when they can. wasmtime resets memories and globals
/// (`Store::reset_for_reuse`, seam's patch); what it cannot see is whether code
/// changes a table, or whether a start function or a segment would have to run
/// again. Read from the binary, every core module at every depth:
/// - no start function;
/// - data segments that write anything only into the module's own memory at a
///   constant offset (so the copy-on-write image holds them);
/// - no instruction that changes a table or a segment's state (`table.set`,
///   `table.grow`, `table.fill`, `table.copy`, `table.init`, `elem.drop`,
///   `memory.init`, `data.drop`).
///
/// Passive segments and empty data segments are allowed: without those instructions
/// nothing ever reads or writes them, so they change nothing a reset must restore
/// (componentize-js's QuickJS modules carry empty passive data segments, and place
/// their functions with element segments at computed offsets, which instantiation
/// applies once and no code changes).
pub(crate) fn reusable(bytes: &[u8]) -> Result<(), String> {
    use wasmparser::{DataKind, Encoding, Operator, TypeRef};
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
            Payload::DataSection(section) => {
                for data in section {
                    let data = data.map_err(|e| e.to_string())?;
                    if data.data.is_empty() {
                        continue;
                    }
                    match data.kind {
                        DataKind::Passive => {}
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
        /// The data segment is empty.
        empty_data: bool,
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
        let bytes: &[u8] = if s.empty_data { &[] } else { &[1, 2] };
        if s.passive_data {
            data.passive(bytes.iter().copied());
        } else if s.computed_offset {
            data.active(0, &ConstExpr::global_get(0), bytes.iter().copied());
        } else {
            data.active(0, &ConstExpr::i32_const(8), bytes.iter().copied());
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

    /// Segments no instruction can reach, and data segments that write nothing, change
    /// nothing a reset must restore (componentize-js's QuickJS modules have both).
    #[test]
    fn segments_that_nothing_reads_or_writes_are_reusable() {
        let specs = [
            Spec {
                passive_elem: true,
                ..Spec::default()
            },
            Spec {
                passive_data: true,
                ..Spec::default()
            },
            Spec {
                import_memory: true,
                computed_offset: true,
                empty_data: true,
                ..Spec::default()
            },
            Spec {
                passive_elem: true,
                passive_data: true,
                import_memory: true,
                empty_data: true,
                ..Spec::default()
            },
        ];
        for spec in specs {
            assert_eq!(reusable(&module(spec)), Ok(()));
        }
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

    /// Components for [`super::loader_wrapped`]: read, never validated, so imports and
    /// exports name types and functions by index without defining them.
    mod wrapped {
        use wasm_encoder::{
            CodeSection, Component, ComponentExportKind, ComponentExportSection,
            ComponentImportSection, ComponentTypeRef, Function, FunctionSection, Instruction,
            Module, ModuleSection, NestedComponentSection, TypeSection,
        };

        use super::super::{loader_wrapped, MODULE_LOADER};

        /// A module with one function running `body`.
        fn module(body: &[Instruction<'static>]) -> Module {
            let mut m = Module::new();
            let mut types = TypeSection::new();
            types.ty().function([], []);
            m.section(&types);
            let mut functions = FunctionSection::new();
            functions.function(0);
            m.section(&functions);
            let mut code = CodeSection::new();
            let mut f = Function::new([]);
            for instruction in body {
                f.instruction(instruction);
            }
            f.instruction(&Instruction::End);
            code.function(&f);
            m.section(&code);
            m
        }

        /// A component importing `imports` (instances), holding `modules` and
        /// `components`, exporting `functions` and `instances`.
        fn component(
            imports: &[&str],
            modules: &[Module],
            components: &[Component],
            functions: &[&str],
            instances: &[&str],
        ) -> Component {
            let mut c = Component::new();
            if !imports.is_empty() {
                let mut section = ComponentImportSection::new();
                for name in imports {
                    section.import(*name, ComponentTypeRef::Instance(0));
                }
                c.section(&section);
            }
            for m in modules {
                c.section(&ModuleSection(m));
            }
            for nested in components {
                c.section(&NestedComponentSection(nested));
            }
            let mut exports = ComponentExportSection::new();
            for name in functions {
                exports.export(*name, ComponentExportKind::Func, 0, None);
            }
            for name in instances {
                exports.export(*name, ComponentExportKind::Instance, 0, None);
            }
            c.section(&exports);
            c
        }

        const OUTER_IMPORTS: &[&str] = &["wasi:cli/stdout@0.2.3", "seam:plugin/host@0.2.0"];
        const INNER_IMPORTS: &[&str] = &[MODULE_LOADER, "seam:plugin/host@0.2.0"];
        const FUNCTIONS: &[&str] = &["describe", "prepare", "check"];

        /// What a wrapper differs in from componentize-js's.
        struct Wrapper {
            stub_body: Vec<Instruction<'static>>,
            stub_imports: Vec<&'static str>,
            stub_functions: Vec<&'static str>,
            stub_instances: Vec<&'static str>,
            inner_imports: Vec<&'static str>,
            inner_functions: Vec<&'static str>,
            outer_modules: usize,
            extra_component: bool,
        }

        impl Default for Wrapper {
            fn default() -> Self {
                Wrapper {
                    stub_body: vec![Instruction::Unreachable],
                    stub_imports: vec![],
                    stub_functions: vec![],
                    stub_instances: vec![MODULE_LOADER],
                    inner_imports: INNER_IMPORTS.to_vec(),
                    inner_functions: FUNCTIONS.to_vec(),
                    outer_modules: 0,
                    extra_component: false,
                }
            }
        }

        /// The wrapper's bytes and the wrapped component's.
        fn wrapper(w: Wrapper) -> (Vec<u8>, Vec<u8>) {
            let inner = component(
                &w.inner_imports,
                &[module(&[Instruction::I32Const(1), Instruction::Drop])],
                &[],
                &w.inner_functions,
                &[],
            );
            let stub = component(
                &w.stub_imports,
                &[module(&w.stub_body), module(&[])],
                &[],
                &w.stub_functions,
                &w.stub_instances,
            );
            let mut components = vec![inner.clone(), stub];
            if w.extra_component {
                components.push(component(&[], &[], &[], &[], &[]));
            }
            let modules: Vec<Module> = (0..w.outer_modules).map(|_| module(&[])).collect();
            let outer = component(OUTER_IMPORTS, &modules, &components, FUNCTIONS, &[]);
            (outer.finish(), inner.finish())
        }

        #[test]
        fn the_component_inside_a_loader_stub_wrapper_is_found() {
            let (outer, inner) = wrapper(Wrapper::default());
            let range = loader_wrapped(&outer).expect("a wrapper");
            assert_eq!(&outer[range], &inner[..]);
        }

        #[test]
        fn a_plain_component_is_not_a_wrapper() {
            let plain = component(OUTER_IMPORTS, &[module(&[])], &[], FUNCTIONS, &[]);
            assert_eq!(loader_wrapped(&plain.finish()), None);
            assert_eq!(loader_wrapped(b"\0asm\x0d\0\x01\0"), None);
            assert_eq!(loader_wrapped(b"not wasm"), None);
        }

        /// Cut short anywhere or with any one byte changed, a wrapper is read without a
        /// panic, and a range found lies inside the bytes.
        #[test]
        fn damaged_wrappers_are_read_safely() {
            let (outer, _) = wrapper(Wrapper::default());
            let within = |bytes: &[u8]| {
                if let Some(range) = loader_wrapped(bytes) {
                    assert!(range.start < range.end && range.end <= bytes.len());
                }
            };
            for len in 0..outer.len() {
                within(&outer[..len]);
            }
            for at in 0..outer.len() {
                for flip in [0x01, 0x80, 0xff] {
                    let mut bytes = outer.clone();
                    bytes[at] ^= flip;
                    within(&bytes);
                }
            }
        }

        /// Anything but a stub that only traps, beside a component that imports no
        /// more than the wrapper and exports what it exports, is left whole.
        #[test]
        fn anything_else_is_left_whole() {
            let cases: Vec<(&str, Wrapper)> = vec![
                (
                    "a stub function that computes",
                    Wrapper {
                        stub_body: vec![Instruction::I32Const(0), Instruction::Drop],
                        ..Wrapper::default()
                    },
                ),
                (
                    "a stub function that calls",
                    Wrapper {
                        stub_body: vec![Instruction::Call(0)],
                        ..Wrapper::default()
                    },
                ),
                (
                    "a stub that imports",
                    Wrapper {
                        stub_imports: vec!["wasi:cli/stdout@0.2.3"],
                        ..Wrapper::default()
                    },
                ),
                (
                    "a stub that exports a function",
                    Wrapper {
                        stub_functions: vec!["check"],
                        ..Wrapper::default()
                    },
                ),
                (
                    "a stub that exports another instance",
                    Wrapper {
                        stub_instances: vec![MODULE_LOADER, "local:init/other"],
                        ..Wrapper::default()
                    },
                ),
                (
                    "a stub for another interface",
                    Wrapper {
                        stub_instances: vec!["local:init/other"],
                        ..Wrapper::default()
                    },
                ),
                (
                    "an inner component that imports more than the wrapper",
                    Wrapper {
                        inner_imports: vec![MODULE_LOADER, "wasi:sockets/tcp@0.2.3"],
                        ..Wrapper::default()
                    },
                ),
                (
                    "an inner component without the loader",
                    Wrapper {
                        inner_imports: vec!["seam:plugin/host@0.2.0"],
                        ..Wrapper::default()
                    },
                ),
                (
                    "an inner component that exports other functions",
                    Wrapper {
                        inner_functions: vec!["describe", "prepare", "check", "route"],
                        ..Wrapper::default()
                    },
                ),
                (
                    "a wrapper with code of its own",
                    Wrapper {
                        outer_modules: 1,
                        ..Wrapper::default()
                    },
                ),
                (
                    "a wrapper with a third component",
                    Wrapper {
                        extra_component: true,
                        ..Wrapper::default()
                    },
                ),
            ];
            for (case, w) in cases {
                assert_eq!(loader_wrapped(&wrapper(w).0), None, "{case}");
            }
        }
    }
}
