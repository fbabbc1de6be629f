//! On-disk cache of compiled components, keyed by the component's SHA-256 and the
//! engine's compatibility hash, so a restart does not recompile; and of compiled
//! functions ([`FunctionCache`]), so a rebuilt plugin compiles only what changed.
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

use sha2::Digest;

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
            let _ = seam_types::files::write_private_atomic(&path, |w| w.write_all(&serialized));
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
/// every plugin it ever compiled; past [`FunctionCache::MAX_BYTES`], new ones are not
/// kept.
///
/// With a compile cache, functions also outlive the process in a pack file in the
/// cache directory. The first time a load looks a function up, the pack is read (one
/// read, its checksum, and an index of its keys); when the loads compiled many
/// functions the pack did not hold (a quarter of those they looked up, at least: a
/// plugin of a new kind, not the few trampolines every compile makes anew), the last
/// one to end writes the pack again: the functions the loads used first, then the
/// pack's others, up to [`FunctionCache::PACK_MAX_BYTES`]. A plugin rebuilt after an
/// edit (a new digest, so its compiled form is not cached) has most of its functions
/// unchanged — all of CPython's in a Python gate — and compiles only the rest. The pack
/// is native code, trusted as the compiled components beside it are (see
/// [`Cache::prepare`]).
#[derive(Debug, Default)]
pub(crate) struct FunctionCache {
    entries: Mutex<Entries>,
    /// The pack file, when there is a usable compile cache.
    pack: std::sync::OnceLock<PathBuf>,
    hits: AtomicUsize,
    misses: AtomicUsize,
}

#[derive(Debug, Default)]
struct Entries {
    /// Loads under way.
    loads: usize,
    map: HashMap<Vec<u8>, Code>,
    /// The pack as read; [`Stored::Pack`] ranges point into it.
    pack: Vec<u8>,
    /// Bytes kept: keys, compiled code and the pack.
    bytes: usize,
    /// The pack has been read since the cache was last emptied.
    read: bool,
    /// Functions looked up, and compiled anew, since then.
    looked_up: usize,
    compiled: usize,
}

#[derive(Debug)]
struct Code {
    stored: Stored,
    /// Taken or compiled by a load since the cache was last emptied.
    used: bool,
}

#[derive(Debug)]
enum Stored {
    Pack(std::ops::Range<usize>),
    Own(Vec<u8>),
}

/// What a pack file starts with, before the SHA-256 of the rest; a pack of another
/// format is not read.
const PACK_MAGIC: &[u8] = b"seam compiled functions 2\n";

impl Code {
    /// The compiled code, from `pack` (the pack as read) or its own.
    fn bytes<'a>(&'a self, pack: &'a [u8]) -> &'a [u8] {
        match &self.stored {
            Stored::Pack(range) => &pack[range.clone()],
            Stored::Own(bytes) => bytes,
        }
    }
}

impl Entries {
    /// Reads the pack at `path` into the (empty) cache: the file whole, and an index
    /// of its keys. A pack that is not trusted is removed; one whose checksum does not
    /// match, or that is cut inside a function, gives nothing.
    fn read_pack(&mut self, path: &Path) {
        let Some(bytes) = trusted_file(path) else {
            return;
        };
        let Some(body) = bytes.strip_prefix(PACK_MAGIC) else {
            return;
        };
        let Some((sum, rest)) = body.split_first_chunk::<32>() else {
            return;
        };
        if sha2::Sha256::digest(rest).as_slice() != sum {
            return;
        }
        let mut index = Vec::new();
        let mut at = PACK_MAGIC.len() + 32;
        while at < bytes.len() {
            match (part(&bytes, &mut at), part(&bytes, &mut at)) {
                (Some(key), Some(code)) => index.push((key, code)),
                _ => return,
            }
        }
        if self.bytes + bytes.len() > FunctionCache::MAX_BYTES {
            return;
        }
        self.bytes += bytes.len();
        for (key, code) in index {
            let code = Code {
                stored: Stored::Pack(code),
                used: false,
            };
            self.map.insert(bytes[key].to_vec(), code);
        }
        self.pack = bytes;
    }

    /// The pack of these functions: the used ones, then the others, while the pack
    /// stays within `max` bytes. [`PACK_MAGIC`], the SHA-256 of the rest, then each
    /// function's key and code, each as its length (u32, little-endian) and its bytes.
    fn pack(&self, max: usize) -> Vec<u8> {
        let mut rest = Vec::new();
        let mut size = PACK_MAGIC.len() + 32;
        for used in [true, false] {
            for (key, code) in self.map.iter().filter(|(_, c)| c.used == used) {
                let code = code.bytes(&self.pack);
                let (Ok(klen), Ok(clen)) = (u32::try_from(key.len()), u32::try_from(code.len()))
                else {
                    continue;
                };
                if size + 8 + key.len() + code.len() > max {
                    continue;
                }
                size += 8 + key.len() + code.len();
                rest.extend_from_slice(&klen.to_le_bytes());
                rest.extend_from_slice(key);
                rest.extend_from_slice(&clen.to_le_bytes());
                rest.extend_from_slice(code);
            }
        }
        let mut out = PACK_MAGIC.to_vec();
        out.extend_from_slice(&sha2::Sha256::digest(&rest));
        out.extend_from_slice(&rest);
        out
    }
}

/// One length-prefixed part of a pack at `*at`: its range, and `*at` moved past it.
fn part(bytes: &[u8], at: &mut usize) -> Option<std::ops::Range<usize>> {
    let len = bytes.get(*at..at.checked_add(4)?)?;
    let len = usize::try_from(u32::from_le_bytes(len.try_into().ok()?)).ok()?;
    let start = *at + 4;
    let end = start.checked_add(len)?;
    bytes.get(start..end)?;
    *at = end;
    Some(start..end)
}

/// The bytes of the file at `path` when it is trusted: a regular file (not a link
/// followed, not a FIFO waited on) this user owns and no one else may write, checked on
/// the handle it is read from. Anything else there is removed, as a planted compiled
/// component is.
fn trusted_file(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NOFOLLOW | libc::O_NONBLOCK,
    );
    let opened = options.open(path);
    let trusted = opened.as_ref().ok().and_then(|file| {
        let meta = file.metadata().ok()?;
        (meta.is_file() && safe_owner(&meta).is_ok()).then_some(())
    });
    match (opened, trusted) {
        (Ok(mut file), Some(())) => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).ok()?;
            Some(bytes)
        }
        (Err(e), _) if e.kind() == std::io::ErrorKind::NotFound => None,
        _ => {
            let _ = std::fs::remove_file(path);
            None
        }
    }
}

/// A load under way: the last one to end empties the [`FunctionCache`], and writes the
/// pack when the loads compiled many functions it lacked.
pub(crate) struct Loading<'a>(&'a FunctionCache);

impl Drop for Loading<'_> {
    fn drop(&mut self) {
        let mut entries = self.0.entries();
        entries.loads = entries.loads.saturating_sub(1);
        if entries.loads > 0 {
            return;
        }
        let ended = std::mem::take(&mut *entries);
        drop(entries);
        if ended.compiled > 0 && ended.compiled * 4 >= ended.looked_up {
            if let Some(path) = self.0.pack.get() {
                let pack = ended.pack(FunctionCache::PACK_MAX_BYTES);
                drop(ended);
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                // A pack that cannot be written is not an error: the next load
                // compiles more.
                let _ = seam_types::files::write_private_atomic(path, |w| w.write_all(&pack));
            }
        }
    }
}

impl FunctionCache {
    /// What the kept functions may take, keys and code together (a Python plugin's
    /// take about 40 MB); past it, new ones are not kept.
    const MAX_BYTES: usize = 256 << 20;

    /// What the pack on disk may take: CPython's functions (about 34 MB, shared by
    /// every Python plugin built with one componentize-py release) and others beside.
    const PACK_MAX_BYTES: usize = 64 << 20;

    /// Keeps functions in the pack at `path` too (see the type's documentation); set
    /// once, when the runtime has a usable compile cache.
    pub(crate) fn keep_in(&self, path: PathBuf) {
        let _ = self.pack.set(path);
    }

    /// Marks a load under way until the guard is dropped.
    pub(crate) fn loading(&self) -> Loading<'_> {
        self.entries().loads += 1;
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
        let mut entries = self.entries();
        if !entries.read {
            // Something is being compiled: what earlier loads compiled may be in it.
            // Compile threads wait for the pack here rather than compile what is in it.
            entries.read = true;
            if let Some(path) = self.pack.get() {
                entries.read_pack(path);
            }
        }
        entries.looked_up += 1;
        let entries = &mut *entries;
        let found = entries.map.get_mut(key).map(|code| {
            code.used = true;
            code.bytes(&entries.pack).to_vec()
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
        entries.compiled += 1;
        let size = key.len() + value.len();
        if entries.bytes + size > Self::MAX_BYTES {
            return false;
        }
        let code = Code {
            stored: Stored::Own(value),
            used: true,
        };
        if let Some(old) = entries.map.insert(key.to_vec(), code) {
            if let Stored::Own(old) = old.stored {
                entries.bytes -= key.len() + old.len();
            }
        }
        entries.bytes += size;
        true
    }
}

#[cfg(all(test, unix))]
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

        let written = std::fs::read(&pack).unwrap();

        // Nearly every function comes from the pack: 722 to 754 of 781 in runs here.
        // The rest are trampolines, some of which compile differently every time, so
        // the bound leaves room (three in four; without the pack, 215 of 781).
        let (taken, compiled) = describing(&runtime(&dir), &edited(1));
        assert!(
            taken * 4 >= (taken + compiled) * 3,
            "{taken} taken, {compiled} compiled"
        );
        // So few were compiled anew that the pack is left as it was.
        assert!(
            std::fs::read(&pack).unwrap() == written,
            "the pack was rewritten"
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

        // Cut inside a function, one byte of code changed (its checksum no longer
        // matches), or not a pack at all: nothing is taken from it, and the plugin
        // compiles (and is described) all the same.
        let cut = whole[..whole.len() - 3].to_vec();
        let mut flipped = whole.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let damaged = [(2, cut), (3, flipped), (4, b"#!/bin/sh\n".to_vec())];
        for (n, bytes) in damaged {
            std::fs::write(&pack, bytes).unwrap();
            few(describing(&runtime(&dir), &edited(n)));
        }

        // A link where the pack should be is removed, not followed.
        let elsewhere = dir.join("elsewhere");
        std::fs::write(&elsewhere, &whole).unwrap();
        std::fs::remove_file(&pack).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &pack).unwrap();
        few(describing(&runtime(&dir), &edited(5)));
        assert!(!std::fs::symlink_metadata(&pack).unwrap().is_symlink());
        assert_eq!(
            std::fs::read(&elsewhere).unwrap(),
            whole,
            "the link's target is left"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Functions kept in memory, each under a one-byte key `k` with code `[k; 100]`,
    /// used when `k` is odd.
    fn kept(keys: std::ops::Range<u8>) -> Entries {
        let mut entries = Entries::default();
        for k in keys {
            let code = Code {
                stored: Stored::Own(vec![k; 100]),
                used: k % 2 == 1,
            };
            entries.map.insert(vec![k], code);
        }
        entries
    }

    #[test]
    fn a_pack_reads_back_whole_and_holds_the_used_functions_first_within_its_cap() {
        let dir = scratch("functions-pack-format");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("functions.pack");
        let entries = kept(0..10);
        // Room for all, then for four functions of 109 bytes: four of the five used
        // ones (odd), none of the others.
        for max in [usize::MAX, PACK_MAGIC.len() + 32 + 4 * 109 + 50] {
            std::fs::write(&path, entries.pack(max)).unwrap();
            let mut read = Entries::default();
            read.read_pack(&path);
            let mut keys: Vec<u8> = read.map.keys().map(|k| k[0]).collect();
            keys.sort();
            if max == usize::MAX {
                assert_eq!(keys, (0..10).collect::<Vec<u8>>());
            } else {
                assert_eq!(keys.len(), 4, "{keys:?}");
                assert!(keys.iter().all(|k| k % 2 == 1), "{keys:?}");
            }
            for (key, code) in &read.map {
                assert_eq!(code.bytes(&read.pack), vec![key[0]; 100]);
                assert!(!code.used);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
