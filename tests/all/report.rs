//! The reliability report and the feedback export, over ledgers of known content.
#![allow(clippy::type_complexity)] // tuples of exact expected figures read best inline

use std::path::Path;

use seam_ledger::feedback::{ExportFilter, Shape};
use seam_ledger::report::Filter;
use seam_ledger::{Ledger, SqliteLedger};
use seam_pipeline::{decide_review, Pipeline};
use serde_json::{json, Value};

use crate::pipeline::{load, scratch};

const LEARNER: &str = r#"[[steps]]
name = "w"
kind = "command"
command = ["sh", "-c", '''in=$(cat); case "$in" in *'"feedback":[]'*) printf '%s' '"one two three four"';; *) printf '%s' '"one two"';; esac''']
"#;

const GATE: &str = "[[seams]]\nfrom = \"w\"\n[[seams.gates]]\nname = \"short\"\nplugin = \"max-words\"\nsettings = { max_words = 3 }\n";

/// Three runs of a learner retried once each, and two escalated runs: one accepted,
/// one rejected by a person. Returns the ledger.
pub(crate) fn known_ledger(dir: &Path) -> SqliteLedger {
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    fill(dir, &ledger);
    ledger
}

/// Writes the known content through the pipeline runner: three runs that pass after a
/// retry, two escalated runs a person decided (one accepted, one rejected).
pub(crate) fn fill(dir: &Path, ledger: &dyn Ledger) {
    let run = |p: &Pipeline, input: Value| {
        seam_pipeline::Runner::new(p, ledger, &seam_pipeline::Silent)
            .start(input)
            .unwrap()
    };
    let retrying = load(
        dir,
        &format!("[pipeline]\nname = \"retrying\"\n{LEARNER}{GATE}on_fail = \"retry\"\n"),
    );
    for i in 0..3 {
        run(&retrying, json!({"i": i}));
    }
    let escalating = load(
        dir,
        &format!("[pipeline]\nname = \"escalating\"\n{LEARNER}{GATE}on_fail = \"escalate\"\n[[seams.gates]]\nname = \"clean\"\nplugin = \"pii\"\n"),
    );
    let a = run(&escalating, json!({"i": "a"}));
    let b = run(&escalating, json!({"i": "b"}));
    let reviews = ledger.reviews(Some("pending")).unwrap();
    assert_eq!(reviews.len(), 2);
    decide_review(ledger, reviews[0].id, true, "ana", Some("fine by me"), None).unwrap();
    decide_review(ledger, reviews[1].id, false, "bo", Some("too long"), None).unwrap();
    let runner = seam_pipeline::Runner::new(&escalating, ledger, &seam_pipeline::Silent);
    runner.resume(&a.run_id).unwrap();
    runner.resume(&b.run_id).unwrap();
}

#[test]
fn report_figures_from_a_ledger_of_known_content() {
    let dir = scratch("report-known");
    let ledger = known_ledger(&dir);
    let r = ledger.report(&Filter::default()).unwrap();

    let p: Vec<(&str, i64, i64, i64, i64, i64, Option<f64>)> = r
        .pipelines
        .iter()
        .map(|p| {
            (
                p.pipeline.as_str(),
                p.runs,
                p.completed,
                p.rejected,
                p.waiting,
                p.escalated,
                p.end_to_end,
            )
        })
        .collect();
    assert_eq!(
        p,
        [
            ("escalating", 2, 1, 1, 0, 2, Some(0.5)),
            ("retrying", 3, 3, 0, 0, 0, Some(1.0))
        ]
    );
    let retrying = &r.pipelines[1];
    assert_eq!(
        (retrying.product_first_pass, retrying.product_after_recovery),
        (Some(0.0), Some(1.0))
    );

    let s: Vec<(&str, &str, i64, i64, i64, i64, i64, i64)> = r
        .seams
        .iter()
        .map(|s| {
            (
                s.pipeline.as_str(),
                s.seam.as_str(),
                s.visits,
                s.first_pass,
                s.passed_after_recovery,
                s.retries,
                s.recovered_by_retry,
                s.recovered_by_review,
            )
        })
        .collect();
    assert_eq!(
        s,
        [
            ("escalating", "w", 2, 0, 1, 0, 0, 1),
            ("retrying", "w", 3, 0, 3, 3, 3, 0)
        ]
    );

    let g: Vec<(&str, &str, i64, i64, i64, Option<f64>)> = r
        .gates
        .iter()
        .map(|g| {
            (
                g.pipeline.as_str(),
                g.gate.as_str(),
                g.checks,
                g.passed,
                g.failed,
                g.pass_rate,
            )
        })
        .collect();
    assert_eq!(
        g,
        [
            ("escalating", "clean", 2, 2, 0, Some(1.0)),
            ("escalating", "short", 2, 0, 2, Some(0.0)),
            ("retrying", "short", 6, 3, 3, Some(0.5))
        ]
    );
    assert!(r.gates.iter().all(|g| g.latency_us_p50 <= g.latency_us_p95
        && g.latency_us_p95 <= g.latency_us_p99
        && g.latency_us_p50.unwrap() > 0));

    let a: Vec<(&str, i64, i64, i64, i64)> = r
        .agreement
        .iter()
        .map(|a| {
            (
                a.gate.as_str(),
                a.reviewed,
                a.agreed,
                a.overruled_to_accept,
                a.overruled_to_reject,
            )
        })
        .collect();
    // `short` failed both: one person agreed (rejected), one overruled it (accepted).
    // `clean` passed both: one person agreed (accepted), one overruled it (rejected).
    assert_eq!(a, [("clean", 2, 1, 0, 1), ("short", 2, 1, 1, 0)]);

    // Filters narrow every figure.
    let only = ledger
        .report(&Filter {
            pipeline: Some("retrying".into()),
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(only.pipelines.len(), 1);
    assert_eq!(only.gates.len(), 1);
    let none = ledger
        .report(&Filter {
            since_ms: Some(i64::MAX),
            ..Filter::default()
        })
        .unwrap();
    assert!(none.pipelines.is_empty() && none.gates.is_empty());
}

#[test]
fn error_verdicts_are_counted_by_cause() {
    let dir = scratch("report-errors");
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let p = load(
        &dir,
        &format!(
            "[pipeline]\nname = \"e\"\n[defaults]\non_error = \"allow\"\n{}[[seams]]\nfrom = \"w\"\n[[seams.gates]]\nname = \"loop\"\nplugin = \"{}\"\nlimits = {{ deadline_ms = 10 }}\n",
            "[[steps]]\nname = \"w\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"cat >/dev/null; echo 1\"]\n",
            seam_test_artifacts::INFINITE_LOOP
        ),
    );
    crate::pipeline::run(&p, &ledger, json!(null));
    crate::pipeline::run(&p, &ledger, json!(null));
    let r = ledger.report(&Filter::default()).unwrap();
    assert_eq!(
        (r.gates[0].errors, r.gates[0].errors_by_cause.clone()),
        (2, vec![("timeout".to_string(), 2)])
    );
    assert_eq!(
        r.seams[0].first_pass, 2,
        "allowed errors let the handoff through"
    );
}

#[test]
fn the_json_shape_is_stable() {
    let dir = scratch("report-json");
    known_ledger(&dir);
    let (code, out, _) = crate::seam(&[
        "report",
        "--ledger",
        dir.join("l.db").to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&doc), ["agreement", "gates", "pipelines", "seams"]);
    assert_eq!(
        keys(&doc["pipelines"][0]),
        [
            "completed",
            "end_to_end",
            "escalated",
            "failed",
            "pending",
            "pipeline",
            "product_after_recovery",
            "product_first_pass",
            "rejected",
            "runs",
            "waiting"
        ]
    );
    assert_eq!(
        keys(&doc["seams"][0]),
        [
            "first_pass",
            "first_pass_reliability",
            "passed_after_recovery",
            "pipeline",
            "recovered_by_fix",
            "recovered_by_retry",
            "recovered_by_review",
            "reliability_after_recovery",
            "retries",
            "seam",
            "visits"
        ]
    );
    assert_eq!(
        keys(&doc["gates"][0]),
        [
            "checks",
            "errors",
            "errors_by_cause",
            "failed",
            "gate",
            "latency_us_p50",
            "latency_us_p95",
            "latency_us_p99",
            "pass_rate",
            "passed",
            "pipeline",
            "seam"
        ]
    );
    assert_eq!(
        keys(&doc["agreement"][0]),
        [
            "agreed",
            "gate",
            "overruled_to_accept",
            "overruled_to_reject",
            "pipeline",
            "reviewed",
            "seam"
        ]
    );
}

#[test]
fn the_html_page_is_self_contained_with_every_chart() {
    let dir = scratch("report-html");
    known_ledger(&dir);
    let html = dir.join("report.html");
    let (code, out, _) = crate::seam(&[
        "report",
        "--ledger",
        dir.join("l.db").to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("PIPELINES\n") && out.contains("\nGATE VERSUS HUMAN (reviewed handoffs)\n"),
        "{out}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    for id in [
        "chart-pipelines",
        "chart-seams",
        "chart-gates",
        "chart-latency",
        "chart-agreement",
    ] {
        assert!(
            page.contains(&format!("<figure class=\"chart\" id=\"{id}\">")),
            "missing {id}"
        );
    }
    assert_eq!(page.matches("<figure class=\"chart\"").count(), 5);
    for outside in ["http://", "https://", "<script", "<link", "src="] {
        assert!(
            !page.contains(outside),
            "the page refers outside itself: {outside}"
        );
    }
}

#[test]
fn feedback_export_records_and_pairs() {
    let dir = scratch("feedback");
    let ledger = known_ledger(&dir);
    let export = |shape, filter: ExportFilter| -> Vec<Value> {
        let mut out = Vec::new();
        ledger.export(&filter, shape, &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let records = export(Shape::Records, ExportFilter::default());
    // 3 retried runs × 2 candidates + 2 escalated runs × 1 candidate.
    assert_eq!(records.len(), 8);
    let labels: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["pipeline"].as_str().unwrap(),
                r["label"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        labels
            .iter()
            .filter(|l| *l == &("retrying", "rejected"))
            .count(),
        3
    );
    assert_eq!(
        labels
            .iter()
            .filter(|l| *l == &("retrying", "accepted"))
            .count(),
        3
    );
    assert_eq!(
        labels
            .iter()
            .filter(|l| l.0 == "escalating")
            .map(|l| l.1)
            .collect::<Vec<_>>(),
        ["accepted", "rejected"]
    );
    let human = records
        .iter()
        .find(|r| r["review"]["decision"] == "rejected")
        .unwrap();
    assert_eq!(
        (
            human["review"]["by"].as_str(),
            human["review"]["note"].as_str()
        ),
        (Some("bo"), Some("too long"))
    );
    assert_eq!(human["candidate"], "one two three four");
    assert_eq!(human["verdicts"][0]["gate"], "short");
    assert_eq!(human["context"]["step"], "w");

    let rejected = export(
        Shape::Records,
        ExportFilter {
            decision: Some("rejected".into()),
            ..ExportFilter::default()
        },
    );
    assert_eq!(rejected.len(), 4);
    let by_gate = export(
        Shape::Records,
        ExportFilter {
            gate: Some("clean".into()),
            ..ExportFilter::default()
        },
    );
    assert_eq!(by_gate.len(), 2);

    let pairs = export(Shape::Pairs, ExportFilter::default());
    assert_eq!(
        pairs.len(),
        3,
        "one pair per retried run; escalated runs have a single candidate"
    );
    assert_eq!(
        (pairs[0]["chosen"].as_str(), pairs[0]["rejected"].as_str()),
        (Some("one two"), Some("one two three four"))
    );
    assert_eq!(pairs[0]["reasons"][0]["code"], "length.words");
    assert_eq!(pairs[0]["reasons"][0]["gate"], "short");
    assert_eq!(pairs[0]["prompt"]["attempt"], 1);

    // The same candidates as TRL reads them: only its fields, the prompt by its rules.
    let dpo = export(Shape::Dpo, ExportFilter::default());
    assert_eq!(dpo.len(), pairs.len());
    for (row, pair) in dpo.iter().zip(&pairs) {
        let mut keys: Vec<&String> = row.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["chosen", "prompt", "rejected"]);
        let prompt = match seam_ledger::feedback::prompt_of(&pair["prompt"]) {
            seam_ledger::feedback::Prompt::Text(t) => Value::String(t),
            seam_ledger::feedback::Prompt::Chat(m) => Value::Array(m),
        };
        assert_eq!(row["prompt"], prompt);
        assert!(row["prompt"].is_string());
        assert_eq!(row["chosen"], pair["chosen"]);
        assert_eq!(row["rejected"], pair["rejected"]);
    }
    let kto = export(Shape::Kto, ExportFilter::default());
    let all = export(Shape::Records, ExportFilter::default());
    assert_eq!(kto.len(), all.len());
    for (row, record) in kto.iter().zip(&all) {
        let mut keys: Vec<&String> = row.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["completion", "label", "prompt"]);
        assert_eq!(row["label"], record["label"] == "accepted");
        assert_eq!(row["completion"], record["candidate"]);
    }
    let kto_rejected = export(
        Shape::Kto,
        ExportFilter {
            decision: Some("rejected".into()),
            ..ExportFilter::default()
        },
    );
    assert_eq!(kto_rejected.len(), 4);
    assert!(kto_rejected.iter().all(|r| r["label"] == false));
}

/// The process's RSS is shared with every test running beside it, so the report is
/// measured in a process of its own: this test binary, running only
/// [`helper_large_ledger_report`].
#[test]
fn a_large_ledger_reports_in_bounded_memory() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "report::helper_large_ledger_report",
            "--test-threads=1",
        ])
        .env("SEAM_HELPER_LARGE_REPORT", "1")
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains("test result: ok. 1 passed"), "{said}");
}

/// Not a test by itself: the child process of [`a_large_ledger_reports_in_bounded_memory`].
#[test]
#[ignore = "helper process for a_large_ledger_reports_in_bounded_memory"]
fn helper_large_ledger_report() {
    if std::env::var_os("SEAM_HELPER_LARGE_REPORT").is_none() {
        return;
    }
    let dir = scratch("report-large");
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    // 1000 runs × 100 handoffs of one verdict each: 100 000 verdicts, written directly.
    ledger
        .write("a large ledger", |t| {
            let mut run = t.prepare("INSERT INTO runs (id, pipeline, pipeline_file, pipeline_digest, input, status, cursor, created_at, updated_at) VALUES (?1, 'big', 'f', 'd', 'null', 'completed', '{}', 0, 0)")?;
            let mut handoff = t.prepare("INSERT INTO handoffs (run_id, from_step, to_step, attempt, payload, context, created_at) VALUES (?1, 's', 'done', 1, '\"x\"', 'null', 0)")?;
            let mut verdict = t.prepare("INSERT INTO verdicts (handoff_id, run_id, gate, plugin, plugin_digest, outcome, findings, policy, duration_us, created_at) VALUES (?1, ?2, 'g', 'p', 'd', ?3, '[]', 'block', ?4, 0)")?;
            let mut route = t.prepare("INSERT INTO routes (handoff_id, run_id, decided_by, target, reason, created_at) VALUES (?1, ?2, 'policy', 'done', '', 0)")?;
            for r in 0..1000 {
                let id = format!("run-{r}");
                run.execute([&id])?;
                for h in 0..100 {
                    handoff.execute([&id])?;
                    let hid = t.last_insert_rowid();
                    let outcome = if (r * 100 + h) % 10 == 0 { "failed" } else { "passed" };
                    verdict.execute(rusqlite::params![hid, id, outcome, (r * 100 + h) % 1000 + 1])?;
                    route.execute(rusqlite::params![hid, id])?;
                }
            }
            Ok(())
        })
        .unwrap();
    let before = rss();
    let r = ledger.report(&Filter::default()).unwrap();
    let grown = rss().saturating_sub(before);
    assert_eq!(
        (r.gates[0].checks, r.gates[0].passed, r.gates[0].failed),
        (100_000, 90_000, 10_000)
    );
    assert_eq!(
        (r.gates[0].latency_us_p50, r.gates[0].latency_us_p99),
        (Some(500), Some(990))
    );
    assert_eq!(r.pipelines[0].runs, 1000);
    assert!(
        grown < 64 << 20,
        "the report grew memory by {} MiB",
        grown >> 20
    );
}

fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .unwrap()
        * 1024
}

#[test]
fn the_compounding_example_shows_what_gates_recover() {
    let here = std::path::PathBuf::from(crate::repo("examples/compounding"));
    let dir = scratch("compounding");
    let inputs: String = (0..150).map(|i| format!("{{\"seed\": {i}}}\n")).collect();
    std::fs::write(dir.join("inputs.jsonl"), inputs).unwrap();
    let ledger = dir.join("l.db");
    for p in ["six-at-97", "six-at-97-gated"] {
        let pipeline = here.join(format!("{p}.toml"));
        crate::seam(&[
            "run",
            pipeline.to_str().unwrap(),
            "--input-file",
            dir.join("inputs.jsonl").to_str().unwrap(),
            "--ledger",
            ledger.to_str().unwrap(),
            "--format",
            "json",
        ]);
    }
    let ledger = SqliteLedger::open(&ledger).unwrap();
    let r = ledger.report(&Filter::default()).unwrap();
    let plain = r
        .pipelines
        .iter()
        .find(|p| p.pipeline == "six-at-97")
        .unwrap();
    let gated = r
        .pipelines
        .iter()
        .find(|p| p.pipeline == "six-at-97-gated")
        .unwrap();
    assert_eq!(plain.runs + gated.runs, 300);
    // Deterministic (seeded): the same figures on every machine.
    let figures =
        |p: &seam_ledger::report::PipelineReport| (p.runs, p.completed, p.rejected, p.failed);
    let seams: Vec<(&str, i64, i64, i64, i64)> = r
        .seams
        .iter()
        .filter(|s| s.pipeline == "six-at-97-gated")
        .map(|s| {
            (
                s.seam.as_str(),
                s.visits,
                s.first_pass,
                s.retries,
                s.recovered_by_retry,
            )
        })
        .collect();
    assert_eq!(
        (figures(plain), figures(gated), seams.clone()),
        (
            (150, 124, 26, 0),
            (150, 150, 0, 0),
            vec![
                ("deliver", 150, 150, 0, 0),
                ("s1", 150, 143, 7, 7),
                ("s2", 150, 143, 7, 7),
                ("s3", 150, 138, 13, 12),
                ("s4", 150, 143, 7, 7),
                ("s5", 150, 144, 6, 6),
                ("s6", 150, 147, 3, 3),
            ]
        ),
        "without gates (0.97^6 ≈ 0.833); with a 90%-sensitive gate, 2% false positives and 2 retries at every seam (formula ≈ 0.981)"
    );
    assert_eq!(plain.end_to_end, Some(plain.completed as f64 / 150.0));
    // What the gated pipeline would do without recovery: the product of first passes.
    let product: f64 = seams
        .iter()
        .map(|(_, visits, first, _, _)| *first as f64 / *visits as f64)
        .product();
    let first_pass = gated.product_first_pass.unwrap();
    assert!(
        (first_pass - product).abs() < 1e-12,
        "{first_pass} vs {product}"
    );
}

#[test]
fn since_and_until_accept_durations_times_and_milliseconds() {
    let dir = scratch("report-times");
    known_ledger(&dir);
    let ledger = dir.join("l.db");
    let runs = |args: &[&str]| -> i64 {
        let mut all = vec![
            "report",
            "--ledger",
            ledger.to_str().unwrap(),
            "--format",
            "json",
        ];
        all.extend_from_slice(args);
        let (code, out, err) = crate::seam(&all);
        assert_eq!(code, 0, "{args:?}: {err}");
        let doc: Value = serde_json::from_str(&out).unwrap();
        doc["pipelines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["runs"].as_i64().unwrap())
            .sum()
    };
    let all = runs(&[]);
    assert!(all > 0);
    assert_eq!(runs(&["--since", "1h"]), all);
    assert_eq!(runs(&["--since", "1h 30m"]), all);
    assert_eq!(runs(&["--since", "2001-01-01T00:00:00Z"]), all);
    assert_eq!(runs(&["--since", "0"]), all);
    assert_eq!(runs(&["--until", "2001-01-01 00:00:00"]), 0);
    assert_eq!(runs(&["--until", "1h"]), 0);
}

#[test]
fn a_bad_time_option_is_a_clear_error_never_a_panic() {
    let dir = scratch("report-bad-times");
    known_ledger(&dir);
    let ledger = dir.join("l.db");
    for bad in [
        "5日",
        "日",
        "7w!",
        "",
        " ",
        "-",
        "1x",
        "99999999999999999999999d",
        "2026-13-45T99:00:00Z",
    ] {
        let (code, _, err) = crate::seam(&[
            "report",
            "--ledger",
            ledger.to_str().unwrap(),
            "--since",
            bad,
        ]);
        assert_eq!(code, 2, "--since {bad:?}: {err}");
        assert!(
            err.starts_with(&format!("seam: error: --since {:?}: ", bad.trim())),
            "--since {bad:?}: {err}"
        );
        assert!(err.contains("give a duration before now"), "{err}");
    }
}
