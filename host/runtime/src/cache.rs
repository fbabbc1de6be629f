//! On-disk cache of compiled components, keyed by the component's SHA-256 and the
//! engine's compatibility hash, so a restart does not recompile.
//!
//! The cache directory must be writable only by the user running seam: a compiled
//! artifact is native code that wasmtime loads without re-validating it. So the
//! directory is created owner-only, and a directory or file that another user owns or
//! may write is never loaded from ([`Cache::prepare`] says why).

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

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

    /// Makes sure the cache may be used: creates the directory owner-only (0700) when it
    /// is missing, and refuses one that another user owns or that others may write
    /// (anyone who can write there could plant native code that seam would run).
    /// Returns why the cache cannot be used.
    pub fn prepare(&self) -> Result<(), String> {
        let dir = &self.dir;
        if std::fs::metadata(dir).is_err() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(dir)
                .map_err(|e| format!("{} cannot be created: {e}", dir.display()))?;
        }
        let meta =
            std::fs::metadata(dir).map_err(|e| format!("{} cannot be read: {e}", dir.display()))?;
        if !meta.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        safe_owner(&meta).map_err(|why| format!("{} {why}", dir.display()))
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
        if let Some(component) = self.load(engine, digest) {
            return Ok((component, true));
        }
        let component = Component::new(engine, bytes)?;
        self.store(engine, digest, &component);
        Ok((component, false))
    }

    /// The compiled component stored under `key` (a component's SHA-256, or the key of
    /// a prepared snapshot), if there is a usable one.
    pub fn load(&self, engine: &Engine, key: &str) -> Option<Component> {
        let path = self.path_for(engine, key);
        let trusted =
            std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && safe_owner(&m).is_ok());
        if path.exists() && !trusted {
            // Planted, linked or loosened: never loaded; replaced when next stored.
            let _ = std::fs::remove_file(&path);
        }
        if !trusted {
            return None;
        }
        // SAFETY: the file was written by `Component::serialize` for an engine with the
        // same compatibility hash, in a directory only this user writes to (documented
        // in docs/sandbox.md); wasmtime checks its header and version.
        #[allow(unsafe_code)]
        let cached = unsafe { Component::deserialize_file(engine, &path) };
        // A stale or damaged entry is recompiled and overwritten by the caller.
        cached.ok()
    }

    /// Stores a compiled component under `key`. A cache that cannot be written is not
    /// an error: the next start compiles again.
    pub fn store(&self, engine: &Engine, key: &str, component: &Component) {
        let path = self.path_for(engine, key);
        if let Ok(serialized) = component.serialize() {
            let _ = std::fs::create_dir_all(&self.dir);
            let _ = seam_types::files::write_atomic(&path, |w| w.write_all(&serialized));
        }
    }
}

/// Whether a cache directory or file is safe to load native code from: owned by the
/// user running seam and writable by no one else. The error says why not.
#[cfg(unix)]
fn safe_owner(meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!(
            "is owned by another user (uid {}, not {me})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "may be written by other users (mode {:o}); make it owner-only (chmod go-w)",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn safe_owner(_meta: &std::fs::Metadata) -> Result<(), String> {
    Ok(())
}

/// Cranelift's compiled functions, kept in memory by a hash of each function's code
/// (wasmtime's incremental compilation). A plugin's snapshot has the functions of the
/// instrumented component it is made from, so compiling the snapshot takes most of
/// them from here instead of compiling them again; a component that holds the same
/// function twice compiles it once. Kept only while a load is under way
/// ([`FunctionCache::loading`]), so a long-running process does not hold the code of
/// every plugin it ever compiled; bounded by [`FunctionCache::MAX_BYTES`] besides.
#[derive(Debug, Default)]
pub(crate) struct FunctionCache {
    entries: Mutex<Entries>,
    loads: AtomicUsize,
    hits: AtomicUsize,
    misses: AtomicUsize,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<Vec<u8>, Vec<u8>>,
    bytes: usize,
}

/// A load under way: the last one to end empties the [`FunctionCache`].
pub(crate) struct Loading<'a>(&'a FunctionCache);

impl Drop for Loading<'_> {
    fn drop(&mut self) {
        if self.0.loads.fetch_sub(1, Ordering::AcqRel) == 1 {
            let mut entries = self.0.entries();
            entries.map = HashMap::new();
            entries.bytes = 0;
        }
    }
}

impl FunctionCache {
    /// What the kept functions may take, keys and code together (a Python plugin's
    /// take about 34 MB); past it the cache starts over.
    const MAX_BYTES: usize = 256 << 20;

    /// Marks a load under way until the guard is dropped.
    pub(crate) fn loading(&self) -> Loading<'_> {
        self.loads.fetch_add(1, Ordering::AcqRel);
        Loading(self)
    }

    /// Functions taken from the cache and compiled, so far.
    #[cfg(test)]
    pub(crate) fn counts(&self) -> (usize, usize) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Bytes kept now.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.entries().bytes
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl wasmtime::CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let found = self.entries().map.get(key).cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found.map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let size = key.len() + value.len();
        let mut entries = self.entries();
        if entries.bytes + size > Self::MAX_BYTES {
            entries.map = HashMap::new();
            entries.bytes = 0;
        }
        if let Some(old) = entries.map.insert(key.to_vec(), value) {
            entries.bytes -= key.len() + old.len();
        }
        entries.bytes += size;
        true
    }
}
