//! What the command line reads and writes, defended as a whole:
//!
//! - every input from a file or stdin is read with a cap and stops there
//!   ([`read_input`]), naming the input, the cap and the option that raises it;
//! - stdin has one reader per command: a second input asking for it is refused;
//! - every file read is remembered by identity, and an output that is one of them is
//!   refused ([`write_output`]); outputs are written atomically;
//! - stdout shows plugin text as data ([`Terminal`]) and a reader that goes away early
//!   does not change the exit code.
//!
//! The state is per command (per thread), reset by [`begin`].

use std::cell::RefCell;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};

use seam_types::files::{self, FileId};

/// Default cap on one input read from a file or stdin (`--max-input-mib`).
pub const DEFAULT_MAX_INPUT_MIB: u64 = 1;
/// Highest value of `--max-input-mib`.
pub const MAX_INPUT_MIB: u64 = 1024;
/// Cap on a whole `seam run --input-file` (each line is also capped by
/// `--max-input-mib`).
pub const MAX_INPUT_FILE_BYTES: u64 = 256 << 20;

#[derive(Default)]
struct State {
    max_input_bytes: u64,
    stdin_reader: Option<String>,
    inputs: Vec<(FileId, String, String)>,
    notes: Vec<String>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State {
        max_input_bytes: DEFAULT_MAX_INPUT_MIB << 20,
        ..State::default()
    });
}

/// Starts a command: no input read yet, stdin unclaimed, inputs capped at
/// `max_input_mib` MiB each.
pub fn begin(max_input_mib: u64) {
    STATE.with(|s| {
        *s.borrow_mut() = State {
            max_input_bytes: max_input_mib << 20,
            ..State::default()
        }
    });
}

/// Says `text` once on stderr when the command ends (`seam: note: …`).
pub fn note(text: String) {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if !s.notes.contains(&text) {
            s.notes.push(text);
        }
    });
}

/// The notes said so far, emptied.
pub fn take_notes() -> Vec<String> {
    STATE.with(|s| std::mem::take(&mut s.borrow_mut().notes))
}

/// The cap on one input, in bytes.
pub fn max_input_bytes() -> u64 {
    STATE.with(|s| s.borrow().max_input_bytes)
}

/// "1 MiB", "512 KiB", "17 bytes".
pub fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// Claims stdin for `what`; refuses a second reader.
pub fn claim_stdin(what: &str) -> Result<()> {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if let Some(first) = &s.stdin_reader {
            bail!(
                "the {what} and the {first} both read stdin (`-`); only one input can come \
                 from stdin: put the other in a file"
            );
        }
        s.stdin_reader = Some(what.to_string());
        Ok(())
    })
}

/// Whether `path` names this process's stdin when it is a pipe or a terminal (a
/// regular file given both as stdin and by name can be read twice).
fn is_stdin(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if meta.is_file() {
        return false;
    }
    let stdin = FileId::of(Path::new("/dev/stdin"));
    stdin.is_some() && FileId::of(path) == stdin
}

/// Remembers the file at `path` as an input of this command (`what` names it in
/// messages), so that no output may replace it.
pub fn note_input(path: &Path, what: &str) {
    if let Some(id) = FileId::of(path) {
        STATE.with(|s| {
            s.borrow_mut()
                .inputs
                .push((id, what.to_string(), path.display().to_string()))
        });
    }
}

/// Reads the input `spec` — `-` for stdin, else a file — as UTF-8 text, stopping at
/// `cap` bytes (default: `--max-input-mib`). `what` names the input in errors.
pub fn read_input_capped(spec: &str, what: &str, cap: Option<u64>, raise: &str) -> Result<String> {
    let cap = cap.unwrap_or_else(max_input_bytes);
    let (read, origin) = if spec == "-" {
        claim_stdin(what)?;
        (
            files::read_capped(std::io::stdin().lock(), cap),
            "stdin".to_string(),
        )
    } else {
        let path = Path::new(spec);
        if is_stdin(path) {
            // `/dev/stdin`, `/dev/fd/0`, `/proc/self/fd/0`: stdin under another name.
            claim_stdin(what)?;
        }
        let file =
            std::fs::File::open(path).with_context(|| format!("reading the {what} from {spec}"))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            bail!("reading the {what} from {spec}: it is a directory; give a file");
        }
        note_input(path, what);
        (files::read_capped(file, cap), spec.to_string())
    };
    let bytes = read
        .with_context(|| format!("reading the {what} from {origin}"))?
        .map_err(|over| {
            anyhow::anyhow!(
                "the {what} from {origin} is over the {} cap (reading stopped there); {raise}",
                human_bytes(over.cap)
            )
        })?;
    files::utf8(bytes).map_err(|e| anyhow::anyhow!("the {what} from {origin}: {e}"))
}

/// [`read_input_capped`] with the `--max-input-mib` cap.
pub fn read_input(spec: &str, what: &str) -> Result<String> {
    read_input_capped(
        spec,
        what,
        None,
        &format!("raise the cap with --max-input-mib (1 to {MAX_INPUT_MIB}), or give less"),
    )
}

/// Refuses `path` as the destination of `what` when it is a file this command reads.
pub fn refuse_if_input(path: &Path, what: &str) -> Result<()> {
    let Some(id) = FileId::of(path) else {
        return Ok(());
    };
    STATE.with(|s| {
        if let Some((_, input, at)) = s.borrow().inputs.iter().find(|(i, ..)| *i == id) {
            bail!(
                "refusing to write the {what} to {}: it is the {input} this command reads ({at}); \
                 choose another file",
                path.display()
            );
        }
        Ok(())
    })
}

/// Writes the output `what` to `path` through `write`: refused when `path` is one of
/// this command's inputs; atomic otherwise (a temporary file renamed over `path`).
pub fn write_output(
    path: &Path,
    what: &str,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    refuse_if_input(path, what)?;
    files::write_atomic(path, write)
        .with_context(|| format!("writing the {what} to {}", path.display()))
}

/// Stdout as seam writes it: plugin text shown as data (every hidden control character
/// as a `\uXXXX` escape, valid inside JSON too), and a reader that goes away early
/// (`seam check … | head -1`) swallowed, so the command finishes and its exit code
/// still tells the outcome. Words painted by seam's own rendering ([`crate::style`])
/// are coloured when colour is on, and plain otherwise.
pub struct Terminal<'a> {
    inner: &'a mut (dyn Write + Send),
    pending: Vec<u8>,
    closed: bool,
    colour: bool,
}

impl<'a> Terminal<'a> {
    pub fn new(inner: &'a mut (dyn Write + Send)) -> Self {
        Terminal {
            inner,
            pending: Vec::new(),
            closed: false,
            colour: false,
        }
    }

    /// Turns colour on or off for what is written from now on.
    pub fn set_colour(&mut self, colour: bool) {
        self.colour = colour;
    }

    fn pass(&mut self, text: &str) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let mut shown = String::with_capacity(text.len());
        let mut rest = text;
        while let Some((before, sgr, after)) = crate::style::next_marker(rest) {
            shown.push_str(&seam_types::text::visible(before));
            if self.colour {
                shown.push_str(sgr);
            }
            rest = after;
        }
        shown.push_str(&seam_types::text::visible(rest));
        match self.inner.write_all(shown.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

impl Write for Terminal<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let mut pending = std::mem::take(&mut self.pending);
        let mut done = 0;
        while done < pending.len() {
            match std::str::from_utf8(&pending[done..]) {
                Ok(text) => {
                    self.pass(text)?;
                    done = pending.len();
                }
                Err(e) => {
                    let good = e.valid_up_to();
                    let text =
                        std::str::from_utf8(&pending[done..done + good]).expect("valid up to here");
                    self.pass(text)?;
                    done += good;
                    match e.error_len() {
                        // An incomplete character at the end: wait for the rest.
                        None => break,
                        Some(bad) => {
                            self.pass("\u{fffd}")?;
                            done += bad;
                        }
                    }
                }
            }
        }
        pending.drain(..done);
        self.pending = pending;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.inner.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

impl Drop for Terminal<'_> {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let _ = self.pass("\u{fffd}");
        }
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_split_across_writes_are_still_shown() {
        let mut sink: Vec<u8> = Vec::new();
        {
            let mut t = Terminal::new(&mut sink);
            let bytes = "a\u{9b}2J✓".as_bytes();
            for b in bytes {
                t.write_all(std::slice::from_ref(b)).unwrap();
            }
        }
        assert_eq!(String::from_utf8(sink).unwrap(), "a\\u009b2J✓");
    }

    #[test]
    fn a_closed_reader_is_not_an_error() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
        }
        let mut closed = Closed;
        let mut t = Terminal::new(&mut closed);
        assert!(writeln!(t, "rejected").is_ok());
        assert!(t.flush().is_ok());
    }
}
