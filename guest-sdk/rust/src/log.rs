//! Logging from a plugin into the check's log (the host caps its size).
//!
//! In a component these call the host's `log` import; natively (unit tests) they print
//! to stderr.

/// Level of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Writes one line at `level`.
pub fn write(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::__private::host_log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Writes one line at debug level.
pub fn debug(message: &str) {
    write(Level::Debug, message);
}

/// Writes one line at info level.
pub fn info(message: &str) {
    write(Level::Info, message);
}

/// Writes one line at warn level.
pub fn warn(message: &str) {
    write(Level::Warn, message);
}
