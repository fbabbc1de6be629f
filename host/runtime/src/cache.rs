//! On-disk cache of compiled components, keyed by the component's SHA-256 and the
//! engine's compatibility hash, so a restart does not recompile.
//!
//! The cache directory must be writable only by the user running seam: a compiled
//! artifact is native code that wasmtime loads without re-validating it.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::Engine;

/// Where compiled components are kept.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// A stable 64-bit FNV-1a hasher, so cache keys do not change between Rust releases.
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }
}

impl Cache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Cache { dir: dir.into() }
    }

    /// The default location: `$SEAM_CACHE_DIR`, else `$XDG_CACHE_HOME/seam`, else
    /// `$HOME/.cache/seam`; `None` when none of them is set.
    pub fn default_dir() -> Option<PathBuf> {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        var("SEAM_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| var("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("seam")))
            .or_else(|| var("HOME").map(|d| PathBuf::from(d).join(".cache").join("seam")))
    }

    /// The directory of this cache.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_for(&self, engine: &Engine, digest: &str) -> PathBuf {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        engine.precompile_compatibility_hash().hash(&mut h);
        self.dir.join(format!("{digest}-{:016x}.cwasm", h.finish()))
    }

    /// Loads the compiled form of the component with SHA-256 `digest`, compiling
    /// `bytes` and storing the result when it is not cached (or the cached file is
    /// unusable). Returns the component and whether it came from the cache.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, bool)> {
        let path = self.path_for(engine, digest);
        if path.exists() {
            // SAFETY: the file was written by `Component::serialize` for an engine with
            // the same compatibility hash, in a directory only this user writes to
            // (documented in docs/sandbox.md); wasmtime checks its header and version.
            #[allow(unsafe_code)]
            let cached = unsafe { Component::deserialize_file(engine, &path) };
            if let Ok(component) = cached {
                return Ok((component, true));
            }
            // A stale or damaged entry: recompile and overwrite it below.
        }
        let component = Component::new(engine, bytes)?;
        // A cache that cannot be written is not an error: the next start compiles again.
        if let Ok(serialized) = component.serialize() {
            let _ = std::fs::create_dir_all(&self.dir);
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, serialized).is_ok() && std::fs::rename(&tmp, &path).is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
        }
        Ok((component, false))
    }
}
