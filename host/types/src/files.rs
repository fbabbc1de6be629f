//! Files as seam reads and writes them: by identity, within a cap, never half-written.
//!
//! - [`FileId`] tells whether two paths are the same file (device and inode, so through
//!   symbolic and hard links), which is how an output is refused when it is an input.
//! - [`read_capped`] stops reading at a cap instead of reading everything first.
//! - [`write_atomic`] writes a temporary file beside the target and renames it over the
//!   target, so a failure leaves the old file (or none), never a half-written one.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The identity of a file: equal for two paths that reach the same file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    device: u64,
    inode: u64,
}

impl FileId {
    /// The identity of the file at `path` (following symbolic links), or `None` when
    /// there is no such file.
    pub fn of(path: &Path) -> Option<FileId> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Self::from_metadata(&meta, path))
    }

    #[cfg(unix)]
    fn from_metadata(meta: &std::fs::Metadata, _path: &Path) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            device: meta.dev(),
            inode: meta.ino(),
        }
    }

    #[cfg(not(unix))]
    fn from_metadata(_meta: &std::fs::Metadata, path: &Path) -> FileId {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .hash(&mut h);
        FileId {
            device: 0,
            inode: h.finish(),
        }
    }
}

/// More bytes than the cap allowed: reading stopped at the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverCap {
    pub cap: u64,
}

/// Reads `reader` to its end, or stops once more than `cap` bytes arrived. Never holds
/// more than `cap + 1` bytes.
pub fn read_capped(reader: impl Read, cap: u64) -> std::io::Result<Result<Vec<u8>, OverCap>> {
    let mut bytes = Vec::new();
    reader.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Ok(Err(OverCap { cap }));
    }
    Ok(Ok(bytes))
}

/// Reads the regular file at `path` whole, refusing anything else (a FIFO would hang
/// the reader, a device never ends) and anything over `cap` bytes. The error says
/// what was wrong, for a message that then names the file.
pub fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    // Looked at before opening: opening a FIFO for reading waits for a writer.
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(if meta.is_dir() {
            "it is a directory, not a file".into()
        } else {
            "it is not a regular file (a FIFO, socket or device)".into()
        });
    }
    if meta.len() > cap {
        return Err(format!(
            "it is {} bytes, over the cap of {cap} bytes",
            meta.len()
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    match read_capped(file, cap).map_err(|e| e.to_string())? {
        Ok(bytes) => Ok(bytes),
        Err(over) => Err(format!(
            "it grew over the cap of {} bytes while being read",
            over.cap
        )),
    }
}

/// [`read_regular`] as UTF-8 text.
pub fn read_regular_text(path: &Path, cap: u64) -> Result<String, String> {
    utf8(read_regular(path, cap)?)
}

/// `bytes` as UTF-8 text, or an error that says where the first bad byte is.
pub fn utf8(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        format!("it is not UTF-8 text (the byte at offset {at} is not valid UTF-8)")
    })
}

/// Writes the file at `path` through `write`, atomically: into a new temporary file in
/// the same folder, flushed to disk, then renamed over `path`. When `write` or any
/// step fails, the temporary file is removed and `path` is untouched. A `path` that
/// exists and is not a regular file (`/dev/stdout`, a FIFO) is written directly.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_atomic_as(path, false, write)
}

/// [`write_atomic`] for a file only its owner may read or write (mode 0600 on Unix,
/// whatever the umask): what seam caches, which it loads as native code only when no
/// one else may have written it.
pub fn write_private_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_atomic_as(path, true, write)
}

fn write_atomic_as(
    path: &Path,
    private: bool,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.is_dir() {
            return Err(std::io::Error::other("it is a directory"));
        }
        if !meta.is_file() {
            let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
            return write(&mut file);
        }
    }
    let (tmp, file) = temporary_beside(path, private)?;
    let result = (|| {
        let mut out = std::io::BufWriter::new(file);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A new, empty file in `path`'s folder with a name no one else uses; owner-only when
/// `private`.
fn temporary_beside(path: &Path, private: bool) -> std::io::Result<(PathBuf, std::fs::File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{stem}.{}-{n}.seam-tmp", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        match options.open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("seam-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Whatever the umask (0o002 on many desktops gives group-writable files), a
    /// private file is the owner's alone, replaced or new.
    #[cfg(unix)]
    #[test]
    fn a_private_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("private");
        let path = dir.join("cached");
        for round in 0..2 {
            write_private_atomic(&path, |w| w.write_all(b"code")).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "round {round}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"code");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_link_is_the_same_file() {
        let dir = temp_dir("links");
        let a = dir.join("a");
        std::fs::write(&a, "x").unwrap();
        std::fs::hard_link(&a, dir.join("b")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&a, dir.join("c")).unwrap();
        assert_eq!(FileId::of(&a), FileId::of(&dir.join("b")));
        #[cfg(unix)]
        assert_eq!(FileId::of(&a), FileId::of(&dir.join("c")));
        assert_eq!(FileId::of(&dir.join("none")), None);
        std::fs::write(dir.join("d"), "x").unwrap();
        assert_ne!(FileId::of(&a), FileId::of(&dir.join("d")));
    }

    #[test]
    fn reading_stops_at_the_cap() {
        let over = read_capped(std::io::repeat(0), 1000).unwrap();
        assert_eq!(over, Err(OverCap { cap: 1000 }));
        let fits = read_capped(&b"abc"[..], 3).unwrap();
        assert_eq!(fits, Ok(b"abc".to_vec()));
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = temp_dir("atomic");
        let target = dir.join("out.html");
        std::fs::write(&target, "old").unwrap();
        let failed = write_atomic(&target, |w: &mut dyn Write| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("boom"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary left"
        );
        write_atomic(&target, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
    }
}
