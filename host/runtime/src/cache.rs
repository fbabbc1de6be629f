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
        self.dir
            .join(format!("{digest}-{:016x}.cwasm", engine_hash(engine)))
    }

    /// Where the functions recent loads compiled are kept (see [`FunctionCache`]).
    pub(crate) fn functions_path(&self, engine: &Engine) -> PathBuf {
        self.dir
            .join(format!("functions-{:016x}.pack", engine_hash(engine)))
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

/// The engine's compatibility hash, stable across Rust releases: compiled code is
/// kept per engine configuration.
fn engine_hash(engine: &Engine) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    engine.precompile_compatibility_hash().hash(&mut h);
    h.finish()
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
///
/// With a compile cache, the functions a load used are also written to a pack file in
/// the cache directory when the load compiled anything, and read back by the next load
/// that compiles: a plugin rebuilt after an edit (a new digest, so its compiled form is
/// not cached) has most of its functions unchanged — all of CPython's in a Python gate
/// — and compiles only the rest. The pack holds what the last loads used, up to
/// [`FunctionCache::PACK_MAX_BYTES`]; it is native code, trusted as the compiled
/// components beside it are (owner-only, see [`Cache::prepare`]).
#[derive(Debug, Default)]
pub(crate) struct FunctionCache {
    entries: Mutex<Entries>,
    /// The pack file, when there is a usable compile cache.
    pack: std::sync::OnceLock<PathBuf>,
    loads: AtomicUsize,
    hits: AtomicUsize,
    misses: AtomicUsize,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<Vec<u8>, Code>,
    bytes: usize,
    /// The pack has been read into `map` since the cache was last emptied.
    read: bool,
    /// Something was compiled since then (so the pack is written again).
    compiled: bool,
}

#[derive(Debug)]
struct Code {
    code: Vec<u8>,
    /// Taken or compiled by a load since the cache was last emptied.
    used: bool,
}

/// A load under way: the last one to end writes the pack (when it compiled anything)
/// and empties the [`FunctionCache`].
pub(crate) struct Loading<'a>(&'a FunctionCache);

impl Drop for Loading<'_> {
    fn drop(&mut self) {
        if self.0.loads.fetch_sub(1, Ordering::AcqRel) == 1 {
            let mut entries = self.0.entries();
            if entries.compiled {
                if let Some(path) = self.0.pack.get() {
                    write_pack(path, &entries.map);
                }
            }
            *entries = Entries::default();
        }
    }
}

/// What a pack file starts with; a pack of another format is not read.
const PACK_MAGIC: &[u8] = b"seam compiled functions 1\n";

/// Writes the used functions of `map`, then the others, up to
/// [`FunctionCache::PACK_MAX_BYTES`]: `PACK_MAGIC`, then for each function its key's
/// and its code's length (u32, little-endian) each followed by the bytes. A pack that
/// cannot be written is not an error: the next load compiles more.
fn write_pack(path: &Path, map: &HashMap<Vec<u8>, Code>) {
    let mut out = PACK_MAGIC.to_vec();
    for used in [true, false] {
        for (key, code) in map.iter().filter(|(_, c)| c.used == used) {
            let size = 8 + key.len() + code.code.len();
            if out.len() + size > FunctionCache::PACK_MAX_BYTES {
                continue;
            }
            for part in [key, &code.code] {
                // Below PACK_MAX_BYTES, so the length fits.
                out.extend_from_slice(&(part.len() as u32).to_le_bytes());
                out.extend_from_slice(part);
            }
        }
    }
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = seam_types::files::write_atomic(path, |w| w.write_all(&out));
}

/// The functions of the pack at `path`, when it is trusted (a file this user owns and
/// no one else may write; anything else there is removed, as a planted compiled
/// component is) and whole. A damaged pack gives nothing: those functions compile.
fn read_pack(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let trusted =
        std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && safe_owner(&m).is_ok());
    if !trusted {
        if std::fs::symlink_metadata(path).is_ok() {
            let _ = std::fs::remove_file(path);
        }
        return Vec::new();
    }
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let Some(mut rest) = bytes.strip_prefix(PACK_MAGIC) else {
        return Vec::new();
    };
    let take = |rest: &mut &[u8]| -> Option<Vec<u8>> {
        let (len, after) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        let (part, after) = (after.get(..len)?, &after[len..]);
        *rest = after;
        Some(part.to_vec())
    };
    let mut functions = Vec::new();
    while !rest.is_empty() {
        match (take(&mut rest), take(&mut rest)) {
            (Some(key), Some(code)) => functions.push((key, code)),
            _ => return Vec::new(),
        }
    }
    functions
}

impl FunctionCache {
    /// What the kept functions may take, keys and code together (a Python plugin's
    /// take about 34 MB); past it the cache starts over.
    const MAX_BYTES: usize = 256 << 20;

    /// What the pack on disk may take: the functions of about three Python plugins.
    const PACK_MAX_BYTES: usize = 128 << 20;

    /// Keeps the functions loads use in the pack at `path` too (see the type's
    /// documentation); set once, when the runtime has a usable compile cache.
    pub(crate) fn keep_in(&self, path: PathBuf) {
        let _ = self.pack.set(path);
    }

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

impl Entries {
    /// Keeps `code` under `key`, starting over past [`FunctionCache::MAX_BYTES`].
    fn keep(&mut self, key: Vec<u8>, code: Vec<u8>, used: bool) {
        let size = key.len() + code.len();
        if self.bytes + size > FunctionCache::MAX_BYTES {
            self.map = HashMap::new();
            self.bytes = 0;
        }
        let klen = key.len();
        if let Some(old) = self.map.insert(key, Code { code, used }) {
            self.bytes -= klen + old.code.len();
        }
        self.bytes += size;
    }
}

impl wasmtime::CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let mut entries = self.entries();
        if !entries.read {
            // Something is being compiled: what earlier loads compiled may be in it.
            entries.read = true;
            if let Some(path) = self.pack.get() {
                for (key, code) in read_pack(path) {
                    entries.keep(key, code, false);
                }
            }
        }
        let found = entries.map.get_mut(key).map(|c| {
            c.used = true;
            c.code.clone()
        });
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found.map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let mut entries = self.entries();
        entries.compiled = true;
        entries.keep(key.to_vec(), value, true);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{standard, Limits, PluginSource, Runtime, RuntimeConfig};
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("seam-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// A runtime of its own (as a new process has) over the cache in `dir`.
    fn runtime(dir: &Path) -> Runtime {
        Runtime::new(RuntimeConfig {
            cache: Some(Cache::new(dir)),
            ..RuntimeConfig::default()
        })
        .unwrap()
    }

    /// `max-words` as rebuilt after an edit that changed none of its code: the same
    /// functions under a new digest (custom section `edited` holding `n` added), so its
    /// compiled form is not in the cache.
    fn edited(n: u8) -> PluginSource {
        let mut source = standard("max-words").unwrap();
        let bytes = source.bytes.to_mut();
        bytes.extend_from_slice(&[0, 8, 6, b'e', b'd', b'i', b't', b'e', b'd', n]);
        source
    }

    /// Describes `source` in `rt` (which compiles its instrumented form): how many
    /// functions came from the function cache, and how many were compiled.
    fn describing(rt: &Runtime, source: &PluginSource) -> (usize, usize) {
        let before = rt.inner.functions.counts();
        rt.describe(source, Limits::default()).unwrap();
        let after = rt.inner.functions.counts();
        (after.0 - before.0, after.1 - before.1)
    }

    /// Builds the pack in `dir` by describing `max-words`; returns its path.
    fn packed(dir: &Path) -> PathBuf {
        let rt = runtime(dir);
        let (_, compiled) = describing(&rt, &standard("max-words").unwrap());
        assert!(compiled > 100, "{compiled} compiled");
        assert_eq!(rt.inner.functions.bytes(), 0, "emptied after the load");
        rt.inner.functions.pack.get().unwrap().clone()
    }

    #[test]
    fn a_rebuilt_plugin_takes_its_unchanged_functions_from_the_pack_of_an_earlier_process() {
        let dir = scratch("functions-pack");
        let pack = packed(&dir);
        let mode = std::fs::metadata(&pack).unwrap().permissions().mode();
        assert_eq!(mode & 0o022, 0, "no one else may write it: mode {mode:o}");

        // Nearly every function comes from the pack (the rest are trampolines).
        let (taken, compiled) = describing(&runtime(&dir), &edited(1));
        assert!(
            taken * 10 >= (taken + compiled) * 9,
            "{taken} taken, {compiled} compiled"
        );
        // Without it, only the functions it holds twice (215 of 781 when written).
        let none = scratch("functions-pack-none");
        let (taken, compiled) = describing(&runtime(&none), &edited(1));
        assert!(
            taken * 2 <= taken + compiled,
            "{taken} taken, {compiled} compiled"
        );
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&none);
    }

    #[test]
    fn a_pack_others_may_write_is_removed_unread_and_a_damaged_one_is_ignored() {
        let dir = scratch("functions-pack-trust");
        let pack = packed(&dir);
        let whole = std::fs::read(&pack).unwrap();
        let few = |(taken, compiled): (usize, usize)| {
            assert!(compiled > 100, "{compiled} compiled");
            // Only the functions max-words holds twice.
            assert!(
                taken * 2 <= taken + compiled,
                "{taken} taken, {compiled} compiled"
            );
        };

        std::fs::set_permissions(&pack, std::fs::Permissions::from_mode(0o666)).unwrap();
        few(describing(&runtime(&dir), &edited(1)));
        // The load wrote a pack of its own in its place, that no one else may write.
        let mode = std::fs::metadata(&pack).unwrap().permissions().mode();
        assert_eq!(mode & 0o022, 0, "no one else may write it: mode {mode:o}");

        // Cut inside a function, or not a pack at all: nothing is taken from it, and
        // the plugin compiles (and is described) all the same.
        let cut = &whole[..whole.len() - 3];
        for (n, damaged) in [(2, cut), (3, b"#!/bin/sh\n".as_slice())] {
            std::fs::write(&pack, damaged).unwrap();
            few(describing(&runtime(&dir), &edited(n)));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
