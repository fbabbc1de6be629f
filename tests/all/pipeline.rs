//! Pipelines end to end: real subprocess steps, HTTP and OpenAI-compatible steps
//! against local servers, every policy, retries, schema checks, bad step outputs,
//! reviews, resuming after a crash, and concurrent runs sharing one ledger.

use std::path::{Path, PathBuf};

use seam_ledger::{Ledger, SqliteLedger};
use seam_pipeline::{decide_review, Pipeline, RunError, RunOutcome, RunStatus, Runner, Silent};
use serde_json::{json, Value};
use std::time::Duration;

use crate::http::Server;

/// A fresh folder for one test's pipeline, scripts and ledger.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seam-pipeline-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn load(dir: &Path, toml: &str) -> Pipeline {
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, toml).unwrap();
    Pipeline::load(&path, crate::runtime()).unwrap_or_else(|e| panic!("{e}"))
}

fn load_err(dir: &Path, toml: &str) -> String {
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, toml).unwrap();
    match Pipeline::load(&path, crate::runtime()) {
        Ok(_) => panic!("the pipeline should not load"),
        Err(e) => e.to_string().replace(&format!("{}/", dir.display()), ""),
    }
}

pub fn run(p: &Pipeline, ledger: &SqliteLedger, input: Value) -> RunOutcome {
    Runner::new(p, ledger, &Silent).start(input).unwrap()
}

fn resume(p: &Pipeline, ledger: &SqliteLedger, run_id: &str) -> RunOutcome {
    Runner::new(p, ledger, &Silent).resume(run_id).unwrap()
}

fn count(ledger: &SqliteLedger, table: &str) -> i64 {
    ledger
        .counts()
        .unwrap()
        .into_iter()
        .find(|(t, _)| t == table)
        .unwrap()
        .1
}

fn steps_of(ledger: &SqliteLedger, run: &str) -> Vec<(String, u32, String)> {
    ledger
        .step_runs(run)
        .unwrap()
        .into_iter()
        .map(|s| (s.step, s.attempt, s.status))
        .collect()
}

/// A shell step that answers the JSON `answer` (a shell word, quoted for sh -c).
fn echo_step(name: &str, answer: &str) -> String {
    format!("[[steps]]\nname = \"{name}\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", '''cat > /dev/null; printf '%s' '{answer}' ''']\n")
}

/// A writer that answers `bad` on its first attempt and `good` once it gets feedback.
fn learning_step(name: &str, bad: &str, good: &str) -> String {
    std::format!(
        "[[steps]]\nname = \"{name}\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", '''in=$(cat); case \"$in\" in *'\"feedback\":[]'*) printf '%s' '{bad}';; *) printf '%s' '{good}';; esac''']\n"
    )
}

const MAX3: &str =
    "[[seams.gates]]\nname = \"short\"\nplugin = \"max-words\"\nsettings = { max_words = 3 }\n";

#[test]
fn the_headphone_example_retries_with_feedback_and_publishes() {
    let dir = repo_examples();
    let p = Pipeline::load(&dir.join("pipeline.toml"), crate::runtime()).unwrap();
    let scratch = scratch("headphones");
    let ledger = SqliteLedger::open(&scratch.join("ledger.db")).unwrap();
    let input: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("input.json")).unwrap()).unwrap();
    let outcome = run(&p, &ledger, input);
    assert_eq!(outcome.status, RunStatus::Completed, "{outcome:?}");
    assert_eq!(
        outcome.output.unwrap(),
        json!({"published": true, "channel": "demo", "text": "Block the noise, keep the music. These $89 noise-cancelling headphones deliver studio-grade silence and 30-hour battery — built for focus, priced for everyone."})
    );
    let steps = steps_of(&ledger, &outcome.run_id);
    assert_eq!(
        steps,
        [
            ("write".into(), 1, "ok".into()),
            ("write".into(), 2, "ok".into()),
            ("publish".into(), 1, "ok".into())
        ]
    );
    // The retry carried the three gates' findings as feedback.
    let second: Value =
        serde_json::from_str(&ledger.step_runs(&outcome.run_id).unwrap()[1].input).unwrap();
    let codes: Vec<&str> = second["feedback"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["length.words", "contains.missing", "brand-voice.off"]
    );
    assert_eq!(second["feedback"][0]["gate"], "length");
    // Two seams checked with four checks each (the output schema and three gates).
    assert_eq!(count(&ledger, "verdicts"), 8);
    assert_eq!(count(&ledger, "routes"), 3);
}

fn repo_examples() -> PathBuf {
    PathBuf::from(crate::repo("examples/headphones"))
}

#[test]
fn the_openai_example_file_loads() {
    let p = Pipeline::load(
        &repo_examples().join("pipeline-openai.toml"),
        crate::runtime(),
    )
    .unwrap();
    assert_eq!(p.steps[0].adapter.kind(), "openai");
}

#[test]
fn retry_gives_up_after_max_retries_and_rejects() {
    let dir = scratch("retry-limit");
    let toml = format!(
        "[pipeline]\nname = \"t\"\n[defaults]\non_fail = \"retry\"\nmax_retries = 2\n{}[[seams]]\nfrom = \"w\"\n{MAX3}",
        echo_step("w", "\"one two three four\"")
    );
    let p = load(&dir, &toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!(null));
    assert_eq!(o.status, RunStatus::Rejected);
    assert_eq!(
        o.reason.as_deref(),
        Some("`w` failed its seam after 2 retries (max_retries): short failed (length.words: 4 words, at most 3 allowed)")
    );
    assert_eq!(steps_of(&ledger, &o.run_id).len(), 3);
}

#[test]
fn exhausted_retries_can_escalate_instead() {
    let dir = scratch("retry-escalate");
    let toml = format!(
        "[pipeline]\nname = \"t\"\n[defaults]\non_fail = \"retry\"\nmax_retries = 1\nwhen_retries_exhausted = \"escalate\"\n{}{}[[seams]]\nfrom = \"w\"\n{MAX3}",
        echo_step("w", "\"one two three four\""),
        echo_step("ship", "\"fine\"")
    );
    let p = load(&dir, &toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!(null));
    assert_eq!(o.status, RunStatus::Waiting);
    let reviews = ledger.reviews(Some("pending")).unwrap();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].kind, "escalation");
    decide_review(
        &ledger,
        reviews[0].id,
        true,
        "ana",
        Some("long is fine here"),
        None,
    )
    .unwrap();
    let o = resume(&p, &ledger, &o.run_id);
    assert_eq!(o.status, RunStatus::Completed);
    assert_eq!(o.output, Some(json!("fine")));
}

#[test]
fn block_rejects_warn_continues() {
    let dir = scratch("block-warn");
    for (policy, status) in [
        ("block", RunStatus::Rejected),
        ("warn", RunStatus::Completed),
    ] {
        let toml = format!(
            "[pipeline]\nname = \"t\"\n{}[[seams]]\nfrom = \"w\"\n{MAX3}on_fail = \"{policy}\"\n",
            echo_step("w", "\"one two three four\"")
        );
        let p = load(&dir, &toml);
        let ledger = SqliteLedger::open(&dir.join(format!("{policy}.db"))).unwrap();
        let o = run(&p, &ledger, json!(null));
        assert_eq!(o.status, status, "{policy}: {o:?}");
        if policy == "block" {
            assert_eq!(o.reason.as_deref(), Some("blocked at seam w → done: short failed (length.words: 4 words, at most 3 allowed)"));
        } else {
            assert_eq!(o.output, Some(json!("one two three four")));
        }
    }
}

#[test]
fn fix_applies_the_repaired_payload_and_checks_again() {
    let dir = scratch("fix");
    let toml = format!(
        "[pipeline]\nname = \"t\"\n{}{}[[seams]]\nfrom = \"w\"\n[[seams.gates]]\nplugin = \"pii\"\non_fail = \"fix\"\n",
        echo_step("w", "\"mail me at jane@example.com\""),
        echo_step("send", "{\"sent\": true}")
    );
    let p = load(&dir, &toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!(null));
    assert_eq!(o.status, RunStatus::Completed, "{o:?}");
    // The next step received the redacted payload.
    let send: Value = serde_json::from_str(&ledger.step_runs(&o.run_id).unwrap()[1].input).unwrap();
    assert_eq!(send["payload"], "mail me at [EMAIL]");
    assert_eq!(count(&ledger, "handoffs"), 3); // original, fixed, and send's output
}

#[test]
fn route_policy_sends_the_payload_to_another_step() {
    let dir = scratch("route");
    let toml = format!(
        "[pipeline]\nname = \"t\"\n{}{}{}[[seams]]\nfrom = \"w\"\n{MAX3}on_fail = \"route:summarize\"\n",
        echo_step("w", "\"one two three four\""),
        echo_step("publish", "\"published\""),
        echo_step("summarize", "\"short\"")
    );
    let p = load(&dir, &toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!(null));
    let steps: Vec<String> = steps_of(&ledger, &o.run_id)
        .into_iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(steps, ["w", "summarize"]);
    assert_eq!(o.output, Some(json!("short")));
}

#[test]
fn escalate_pauses_and_a_rejection_in_review_ends_the_run() {
    let dir = scratch("escalate");
    let toml = format!(
        "[pipeline]\nname = \"t\"\n{}{}[[seams]]\nfrom = \"w\"\n{MAX3}on_fail = \"escalate\"\n",
        echo_step("w", "\"one two three four\""),
        echo_step("publish", "\"published\"")
    );
    let p = load(&dir, &toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!(null));
    assert_eq!(o.status, RunStatus::Waiting);
    // Still waiting when resumed before anyone decides.
    assert_eq!(resume(&p, &ledger, &o.run_id).status, RunStatus::Waiting);
    let review = &ledger.reviews(Some("pending")).unwrap()[0];
    let findings: Value = serde_json::from_str(&review.findings).unwrap();
    assert_eq!(findings[0]["code"], "length.words");
    decide_review(&ledger, review.id, false, "ana", Some("off-brand"), None).unwrap();
    let o = resume(&p, &ledger, &o.run_id);
    assert_eq!(o.status, RunStatus::Rejected);
    assert_eq!(
        o.reason,
        Some(format!(
            "rejected in review {} by ana: off-brand",
            review.id
        ))
    );
    assert!(
        steps_of(&ledger, &o.run_id).iter().all(|s| s.0 == "w"),
        "publish never ran"
    );
    let again = decide_review(&ledger, review.id, true, "bob", None, None).unwrap_err();
    assert_eq!(
        again.to_string(),
        format!(
            "review {} is rejected, not pending: it was decided already",
            review.id
        )
    );
}

#[test]
fn a_human_step_waits_for_a_person_whose_answer_is_its_output() {
    let dir = scratch("human");
    let toml = format!(
        "[pipeline]\nname = \"t\"\n{}[[steps]]\nname = \"approve\"\nkind = \"human\"\ninstructions = \"Approve the draft or edit it.\"\n{}",
        echo_step("w", "\"draft\""),
        r#"[[steps]]
name = "publish"
kind = "command"
command = ["sh", "-c", "cat"]
"#
    );
    let p = load(&dir, &toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!({"topic": "x"}));
    assert_eq!(
        (o.status, o.reason.as_deref()),
        (RunStatus::Waiting, Some("Approve the draft or edit it."))
    );
    let review = &ledger.reviews(Some("pending")).unwrap()[0];
    assert_eq!(
        (review.kind.as_str(), review.payload.as_str()),
        ("human-step", "\"draft\"")
    );
    decide_review(
        &ledger,
        review.id,
        true,
        "ana",
        None,
        Some(&json!("edited draft")),
    )
    .unwrap();
    let o = resume(&p, &ledger, &o.run_id);
    assert_eq!(o.status, RunStatus::Completed);
    assert_eq!(o.output.unwrap()["payload"], "edited draft");
    let steps: Vec<String> = steps_of(&ledger, &o.run_id)
        .into_iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(steps, ["w", "approve", "publish"]);
}

#[test]
fn output_schema_mismatch_is_a_finding_and_retries() {
    let dir = scratch("schema");
    let toml = format!(
        "[pipeline]\nname = \"t\"\n{}output_schema = {{ type = \"object\", required = [\"title\"] }}\n",
        learning_step("w", "{\"name\": 1}", "{\"title\": \"ok\"}")
    );
    let p = load(&dir, &toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!(null));
    assert_eq!(o.status, RunStatus::Completed, "{o:?}");
    assert_eq!(o.output, Some(json!({"title": "ok"})));
    let retry: Value =
        serde_json::from_str(&ledger.step_runs(&o.run_id).unwrap()[1].input).unwrap();
    assert_eq!(retry["feedback"][0]["gate"], "output_schema");
    assert_eq!(retry["feedback"][0]["code"], "schema.required");
    assert_eq!(retry["attempt"], 2);
}

#[test]
fn a_plugin_error_blocks_by_default_and_passes_with_allow() {
    let dir = scratch("on-error");
    let gate = format!(
        "[[seams.gates]]\nname = \"loop\"\nplugin = \"{}\"\nlimits = {{ deadline_ms = 20 }}\n",
        seam_test_artifacts::INFINITE_LOOP
    );
    for (on_error, status) in [
        ("block", RunStatus::Failed),
        ("allow", RunStatus::Completed),
    ] {
        let toml = format!(
            "[pipeline]\nname = \"t\"\n[defaults]\non_error = \"{on_error}\"\n{}[[seams]]\nfrom = \"w\"\n{gate}",
            echo_step("w", "\"x\"")
        );
        let p = load(&dir, &toml);
        let ledger = SqliteLedger::open(&dir.join(format!("{on_error}.db"))).unwrap();
        let o = run(&p, &ledger, json!(null));
        assert_eq!(o.status, status, "{on_error}: {o:?}");
        if on_error == "block" {
            assert_eq!(
                o.reason.as_deref(),
                Some("gate `loop` (plugin `infinite-loop`) could not answer at seam w → done: timed out: used its 20 ms deadline (time running and waiting); set on_error = \"allow\" to let such handoffs through")
            );
        }
    }
}

#[test]
fn a_router_decides_instead_of_the_policies() {
    let dir = scratch("router");
    let toml = format!(
        "[pipeline]\nname = \"t\"\n{}{}{}[[seams]]\nfrom = \"w\"\nrouter = {{ plugin = \"verdict-router\", settings = {{ rules = [{{ gate = \"short\", outcome = \"failed\", route = \"cheap\" }}] }} }}\n{MAX3}on_fail = \"block\"\n",
        echo_step("w", "\"one two three four\""),
        echo_step("publish", "\"published\""),
        echo_step("cheap", "\"cheap\"")
    );
    let p = load(&dir, &toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!(null));
    let steps: Vec<String> = steps_of(&ledger, &o.run_id)
        .into_iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(steps, ["w", "cheap"], "{o:?}");
    let routes = ledger
        .read("routes", |c| {
            c.query_row(
                "SELECT decided_by, target FROM routes ORDER BY id LIMIT 1",
                [],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
        })
        .unwrap();
    assert_eq!(
        routes,
        ("router:verdict-router".to_string(), "cheap".to_string())
    );
}

#[test]
fn bad_step_outputs_fail_the_run_naming_the_step() {
    let dir = scratch("bad-steps");
    let cases = [
        ("[\"sh\", \"-c\", \"echo boom >&2; exit 3\"]", "", "step `w` failed: it exited with status 3\n  stderr (last lines):\n    boom"),
        ("[\"sh\", \"-c\", \"echo not json\"]", "", "step `w` failed: its output is not JSON (expected ident at line 1 column 2); it began: \"not json\""),
        ("[\"sh\", \"-c\", \"true\"]", "", "step `w` failed: it printed nothing; a command step prints its output as JSON on stdout (or set output = \"text\")"),
        ("[\"sh\", \"-c\", \"sleep 5\"]", "timeout_ms = 100\n", "step `w` failed: it did not finish within 100 ms (timeout_ms) and was killed"),
    ];
    for (i, (command, extra, message)) in cases.iter().enumerate() {
        let toml = format!("[pipeline]\nname = \"t\"\n[[steps]]\nname = \"w\"\nkind = \"command\"\ncommand = {command}\n{extra}");
        let p = load(&dir, &toml);
        let ledger = SqliteLedger::open(&dir.join(format!("{i}.db"))).unwrap();
        let o = run(&p, &ledger, json!(null));
        assert_eq!(o.status, RunStatus::Failed);
        assert_eq!(o.reason.as_deref(), Some(*message));
        assert_eq!(
            steps_of(&ledger, &o.run_id),
            [("w".to_string(), 1, "error".to_string())]
        );
    }
    let toml = "[pipeline]\nname = \"t\"\n[[steps]]\nname = \"w\"\nkind = \"command\"\ncommand = [\"no-such-program-seam\"]\n";
    let p = load(&dir, toml);
    let ledger = SqliteLedger::open(&dir.join("missing.db")).unwrap();
    let o = run(&p, &ledger, json!(null));
    assert!(o
        .reason
        .unwrap()
        .starts_with("step `w` failed: could not start `no-such-program-seam` (in "));
}

#[test]
fn text_output_steps_send_their_stdout_as_a_string() {
    let dir = scratch("text-output");
    let toml = "[pipeline]\nname = \"t\"\n[[steps]]\nname = \"w\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"cat >/dev/null; echo plain words\"]\noutput = \"text\"\n";
    let p = load(&dir, toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    assert_eq!(
        run(&p, &ledger, json!(null)).output,
        Some(json!("plain words"))
    );
}

#[test]
fn an_http_step_posts_the_step_input_and_takes_the_json_answer() {
    let server = Server::start(|_, body| {
        let input: Value = serde_json::from_str(&body).unwrap();
        (
            200,
            json!({"echo": input["input"], "step": input["step"]}).to_string(),
        )
    });
    let dir = scratch("http");
    let toml = format!("[pipeline]\nname = \"t\"\n[[steps]]\nname = \"remote\"\nkind = \"http\"\nurl = \"{}/work\"\n", server.url());
    let p = load(&dir, &toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!({"q": 1}));
    assert_eq!(o.output, Some(json!({"echo": {"q": 1}, "step": "remote"})));
    assert_eq!(server.requests()[0].0, "/work");
}

#[test]
fn an_http_step_that_answers_an_error_status_fails() {
    let server = Server::start(|_, _| (503, "overloaded".into()));
    let dir = scratch("http-error");
    let toml = format!("[pipeline]\nname = \"t\"\n[[steps]]\nname = \"remote\"\nkind = \"http\"\nurl = \"{}/work\"\n", server.url());
    let p = load(&dir, &toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!(null));
    assert_eq!(
        o.reason,
        Some(format!(
            "step `remote` failed: POST {}/work answered 503 Service Unavailable: overloaded",
            server.url()
        ))
    );
}

#[test]
fn an_openai_step_renders_the_prompt_and_feedback_and_retries() {
    // A fake chat-completions server: too long an answer first, a short one after feedback.
    let server = Server::start(|_, body| {
        let req: Value = serde_json::from_str(&body).unwrap();
        let prompt = req["messages"][1]["content"].as_str().unwrap().to_string();
        let answer = if prompt.contains("length.words") {
            "Quiet. $89."
        } else {
            "A very long answer that goes on and on."
        };
        (
            200,
            json!({"choices": [{"message": {"role": "assistant", "content": answer}}]}).to_string(),
        )
    });
    let dir = scratch("openai");
    std::env::set_var("SEAM_TEST_FAKE_KEY", "sk-test");
    let toml = format!(
        "[pipeline]\nname = \"t\"\n[defaults]\non_fail = \"retry\"\n[[steps]]\nname = \"write\"\nkind = \"openai\"\nbase_url = \"{}/v1\"\nmodel = \"tiny\"\napi_key_env = \"SEAM_TEST_FAKE_KEY\"\nsystem = \"Be brief.\"\nprompt = \"Task: {{{{input.task}}}}\\n{{{{feedback}}}}\"\n[[seams]]\nfrom = \"write\"\n{MAX3}",
        server.url()
    );
    let p = load(&dir, &toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!({"task": "describe"}));
    assert_eq!(o.output, Some(json!("Quiet. $89.")), "{o:?}");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].0, "/v1/chat/completions");
    let first: Value = serde_json::from_str(&requests[0].1).unwrap();
    assert_eq!(first["model"], "tiny");
    assert_eq!(
        first["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(first["messages"][1]["content"], "Task: describe\n");
    let second: Value = serde_json::from_str(&requests[1].1).unwrap();
    assert_eq!(
        second["messages"][1]["content"],
        "Task: describe\nYour previous answer was rejected:\n- short (length.words): 9 words, at most 3 allowed"
    );
    assert_eq!(requests[0].2.as_deref(), Some("Bearer sk-test"));
}

#[test]
fn an_openai_step_without_its_api_key_says_which_variable() {
    let dir = scratch("openai-key");
    let toml = "[pipeline]\nname = \"t\"\n[[steps]]\nname = \"write\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\nprompt = \"p\"\napi_key_env = \"SEAM_TEST_UNSET_KEY\"\n";
    let p = load(&dir, toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!(null));
    assert_eq!(
        o.reason.as_deref(),
        Some("step `write` failed: the environment variable SEAM_TEST_UNSET_KEY (named by `api_key_env`) is not set; export it with the API key")
    );
}

#[test]
fn concurrent_runs_share_one_ledger_and_lose_nothing() {
    let dir = scratch("concurrent");
    let toml = format!(
        "[pipeline]\nname = \"t\"\n{}{}[[seams]]\nfrom = \"a\"\n{MAX3}[[seams.gates]]\nplugin = \"pii\"\n",
        echo_step("a", "\"fine\""),
        echo_step("b", "\"done\"")
    );
    let p = load(&dir, &toml);
    let path = dir.join("l.db");
    // Two connections to one file, each running 20 runs from 4 threads.
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (p, path) = (&p, &path);
            s.spawn(move || {
                let ledger = SqliteLedger::open(path).unwrap();
                let runner = Runner::new(p, &ledger, &Silent);
                std::thread::scope(|s| {
                    for t in 0..4 {
                        let runner = &runner;
                        s.spawn(move || {
                            for i in 0..5 {
                                let o = runner.start(json!({"thread": t, "i": i})).unwrap();
                                assert_eq!(o.status, RunStatus::Completed);
                            }
                        });
                    }
                });
            });
        }
    });
    let ledger = SqliteLedger::open(&path).unwrap();
    let counts: Vec<(String, i64)> = ledger.counts().unwrap();
    // 40 runs × 2 steps; 2 handoffs each; 2 verdicts on the first; 2 routes.
    assert_eq!(
        counts,
        [
            ("runs", 40),
            ("step_runs", 80),
            ("handoffs", 80),
            ("verdicts", 80),
            ("routes", 80),
            ("reviews", 0)
        ]
        .map(|(t, n)| (t.to_string(), n))
    );
}

#[test]
fn a_run_killed_mid_step_resumes_without_repeating_finished_steps() {
    let dir = scratch("killed");
    let marker = dir.join("second-started");
    let toml = format!(
        "[pipeline]\nname = \"t\"\n{}[[steps]]\nname = \"slow\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", '''cat >/dev/null; if [ -e resumed ]; then echo '\"ok\"'; else touch second-started; sleep 30; fi''']\n",
        echo_step("first", "\"one\"")
    );
    std::fs::write(dir.join("pipeline.toml"), &toml).unwrap();
    // Run the pipeline in a child process (this test binary, in helper mode), kill -9 it
    // while the second step runs, then resume here.
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "pipeline::helper_run_pipeline",
            "--ignored",
            "--nocapture",
        ])
        .env("SEAM_HELPER_PIPELINE", dir.join("pipeline.toml"))
        .env("SEAM_HELPER_LEDGER", dir.join("l.db"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let waited = std::time::Instant::now();
    while !marker.exists() {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(60),
            "the child never reached the second step"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let run_id = ledger.runs(None).unwrap()[0].id.clone();
    assert_eq!(ledger.run(&run_id).unwrap().status, "running");
    assert_eq!(
        steps_of(&ledger, &run_id),
        [("first".to_string(), 1, "ok".to_string())]
    );
    std::fs::write(dir.join("resumed"), "").unwrap();
    let p = Pipeline::load(&dir.join("pipeline.toml"), crate::runtime()).unwrap();
    // The dead worker's claim holds until its lease lapses: nothing runs before that.
    let err = Runner::new(&p, &ledger, &Silent)
        .resume(&run_id)
        .unwrap_err();
    assert!(
        matches!(&err, RunError::Claimed { run, .. } if *run == run_id),
        "{err}"
    );
    assert_eq!(steps_of(&ledger, &run_id).len(), 1);
    // Then the run is taken over and resumed exactly after its last record.
    let o = loop {
        match Runner::new(&p, &ledger, &Silent).resume(&run_id) {
            Err(RunError::Claimed { .. }) => std::thread::sleep(Duration::from_millis(50)),
            other => break other.unwrap(),
        }
    };
    assert_eq!(o.status, RunStatus::Completed);
    assert_eq!(o.output, Some(json!("ok")));
    let steps: Vec<String> = steps_of(&ledger, &run_id)
        .into_iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(
        steps,
        ["first", "slow"],
        "the finished first step was not run again"
    );
}

/// Not a test by itself: the child process of the test above.
#[test]
#[ignore = "helper process for a_run_killed_mid_step_resumes_without_repeating_finished_steps"]
fn helper_run_pipeline() {
    let (Ok(pipeline), Ok(ledger)) = (
        std::env::var("SEAM_HELPER_PIPELINE"),
        std::env::var("SEAM_HELPER_LEDGER"),
    ) else {
        return;
    };
    let p = Pipeline::load(Path::new(&pipeline), crate::runtime()).unwrap();
    let ledger = SqliteLedger::open(Path::new(&ledger)).unwrap();
    // A short lease, so the test takes the run over soon after the kill.
    Runner::new(&p, &ledger, &Silent)
        .with_lease(Duration::from_millis(700))
        .start(json!(null))
        .unwrap();
}

#[test]
fn a_finished_run_cannot_be_resumed() {
    let dir = scratch("finished");
    let p = load(
        &dir,
        &format!("[pipeline]\nname = \"t\"\n{}", echo_step("w", "1")),
    );
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!(null));
    let err = Runner::new(&p, &ledger, &Silent)
        .resume(&o.run_id)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("run `{}` has completed and cannot be resumed", o.run_id)
    );
}

#[test]
fn a_routing_loop_is_stopped_by_max_step_runs() {
    let dir = scratch("loop");
    let toml = format!(
        "[pipeline]\nname = \"t\"\n[defaults]\nmax_step_runs = 5\n{}[[seams]]\nfrom = \"w\"\n{MAX3}on_fail = \"route:w\"\n",
        echo_step("w", "\"one two three four\"")
    );
    let p = load(&dir, &toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!(null));
    assert_eq!(o.status, RunStatus::Failed);
    assert_eq!(o.reason.as_deref(), Some("the run has executed 5 steps, the most allowed (max_step_runs); check the routes for a loop"));
}

#[test]
fn pipeline_file_errors_name_file_line_and_column() {
    let dir = scratch("errors");
    let step = echo_step("w", "1");
    let cases: Vec<(String, &str)> = vec![
        ("[pipeline]\nname = \"t\"\ncolour = \"red\"\n".into(), "pipeline.toml:3:1: unknown field `colour`, expected one of `name`, `description`, `ledger`"),
        ("[pipeline\nname = \"t\"\n".into(), "pipeline.toml:1:10: unclosed table, expected `]`"),
        ("[pipeline]\nname = \"t\"\n".into(), "pipeline.toml:2:8: the pipeline has no steps; add at least one [[steps]]"),
        (format!("[pipeline]\nname = \"t\"\n{step}[[seams]]\nfrom = \"nope\"\n"), "pipeline.toml:8:8: seam from `nope`, which is not a step (steps: w)"),
        (format!("[pipeline]\nname = \"t\"\n{step}[[seams]]\nfrom = \"w\"\n{MAX3}on_fail = \"retry-later\"\n"), "pipeline.toml:13:11: unknown policy `retry-later`; use retry, fix, escalate, block, warn or route:<step>"),
        (format!("[pipeline]\nname = \"t\"\n{step}[[seams]]\nfrom = \"w\"\n{MAX3}on_fail = \"route:elsewhere\"\n"), "pipeline.toml:13:11: `route:elsewhere` routes to `elsewhere`, which is not a step of this pipeline (steps: w)"),
        (format!("[pipeline]\nname = \"t\"\n{step}[[seams]]\nfrom = \"w\"\n[[seams.gates]]\nplugin = \"max-words\"\nsettings = {{ max_words = \"forty\" }}\n"), "pipeline.toml:10:10: settings for plugin `max-words` are invalid:\n  - at `/max_words`: \"forty\" is not of types \"null\", \"integer\""),
        ("[pipeline]\nname = \"t\"\n[[steps]]\nname = \"w\"\nkind = \"command\"\ncommand = [\"x\"]\nurl = \"http://x\"\n".into(), "pipeline.toml:7:7: `url` does not apply to a command step (step `w`)"),
        ("[pipeline]\nname = \"t\"\n[[steps]]\nname = \"w\"\nkind = \"shell\"\n".into(), "pipeline.toml:5:8: unknown step kind `shell`; use command, http, openai or human"),
        (format!("[pipeline]\nname = \"t\"\n{step}{step}"), "pipeline.toml:8:8: a step named `w` is already defined"),
        ("[pipeline]\nname = \"t\"\n[[steps]]\nname = \"w\"\nkind = \"human\"\nenv = { A = \"1\" }\n".into(), "pipeline.toml:5:8: `env` does not apply to a human step (step `w`)"),
        ("[pipeline]\nname = \"t\"\n[[steps]]\nname = \"w\"\nkind = \"http\"\n".into(), "pipeline.toml:5:8: a http step needs `url` (step `w`)"),
        (format!("[pipeline]\nname = \"t\"\n{step}[[seams]]\nfrom = \"w\"\n[[seams.gates]]\nplugin = \"verdict-router\"\n"), "pipeline.toml:10:10: plugin `verdict-router` is a router, not a gate; use it where a router is expected"),
    ];
    for (toml, expected) in cases {
        assert_eq!(load_err(&dir, &toml), expected, "for:\n{toml}");
    }
}

#[test]
fn a_ledger_write_that_fails_stops_the_run_with_an_error() {
    let dir = scratch("ledger-fails");
    let p = load(
        &dir,
        &format!(
            "[pipeline]\nname = \"t\"\n{}[[seams]]\nfrom = \"w\"\n{MAX3}",
            echo_step("w", "\"ok\"")
        ),
    );
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    ledger
        .write("sabotage", |t| t.execute_batch("DROP TABLE verdicts"))
        .unwrap();
    let err = Runner::new(&p, &ledger, &Silent)
        .start(json!(null))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "writing a seam's verdicts and decision to the ledger {} failed; the run stops here",
            dir.join("l.db").display()
        )
    );
    // The step before it was recorded, and the run is left resumable at its seam.
    let run = &ledger.runs(None).unwrap()[0];
    assert_eq!(
        (
            run.status.as_str(),
            ledger.step_runs(&run.id).unwrap().len()
        ),
        ("running", 1)
    );
}

#[test]
fn a_step_timeout_kills_what_the_step_started_too() {
    let dir = scratch("grandchild");
    // The shell does not exec: `sleep` is its child, and holds stdout open. Its pid is
    // written beside the pipeline, so the test can see that it was killed.
    let toml = "[pipeline]\nname = \"t\"\n[[steps]]\nname = \"w\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"sleep 30 & echo $! > sleeper.pid; wait; echo 1\"]\ntimeout_ms = 200\n";
    let p = load(&dir, toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!(null));
    assert_eq!(
        o.reason.as_deref(),
        Some("step `w` failed: it did not finish within 200 ms (timeout_ms) and was killed")
    );
    let pid = std::fs::read_to_string(dir.join("sleeper.pid")).unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    // Gone, or a zombie waiting to be reaped: either way no longer running.
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next());
    assert!(
        matches!(state, None | Some("Z") | Some("X")),
        "the step's child {} is still alive: {stat}",
        pid.trim()
    );
}

#[test]
fn defaults_max_retries_applies_to_a_step_without_a_seam() {
    let dir = scratch("default-retries");
    let toml = format!(
        "[pipeline]\nname = \"t\"\n[defaults]\nmax_retries = 0\n{}output_schema = {{ type = \"object\" }}\n",
        echo_step("w", "\"text\"")
    );
    let p = load(&dir, &toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!(null));
    assert_eq!(o.status, RunStatus::Rejected);
    assert_eq!(steps_of(&ledger, &o.run_id).len(), 1);
}

#[test]
fn on_invalid_fix_is_refused_at_load() {
    let dir = scratch("invalid-fix");
    let toml = format!(
        "[pipeline]\nname = \"t\"\n{}on_invalid = \"fix\"\n",
        echo_step("w", "1")
    );
    assert!(
        load_err(&dir, &toml).starts_with("pipeline.toml:7:14: on_invalid cannot be `fix`"),
        "{}",
        load_err(&dir, &toml)
    );
}

#[test]
fn resuming_with_a_file_that_lost_the_step_refuses() {
    let dir = scratch("renamed");
    let toml = format!(
        "[pipeline]\nname = \"t\"\n{}{}[[seams]]\nfrom = \"w\"\n{MAX3}on_fail = \"escalate\"\n",
        echo_step("w", "\"one two three four\""),
        echo_step("ship", "1")
    );
    let p = load(&dir, &toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!(null));
    let review = ledger.reviews(Some("pending")).unwrap()[0].id;
    decide_review(&ledger, review, true, "ana", None, None).unwrap();
    let renamed = load(&dir, &toml.replace("\"w\"", "\"draft\""));
    let err = Runner::new(&renamed, &ledger, &Silent)
        .resume(&o.run_id)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("run `{}` cannot continue with this pipeline file: its review is about step `w`, which this file does not have", o.run_id)
    );
}

#[test]
fn two_resumes_of_one_run_record_it_once() {
    let dir = scratch("double-resume");
    let toml = format!(
        "[pipeline]\nname = \"t\"\n{}[[steps]]\nname = \"ship\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"cat >/dev/null; sleep 0.5; echo 1\"]\n[[seams]]\nfrom = \"w\"\n{MAX3}on_fail = \"escalate\"\n",
        echo_step("w", "\"one two three four\"")
    );
    let p = load(&dir, &toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!(null));
    let review = ledger.reviews(Some("pending")).unwrap()[0].id;
    decide_review(&ledger, review, true, "ana", None, None).unwrap();
    let results: Vec<Result<RunOutcome, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (p, path, id) = (&p, dir.join("l.db"), o.run_id.clone());
                s.spawn(move || {
                    let ledger = SqliteLedger::open(&path).unwrap();
                    Runner::new(p, &ledger, &Silent)
                        .resume(&id)
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let completed = results
        .iter()
        .filter(|r| matches!(r, Ok(o) if o.status == RunStatus::Completed))
        .count();
    assert_eq!(completed, 1, "{results:?}");
    let steps: Vec<String> = steps_of(&ledger, &o.run_id)
        .into_iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(steps, ["w", "ship"], "{results:?}");
    assert_eq!(ledger.run(&o.run_id).unwrap().status, "completed");
}

#[test]
fn prompt_template_mistakes_are_load_errors_at_their_place() {
    let dir = scratch("templates");
    let step = |field: &str, value: &str| {
        format!(
            "[pipeline]\nname = \"t\"\n[[steps]]\nname = \"write\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n{field} = {value}\n{}",
            if field == "prompt" { "" } else { "prompt = \"p\"\n" }
        )
    };
    let cases = [
        (
            step("prompt", "\"Task: {{inptu.task}}\""),
            "pipeline.toml:8:17: step `write`: `prompt`: unknown placeholder `{{inptu.task}}`; a prompt may use {{input}}, {{input.KEY}}, {{payload}}, {{feedback}}, {{attempt}}, {{step}} (write `\\{{` for a literal `{{`)",
        ),
        (
            step("prompt", "\"Task: {{input.task\""),
            "pipeline.toml:8:17: step `write`: `prompt`: `{{` is never closed with `}}` (write `\\{{` for a literal `{{`)",
        ),
        (
            step("prompt", "\"{{}}\""),
            "pipeline.toml:8:11: step `write`: `prompt`: unknown placeholder `{{}}`; a prompt may use {{input}}, {{input.KEY}}, {{payload}}, {{feedback}}, {{attempt}}, {{step}} (write `\\{{` for a literal `{{`)",
        ),
        (
            step("prompt", "\"{{input.}}\""),
            "pipeline.toml:8:11: step `write`: `prompt`: unknown placeholder `{{input.}}`; a prompt may use {{input}}, {{input.KEY}}, {{payload}}, {{feedback}}, {{attempt}}, {{step}} (write `\\{{` for a literal `{{`)",
        ),
        (
            step("prompt", "'''\nline one\n  then {{ feedbak }}\n'''"),
            "pipeline.toml:10:8: step `write`: `prompt`: unknown placeholder `{{feedbak}}`; a prompt may use {{input}}, {{input.KEY}}, {{payload}}, {{feedback}}, {{attempt}}, {{step}} (write `\\{{` for a literal `{{`)",
        ),
        (
            step("system", "\"Be {{brief}}.\""),
            "pipeline.toml:8:14: step `write`: `system`: unknown placeholder `{{brief}}`; a prompt may use {{input}}, {{input.KEY}}, {{payload}}, {{feedback}}, {{attempt}}, {{step}} (write `\\{{` for a literal `{{`)",
        ),
    ];
    for (toml, expected) in cases {
        assert_eq!(load_err(&dir, &toml), expected, "for:\n{toml}");
    }
}

#[test]
fn a_prompt_naming_an_input_the_run_lacks_fails_the_step_saying_which() {
    let dir = scratch("template-missing-input");
    let toml = "[pipeline]\nname = \"t\"\n[[steps]]\nname = \"write\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\nprompt = \"Task: {{input.task}}\"\n";
    let p = load(&dir, toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!({"topic": "headphones"}));
    assert_eq!(o.status, RunStatus::Failed);
    assert_eq!(
        o.reason.as_deref(),
        Some("step `write` failed: prompt: the prompt uses `{{input.task}}`, but the run's input has no `task` (input: {\"topic\":\"headphones\"})")
    );
}

#[test]
fn a_backslash_writes_a_literal_double_brace_in_a_prompt() {
    let server = Server::start(|_, _| {
        (
            200,
            json!({"choices": [{"message": {"role": "assistant", "content": "ok"}}]}).to_string(),
        )
    });
    let dir = scratch("template-literal");
    let toml = format!(
        "[pipeline]\nname = \"t\"\n[[steps]]\nname = \"write\"\nkind = \"openai\"\nbase_url = \"{}/v1\"\nmodel = \"m\"\nprompt = '''Fill \\{{{{name}}}} with {{{{input.name}}}}'''\n",
        server.url()
    );
    let p = load(&dir, &toml);
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = run(&p, &ledger, json!({"name": "Ana"}));
    assert_eq!(o.status, RunStatus::Completed, "{o:?}");
    let request: Value = serde_json::from_str(&server.requests()[0].1).unwrap();
    assert_eq!(request["messages"][0]["content"], "Fill {{name}} with Ana");
}
