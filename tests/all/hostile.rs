//! Hostile plugins: each is stopped, contained and reported as an error verdict that
//! names the plugin and the cause, and the host carries on. One module per fixture.

use std::time::Duration;

use seam_host::runtime::{ErrorCause, Limits, Outcome};
use seam_host::types::Handoff;
use seam_test_artifacts as fixtures;
use serde_json::json;

use crate::fixture;

/// Every fixture in tests/fixtures must have a module here.
macro_rules! assert_tested {
    ($name:ident) => {
        #[allow(unused_imports)]
        use self::$name as _;
    };
}
seam_test_artifacts::foreach_fixture!(assert_tested);

fn error_of(outcome: &Outcome) -> &ErrorCause {
    outcome
        .error()
        .unwrap_or_else(|| panic!("expected an error verdict, got {outcome:?}"))
}

fn finding_messages(outcome: &Outcome) -> Vec<(String, String)> {
    let v = outcome
        .verdict()
        .unwrap_or_else(|| panic!("expected a verdict, got {outcome:?}"));
    v.findings
        .iter()
        .map(|f| (f.code.clone(), f.message.clone()))
        .collect()
}

mod infinite_loop {
    use super::*;

    #[test]
    fn is_stopped_at_its_deadline() {
        let _alone = crate::exclusive();
        let gate = fixture(fixtures::INFINITE_LOOP, json!({}), Limits::default());
        let report = gate.check(&Handoff::text("x"));
        assert_eq!(
            error_of(&report.outcome),
            &ErrorCause::Timeout { deadline_ms: 100 }
        );
        assert!(
            report.duration >= Duration::from_millis(100),
            "{:?}",
            report.duration
        );
        assert!(
            report.duration < Duration::from_millis(200),
            "not stopped within twice the deadline: {:?}",
            report.duration
        );
    }

    #[test]
    fn honours_a_per_plugin_deadline() {
        let _alone = crate::exclusive();
        let limits = Limits {
            deadline_ms: 20,
            ..Limits::default()
        };
        let report = fixture(fixtures::INFINITE_LOOP, json!({}), limits).check(&Handoff::text("x"));
        assert_eq!(
            error_of(&report.outcome),
            &ErrorCause::Timeout { deadline_ms: 20 }
        );
        assert!(
            report.duration < Duration::from_millis(100),
            "{:?}",
            report.duration
        );
    }

    #[test]
    fn runs_out_of_fuel_when_metered() {
        let runtime = seam_host::runtime::Runtime::new(seam_host::runtime::RuntimeConfig {
            fuel_metering: true,
            cache: None,
            max_instances: 4,
            ..Default::default()
        })
        .unwrap();
        let source =
            seam_host::runtime::PluginSource::file(std::path::Path::new(fixtures::INFINITE_LOOP))
                .unwrap();
        let limits = Limits {
            fuel: Some(1_000_000),
            deadline_ms: 10_000,
            ..Limits::default()
        };
        let gate = runtime
            .load(
                &source,
                seam_host::types::PluginKind::Gate,
                &json!({}),
                limits,
            )
            .unwrap();
        let report = gate.check(&Handoff::text("x"));
        assert_eq!(
            error_of(&report.outcome),
            &ErrorCause::OutOfFuel { fuel: 1_000_000 }
        );
    }
}

mod memory_hog {
    use super::*;

    fn rss_bytes() -> usize {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let kb: usize = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kb * 1024
    }

    #[test]
    fn gets_an_out_of_memory_verdict() {
        let limits = Limits {
            memory_bytes: 16 << 20,
            ..Limits::default()
        };
        let report = fixture(fixtures::MEMORY_HOG, json!({}), limits).check(&Handoff::text("x"));
        assert_eq!(
            error_of(&report.outcome),
            &ErrorCause::OutOfMemory {
                limit_bytes: 16 << 20
            }
        );
    }

    #[test]
    fn leaves_the_host_memory_bounded() {
        let _alone = crate::exclusive();
        let gate = fixture(
            fixtures::MEMORY_HOG,
            json!({}),
            Limits {
                deadline_ms: 2_000,
                ..Limits::default()
            },
        );
        let before = rss_bytes();
        for _ in 0..20 {
            let report = gate.check(&Handoff::text("x"));
            assert_eq!(
                error_of(&report.outcome),
                &ErrorCause::OutOfMemory {
                    limit_bytes: 64 << 20
                }
            );
        }
        // 20 hogs of 64 MiB would be 1.25 GiB if their memory stayed; allow for other
        // tests running in this process at the same time.
        let grown = rss_bytes().saturating_sub(before);
        assert!(grown < 320 << 20, "host memory grew by {} MiB", grown >> 20);
    }
}

mod deep_recursion {
    use super::*;

    #[test]
    fn overflows_its_stack_cleanly() {
        let report = fixture(fixtures::DEEP_RECURSION, json!({}), Limits::default())
            .check(&Handoff::text("x"));
        assert_eq!(error_of(&report.outcome), &ErrorCause::StackOverflow);
    }

    #[test]
    fn overflowing_the_shadow_stack_is_a_trap_that_says_so() {
        let gate = fixture(
            fixtures::DEEP_RECURSION,
            json!({"shadow_stack": true}),
            Limits::default(),
        );
        let report = gate.check(&Handoff::text("x"));
        assert_eq!(
            error_of(&report.outcome),
            &ErrorCause::Trap {
                message: "wasm trap: out of bounds memory access (often a stack overflow in the plugin, e.g. unbounded recursion)".into()
            }
        );
    }
}

mod panics {
    use super::*;

    #[test]
    fn becomes_a_trap_verdict_with_the_panic_message() {
        let report =
            fixture(fixtures::PANICS, json!({}), Limits::default()).check(&Handoff::text("x"));
        let ErrorCause::Trap { message } = error_of(&report.outcome) else {
            panic!("expected a trap, got {:?}", report.outcome)
        };
        assert_eq!(
            message,
            "wasm trap: wasm `unreachable` instruction executed (a Rust plugin panics this way); \
             panicked at panics/src/lib.rs:16:9: the fixture panicked on purpose"
        );
        assert!(
            report.log.contains("the fixture panicked on purpose"),
            "{}",
            report.log
        );
    }
}

mod reads_file {
    use super::*;

    #[test]
    fn gets_nothing() {
        let report =
            fixture(fixtures::READS_FILE, json!({}), Limits::default()).check(&Handoff::text("x"));
        let found = finding_messages(&report.outcome);
        assert_eq!(found.len(), 2);
        for (code, message) in &found {
            assert!(message.starts_with("denied:"), "{code}: {message}");
        }
    }
}

mod opens_socket {
    use super::*;

    #[test]
    fn gets_nothing() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let report = fixture(
            fixtures::OPENS_SOCKET,
            json!({"address": address}),
            Limits::default(),
        )
        .check(&Handoff::text("x"));
        let found = finding_messages(&report.outcome);
        assert_eq!(found.len(), 1);
        assert!(found[0].1.starts_with("denied:"), "{:?}", found);
        assert_eq!(
            listener.accept().unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
    }
}

mod reads_env {
    use super::*;

    #[test]
    fn gets_nothing() {
        let report =
            fixture(fixtures::READS_ENV, json!({}), Limits::default()).check(&Handoff::text("x"));
        let found = finding_messages(&report.outcome);
        assert_eq!(found.len(), 1);
        let message = &found[0].1;
        assert!(
            message.starts_with("vars=0 args=0 HOME=denied: "),
            "{message}"
        );
        assert!(
            !message.contains(&std::env::var("HOME").unwrap_or_else(|_| "/root".into())),
            "{message}"
        );
    }
}

mod huge_verdict {
    use super::*;

    #[test]
    fn too_many_findings_is_an_oversized_output() {
        let gate = fixture(
            fixtures::HUGE_VERDICT,
            json!({"findings": 5000, "message_bytes": 1}),
            Limits::default(),
        );
        let report = gate.check(&Handoff::text("x"));
        assert_eq!(
            error_of(&report.outcome),
            &ErrorCause::OutputTooLarge {
                what: "verdict (findings)".into(),
                size: 5000,
                limit: 1000
            }
        );
    }

    #[test]
    fn too_many_bytes_is_an_oversized_output() {
        let gate = fixture(
            fixtures::HUGE_VERDICT,
            json!({"findings": 10, "message_bytes": 200_000}),
            Limits::default(),
        );
        let report = gate.check(&Handoff::text("x"));
        let ErrorCause::OutputTooLarge { what, size, limit } = error_of(&report.outcome) else {
            panic!("{:?}", report.outcome)
        };
        assert_eq!((what.as_str(), *limit), ("verdict (bytes)", 1 << 20));
        assert!(*size >= 2_000_000, "{size}");
    }

    #[test]
    fn within_the_caps_is_a_verdict() {
        let gate = fixture(
            fixtures::HUGE_VERDICT,
            json!({"findings": 3, "message_bytes": 5}),
            Limits::default(),
        );
        let report = gate.check(&Handoff::text("x"));
        assert_eq!(finding_messages(&report.outcome).len(), 3);
    }
}

mod chatty_log {
    use super::*;

    #[test]
    fn log_is_truncated_at_the_cap() {
        let report = fixture(
            fixtures::CHATTY_LOG,
            json!({}),
            Limits {
                deadline_ms: 5_000,
                ..Limits::default()
            },
        )
        .check(&Handoff::text("x"));
        assert!(report.outcome.passed(), "{:?}", report.outcome);
        assert!(report.log_truncated);
        assert_eq!(report.log.len(), 64 << 10);
    }
}

mod bad_score {
    use super::*;

    #[test]
    fn is_a_malformed_verdict() {
        let report =
            fixture(fixtures::BAD_SCORE, json!({}), Limits::default()).check(&Handoff::text("x"));
        assert_eq!(
            error_of(&report.outcome),
            &ErrorCause::Malformed {
                reason: "score 2.5 is outside [0, 1]".into()
            }
        );
    }
}

mod plugin_error {
    use super::*;

    #[test]
    fn is_an_error_verdict_naming_the_plugin_and_the_seam() {
        let mut handoff = Handoff::text("x");
        handoff.from_step = "draft".into();
        handoff.to_step = "review".into();
        let report = fixture(fixtures::PLUGIN_ERROR, json!({}), Limits::default()).check(&handoff);
        assert_eq!(
            report.error_message(&handoff).unwrap(),
            "plugin `plugin_error` at seam draft → review reported an error: cannot answer: upstream model unavailable"
        );
    }
}

mod forbidden_import {
    use super::*;
    use seam_host::runtime::{LoadError, PluginSource};

    #[test]
    fn is_refused_at_load_naming_the_import() {
        let source = PluginSource::file(std::path::Path::new(fixtures::FORBIDDEN_IMPORT)).unwrap();
        let err = crate::runtime()
            .load(
                &source,
                seam_host::types::PluginKind::Gate,
                &json!({}),
                Limits::default(),
            )
            .err()
            .expect("a forbidden import must be refused");
        assert!(
            matches!(&err, LoadError::ForbiddenImport { import, .. } if import == "fixture:evil/exfil"),
            "{err:?}"
        );
        assert!(
            err.to_string().starts_with(
                "plugin `forbidden_import` imports `fixture:evil/exfil`, which seam does not allow"
            ),
            "{err}"
        );
    }
}

mod counter {
    use super::*;

    #[test]
    fn every_check_gets_a_fresh_instance() {
        let gate = fixture(fixtures::COUNTER, json!({}), Limits::default());
        for _ in 0..5 {
            let report = gate.check(&Handoff::text("x"));
            assert_eq!(
                finding_messages(&report.outcome),
                [("counter.calls".to_string(), "1".to_string())]
            );
        }
    }
}
