//! The standard plugins, run through the real host: exact verdicts, findings, spans,
//! fixes, scores and routes.

use seam_runtime::{check_all, Limits};
use seam_types::{Finding, GateVerdict, Handoff, PluginKind, Route, Severity, Span, Verdict};
use serde_json::json;

use crate::{gate, runtime};

const GOOD: &str = "Block the noise, keep the music. These $89 noise-cancelling headphones deliver studio-grade silence and 30-hour battery — built for focus, priced for everyone.";

fn verdict(plugin: &str, settings: serde_json::Value, handoff: &Handoff) -> Verdict {
    let report = gate(plugin, settings).check_blocking(handoff);
    report
        .outcome
        .verdict()
        .unwrap_or_else(|| panic!("{plugin}: {:?}", report.outcome))
        .clone()
}

fn codes(v: &Verdict) -> Vec<&str> {
    v.findings.iter().map(|f| f.code.as_str()).collect()
}

fn spanned<'a>(text: &'a str, f: &Finding) -> &'a str {
    let s = f.span.unwrap();
    &text[s.start as usize..s.end as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headphone_drafts_pass_and_fail_as_the_example_says() {
    let gates = [
        gate("max-words", json!({"max_words": 40})),
        gate("contains", json!({"required": ["$89"]})),
    ];
    let good = check_all(&gates, &Handoff::text(GOOD)).await;
    assert!(good.iter().all(|r| r.outcome.passed()), "{good:?}");
    assert_eq!(
        good.iter().map(|r| r.plugin.as_str()).collect::<Vec<_>>(),
        ["max-words", "contains"]
    );

    let long = std::fs::read_to_string(crate::repo("examples/headphones/draft-1.txt")).unwrap();
    let bad = check_all(&gates, &Handoff::text(long.trim_end())).await;
    let findings: Vec<Finding> = bad
        .iter()
        .flat_map(|r| r.outcome.verdict().unwrap().findings.clone())
        .collect();
    assert_eq!(
        findings,
        [
            Finding {
                code: "length.words".into(),
                message: "46 words, at most 40 allowed".into(),
                path: Some("".into()),
                span: None,
                severity: Severity::Error
            },
            Finding {
                code: "contains.missing".into(),
                message: "required text \"$89\" not found".into(),
                path: Some("".into()),
                span: None,
                severity: Severity::Error
            },
        ]
    );
}

#[test]
fn pii_finds_redacts_and_spans_every_kind() {
    let text = "Mail jane@example.com or call +1 415 555 0132; card 4242 4242 4242 4242; IBAN DE89 3704 0044 0532 0130 00; from 10.1.2.3 / fe80::1.";
    let v = verdict("pii", json!({}), &Handoff::text(text));
    assert!(!v.passed);
    let found: Vec<(&str, &str)> = v
        .findings
        .iter()
        .map(|f| (f.code.as_str(), spanned(text, f)))
        .collect();
    assert_eq!(
        found,
        [
            ("pii.email", "jane@example.com"),
            ("pii.phone", "+1 415 555 0132"),
            ("pii.credit-card", "4242 4242 4242 4242"),
            ("pii.iban", "DE89 3704 0044 0532 0130 00"),
            ("pii.ipv4", "10.1.2.3"),
            ("pii.ipv6", "fe80::1"),
        ]
    );
    assert_eq!(
        v.fix.as_deref(),
        Some(
            r#""Mail [EMAIL] or call [PHONE]; card [CREDIT-CARD]; IBAN [IBAN]; from [IP] / [IP].""#
        )
    );
}

#[test]
fn regex_reports_forbidden_matches_with_spans() {
    let text = "Order #123 and order #456 shipped.";
    let v = verdict(
        "regex",
        json!({"must_not_match": [{"name": "order-id", "pattern": "#\\d+"}], "must_match": ["shipped"]}),
        &Handoff::text(text),
    );
    assert_eq!(codes(&v), ["regex.forbidden", "regex.forbidden"]);
    assert_eq!(v.findings[1].span, Some(Span { start: 21, end: 25 }));
    assert_eq!(spanned(text, &v.findings[1]), "#456");
}

#[test]
fn ban_list_redacts_whole_words_in_json_payloads() {
    let h = Handoff::new(json!({"title": "Damn good", "body": "Damnation is fine"}).to_string());
    let v = verdict("ban-list", json!({"words": ["damn"]}), &h);
    assert_eq!(codes(&v), ["ban-list.word"]);
    assert_eq!(v.findings[0].path.as_deref(), Some("/title"));
    assert_eq!(
        v.fix.as_deref(),
        Some(r#"{"body":"Damnation is fine","title":"[REDACTED] good"}"#)
    );
}

#[test]
fn json_schema_findings_carry_pointers() {
    let settings = json!({"schema": {"type": "object", "properties": {"price": {"type": "number"}}, "required": ["price"]}});
    let v = verdict(
        "json-schema",
        settings.clone(),
        &Handoff::new(r#"{"price": "89"}"#),
    );
    assert_eq!(codes(&v), ["schema.type"]);
    assert_eq!(v.findings[0].path.as_deref(), Some("/price"));
    assert!(verdict("json-schema", settings, &Handoff::new(r#"{"price": 89}"#)).passed);
}

#[test]
fn brand_voice_scores_deterministically() {
    let settings = json!({"references": ["Block the noise, keep the music."], "threshold": 0.5});
    let a = verdict(
        "brand-voice",
        settings.clone(),
        &Handoff::text("Block the noise, keep the music."),
    );
    assert_eq!(a.score, Some(1.0));
    let b = verdict(
        "brand-voice",
        settings,
        &Handoff::text("Quarterly revenue grew by four percent."),
    );
    assert!(!b.passed);
    assert_eq!(codes(&b), ["brand-voice.off"]);
}

#[test]
fn verdict_router_routes_by_rules() {
    let source = seam_runtime::standard("verdict-router").unwrap();
    let settings = json!({"rules": [
        {"gate": "pii", "outcome": "failed", "route": "human"},
        {"score_below": 0.8, "route": "retry", "reason": "quality too low"}
    ]});
    let router = runtime()
        .load(&source, PluginKind::Router, &settings, Limits::default())
        .unwrap();
    let passed = |gate: &str, score: Option<f64>| GateVerdict {
        gate: gate.into(),
        verdict: Verdict {
            passed: true,
            score,
            findings: vec![],
            fix: None,
        },
    };
    let mut pii_failed = passed("pii", None);
    pii_failed.verdict.passed = false;
    let h = Handoff::text("x");
    let route = |v: &[GateVerdict]| router.route_blocking(&h, v).route.unwrap();
    assert_eq!(
        route(&[passed("brand", Some(0.9)), pii_failed]),
        Route {
            target: "human".into(),
            reason: "rule 1: gate `pii`, failed".into()
        }
    );
    assert_eq!(
        route(&[passed("brand", Some(0.5))]),
        Route {
            target: "retry".into(),
            reason: "quality too low".into()
        }
    );
    assert_eq!(route(&[passed("brand", Some(0.9))]).target, "next");
}

#[test]
fn a_payload_over_the_cap_is_an_error_verdict_without_running_the_plugin() {
    let source = seam_runtime::standard("max-words").unwrap();
    let limits = Limits {
        max_payload_bytes: 10,
        ..Limits::default()
    };
    let gate = runtime()
        .load(&source, PluginKind::Gate, &json!({}), limits)
        .unwrap();
    let report = gate.check_blocking(&Handoff::text("this payload is longer than ten bytes"));
    assert_eq!(
        report.outcome.error().unwrap().to_string(),
        "payload and context are 43 bytes, over the 10-byte cap"
    );
}

#[test]
fn a_payload_that_is_not_json_is_the_plugins_error() {
    let report = gate("max-words", json!({})).check_blocking(&Handoff::new("not json"));
    assert!(
        report
            .outcome
            .error()
            .unwrap()
            .to_string()
            .starts_with("returned an error, saying: \"the payload is not valid JSON"),
        "{:?}",
        report.outcome
    );
}
