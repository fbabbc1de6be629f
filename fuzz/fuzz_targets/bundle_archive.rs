//! The `.seam` archive reader (gzip + tar, then the manifest and every digest): any
//! bytes are a bundle or an error, never a panic, a hang or unbounded memory.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = seam_bundle::Bundle::from_archive(std::path::Path::new("fuzz.seam"), data) {
        let _ = bundle.verify_files();
        let _ = bundle.digest();
    }
});
