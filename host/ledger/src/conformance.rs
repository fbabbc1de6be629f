//! The conformance suite of the [`Ledger`] trait: what every backend must do, written
//! against the trait only. A backend is done when every check passes on it, run
//! unchanged (the SQLite backend runs it in `tests/all/ledger.rs`).
//!
//! Each check takes a fresh, empty ledger and panics with a message on failure.
//!
//! ```no_run
//! for (name, check) in seam_ledger::conformance::CHECKS {
//!     let dir = std::env::temp_dir().join(format!("conformance-{name}"));
//!     let _ = std::fs::remove_dir_all(&dir);
//!     let ledger = seam_ledger::SqliteLedger::open(&dir.join("l.db")).unwrap();
//!     check(&ledger);
//! }
//! ```

use std::time::Duration;

use crate::feedback::{ExportFilter, Shape};
use crate::report::Filter;
use crate::{
    Claim, Ledger, LedgerError, NewHandoff, NewReview, NewRoute, NewRun, NewStepRun, NewVerdict,
    Phase, Recorded, RunMove,
};

/// One check: it takes a fresh, empty ledger and panics on failure.
pub type Check = fn(&dyn Ledger);

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("a_started_run_reads_back", a_started_run_reads_back),
    (
        "a_phase_records_everything_and_moves_the_run",
        a_phase_records_everything_and_moves_the_run,
    ),
    (
        "a_phase_from_a_stale_position_is_refused_and_records_nothing",
        a_phase_from_a_stale_position_is_refused_and_records_nothing,
    ),
    (
        "verdicts_routes_and_reviews_read_back_in_order",
        verdicts_routes_and_reviews_read_back_in_order,
    ),
    (
        "a_claim_excludes_other_workers_until_released_or_lapsed",
        a_claim_excludes_other_workers_until_released_or_lapsed,
    ),
    (
        "a_claim_is_renewed_only_by_its_holder_while_it_holds",
        a_claim_is_renewed_only_by_its_holder_while_it_holds,
    ),
    (
        "a_phase_by_a_worker_without_the_claim_is_refused",
        a_phase_by_a_worker_without_the_claim_is_refused,
    ),
    (
        "a_phase_that_ends_a_run_releases_its_claim",
        a_phase_that_ends_a_run_releases_its_claim,
    ),
    ("a_review_is_decided_once", a_review_is_decided_once),
    (
        "missing_records_are_not_found_by_name",
        missing_records_are_not_found_by_name,
    ),
    (
        "the_report_counts_what_was_recorded",
        the_report_counts_what_was_recorded,
    ),
    (
        "handoffs_routes_and_seam_visits_read_back",
        handoffs_routes_and_seam_visits_read_back,
    ),
    (
        "only_checked_handoffs_make_seams_and_schemas_are_not_judged_by_people",
        only_checked_handoffs_make_seams_and_schemas_are_not_judged_by_people,
    ),
    (
        "orphaned_runs_are_claimed_once_and_only_those",
        orphaned_runs_are_claimed_once_and_only_those,
    ),
    (
        "the_export_streams_judged_candidates",
        the_export_streams_judged_candidates,
    ),
];

const LEASE: Duration = Duration::from_secs(60);

fn start(l: &dyn Ledger, id: &str, holder: &str) {
    l.start_run(&NewRun {
        id,
        pipeline: "p",
        pipeline_file: "p.toml",
        pipeline_digest: "d",
        input: r#"{"task":"t"}"#,
        cursor: "c0",
        holder,
        lease: LEASE,
    })
    .expect("start_run");
}

fn to(status: &str, cursor: &str) -> RunMove {
    RunMove {
        status: status.into(),
        cursor: cursor.into(),
        output: None,
        reason: None,
    }
}

fn step_run<'a>(output: &'a str) -> NewStepRun<'a> {
    NewStepRun {
        step: "write",
        attempt: 1,
        adapter: "command",
        input: r#"{"attempt":1}"#,
        output: Some(output),
        error: None,
        exit_code: Some(0),
        stderr_tail: None,
        started_at: 1,
        duration_ms: 2,
    }
}

fn handoff<'a>(payload: &'a str) -> NewHandoff<'a> {
    NewHandoff {
        step_run_id: None,
        from_step: "write",
        to_step: "publish",
        attempt: 1,
        payload,
        context: r#"{"attempt":1}"#,
        fixed_by: None,
    }
}

fn verdict(handoff_id: i64, gate: &str, outcome: &'static str) -> NewVerdict<'static> {
    NewVerdict {
        handoff_id,
        gate: if gate == "length" { "length" } else { "price" },
        plugin: "max-words",
        plugin_digest: "sha",
        outcome,
        score: Some(0.5),
        findings: if outcome == "passed" {
            "[]"
        } else {
            r#"[{"code":"length.words","message":"46 words"}]"#
        },
        fix: None,
        error_cause: None,
        error: None,
        policy: "retry",
        duration_us: 120,
    }
}

/// A run at its seam: a finished step and its handoff; returns the handoff's id.
fn at_seam(l: &dyn Ledger, run: &str, payload: &str) -> i64 {
    let then = |ids: &Recorded| to("running", &format!("seam {}", ids.handoff_id.unwrap()));
    let mut phase = Phase::new(run, "c0", &then);
    phase.step_run = Some(step_run(payload));
    phase.handoff = Some(handoff(payload));
    l.record("a finished step", phase)
        .expect("record")
        .handoff_id
        .expect("handoff id")
}

/// The review of an escalated draft at the seam after `write`.
fn escalation(hid: i64, reason: &'static str) -> NewReview<'static> {
    NewReview {
        handoff_id: Some(hid),
        step: "write",
        kind: "escalation",
        payload: r#""draft""#,
        findings: "[]",
        reason,
    }
}

fn counts(l: &dyn Ledger) -> Vec<(String, i64)> {
    l.counts().expect("counts")
}

pub fn a_started_run_reads_back(l: &dyn Ledger) {
    start(l, "run-1", "w1");
    let r = l.run("run-1").expect("run");
    assert_eq!(
        (
            r.id.as_str(),
            r.pipeline.as_str(),
            r.pipeline_file.as_str(),
            r.pipeline_digest.as_str(),
            r.input.as_str(),
            r.status.as_str(),
            r.cursor.as_str(),
            r.output,
            r.reason
        ),
        (
            "run-1",
            "p",
            "p.toml",
            "d",
            r#"{"task":"t"}"#,
            "running",
            "c0",
            None,
            None
        )
    );
    assert_eq!(r.created_at, r.updated_at);
    start(l, "run-2", "w1");
    let all: Vec<String> = l.runs(None).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(all.len(), 2);
    assert!(all.contains(&"run-1".to_string()) && all.contains(&"run-2".to_string()));
    assert_eq!(l.runs(Some("running")).unwrap().len(), 2);
    assert!(l.runs(Some("completed")).unwrap().is_empty());
    assert!(!l.location().is_empty());
}

pub fn a_phase_records_everything_and_moves_the_run(l: &dyn Ledger) {
    start(l, "run-1", "w1");
    let hid = at_seam(l, "run-1", r#""draft""#);
    let h = l.handoff(hid).expect("handoff");
    let steps = l.step_runs("run-1").expect("step runs");
    assert_eq!(steps.len(), 1);
    assert_eq!(
        (
            steps[0].step.as_str(),
            steps[0].attempt,
            steps[0].status.as_str(),
            steps[0].output.as_deref()
        ),
        ("write", 1, "ok", Some(r#""draft""#))
    );
    assert_eq!(
        h.step_run_id,
        Some(steps[0].id),
        "the handoff points at its step"
    );
    assert_eq!(
        (
            h.run_id.as_str(),
            h.from_step.as_str(),
            h.to_step.as_str(),
            h.attempt,
            h.payload.as_str(),
            h.fixed_by
        ),
        ("run-1", "write", "publish", 1, r#""draft""#, None)
    );
    assert_eq!(
        l.step_input(steps[0].id).expect("step input"),
        r#"{"attempt":1}"#
    );
    let r = l.run("run-1").unwrap();
    assert_eq!(
        (r.status.as_str(), r.cursor),
        ("running", format!("seam {hid}"))
    );
    // The end of a run sets its output and reason.
    let then = |_: &Recorded| RunMove {
        status: "completed".into(),
        cursor: "end".into(),
        output: Some(r#""published""#.into()),
        reason: Some("every gate passed".into()),
    };
    let at = format!("seam {hid}");
    l.record("the end", Phase::new("run-1", &at, &then))
        .expect("end");
    let r = l.run("run-1").unwrap();
    assert_eq!(
        (
            r.status.as_str(),
            r.cursor.as_str(),
            r.output.as_deref(),
            r.reason.as_deref()
        ),
        (
            "completed",
            "end",
            Some(r#""published""#),
            Some("every gate passed")
        )
    );
}

pub fn a_phase_from_a_stale_position_is_refused_and_records_nothing(l: &dyn Ledger) {
    start(l, "run-1", "w1");
    let before = counts(l);
    let then = |_: &Recorded| to("running", "c1");
    let mut phase = Phase::new("run-1", "not-where-it-is", &then);
    phase.step_run = Some(step_run("\"x\""));
    phase.handoff = Some(handoff("\"x\""));
    match l.record("a stale phase", phase) {
        Err(LedgerError::Conflict { run }) => assert_eq!(run, "run-1"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(counts(l), before, "a refused phase records nothing");
    assert_eq!(l.run("run-1").unwrap().cursor, "c0");
}

pub fn verdicts_routes_and_reviews_read_back_in_order(l: &dyn Ledger) {
    start(l, "run-1", "w1");
    let hid = at_seam(l, "run-1", r#""draft""#);
    let then = |ids: &Recorded| to("waiting", &format!("review {}", ids.review_id.unwrap()));
    let at = format!("seam {hid}");
    let mut phase = Phase::new("run-1", &at, &then);
    phase.verdicts = vec![
        verdict(hid, "length", "failed"),
        verdict(hid, "price", "passed"),
    ];
    phase.route = Some(NewRoute {
        handoff_id: hid,
        decided_by: "policy",
        target: "human",
        reason: "length failed",
    });
    phase.review = Some(escalation(hid, "length failed"));
    let ids = l.record("a seam", phase).expect("record");
    let vs = l.verdicts(hid).expect("verdicts");
    let got: Vec<(&str, &str)> = vs
        .iter()
        .map(|v| (v.gate.as_str(), v.outcome.as_str()))
        .collect();
    assert_eq!(got, [("length", "failed"), ("price", "passed")]);
    assert_eq!(
        (
            vs[0].plugin.as_str(),
            vs[0].score,
            vs[0].policy.as_str(),
            vs[0].duration_us
        ),
        ("max-words", Some(0.5), "retry", 120)
    );
    let rid = ids.review_id.expect("review id");
    let r = l.review(rid).expect("review");
    assert_eq!(
        (
            r.run_id.as_str(),
            r.pipeline.as_str(),
            r.handoff_id,
            r.kind.as_str(),
            r.status.as_str()
        ),
        ("run-1", "p", Some(hid), "escalation", "pending")
    );
    assert_eq!(l.reviews(Some("pending")).unwrap().len(), 1);
    assert_eq!(l.run("run-1").unwrap().status, "waiting");
    let c: std::collections::HashMap<String, i64> = counts(l).into_iter().collect();
    assert_eq!(
        (
            c["runs"],
            c["step_runs"],
            c["handoffs"],
            c["verdicts"],
            c["routes"],
            c["reviews"]
        ),
        (1, 1, 1, 2, 1, 1)
    );
}

pub fn a_claim_excludes_other_workers_until_released_or_lapsed(l: &dyn Ledger) {
    start(l, "run-1", "w1");
    match l.claim("run-1", "w2", LEASE).unwrap() {
        Claim::HeldByOther { holder, .. } => assert_eq!(holder, "w1"),
        other => panic!("w2 must not get a run w1 holds: {other:?}"),
    }
    assert!(matches!(
        l.claim("run-1", "w1", LEASE).unwrap(),
        Claim::Held { .. }
    ));
    l.release("run-1", "w2").unwrap(); // not the holder: nothing happens
    assert!(matches!(
        l.claim("run-1", "w2", LEASE).unwrap(),
        Claim::HeldByOther { .. }
    ));
    l.release("run-1", "w1").unwrap();
    assert!(matches!(
        l.claim("run-1", "w2", LEASE).unwrap(),
        Claim::Held { .. }
    ));
    // A lapsed lease is taken over.
    assert!(matches!(
        l.claim("run-1", "w2", Duration::from_millis(1)).unwrap(),
        Claim::Held { .. }
    ));
    std::thread::sleep(Duration::from_millis(20));
    assert!(matches!(
        l.claim("run-1", "w3", LEASE).unwrap(),
        Claim::Held { .. }
    ));
    assert!(matches!(
        l.claim("no-such-run", "w1", LEASE),
        Err(LedgerError::NotFound { what: "run", .. })
    ));
}

pub fn a_claim_is_renewed_only_by_its_holder_while_it_holds(l: &dyn Ledger) {
    start(l, "run-1", "w1");
    assert!(l.renew("run-1", "w1", LEASE).unwrap());
    assert!(!l.renew("run-1", "w2", LEASE).unwrap(), "not the holder");
    l.release("run-1", "w1").unwrap();
    assert!(
        !l.renew("run-1", "w1", LEASE).unwrap(),
        "released: nothing to renew"
    );
    assert!(matches!(
        l.claim("run-1", "w1", Duration::from_millis(1)).unwrap(),
        Claim::Held { .. }
    ));
    std::thread::sleep(Duration::from_millis(20));
    assert!(
        !l.renew("run-1", "w1", LEASE).unwrap(),
        "a lapsed claim is not renewed"
    );
    assert!(!l.renew("no-such-run", "w1", LEASE).unwrap());
}

pub fn a_phase_by_a_worker_without_the_claim_is_refused(l: &dyn Ledger) {
    start(l, "run-1", "w1");
    let then = |_: &Recorded| to("running", "c1");
    let mut phase = Phase::new("run-1", "c0", &then);
    phase.holder = Some("w2");
    phase.step_run = Some(step_run("\"x\""));
    assert!(matches!(
        l.record("a phase by w2", phase),
        Err(LedgerError::Conflict { .. })
    ));
    assert!(l.step_runs("run-1").unwrap().is_empty());
    let mut phase = Phase::new("run-1", "c0", &then);
    phase.holder = Some("w1");
    l.record("a phase by w1", phase).unwrap();
    assert_eq!(l.run("run-1").unwrap().cursor, "c1");
    // A phase of a run that does not exist is not found, not a conflict.
    let phase = Phase::new("no-such-run", "c0", &then);
    assert!(matches!(
        l.record("a phase", phase),
        Err(LedgerError::NotFound { what: "run", .. })
    ));
}

/// A run's last phase gives up its claim in the same transaction: a worker killed
/// between that phase and its release must not leave a finished run claimed.
pub fn a_phase_that_ends_a_run_releases_its_claim(l: &dyn Ledger) {
    for end in ["completed", "rejected", "failed"] {
        let run = format!("run-{end}");
        start(l, &run, "w1");
        let then = |_: &Recorded| to("running", "c1");
        let mut phase = Phase::new(&run, "c0", &then);
        phase.holder = Some("w1");
        l.record("a phase by w1", phase).unwrap();
        assert!(
            matches!(
                l.claim(&run, "w2", LEASE).unwrap(),
                Claim::HeldByOther { .. }
            ),
            "a running run stays claimed"
        );
        let then = |_: &Recorded| to(end, "end");
        let mut phase = Phase::new(&run, "c1", &then);
        phase.holder = Some("w1");
        l.record("the last phase by w1", phase).unwrap();
        assert_eq!(l.run(&run).unwrap().status, end);
        assert!(
            !l.renew(&run, "w1", LEASE).unwrap(),
            "a {end} run is no longer claimed by w1"
        );
        assert!(
            matches!(l.claim(&run, "w2", LEASE).unwrap(), Claim::Held { .. }),
            "a {end} run is free"
        );
    }
}

pub fn a_review_is_decided_once(l: &dyn Ledger) {
    start(l, "run-1", "w1");
    let then = |ids: &Recorded| to("waiting", &format!("review {}", ids.review_id.unwrap()));
    let mut phase = Phase::new("run-1", "c0", &then);
    phase.review = Some(NewReview {
        handoff_id: None,
        step: "approve",
        kind: "human-step",
        payload: "null",
        findings: "[]",
        reason: "a person approves",
    });
    let rid = l.record("a review", phase).unwrap().review_id.unwrap();
    l.decide_review(rid, true, "ana", Some("fine"), Some(r#""edited""#))
        .unwrap();
    let r = l.review(rid).unwrap();
    assert_eq!(
        (
            r.status.as_str(),
            r.decided_by.as_deref(),
            r.note.as_deref(),
            r.output.as_deref()
        ),
        ("accepted", Some("ana"), Some("fine"), Some(r#""edited""#))
    );
    assert!(r.decided_at.is_some());
    match l.decide_review(rid, false, "bo", None, None) {
        Err(LedgerError::AlreadyDecided { review, status }) => {
            assert_eq!((review, status.as_str()), (rid, "accepted"))
        }
        other => panic!("a second decision must be refused: {other:?}"),
    }
    assert_eq!(l.review(rid).unwrap().decided_by.as_deref(), Some("ana"));
    assert!(matches!(
        l.decide_review(999_999, true, "ana", None, None),
        Err(LedgerError::NotFound { what: "review", .. })
    ));
}

pub fn missing_records_are_not_found_by_name(l: &dyn Ledger) {
    let what = |e: LedgerError| match e {
        LedgerError::NotFound { what, id, .. } => (what, id),
        other => panic!("expected not found, got {other:?}"),
    };
    assert_eq!(what(l.run("nope").unwrap_err()), ("run", "nope".into()));
    assert_eq!(what(l.handoff(42).unwrap_err()), ("handoff", "42".into()));
    assert_eq!(what(l.review(43).unwrap_err()), ("review", "43".into()));
    assert_eq!(
        what(l.step_input(44).unwrap_err()),
        ("step execution", "44".into())
    );
    assert!(l.step_runs("nope").unwrap().is_empty());
    assert!(l.verdicts(42).unwrap().is_empty());
    // Names no record can have (a NUL, which PostgreSQL cannot even store) are simply
    // not found, never a failing ledger.
    assert_eq!(what(l.run("a\0b").unwrap_err()).0, "run");
    assert!(l.handoffs("a\0b").unwrap().is_empty());
    assert!(l.reviews(Some("pend\0ing")).unwrap().is_empty());
    let odd = Filter {
        pipeline: Some("p\0".into()),
        run: Some("r\0".into()),
        ..Filter::default()
    };
    assert!(l.report(&odd).unwrap().pipelines.is_empty());
    assert!(l.seam_visits(&odd, "p\0", "s\0", 5).unwrap().is_empty());
    assert!(matches!(
        l.claim("a\0b", "w\0", LEASE),
        Err(LedgerError::NotFound { .. })
    ));
}

/// Two runs through one seam: the first fails its gate once and passes on a retry,
/// the second passes at once.
fn two_runs(l: &dyn Ledger) {
    for (run, first) in [("run-1", "failed"), ("run-2", "passed")] {
        start(l, run, "w1");
        let hid = at_seam(l, run, r#""draft""#);
        let at = format!("seam {hid}");
        let target = if first == "failed" { "retry" } else { "done" };
        let then = |_: &Recorded| RunMove {
            status: if first == "failed" {
                "running"
            } else {
                "completed"
            }
            .into(),
            cursor: if first == "failed" { "c0" } else { "end" }.into(),
            output: None,
            reason: None,
        };
        let mut phase = Phase::new(run, &at, &then);
        phase.verdicts = vec![verdict(hid, "length", first)];
        phase.route = Some(NewRoute {
            handoff_id: hid,
            decided_by: "policy",
            target,
            reason: "",
        });
        l.record("a seam", phase).unwrap();
        if first == "failed" {
            let hid = {
                let then =
                    |ids: &Recorded| to("running", &format!("seam2 {}", ids.handoff_id.unwrap()));
                let mut phase = Phase::new(run, "c0", &then);
                let mut s = step_run(r#""better""#);
                s.attempt = 2;
                phase.step_run = Some(s);
                let mut h = handoff(r#""better""#);
                h.attempt = 2;
                phase.handoff = Some(h);
                l.record("a retry", phase).unwrap().handoff_id.unwrap()
            };
            let at = format!("seam2 {hid}");
            let then = |_: &Recorded| to("completed", "end");
            let mut phase = Phase::new(run, &at, &then);
            phase.verdicts = vec![verdict(hid, "length", "passed")];
            phase.route = Some(NewRoute {
                handoff_id: hid,
                decided_by: "policy",
                target: "done",
                reason: "",
            });
            l.record("a seam", phase).unwrap();
        }
    }
}

pub fn the_report_counts_what_was_recorded(l: &dyn Ledger) {
    two_runs(l);
    let r = l.report(&Filter::default()).expect("report");
    assert_eq!(r.pipelines.len(), 1);
    let p = &r.pipelines[0];
    assert_eq!(
        (
            p.pipeline.as_str(),
            p.runs,
            p.completed,
            p.rejected,
            p.failed
        ),
        ("p", 2, 2, 0, 0)
    );
    assert_eq!(p.end_to_end, Some(1.0));
    let g = &r.gates[0];
    assert_eq!(
        (
            g.gate.as_str(),
            g.checks,
            g.passed,
            g.failed,
            g.errors,
            g.latency_us_p50
        ),
        ("length", 3, 2, 1, 0, Some(120))
    );
    let s = &r.seams[0];
    assert_eq!(
        (
            s.seam.as_str(),
            s.visits,
            s.first_pass,
            s.passed_after_recovery,
            s.retries,
            s.recovered_by_retry
        ),
        ("write", 2, 1, 2, 1, 1)
    );
    let none = l
        .report(&Filter {
            pipeline: Some("other".into()),
            ..Filter::default()
        })
        .unwrap();
    assert!(none.pipelines.is_empty() && none.gates.is_empty() && none.seams.is_empty());
}

pub fn the_export_streams_judged_candidates(l: &dyn Ledger) {
    two_runs(l);
    let mut out = Vec::new();
    let n = l
        .export(&ExportFilter::default(), Shape::Records, &mut out)
        .expect("export");
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(n, 3);
    assert_eq!(lines.len(), 3);
    let labels: Vec<&str> = lines.iter().map(|v| v["label"].as_str().unwrap()).collect();
    assert_eq!(labels.iter().filter(|l| **l == "rejected").count(), 1);
    let mut out = Vec::new();
    let pairs = l
        .export(&ExportFilter::default(), Shape::Pairs, &mut out)
        .unwrap();
    assert_eq!(pairs, 1);
    let pair: serde_json::Value = serde_json::from_slice(out.trim_ascii_end()).unwrap();
    assert_eq!(
        (pair["chosen"].as_str(), pair["rejected"].as_str()),
        (Some("better"), Some("draft"))
    );
}

pub fn handoffs_routes_and_seam_visits_read_back(l: &dyn Ledger) {
    two_runs(l);
    let hs = l.handoffs("run-1").expect("handoffs");
    let got: Vec<(&str, u32, &str)> = hs
        .iter()
        .map(|h| (h.from_step.as_str(), h.attempt, h.payload.as_str()))
        .collect();
    assert_eq!(
        got,
        [("write", 1, r#""draft""#), ("write", 2, r#""better""#)]
    );
    let routes = l.routes(hs[0].id).expect("routes");
    assert_eq!(routes.len(), 1);
    assert_eq!(
        (routes[0].decided_by.as_str(), routes[0].target.as_str()),
        ("policy", "retry")
    );
    assert!(l.handoffs("no-such-run").unwrap().is_empty());
    assert!(l.routes(i64::MAX).unwrap().is_empty());
    let visits = l
        .seam_visits(&Filter::default(), "p", "write", 100)
        .expect("seam visits");
    let mut got: Vec<(&str, i64, bool, bool, Option<&str>)> = visits
        .iter()
        .map(|v| {
            (
                v.run_id.as_str(),
                v.handoffs,
                v.first_pass,
                v.passed,
                v.recovered_by.as_deref(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("run-1", 2, false, true, Some("retry")),
            ("run-2", 1, true, true, None)
        ]
    );
    assert_eq!(visits[0].status, "completed");
    assert_eq!(
        l.seam_visits(&Filter::default(), "p", "write", 1)
            .unwrap()
            .len(),
        1
    );
    assert!(l
        .seam_visits(&Filter::default(), "p", "publish", 10)
        .unwrap()
        .is_empty());
    let other = Filter {
        pipeline: Some("other".into()),
        ..Filter::default()
    };
    assert!(l.seam_visits(&other, "p", "write", 10).unwrap().is_empty());
}

pub fn only_checked_handoffs_make_seams_and_schemas_are_not_judged_by_people(l: &dyn Ledger) {
    // A run whose last step's output is routed to the end by the policy alone, and
    // whose seam escalated on the schema check and a gate; the person accepted.
    start(l, "run-1", "w1");
    let hid = at_seam(l, "run-1", r#""draft""#);
    let at = format!("seam {hid}");
    let then = |ids: &Recorded| to("waiting", &format!("review {}", ids.review_id.unwrap()));
    let mut phase = Phase::new("run-1", &at, &then);
    let mut schema = verdict(hid, "length", "failed");
    schema.gate = crate::OUTPUT_SCHEMA_GATE;
    phase.verdicts = vec![schema, verdict(hid, "length", "failed")];
    phase.route = Some(NewRoute {
        handoff_id: hid,
        decided_by: "policy",
        target: "human",
        reason: "length failed",
    });
    phase.review = Some(escalation(hid, "length failed"));
    let review = l.record("a seam", phase).unwrap().review_id.unwrap();
    l.decide_review(review, true, "ana", None, None).unwrap();
    let at = format!("review {review}");
    let then = |_: &Recorded| to("running", "last");
    let mut phase = Phase::new("run-1", &at, &then);
    phase.route = Some(NewRoute {
        handoff_id: hid,
        decided_by: "review",
        target: "publish",
        reason: "accepted by ana",
    });
    l.record("a review", phase).unwrap();
    let then = |ids: &Recorded| to("running", &format!("end {}", ids.handoff_id.unwrap()));
    let cursor = l.run("run-1").unwrap().cursor;
    let mut phase2 = Phase::new("run-1", &cursor, &then);
    let mut s = step_run(r#""published""#);
    s.step = "publish";
    phase2.step_run = Some(s);
    let mut h = handoff(r#""published""#);
    h.from_step = "publish";
    h.to_step = "done";
    phase2.handoff = Some(h);
    let last = l
        .record("the last step", phase2)
        .unwrap()
        .handoff_id
        .unwrap();
    let cursor = l.run("run-1").unwrap().cursor;
    let then = |_: &Recorded| to("completed", "end");
    let mut phase = Phase::new("run-1", &cursor, &then);
    phase.route = Some(NewRoute {
        handoff_id: last,
        decided_by: "policy",
        target: "done",
        reason: "",
    });
    l.record("the end", phase).unwrap();

    let r = l.report(&Filter::default()).unwrap();
    let seams: Vec<(&str, i64, i64, i64)> = r
        .seams
        .iter()
        .map(|s| {
            (
                s.seam.as_str(),
                s.visits,
                s.passed_after_recovery,
                s.recovered_by_review,
            )
        })
        .collect();
    assert_eq!(
        seams,
        [("write", 1, 1, 1)],
        "only the checked handoff is a seam"
    );
    let agreement: Vec<(&str, i64, i64)> = r
        .agreement
        .iter()
        .map(|a| (a.gate.as_str(), a.reviewed, a.overruled_to_accept))
        .collect();
    assert_eq!(
        agreement,
        [("length", 1, 1)],
        "the schema check is not judged by people"
    );
}

pub fn orphaned_runs_are_claimed_once_and_only_those(l: &dyn Ledger) {
    let short = Duration::from_millis(1);
    let new_run = |id: &str, cursor: &str, lease: Duration| {
        l.start_run(&NewRun {
            id,
            pipeline: "p",
            pipeline_file: "p.toml",
            pipeline_digest: "d",
            input: "{}",
            cursor,
            holder: "dead",
            lease,
        })
        .expect("start_run");
    };
    let p = vec!["p".to_string()];
    // Alive (its lease runs), dead (lapsed), and an outside run (never driven here).
    new_run("alive", "c0", LEASE);
    new_run("dead", "c0", short);
    new_run("outside", crate::OUTSIDE_CURSOR, short);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(
        l.claim_orphan("w2", &["other".to_string()], LEASE, Duration::ZERO)
            .unwrap(),
        None,
        "another pipeline's runs are not picked"
    );
    let got = l.claim_orphan("w2", &p, LEASE, Duration::ZERO).unwrap();
    assert_eq!(
        got,
        Some(crate::Orphan {
            run_id: "dead".into(),
            pipeline: "p".into()
        })
    );
    assert_eq!(
        l.claim_orphan("w3", &p, LEASE, Duration::ZERO).unwrap(),
        None
    );
    assert!(
        matches!(l.claim("dead", "w3", LEASE).unwrap(), Claim::HeldByOther { holder, .. } if holder == "w2"),
        "the picked run is w2's"
    );
    // A waiting run: not while its review is pending, not right after the decision
    // (its worker resumes it), but once the decision is older than the grace.
    start(l, "waits", "w1");
    let hid = at_seam(l, "waits", r#""draft""#);
    let at = format!("seam {hid}");
    let then = |ids: &Recorded| to("waiting", &format!("review {}", ids.review_id.unwrap()));
    let mut phase = Phase::new("waits", &at, &then);
    phase.review = Some(escalation(hid, "r"));
    let review = l.record("a seam", phase).unwrap().review_id.unwrap();
    l.release("waits", "w1").unwrap();
    assert_eq!(
        l.claim_orphan("w2", &p, LEASE, Duration::ZERO).unwrap(),
        None
    );
    l.decide_review(review, true, "ana", None, None).unwrap();
    assert_eq!(
        l.claim_orphan("w2", &p, LEASE, Duration::from_secs(3600))
            .unwrap(),
        None
    );
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(
        l.claim_orphan("w5", &p, LEASE, Duration::ZERO)
            .unwrap()
            .map(|o| o.run_id),
        Some("waits".into())
    );
    assert_eq!(
        l.claim_orphan("w6", &p, LEASE, Duration::ZERO).unwrap(),
        None
    );
    assert_eq!(l.run("outside").unwrap().status, "running");
}
