//! The payload reader: any text, in every format, is a value or an error with a
//! position, never a panic; `auto` never turns text into something else.
#![no_main]
use libfuzzer_sys::fuzz_target;
use seam_types::payload::{read, Format};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for format in [Format::Auto, Format::Json, Format::Text] {
        for json_file in [false, true] {
            match read(text, format, json_file) {
                Ok(serde_json::Value::String(s)) if format == Format::Text => {
                    assert!(text.starts_with(&s));
                }
                Ok(_) => {}
                Err(e) => assert!(e.line() >= 1 || e.is_eof()),
            }
        }
    }
    let _ = seam_types::json::parse_strict(text);
    let _ = seam_types::text::visible(text);
});
