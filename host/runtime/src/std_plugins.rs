//! The standard plugins, built from `plugins/` by the build script and embedded in the
//! binary, so a new user can name them (`--gate max-words`) without building anything.

include!(concat!(env!("OUT_DIR"), "/std_plugins.rs"));

/// The component bytes of the standard plugin `name`.
pub fn get(name: &str) -> Option<&'static [u8]> {
    PLUGINS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Names of all standard plugins, sorted.
pub fn names() -> Vec<&'static str> {
    PLUGINS.iter().map(|(n, _)| *n).collect()
}
