//! The `seam` command line, run in-process exactly as the binary runs it: output,
//! exit codes (0 passed, 1 rejected, 2 error) and error messages.

use seam_ledger::Ledger;
use seam_test_artifacts as fixtures;

use crate::{repo, seam};

fn headphones(draft: &str, extra: &[&str]) -> (u8, String, String) {
    let payload = repo(&format!("examples/headphones/{draft}"));
    let mut args = vec![
        "check",
        "--gate",
        "max-words",
        "--settings",
        r#"{"max_words": 40}"#,
        "--gate",
        "contains",
        "--settings",
        r#"{"required": ["$89"]}"#,
        "--payload",
        &payload,
    ];
    args.extend_from_slice(extra);
    seam(&args)
}

fn temp_file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("seam-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn headphone_good_draft_passes_with_exit_0() {
    let (code, out, err) = headphones("draft-2.txt", &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("✓ max-words  passed"), "{out}");
    assert!(out.contains("✓ contains  passed"), "{out}");
    assert!(out.ends_with("\npassed: 2 of 2 gates passed\n"), "{out}");
    assert_eq!(err, "");
}

#[test]
fn headphone_long_draft_fails_with_two_findings_and_exit_1() {
    let (code, out, _) = headphones("draft-1.txt", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("    error   length.words  46 words, at most 40 allowed\n"),
        "{out}"
    );
    assert!(
        out.contains("    error   contains.missing  required text \"$89\" not found\n"),
        "{out}"
    );
    assert!(out.ends_with("\nrejected: 2 of 2 gates failed\n"), "{out}");
}

#[test]
fn json_output_is_one_document_with_every_finding() {
    let (code, out, _) = headphones("draft-1.txt", &["--format", "json"]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["passed"], false);
    let gates = doc["gates"].as_array().unwrap();
    assert_eq!(gates.len(), 2);
    assert_eq!(gates[0]["gate"], "max-words");
    assert_eq!(gates[0]["plugin"], "max-words");
    assert_eq!(gates[0]["outcome"], "verdict");
    assert_eq!(gates[0]["findings"][0]["code"], "length.words");
    assert_eq!(
        gates[1]["findings"][0]["message"],
        "required text \"$89\" not found"
    );
    assert!(gates[0]["duration"].as_u64().is_some());
}

#[test]
fn invalid_settings_exit_2_naming_the_plugin_and_setting() {
    let payload = repo("examples/headphones/draft-2.txt");
    let (code, out, err) = seam(&[
        "check",
        "--gate",
        "max-words",
        "--settings",
        r#"{"max_words": "forty"}"#,
        "--payload",
        &payload,
    ]);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert!(err.starts_with("seam: error: loading gate `max-words`\n  caused by: settings for plugin `max-words` are invalid:\n  - at `/max_words`: "), "{err}");
}

#[test]
fn settings_that_are_not_json_say_where() {
    let payload = repo("examples/headphones/draft-2.txt");
    let (code, _, err) = seam(&[
        "check",
        "--gate",
        "max-words",
        "--settings",
        "{max_words: 4}",
        "--payload",
        &payload,
    ]);
    assert_eq!(code, 2);
    assert!(err.starts_with("seam: error: the settings for gate `max-words` from the command line is not valid JSON (line 1, column 2)"), "{err}");
}

#[test]
fn settings_before_any_gate_is_a_usage_error() {
    let (code, _, err) = seam(&[
        "check",
        "--settings",
        "{}",
        "--gate",
        "max-words",
        "--payload",
        "x",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("comes before any --gate"), "{err}");
}

#[test]
fn an_unknown_gate_lists_the_standard_plugins() {
    let payload = repo("examples/headphones/draft-2.txt");
    let (code, _, err) = seam(&["check", "--gate", "max-wordz", "--payload", &payload]);
    assert_eq!(code, 2);
    assert!(err.contains("could not read plugin `max-wordz`"), "{err}");
    assert!(
        err.contains("standard plugins: ban-list, brand-voice,"),
        "{err}"
    );
}

#[test]
fn a_missing_payload_file_is_named() {
    let (code, _, err) = seam(&[
        "check",
        "--gate",
        "max-words",
        "--payload",
        "/no/such/payload.txt",
    ]);
    assert_eq!(code, 2);
    assert!(err.starts_with("seam: error: reading the payload from /no/such/payload.txt\n  caused by: No such file or directory"), "{err}");
}

#[test]
fn a_broken_json_payload_says_where_and_what_to_do() {
    let path = temp_file("broken.json", "{\"a\": 1,\n \"b\": }");
    let (code, _, err) = seam(&["check", "--gate", "max-words", "--payload", &path]);
    assert_eq!(code, 2);
    assert!(
        err.contains("is not valid JSON (line 2, column 7)"),
        "{err}"
    );
    assert!(err.contains("pass --payload-format text"), "{err}");
}

#[test]
fn a_plugin_error_verdict_exits_2_and_names_the_cause() {
    let payload = repo("examples/headphones/draft-2.txt");
    let (code, out, _) = seam(&[
        "check",
        "--gate",
        fixtures::INFINITE_LOOP,
        "--gate",
        "max-words",
        "--payload",
        &payload,
        "--deadline-ms",
        "30",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(
            "! infinite-loop  error: timed out: used its 30 ms deadline (time running and waiting)"
        ),
        "{out}"
    );
    assert!(out.contains("✓ max-words  passed"), "{out}");
}

#[test]
fn findings_with_spans_show_the_text_and_the_fix() {
    let path = temp_file("pii.txt", "Write to jane@example.com today.\n");
    let (code, out, _) = seam(&["check", "--gate", "pii", "--payload", &path]);
    assert_eq!(code, 1);
    assert!(
        out.contains("    error   pii.email  e-mail address found  [9..25] \"jane@example.com\"\n"),
        "{out}"
    );
    assert!(
        out.contains("    fix: \"Write to [EMAIL] today.\"\n"),
        "{out}"
    );
}

#[test]
fn describe_prints_info_and_schema() {
    let (code, out, _) = seam(&["describe", "max-words"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("max-words 0.1.0 (gate)\n  Fails a payload whose text has more words or characters than allowed.\n"), "{out}");
    assert!(out.contains("\"max_words\""), "{out}");
    let (code, out, _) = seam(&["describe", "verdict-router", "--format", "json"]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["info"]["kind"], "router");
}

#[test]
fn route_reads_verdicts_from_a_list_or_from_check_output() {
    let payload = repo("examples/headphones/draft-1.txt");
    let settings = r#"{"rules": [{"gate": "contains", "outcome": "failed", "route": "retry"}]}"#;
    let list = temp_file(
        "verdicts.json",
        r#"[{"gate": "contains", "verdict": {"passed": false}}]"#,
    );
    let (code, out, err) = seam(&[
        "route",
        "--router",
        "verdict-router",
        "--settings",
        settings,
        "--payload",
        &payload,
        "--verdicts",
        &list,
    ]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, "→ retry  (rule 1: gate `contains`, failed)\n", "")
    );

    let (_, check_json, _) = headphones("draft-1.txt", &["--format", "json"]);
    let from_check = temp_file("check.json", &check_json);
    let (code, out, _) = seam(&[
        "route",
        "--router",
        "verdict-router",
        "--settings",
        settings,
        "--payload",
        &payload,
        "--verdicts",
        &from_check,
    ]);
    assert_eq!(
        (code, out.as_str()),
        (0, "→ retry  (rule 1: gate `contains`, failed)\n")
    );
}

#[test]
fn help_exits_0_and_unknown_flags_exit_2() {
    let (code, out, _) = seam(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(
            "Exit codes: 0 passed (a run completed), 1 rejected by a gate, 2 usage, configuration, plugin or step"
        ),
        "{out}"
    );
    let (code, _, err) = seam(&["check", "--bogus"]);
    assert_eq!(code, 2);
    assert!(err.contains("unexpected argument '--bogus'"), "{err}");
}

#[test]
fn demo_runs_the_headphone_example_to_completion() {
    let dir = std::env::temp_dir().join(format!("seam-cli-demo-{}", std::process::id()));
    let (code, out, err) = seam(&["demo", "--dir", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("        length.words  46 words, at most 40 allowed\n"),
        "{out}"
    );
    assert!(
        out.contains("    → retry  (policy: retrying `write` (attempt 2): "),
        "{out}"
    );
    assert!(out.contains("  step write (attempt 2): ok in"), "{out}");
    assert!(
        out.contains("    ✓ voice (brand-voice)  score 0.58\n"),
        "{out}"
    );
    assert!(
        out.contains("    → publish  (policy: every gate passed)\n"),
        "{out}"
    );
    assert!(out.contains("■ completed  output: {\"channel\":\"demo\",\"published\":true,\"text\":\"Block the noise"), "{out}");
}

/// A pipeline in a temp folder whose one seam escalates a too-long payload.
pub(crate) fn escalating_pipeline(name: &str) -> (std::path::PathBuf, String) {
    let dir = crate::pipeline::scratch(name);
    let toml = "[pipeline]\nname = \"esc\"\n[[steps]]\nname = \"w\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", '''cat >/dev/null; echo '\"one two three four\"' ''']\n[[steps]]\nname = \"ship\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", '''cat >/dev/null; echo '{\"shipped\": true}' ''']\n[[seams]]\nfrom = \"w\"\n[[seams.gates]]\nplugin = \"max-words\"\nsettings = { max_words = 3 }\non_fail = \"escalate\"\n";
    std::fs::write(dir.join("pipeline.toml"), toml).unwrap();
    let ledger = dir.join("ledger.db").display().to_string();
    (dir, ledger)
}

#[test]
fn run_waits_with_exit_3_and_review_accept_resumes_it() {
    let (dir, ledger) = escalating_pipeline("cli-review");
    let pipeline = dir.join("pipeline.toml").display().to_string();
    let (code, out, err) = seam(&[
        "run",
        &pipeline,
        "--ledger",
        &ledger,
        "--input",
        r#"{"n": 1}"#,
    ]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        out.contains("⏸ waiting for review 1: escalated at seam w → ship: max-words failed"),
        "{out}"
    );

    let (code, out, _) = seam(&["review", "list", "--ledger", &ledger]);
    assert_eq!(code, 0);
    assert!(out.contains("   1  pending   escalation  run "), "{out}");
    let (code, out, _) = seam(&["review", "show", "1", "--ledger", &ledger]);
    assert_eq!(code, 0);
    assert!(
        out.contains("  - max-words length.words  4 words, at most 3 allowed"),
        "{out}"
    );

    let (code, out, err) = seam(&[
        "review", "accept", "1", "--by", "ana", "--note", "fine", "--ledger", &ledger,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("review 1 accepted by ana\n"), "{out}");
    assert!(
        out.contains("■ completed  output: {\"shipped\":true}"),
        "{out}"
    );

    let (code, _, err) = seam(&["review", "accept", "1", "--ledger", &ledger]);
    assert_eq!(code, 2);
    assert!(
        err.contains("review 1 is accepted, not pending: it was decided already"),
        "{err}"
    );
}

#[test]
fn run_reject_in_review_exits_1_and_json_output_is_the_outcome() {
    let (dir, ledger) = escalating_pipeline("cli-reject");
    let pipeline = dir.join("pipeline.toml").display().to_string();
    let (code, out, _) = seam(&["run", &pipeline, "--ledger", &ledger, "--format", "json"]);
    assert_eq!(code, 3);
    let outcome: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome["status"], "waiting");
    let run_id = outcome["run_id"].as_str().unwrap().to_string();
    let (code, _, _) = seam(&[
        "review",
        "reject",
        "1",
        "--by",
        "bo",
        "--no-resume",
        "--ledger",
        &ledger,
    ]);
    assert_eq!(code, 0);
    let (code, out, _) = seam(&["run", &pipeline, "--ledger", &ledger, "--resume", &run_id]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("■ rejected: rejected in review 1 by bo"),
        "{out}"
    );
}

#[test]
fn run_many_inputs_from_a_jsonl_file() {
    let dir = crate::pipeline::scratch("cli-many");
    let toml = "[pipeline]\nname = \"many\"\n[[steps]]\nname = \"echo\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", '''sed -n 's/.*\"input\":\\([^,]*\\),.*/\\1/p' ''']\n";
    std::fs::write(dir.join("pipeline.toml"), toml).unwrap();
    let inputs: String = (0..10).map(|i| format!("{i}\n")).collect();
    std::fs::write(dir.join("inputs.jsonl"), inputs).unwrap();
    let (code, out, err) = seam(&[
        "run",
        dir.join("pipeline.toml").to_str().unwrap(),
        "--input-file",
        dir.join("inputs.jsonl").to_str().unwrap(),
        "--ledger",
        dir.join("l.db").to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let outcomes: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let outputs: Vec<i64> = outcomes
        .iter()
        .map(|o| o["output"].as_i64().unwrap())
        .collect();
    assert_eq!(outputs, (0..10).collect::<Vec<_>>());
}

#[test]
fn a_bad_pipeline_file_exits_2_with_its_location() {
    let path = temp_file("bad-pipeline.toml", "[pipeline]\nname = \"x\"\nsteps = 3\n");
    let (code, _, err) = seam(&["run", &path, "--ledger", "/tmp/unused.db"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with(&format!(
            "seam: error: {path}:3:9: invalid type: integer `3`, expected a sequence"
        )) || err.contains(":3:"),
        "{err}"
    );
}

#[test]
fn interactive_review_annotates_decides_and_resumes() {
    let (dir, ledger) = escalating_pipeline("cli-interactive");
    let pipeline = dir.join("pipeline.toml").display().to_string();
    assert_eq!(seam(&["run", &pipeline, "--ledger", &ledger]).0, 3);
    assert_eq!(seam(&["run", &pipeline, "--ledger", &ledger]).0, 3);
    let l = seam_ledger::SqliteLedger::open(std::path::Path::new(&ledger)).unwrap();
    let mut input = std::io::Cursor::new("x\nn four words is fine\na\nr\n");
    let mut out = Vec::new();
    let code =
        seam_cli::review::interactive(&l, std::path::Path::new(&ledger), &mut input, &mut out)
            .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("payload:\n  one two three four\n"), "{out}");
    assert!(out.contains("answer a, r, n TEXT, s or q\n"), "{out}");
    assert!(out.contains("note: four words is fine\n"), "{out}");
    assert!(out.contains("review 1 accepted by "), "{out}");
    assert!(
        out.contains("■ completed  output: {\"shipped\":true}"),
        "{out}"
    );
    assert!(out.contains("review 2 rejected by "), "{out}");
    assert!(
        out.contains("■ rejected: rejected in review 2 by "),
        "{out}"
    );
    assert_eq!(code as u8, 1, "the worst outcome: the rejected run");
    let reviews = l.reviews(None).unwrap();
    assert_eq!(reviews[0].note.as_deref(), Some("four words is fine"));
    assert!(reviews
        .iter()
        .all(|r| r.decided_at.is_some() && r.decided_by.is_some()));
}

#[test]
fn describe_honours_the_deadline_option() {
    let (code, _, err) = seam(&[
        "describe",
        fixtures::SLEEPER_DESCRIBE,
        "--deadline-ms",
        "15",
        "--no-cache",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "plugin `sleeper_describe` failed in describe(): timed out: used its 15 ms deadline"
        ),
        "{err}"
    );
}

#[test]
fn describe_with_a_fuel_budget_runs_describe_with_that_budget() {
    let (code, out, err) = seam(&["describe", "max-words", "--fuel", "100000000"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("max-words "), "{out}");
    let (code, _, err) = seam(&["describe", "max-words", "--fuel", "1"]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "plugin `max-words` failed in describe(): ran out of fuel (budget 1 instructions)"
        ),
        "{err}"
    );
}

#[test]
fn a_fuel_budget_in_a_pipeline_file_turns_metering_on_by_itself() {
    let dir = std::env::temp_dir().join(format!("seam-cli-{}-fuel", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pipeline = |fuel: u64| {
        format!(
            "[pipeline]\nname = \"fuel\"\n[[steps]]\nname = \"w\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"cat >/dev/null; printf '%s' '\\\"one two\\\"'\"]\n[[seams]]\nfrom = \"w\"\n[[seams.gates]]\nname = \"short\"\nplugin = \"max-words\"\nsettings = {{ max_words = 3 }}\nlimits = {{ fuel = {fuel} }}\n"
        )
    };
    let run = |fuel: u64| {
        let file = dir.join(format!("p{fuel}.toml"));
        std::fs::write(&file, pipeline(fuel)).unwrap();
        seam(&[
            "run",
            file.to_str().unwrap(),
            "--ledger",
            dir.join(format!("l{fuel}.db")).to_str().unwrap(),
            "--format",
            "json",
        ])
    };
    // A generous budget: metered, and the run completes (no --fuel-metering needed).
    let (code, out, err) = run(1_000_000_000);
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["status"], "completed", "{doc}");
    // A budget of one instruction: the budget applies to describe() at load too.
    let (code, _, err) = run(1);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "plugin `max-words` failed in describe(): ran out of fuel (budget 1 instructions)"
        ),
        "{err}"
    );
}

#[test]
fn an_unknown_gate_suggests_the_nearest_standard_name() {
    for (typo, meant) in [
        ("max-word", "max-words"),
        ("max_words", "max-words"),
        ("contain", "contains"),
        ("jsonschema", "json-schema"),
    ] {
        let (code, _, err) = seam(&["check", "--gate", typo, "--payload", "/dev/null"]);
        assert_eq!(code, 2);
        assert!(
            err.contains(&format!("did you mean `{meant}`?")),
            "{typo}: {err}"
        );
    }
    let (_, _, err) = seam(&["check", "--gate", "qwertyuiop", "--payload", "/dev/null"]);
    assert!(!err.contains("did you mean"), "{err}");
}

#[test]
fn completions_are_printed_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _seam"),
        ("zsh", "#compdef seam"),
        ("fish", "complete -c seam"),
    ] {
        let (code, out, err) = seam(&["completions", shell]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(marker), "{shell}");
        assert!(out.contains("check"), "{shell}");
    }
    let (code, _, err) = seam(&["completions", "tcsh"]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
}

#[test]
fn json_documents_carry_payloads_and_fixes_as_json() {
    let text = temp_file("mail.txt", "write to a@b.io");
    let (code, out, _) = seam(&[
        "check",
        "--gate",
        "pii",
        "--payload",
        &text,
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["gates"][0]["fix"],
        serde_json::json!("write to [EMAIL]")
    );
    let object = temp_file("mail.json", r#"{"to": "a@b.io", "n": 1}"#);
    let (code, out, _) = seam(&[
        "check",
        "--gate",
        "pii",
        "--payload",
        &object,
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["gates"][0]["fix"],
        serde_json::json!({"to": "[EMAIL]", "n": 1})
    );
    // `seam route` reads that document back, fix included.
    let verdicts = temp_file("verdicts.json", &out);
    let (code, out, err) = seam(&[
        "route",
        "--router",
        "verdict-router",
        "--payload",
        &object,
        "--verdicts",
        &verdicts,
    ]);
    assert_eq!(code, 0, "{out}{err}");

    let (dir, ledger) = escalating_pipeline("cli-json-shapes");
    let pipeline = dir.join("pipeline.toml").display().to_string();
    assert_eq!(seam(&["run", &pipeline, "--ledger", &ledger]).0, 3);
    let (code, out, _) = seam(&[
        "review", "show", "1", "--ledger", &ledger, "--format", "json",
    ]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["payload"], serde_json::json!("one two three four"));
    assert_eq!(doc["findings"][0]["code"], "length.words");
    assert_eq!(doc["output"], serde_json::Value::Null);
}

#[test]
fn a_gate_from_a_file_is_named_by_its_own_description() {
    let settings = r#"{"verdict": {"passed": true, "findings": []}}"#;
    let file = fixtures::SAYS_ANYTHING;
    let (code, out, err) = seam(&[
        "check",
        "--gate",
        file,
        "--settings",
        settings,
        "--gate",
        file,
        "--settings",
        settings,
        "--payload",
        "/dev/null",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["gates"][0]["gate"], "says-anything",
        "not the file's stem says_anything"
    );
    assert_eq!(doc["gates"][1]["plugin"], "says-anything");
    // Two different files that call themselves the same are refused, naming both.
    let copy = temp_file("copy.wasm", "");
    std::fs::copy(file, &copy).unwrap();
    let (code, _, err) = seam(&[
        "check",
        "--gate",
        file,
        "--settings",
        settings,
        "--gate",
        &copy,
        "--settings",
        settings,
        "--payload",
        "/dev/null",
    ]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!("seam: error: gates {file} and {copy} both call themselves `says-anything`; their verdicts could not be told apart: rename one plugin\n")
    );
}

/// `seam wit` gives plugin authors the contract this seam runs: each version's WIT,
/// byte for byte the repository's, printed or written into a folder.
#[test]
fn seam_wit_prints_and_writes_every_contract_it_runs() {
    let (code, out, _) = seam(&["wit", "--list"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "seam:plugin@0.1.0\nseam:plugin@0.2.0\n")
    );
    assert_eq!(
        seam_runtime::CONTRACT_WIT
            .iter()
            .map(|(v, _)| *v)
            .collect::<Vec<_>>(),
        seam_runtime::SUPPORTED_CONTRACTS
    );
    for (version, text) in seam_runtime::CONTRACT_WIT {
        assert!(
            text.contains(&format!("\npackage seam:plugin@{version};\n")),
            "{version}"
        );
    }
    let newest = std::fs::read_to_string(repo("wit/seam.wit")).unwrap();
    let (code, out, _) = seam(&["wit"]);
    assert_eq!((code, &out), (0, &newest));
    let (code, out, _) = seam(&["wit", "--version", "seam:plugin@0.1.0"]);
    assert_eq!(
        (code, out),
        (
            0,
            std::fs::read_to_string(repo("wit/0.1.0/seam.wit")).unwrap()
        )
    );

    let dir = crate::pipeline::scratch("cli-wit");
    let into = dir.join("wit");
    let (code, out, err) = seam(&["wit", "--out", into.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "wrote {} (seam:plugin@0.2.0)\n",
            into.join("seam.wit").display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(into.join("seam.wit")).unwrap(),
        newest
    );
    // Again over the old one: replaced, not appended.
    let (code, _, _) = seam(&["wit", "--out", into.to_str().unwrap(), "--version", "0.1.0"]);
    assert_eq!(code, 0);
    assert!(std::fs::read_to_string(into.join("seam.wit"))
        .unwrap()
        .contains("package seam:plugin@0.1.0;"));

    // Bad input: an unknown version, a file for a folder, a folder where the file goes,
    // --list with other options.
    for (args, expected) in [
        (
            vec!["wit", "--version", "0.3.0"],
            "seam: error: --version \"0.3.0\": this seam runs seam:plugin@0.1.0, seam:plugin@0.2.0; pick one of those\n".to_string(),
        ),
        (
            vec!["wit", "--out", into.join("seam.wit").to_str().unwrap()],
            format!(
                "seam: error: --out {}: not a folder; give the folder to write seam.wit into\n",
                into.join("seam.wit").display()
            ),
        ),
    ] {
        let (code, out, err) = seam(&args);
        assert_eq!((code, out.as_str(), err), (2, "", expected), "{args:?}");
    }
    let clash = dir.join("clash");
    std::fs::create_dir_all(clash.join("seam.wit")).unwrap();
    let (code, _, err) = seam(&["wit", "--out", clash.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("seam.wit is a folder; remove it or choose another folder"),
        "{err}"
    );
    let (code, _, err) = seam(&["wit", "--list", "--version", "0.1.0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--list"), "{err}");
}

/// `seam new`'s bad inputs: a name that is not kebab-case, a folder that exists, an
/// --sdk that is not the SDK. Nothing is written for any of them.
#[test]
fn seam_new_refuses_bad_names_taken_folders_and_wrong_sdks() {
    let dir = crate::pipeline::scratch("cli-new-refusals");
    let parent = dir.to_str().unwrap();
    for name in [
        "Upper",
        "9lives",
        "trailing-",
        "under_score",
        "",
        "a/b",
        "../up",
    ] {
        let (code, _, err) = seam(&["new", "gate", name, "--dir", parent]);
        assert_eq!(code, 2, "{name:?}");
        assert!(
            err.contains(&format!("`{name}` is not a plugin name: use kebab-case")),
            "{name:?}: {err}"
        );
    }
    std::fs::create_dir_all(dir.join("taken")).unwrap();
    let (code, _, err) = seam(&["new", "router", "taken", "--dir", parent]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "seam: error: {} exists; choose another name or folder\n",
            dir.join("taken").display()
        )
    );
    let (code, _, err) = seam(&[
        "new",
        "gate",
        "g",
        "--dir",
        parent,
        "--sdk",
        "/nonexistent/sdk",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("seam: error: --sdk /nonexistent/sdk: no such folder;"),
        "{err}"
    );
    let (code, _, err) = seam(&["new", "gate", "g", "--dir", parent, "--sdk", parent]);
    assert_eq!(code, 2);
    assert!(err.contains("no Cargo.toml there"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["taken"], "nothing written");
}
