//! Verdict and route vetting: a payload, a NUL byte, then a verdict as JSON. Whatever a
//! plugin answers, the vetting accepts or refuses it, never panics; an accepted
//! finding's span can be sliced out of the text it points into.
#![no_main]
use libfuzzer_sys::fuzz_target;
use seam_types::vet::{self, Caps};
use seam_types::{Route, Verdict};

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|&b| b == 0) else {
        return;
    };
    let (Ok(payload), Ok(answer)) = (
        std::str::from_utf8(&data[..split]),
        std::str::from_utf8(&data[split + 1..]),
    ) else {
        return;
    };
    let caps = Caps {
        max_findings: 1000,
        max_verdict_bytes: 1 << 20,
    };
    if let Ok(v) = serde_json::from_str::<Verdict>(answer) {
        if vet::verdict(&v, caps, payload).is_ok() {
            let doc: Option<serde_json::Value> = serde_json::from_str(payload).ok();
            for f in &v.findings {
                let Some(span) = f.span else { continue };
                let text = match &doc {
                    Some(d) => d
                        .pointer(f.path.as_deref().unwrap_or(""))
                        .and_then(|t| t.as_str())
                        .expect("an accepted span points into a text"),
                    None => payload,
                };
                assert!(text.get(span.start as usize..span.end as usize).is_some());
            }
        }
    }
    if let Ok(r) = serde_json::from_str::<Route>(answer) {
        let _ = vet::route(&r, caps);
    }
});
