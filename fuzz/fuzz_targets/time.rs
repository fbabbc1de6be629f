//! The report filter's time parser: durations, RFC 3339 times and unix milliseconds.
//! Any text is a time within 1970..=9999 or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use seam_ledger::report::{parse_time, MAX_TIME_MS};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for now in [0, 1_764_115_200_000, MAX_TIME_MS] {
        if let Ok(ms) = parse_time(text, now) {
            assert!((0..=MAX_TIME_MS).contains(&ms), "{text:?} gave {ms}");
        }
    }
});
