//! The pipeline file: any text is a pipeline or an error with file, line and column,
//! never a panic. Standard plugins it names are loaded for real (from one runtime).
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use seam_runtime::{Runtime, RuntimeConfig};

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(RuntimeConfig {
            max_instances: 4,
            worker_threads: 1,
            cache: Some(seam_runtime::Cache::new(
                std::env::temp_dir().join("seam-fuzz-cache"),
            )),
            ..RuntimeConfig::default()
        })
        .expect("a runtime")
    })
}

fuzz_target!(
    init: {
        // Compile every standard plugin before the first input, so that no input is
        // charged for it (the per-input timeout then measures parsing and loading).
        for name in seam_runtime::std_plugins::names() {
            if let Some(source) = seam_runtime::standard(name) {
                let _ = runtime().describe(&source, seam_runtime::Limits::default());
            }
        }
    },
    |data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let path = std::path::Path::new("/nonexistent/seam-fuzz/pipeline.toml");
        if let Err(e) = seam_pipeline::Pipeline::parse(path, text, runtime()) {
            assert!(e.file.ends_with("pipeline.toml"));
        }
    }
);
