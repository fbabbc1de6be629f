//! A bundle's manifest: any text is a checked manifest or an error naming the line,
//! never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = seam_bundle::parse_manifest(text, "fuzz");
});
