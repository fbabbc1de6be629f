//! `seam serve` end to end: the server on an ephemeral port, real HTTP requests, every
//! endpoint and error status with its JSON body, auth, load shedding, graceful
//! shutdown, metrics after known traffic, the configuration's errors at their place,
//! and the `seam serve` process stopped by SIGTERM.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use seam_server::{Config, Drained, Server};
use seam_test_artifacts as fixtures;
use serde_json::{json, Value};

use crate::pipeline::scratch;

/// A server running on its own threads until stopped (or dropped).
struct Running {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Drained>>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Asks it to shut down; returns how the drain went.
    fn stop(mut self) -> Drained {
        let _ = self.stop.take().unwrap().send(());
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writes `toml` (on an ephemeral port unless it says `listen`) and loads it.
fn config(name: &str, toml: &str) -> Result<Config, String> {
    let dir = scratch(&format!("server-{name}"));
    let text = if toml.contains("listen") {
        toml.to_string()
    } else {
        format!("listen = \"127.0.0.1:0\"\n{toml}")
    };
    let path = dir.join("seam-server.toml");
    std::fs::write(&path, &text).unwrap();
    Config::load(&path, crate::runtime()).map_err(|e| e.to_string())
}

fn start(name: &str, toml: &str) -> Running {
    let config = config(name, toml).unwrap_or_else(|e| panic!("{e}"));
    start_config(config)
}

fn start_config(config: Config) -> Running {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = Server::bind(config, crate::runtime().clone())
                .await
                .unwrap();
            addr_tx.send(server.local_addr()).unwrap();
            server
                .run(async move {
                    let _ = stop_rx.await;
                })
                .await
        })
    });
    let addr = addr_rx.recv().unwrap();
    Running {
        base: format!("http://{addr}"),
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// The status, the `Retry-After` and `WWW-Authenticate` headers, and the body as JSON
/// (or as a string when it is not JSON).
struct Answer {
    status: u16,
    retry_after: Option<String>,
    authenticate: Option<String>,
    body: Value,
}

/// The answer to `method path`, which must be what the OpenAPI document says that
/// endpoint answers with at that status.
fn answer(
    method: &str,
    path: &str,
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Answer {
    let mut response = result.expect("an answer");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let retry_after = header("retry-after");
    let authenticate = header("www-authenticate");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    conforms(method, path, status, &body);
    Answer {
        status,
        retry_after,
        authenticate,
        body,
    }
}

fn post(server: &Running, path: &str, body: &str) -> Answer {
    post_as(server, path, body, None)
}

fn post_as(server: &Running, path: &str, body: &str, token: Option<&str>) -> Answer {
    let mut request = agent()
        .post(server.url(path))
        .header("content-type", "application/json");
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    answer("post", path, request.send(body))
}

fn get_as(server: &Running, path: &str, token: Option<&str>) -> Answer {
    let mut request = agent().get(server.url(path));
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    answer("get", path, request.call())
}

static OPENAPI: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(seam_server::openapi::document);

/// Whether the concrete `path` fits the document's `template` (`/v1/runs/{id}`).
fn fits(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()))
}

/// Checks a JSON answer against the OpenAPI document: the schema of the endpoint's
/// answer at `status` (or its `default`, the error body); an unknown endpoint answers
/// with the error body too. Panics naming what does not fit.
fn conforms(method: &str, path: &str, status: u16, body: &Value) {
    let doc = &*OPENAPI;
    let path = path.split('?').next().unwrap();
    let error = json!({"$ref": "#/components/schemas/ErrorBody"});
    let operation = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(template, _)| fits(template, path))
        .and_then(|(_, item)| item.get(method));
    let schema = match operation {
        None => error,
        Some(op) => {
            let responses = &op["responses"];
            let response = responses
                .get(status.to_string())
                .unwrap_or(&responses["default"]);
            match response["content"].get("application/json") {
                Some(c) => c["schema"].clone(),
                // HTML and metrics text: nothing to check against.
                None => return,
            }
        }
    };
    if body.is_string() && operation.is_some() && status < 300 {
        // A non-JSON answer (the report's HTML page) to an endpoint that also has JSON.
        return;
    }
    let Some(schema) = schema.as_object() else {
        // `true`: any JSON (the OpenAPI document itself).
        return;
    };
    let mut root = json!({"components": doc["components"]});
    for (k, v) in schema {
        root[k] = v.clone();
    }
    let validator = jsonschema::validator_for(&root).unwrap_or_else(|e| {
        panic!("the schema for {method} {path} {status} does not compile: {e}")
    });
    let problems: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("at `{}`: {e}", e.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "{} {path} answered {status} with a body the OpenAPI document does not describe:\n{}\nbody: {body}",
        method.to_uppercase(),
        problems.join("\n")
    );
}

fn error(a: &Answer) -> (u16, &str, &str) {
    let e = &a.body["error"];
    assert_eq!(
        e["status"], a.status,
        "the body repeats the status: {}",
        a.body
    );
    (
        a.status,
        e["code"].as_str().unwrap_or("?"),
        e["message"].as_str().unwrap_or("?"),
    )
}

const REPLY: &str = r#"
[seams.reply]
on_fail = "retry"
max_retries = 2

[[seams.reply.gates]]
plugin = "max-words"
settings = { max_words = 5 }

[[seams.reply.gates]]
name = "no-refunds"
plugin = "ban-list"
settings = { words = ["refund"] }
on_fail = "block"

[seams.redact]
on_fail = "fix"
max_fixes = 1
[[seams.redact.gates]]
plugin = "pii"
settings = { kinds = ["email"] }

[seams.review]
on_fail = "escalate"
[[seams.review.gates]]
plugin = "contains"
settings = { required = ["$89"] }

[seams.triage]
routes = ["research"]
[[seams.triage.gates]]
plugin = "contains"
settings = { required = ["source:"] }
[seams.triage.router]
plugin = "verdict-router"
settings = { rules = [{ outcome = "failed", route = "research" }] }
"#;

#[test]
fn the_committed_example_configuration_loads() {
    let path = PathBuf::from(crate::repo("examples/server/seam-server.toml"));
    let config = Config::load(&path, crate::runtime()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.listen.to_string(), "127.0.0.1:7878");
    let seams: Vec<(&str, usize)> = config
        .seams
        .iter()
        .map(|s| (s.name.as_str(), s.gates.len()))
        .collect();
    assert_eq!(seams, [("reply", 3), ("tool-args", 1)]);
    assert_eq!(config.limits.concurrency, 64);
    assert_eq!(config.limits.queue, 1024);
}

#[test]
fn the_openapi_document_is_served_and_every_route_in_it_is_answered() {
    let server = start("openapi", REPLY);
    let a = get_as(&server, "/v1/openapi.json", None);
    assert_eq!(a.status, 200);
    assert_eq!(a.body, *OPENAPI, "the served document is the generated one");
    assert_eq!(a.body["openapi"], "3.1.0");
    let paths = a.body["paths"].as_object().unwrap();
    let mut routes = 0;
    for (template, item) in paths {
        for method in item.as_object().unwrap().keys() {
            routes += 1;
            let path = template
                .replace("{name}", "reply")
                .replace("{id}", "1")
                .replace("{decision}", "accept");
            let a = match method.as_str() {
                "get" => get_as(&server, &path, None),
                "post" => post(&server, &path, "{}"),
                other => panic!("{other} {template}: the server answers GET and POST only"),
            };
            let message = a.body["error"]["message"].as_str().unwrap_or("");
            assert!(
                a.status != 405 && !message.starts_with("no endpoint"),
                "{method} {path} is in the document but not served: {}",
                a.body
            );
        }
    }
    assert_eq!(routes, 18, "every route: {:?}", paths.keys());
    // The check of answers against the document can fail.
    for (status, body) in [
        (200, json!({"passed": "yes", "gates": []})),
        (200, json!({"passed": true, "gates": [{"gate": "x"}]})),
        (
            422,
            json!({"error": {"status": 422, "code": "invalid_request"}}),
        ),
    ] {
        let misfit = std::panic::catch_unwind(|| conforms("post", "/v1/check", status, &body));
        assert!(misfit.is_err(), "{body} should not fit");
    }
    // A route's other method is refused naming the one to use.
    let a = get_as(&server, "/v1/seams/reply/check", None);
    assert_eq!(
        error(&a),
        (
            405,
            "method_not_allowed",
            "GET is not allowed on /v1/seams/reply/check; use POST"
        )
    );
}

#[test]
fn a_seam_decides_next_retry_with_feedback_reject_fix_human_and_route() {
    let server = start("decisions", REPLY);
    let a = post(
        &server,
        "/v1/seams/reply/check",
        r#"{"payload": "Thanks, on its way."}"#,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["seam"], "reply");
    assert_eq!(a.body["passed"], true);
    assert_eq!(a.body["decision"]["action"], "next");
    assert_eq!(a.body["decision"]["decided_by"], "policy");
    let gates: Vec<&str> = a.body["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["gate"].as_str().unwrap())
        .collect();
    assert_eq!(gates, ["max-words", "no-refunds"]);
    assert_eq!(a.body["gates"][1]["policy"], "block");
    assert_eq!(a.body["gates"][0]["passed"], true);

    // Too long: retried with the findings as text for the upstream step.
    let long = r#"{"payload": "This answer has far too many words in it", "attempt": 1}"#;
    let a = post(&server, "/v1/seams/reply/check", long);
    assert_eq!(a.body["decision"]["action"], "retry", "{}", a.body);
    assert_eq!(
        a.body["decision"]["feedback"],
        "Your previous answer was rejected:\n- max-words (length.words): 9 words, at most 5 allowed"
    );
    assert_eq!(a.body["decision"]["findings"][0]["gate"], "max-words");
    // The third attempt has used up both retries.
    let a = post(
        &server,
        "/v1/seams/reply/check",
        r#"{"payload": "This answer has far too many words in it", "attempt": 3}"#,
    );
    assert_eq!(a.body["decision"]["action"], "reject");
    assert!(
        a.body["decision"]["reason"]
            .as_str()
            .unwrap()
            .contains("after 2 retries (max_retries)"),
        "{}",
        a.body
    );
    // A banned word blocks, whatever the attempt.
    let a = post(
        &server,
        "/v1/seams/reply/check",
        r#"{"payload": "No refund."}"#,
    );
    assert_eq!(a.body["decision"]["action"], "reject");
    assert_eq!(a.body["passed"], false);

    // A fix carries the repaired payload as JSON, not as a string holding JSON.
    let a = post(
        &server,
        "/v1/seams/redact/check",
        r#"{"payload": {"text": "mail ana@example.com"}}"#,
    );
    assert_eq!(a.body["decision"]["action"], "fix", "{}", a.body);
    assert_eq!(a.body["decision"]["gate"], "pii");
    assert_eq!(
        a.body["decision"]["payload"],
        json!({"text": "mail [EMAIL]"})
    );
    // max_fixes = 1: once fixed, a still-failing handoff is rejected.
    let a = post(
        &server,
        "/v1/seams/redact/check",
        r#"{"payload": "ana@example.com", "fixes": 1}"#,
    );
    assert_eq!(a.body["decision"]["action"], "reject");

    let a = post(&server, "/v1/seams/review/check", r#"{"payload": "cheap"}"#);
    assert_eq!(a.body["decision"]["action"], "human", "{}", a.body);
    assert_eq!(a.body["decision"]["findings"][0]["gate"], "contains");

    let a = post(
        &server,
        "/v1/seams/triage/check",
        r#"{"payload": "no source"}"#,
    );
    assert_eq!(a.body["decision"]["action"], "route", "{}", a.body);
    assert_eq!(a.body["decision"]["target"], "research");
    assert_eq!(a.body["decision"]["decided_by"], "router:verdict-router");
    assert_eq!(a.body["route"]["router"], "verdict-router");
    assert_eq!(a.body["route"]["target"], "research");
    let a = post(
        &server,
        "/v1/seams/triage/check",
        r#"{"payload": "source: x"}"#,
    );
    assert_eq!(a.body["decision"]["action"], "next", "{}", a.body);
}

#[test]
fn ad_hoc_checks_answer_as_seam_check_json_does() {
    let server = start("ad-hoc", REPLY);
    let body = r#"{"gates": [{"gate": "max-words", "settings": {"max_words": 2}}, {"gate": "contains", "settings": {"required": ["b"]}}],
                   "payload": "a b c"}"#;
    let a = post(&server, "/v1/check", body);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["passed"], false);
    assert_eq!(a.body["gates"][0]["gate"], "max-words");
    assert_eq!(a.body["gates"][0]["passed"], false);
    assert_eq!(a.body["gates"][1]["passed"], true);

    // The same document as `seam check --format json`, durations aside.
    let dir = scratch("server-ad-hoc-cli");
    std::fs::write(dir.join("p.json"), "\"a b c\"").unwrap();
    let (_, out, err) = crate::seam(&[
        "check",
        "--gate",
        "max-words",
        "--settings",
        r#"{"max_words": 2}"#,
        "--gate",
        "contains",
        "--settings",
        r#"{"required": ["b"]}"#,
        "--payload",
        dir.join("p.json").to_str().unwrap(),
        "--format",
        "json",
    ]);
    let mut cli: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}"));
    let mut served = a.body.clone();
    for doc in [&mut cli, &mut served] {
        for g in doc["gates"].as_array_mut().unwrap() {
            g["duration"] = json!(0);
        }
    }
    assert_eq!(served, cli);

    // Only standard gates and bundle plugins: never a file, whatever the name.
    for (gate, expected) in [
        (
            "max-word",
            "unknown gate `max-word`: did you mean `max-words`?",
        ),
        ("/etc/passwd", "unknown gate `/etc/passwd`"),
        ("../../x.wasm", "unknown gate `../../x.wasm`"),
        (fixtures::SAYS_ANYTHING, "never files"),
        ("nobundle/gate", "gate `nobundle/gate`: "),
    ] {
        let body = json!({"gates": [{"gate": gate}], "payload": 1}).to_string();
        let a = post(&server, "/v1/check", &body);
        let (status, code, message) = error(&a);
        assert_eq!(
            (status, code),
            (422, "invalid_request"),
            "{gate}: {}",
            a.body
        );
        assert!(message.contains(expected), "{gate}: {message}");
    }
    // Settings the gate's schema refuses name the gate.
    let a = post(
        &server,
        "/v1/check",
        r#"{"gates": [{"gate": "max-words", "settings": {"max_words": "ten"}}], "payload": 1}"#,
    );
    let (status, _, message) = error(&a);
    assert_eq!(status, 422);
    assert!(message.starts_with("gate `max-words`: "), "{message}");
    for body in [
        r#"{"gates": [], "payload": 1}"#,
        r#"{"payload": 1}"#,
        r#"{"gates": [{"gate": "pii"}]}"#,
    ] {
        let a = post(&server, "/v1/check", body);
        assert_eq!(error(&a).0, 422, "{body}: {}", a.body);
    }
}

#[test]
fn a_batch_answers_every_item_and_a_bad_one_fails_alone() {
    let server = start("batch", REPLY);
    let body = r#"{"items": [
        {"payload": "fine"},
        17,
        {"payload": "no refund"},
        {"attempt": 2},
        {"payload": "x", "attempt": 0},
        {"payload": "x", "colour": "red"}
    ]}"#;
    let a = post(&server, "/v1/seams/reply/batch", body);
    assert_eq!(a.status, 200, "{}", a.body);
    let results = a.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    assert_eq!(results[0]["decision"]["action"], "next");
    assert_eq!(
        results[1]["error"]["message"],
        "item 1: the handoff must be a JSON object"
    );
    assert_eq!(results[2]["decision"]["action"], "reject");
    assert_eq!(
        results[3]["error"]["message"],
        "item 3: the handoff: missing field `payload`"
    );
    assert!(results[4]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`attempt` counts from 1"));
    assert!(results[5]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("unknown field `colour`"));
    for bad in [r#"{"items": []}"#, r#"{"items": 3}"#, r#"{}"#] {
        let a = post(&server, "/v1/seams/reply/batch", bad);
        assert_eq!(error(&a).0, 422, "{bad}: {}", a.body);
    }
    let many = json!({"items": vec![json!({"payload": "x"}); 1001]}).to_string();
    let a = post(&server, "/v1/seams/reply/batch", &many);
    let (status, _, message) = error(&a);
    assert_eq!(status, 422);
    assert!(
        message.contains("1 to 1000 handoffs ([limits] max_batch), it holds 1001"),
        "{message}"
    );
}

#[test]
fn every_error_is_json_with_its_status() {
    let server = start("errors", &format!("{REPLY}\n[limits]\nmax_body_kib = 1\n"));
    let cases: Vec<(&str, &str, String, u16, &str, &str)> = vec![
        (
            "POST",
            "/v1/seams/nope/check",
            "{}".into(),
            404,
            "unknown_seam",
            "no seam `nope` in ",
        ),
        (
            "POST",
            "/v1/seams/reply-/check",
            "{}".into(),
            404,
            "unknown_seam",
            "did you mean `reply`?",
        ),
        (
            "POST",
            "/v1/seams/reply/check",
            "{bad".into(),
            400,
            "bad_json",
            "the request body is not JSON: key must be a string at line 1 column 2",
        ),
        (
            "POST",
            "/v1/seams/reply/check",
            "".into(),
            400,
            "bad_json",
            "the request body is empty",
        ),
        (
            "POST",
            "/v1/seams/reply/check",
            "[1]".into(),
            422,
            "invalid_request",
            "the request body must be a JSON object",
        ),
        (
            "POST",
            "/v1/seams/reply/check",
            r#"{"context": 1}"#.into(),
            422,
            "invalid_request",
            "missing field `payload`",
        ),
        (
            "POST",
            "/v1/seams/reply/check",
            r#"{"payload": 1, "attempt": -1}"#.into(),
            422,
            "invalid_request",
            "invalid value: integer `-1`",
        ),
        (
            "POST",
            "/v1/seams/reply/check",
            format!(r#"{{"payload": "{}"}}"#, "x".repeat(2000)),
            413,
            "body_too_large",
            "over the 1 KiB cap",
        ),
        (
            "GET",
            "/v1/nothing",
            String::new(),
            404,
            "not_found",
            "no endpoint GET /v1/nothing",
        ),
        (
            "GET",
            "/v1/seams/reply/check",
            String::new(),
            405,
            "method_not_allowed",
            "GET is not allowed on /v1/seams/reply/check; use POST",
        ),
    ];
    for (method, path, body, status, code, message) in cases {
        let a = if method == "GET" {
            get_as(&server, path, None)
        } else {
            post(&server, path, &body)
        };
        let (s, c, m) = error(&a);
        assert_eq!((s, c), (status, code), "{method} {path}: {}", a.body);
        assert!(m.contains(message), "{method} {path}: {m}");
    }
}

#[test]
fn tokens_are_checked_by_hash_and_scope() {
    let check = "check-token";
    let admin = "admin-token";
    let reviewer = "review-token";
    let toml = format!(
        "listen = \"0.0.0.0:0\"\n{REPLY}\n[[tokens]]\nname = \"ci\"\nsha256 = \"{}\"\nscopes = [\"check\"]\n\n\
         [[tokens]]\nname = \"ops\"\nsha256 = \"{}\"\nscopes = [\"admin\"]\n\n\
         [[tokens]]\nname = \"people\"\nsha256 = \"{}\"\nscopes = [\"review\"]\n",
        seam_types::sha256_hex(check.as_bytes()),
        seam_types::sha256_hex(admin.as_bytes()),
        seam_types::sha256_hex(reviewer.as_bytes()),
    );
    let mut server = start("tokens", &toml);
    // Listening on every address is allowed with tokens; call it on loopback.
    let port = server.base.rsplit(':').next().unwrap().to_string();
    server.base = format!("http://127.0.0.1:{port}");
    let body = r#"{"payload": "hi"}"#;
    let a = post_as(&server, "/v1/seams/reply/check", body, None);
    assert_eq!(error(&a).0, 401);
    assert_eq!(a.authenticate.as_deref(), Some("Bearer realm=\"seam\""));
    assert!(error(&a).2.contains("send `Authorization: Bearer TOKEN`"));
    let a = post_as(&server, "/v1/seams/reply/check", body, Some("guess"));
    assert_eq!(error(&a).1, "unauthorized");
    assert_eq!(error(&a).2, "the bearer token is not one this server knows");
    let a = post_as(&server, "/v1/seams/reply/check", body, Some(reviewer));
    assert_eq!(error(&a).0, 403);
    assert_eq!(
        error(&a).2,
        "token `people` lacks the `check` scope this request needs; add it to the token's scopes"
    );
    // `admin` may do everything.
    assert_eq!(
        post_as(&server, "/v1/seams/reply/check", body, Some(admin)).status,
        200
    );
    let a = post_as(&server, "/v1/seams/reply/check", body, Some(check));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(get_as(&server, "/metrics", Some(check)).status, 403);
    assert_eq!(get_as(&server, "/metrics", None).status, 401);
    assert_eq!(get_as(&server, "/metrics", Some(admin)).status, 200);
    // Liveness and readiness are for probes: no token.
    assert_eq!(
        get_as(&server, "/healthz", None).body,
        json!({"status": "alive"})
    );
    assert_eq!(get_as(&server, "/readyz", None).body["status"], "ready");
}

/// A seam whose gate holds a request for `ms` (the sleeper fixture sleeping past its
/// deadline), with room for `concurrency` requests and `queue` waiting.
fn slow(ms: u64, concurrency: usize, queue: usize, extra: &str) -> String {
    format!(
        "[limits]\nconcurrency = {concurrency}\nqueue = {queue}\n{extra}\n\
         [seams.slow]\non_error = \"allow\"\n[[seams.slow.gates]]\nplugin = \"{}\"\nlimits = {{ deadline_ms = {ms} }}\n",
        fixtures::SLEEPER
    )
}

#[test]
fn a_saturating_burst_is_shed_with_503_and_every_request_is_answered() {
    let _serial = crate::exclusive();
    let server = start("shedding", &slow(400, 1, 2, ""));
    let burst = 12;
    let answers: Vec<Answer> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..burst)
            .map(|_| s.spawn(|| post(&server, "/v1/seams/slow/check", r#"{"payload": "30s"}"#)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let served = answers.iter().filter(|a| a.status == 200).count();
    let shed: Vec<&Answer> = answers.iter().filter(|a| a.status == 503).collect();
    assert_eq!(
        served + shed.len(),
        burst,
        "every request answered 200 or 503"
    );
    // One in flight and two waiting get through; the rest are shed at once.
    assert!((1..=3).contains(&served), "{served} served");
    assert!(shed.len() >= burst - 3);
    for a in &shed {
        assert_eq!(a.retry_after.as_deref(), Some("1"));
        let (_, code, message) = error(a);
        assert_eq!(code, "overloaded");
        assert!(
            message.contains("(1 requests in flight, 2 waiting)"),
            "{message}"
        );
    }
    for a in answers.iter().filter(|a| a.status == 200) {
        // The sleeper ran out of its deadline; on_error = allow lets the handoff on.
        assert_eq!(a.body["gates"][0]["outcome"], "error", "{}", a.body);
        assert_eq!(a.body["decision"]["action"], "next");
    }
    let metrics = get_as(&server, "/metrics", None).body;
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains(&format!("seam_http_shed_total {}\n", shed.len())),
        "{metrics}"
    );
}

#[test]
fn a_request_past_its_deadline_is_answered_504() {
    let server = start("deadline", &slow(2000, 4, 4, "request_timeout_ms = 200"));
    let a = post(&server, "/v1/seams/slow/check", r#"{"payload": "30s"}"#);
    let (status, code, message) = error(&a);
    assert_eq!((status, code), (504, "deadline"));
    assert!(
        message.contains("outlived its 200 ms deadline"),
        "{message}"
    );
}

#[test]
fn shutdown_lets_requests_in_flight_finish_and_cuts_them_at_the_drain_deadline() {
    let _serial = crate::exclusive();
    // Drained: the request in flight finishes and is answered.
    let server = start("drain", &slow(600, 4, 4, ""));
    let url = server.url("/v1/seams/slow/check");
    let in_flight = std::thread::spawn(move || {
        answer(
            "post",
            "/v1/seams/slow/check",
            agent().post(&url).send(r#"{"payload": "30s"}"#),
        )
    });
    std::thread::sleep(Duration::from_millis(200));
    let base = server.base.clone();
    assert_eq!(server.stop(), Drained { cut: 0 });
    let a = in_flight.join().unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    // Stopped: no new connection is accepted.
    assert!(agent().get(format!("{base}/healthz")).call().is_err());

    // Cut: the drain deadline passes first.
    let server = start("drain-cut", &slow(3000, 4, 4, "drain_timeout_ms = 100"));
    let url = server.url("/v1/seams/slow/check");
    let in_flight = std::thread::spawn(move || agent().post(&url).send(r#"{"payload": "30s"}"#));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.stop(), Drained { cut: 1 });
    drop(in_flight);
}

#[test]
fn metrics_count_known_traffic() {
    let server = start("metrics", REPLY);
    for body in [
        r#"{"payload": "short"}"#,
        r#"{"payload": "short"}"#,
        r#"{"payload": "no refund"}"#,
    ] {
        assert_eq!(post(&server, "/v1/seams/reply/check", body).status, 200);
    }
    assert_eq!(post(&server, "/v1/seams/nope/check", "{}").status, 404);
    let a = get_as(&server, "/metrics", None);
    assert_eq!(a.status, 200);
    let text = a.body.as_str().unwrap().to_string();
    for line in [
        "seam_checks_total{gate=\"max-words\",seam=\"reply\",outcome=\"passed\"} 3",
        "seam_checks_total{gate=\"no-refunds\",seam=\"reply\",outcome=\"passed\"} 2",
        "seam_checks_total{gate=\"no-refunds\",seam=\"reply\",outcome=\"failed\"} 1",
        "seam_decisions_total{seam=\"reply\",action=\"next\"} 2",
        "seam_decisions_total{seam=\"reply\",action=\"reject\"} 1",
        "seam_check_duration_seconds_count{gate=\"max-words\",seam=\"reply\"} 3",
        "seam_check_duration_seconds_bucket{le=\"0.000005\",gate=\"max-words\",seam=\"reply\"} 0",
        "seam_http_requests_total{route=\"/v1/seams/{name}/check\",method=\"POST\",status=\"200\"} 3",
        "seam_http_requests_total{route=\"/v1/seams/{name}/check\",method=\"POST\",status=\"404\"} 1",
        "seam_http_in_flight 0",
        "seam_http_queue_depth 0",
        "seam_http_shed_total 0",
    ] {
        assert!(text.contains(&format!("{line}\n")), "missing {line:?} in\n{text}");
    }
}

#[test]
fn configuration_mistakes_are_refused_at_their_place() {
    let cases: Vec<(&str, String, &str)> = vec![
        ("unknown-field", "colour = 1\n".into(), ":2:1: unknown field `colour`"),
        ("bad-listen", "listen = \"localhost\"\n".into(), ":1:10: `localhost` is not an address to listen on"),
        ("open-without-tokens", "listen = \"0.0.0.0:7878\"\n".into(), "refusing to listen on 0.0.0.0:7878 without tokens"),
        ("limits-range", "[limits]\nconcurrency = 0\n".into(), ":3:15: 0 is outside the allowed range 1..=4096"),
        ("bad-hash", "[[tokens]]\nname = \"a\"\nsha256 = \"abc\"\nscopes = [\"check\"]\n".into(), ":4:10: token `a`: sha256 must be 64 hex digits"),
        ("bad-scope", format!("[[tokens]]\nname = \"a\"\nsha256 = \"{}\"\nscopes = [\"root\"]\n", "a".repeat(64)), ":5:11: unknown scope `root`; use check, run, review, view, admin"),
        ("no-scopes", format!("[[tokens]]\nname = \"a\"\nsha256 = \"{}\"\nscopes = []\n", "a".repeat(64)), ":5:10: token `a` has no scopes"),
        ("twice", format!("[[tokens]]\nname = \"a\"\nsha256 = \"{0}\"\nscopes = [\"check\"]\n[[tokens]]\nname = \"a\"\nsha256 = \"{0}\"\nscopes = [\"check\"]\n", "b".repeat(64)), ":7:8: token name `a` is empty or used twice"),
        ("seam-name", "[seams.\"a b\"]\ngates = [{ plugin = \"pii\" }]\n".into(), ":2:8: `a b` cannot name a seam"),
        ("empty-seam", "[seams.empty]\n".into(), "seam `empty` has no gates and no router"),
        ("unknown-plugin", "[seams.s]\ngates = [{ plugin = \"max-word\" }]\n".into(), ":3:21: could not read plugin `max-word` from max-word: no standard plugin has this name and no such file exists; did you mean `max-words`?"),
        ("bad-settings", "[seams.s]\ngates = [{ plugin = \"max-words\", settings = { max_words = \"x\" } }]\n".into(), ":3:21: "),
        ("route-unknown", "[seams.s]\non_fail = \"route:elsewhere\"\ngates = [{ plugin = \"pii\" }]\n".into(), ":3:11: `route:elsewhere` routes to `elsewhere`, which is not a step"),
        ("route-reserved", "[seams.s]\nroutes = [\"next\"]\ngates = [{ plugin = \"pii\" }]\n".into(), ":3:11: `next` cannot be a route"),
        ("exhausted", "[seams.s]\nwhen_retries_exhausted = \"retry\"\ngates = [{ plugin = \"pii\" }]\n".into(), "when_retries_exhausted must be block or escalate"),
        ("policy", "[seams.s]\ngates = [{ plugin = \"pii\", on_fail = \"shrug\" }]\n".into(), "unknown policy `shrug`"),
        ("seam-field", "[seams.s]\ngates = [{ plugin = \"pii\" }]\ncolour = 1\n".into(), "unknown field `colour`"),
        ("otlp-scheme", "[telemetry]\notlp_endpoint = \"ftp://collector:4318\"\n".into(), ":3:17: otlp_endpoint `ftp://collector:4318` is not an http:// or https:// URL; give the collector's OTLP/HTTP address"),
        ("otlp-no-host", "[telemetry]\notlp_endpoint = \"http:///v1/traces\"\n".into(), ":3:17: otlp_endpoint `http:///v1/traces` has no host"),
        ("otlp-credentials", "[telemetry]\notlp_endpoint = \"https://user:secret@collector\"\n".into(), "carries credentials; send them as [telemetry] headers instead"),
        ("otlp-query", "[telemetry]\notlp_endpoint = \"http://collector:4318?x=1\"\n".into(), "has a query, a fragment or a space"),
        ("otlp-missing", "[telemetry]\nservice_name = \"x\"\n".into(), ":2:1: missing field `otlp_endpoint`"),
        ("otlp-header", "[telemetry]\notlp_endpoint = \"http://c:4318\"\nheaders = { key = \"a\\nb\" }\n".into(), ":4:19: telemetry header `key` cannot be sent over HTTP"),
        ("otlp-service", "[telemetry]\notlp_endpoint = \"http://c:4318\"\nservice_name = \" \"\n".into(), ":4:16: service_name must be 1 to 255 characters"),
        ("otlp-timeout", "[telemetry]\notlp_endpoint = \"http://c:4318\"\nexport_timeout_ms = 0\n".into(), ":4:21: 0 is outside the allowed range"),
        ("otlp-field", "[telemetry]\notlp_endpoint = \"http://c:4318\"\nprotocol = \"grpc\"\n".into(), ":4:1: unknown field `protocol`"),
    ];
    for (name, toml, expected) in cases {
        let err = match config(name, &toml) {
            Ok(_) => panic!("{name}: loaded"),
            Err(e) => e,
        };
        assert!(err.contains("seam-server.toml"), "{name}: {err}");
        assert!(
            err.contains(expected),
            "{name}: {err}\nexpected {expected:?}"
        );
    }
    // A file that is not there, or not a file.
    let missing = Path::new("/nonexistent/seam-server.toml");
    let err = Config::load(missing, crate::runtime())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("cannot read the server configuration"),
        "{err}"
    );
}

#[test]
fn seam_serve_checks_its_configuration_and_makes_tokens() {
    let example = crate::repo("examples/server/seam-server.toml");
    let (code, out, err) = crate::seam(&["serve", "--config", &example, "--check"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(": ok; would listen on 127.0.0.1:7878; 2 seams (reply: 3 gates; tool-args: 1 gates), 0 tokens"), "{out}");
    let (code, _, err) = crate::seam(&["serve", "--config", "/nonexistent.toml"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no server configuration at /nonexistent.toml; pass --config FILE"),
        "{err}"
    );

    let (code, out, _) = crate::seam(&[
        "serve",
        "--new-token",
        "langgraph",
        "--scope",
        "check",
        "--scope",
        "review",
    ]);
    assert_eq!(code, 0);
    let token = out
        .split_whitespace()
        .find(|w| w.starts_with("seam-"))
        .unwrap();
    let hash = seam_types::sha256_hex(token.as_bytes());
    assert!(out.contains(&format!("[[tokens]]\nname = \"langgraph\"\nsha256 = \"{hash}\"\nscopes = [\"check\", \"review\"]")), "{out}");
    // The entry it prints is a valid configuration.
    let snippet = &out[out.find("[[tokens]]").unwrap()..];
    let loaded = config("new-token", &format!("listen = \"0.0.0.0:0\"\n{snippet}")).unwrap();
    assert_eq!(loaded.tokens[0].name, "langgraph");
    let (code, _, err) = crate::seam(&["serve", "--new-token", "x", "--scope", "root"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--scope \"root\": unknown scope; use check, run, review, view, admin"),
        "{err}"
    );
}

/// The real `seam serve` process: it says where it listens, answers, and on SIGTERM
/// drains and exits 0.
#[test]
fn seam_serve_stops_cleanly_on_sigterm() {
    let dir = scratch("server-process");
    let path = dir.join("seam-server.toml");
    std::fs::write(&path, format!("listen = \"127.0.0.1:0\"\n{REPLY}")).unwrap();
    let (mut child, address, lines) = serve_process(&path, std::process::Stdio::piped());
    let running = Running {
        base: address,
        stop: None,
        thread: None,
    };
    let a = post(&running, "/v1/seams/reply/check", r#"{"payload": "ok"}"#);
    assert_eq!(a.body["decision"]["action"], "next", "{}", a.body);
    // SIGHUP reloads the file: a new seam appears.
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\n{REPLY}\n[seams.added]\ngates = [{{ plugin = \"pii\" }}]\n"
        ),
    )
    .unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while post(&running, "/v1/seams/added/check", r#"{"payload": "x"}"#).status != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not reload"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(rest, ["seam serve: stopped"]);
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    // Not a terminal: JSON lines.
    let messages: Vec<String> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| v["fields"]["message"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(messages.contains(&"listening".to_string()), "{logs}");
    assert!(
        messages.iter().any(|m| m.starts_with("shutting down")),
        "{logs}"
    );
}

#[test]
fn a_reload_swaps_a_valid_configuration_whole_and_refuses_a_bad_one() {
    let _serial = crate::exclusive();
    let one = format!(
        "{}\n[seams.one]\ngates = [{{ plugin = \"pii\" }}]\n",
        slow(800, 4, 4, "")
    );
    let config = config("reload", &one).unwrap();
    let file = config.file.clone();
    let server = start_config(config);
    // A request in flight on the old configuration…
    let url = server.url("/v1/seams/slow/check");
    let in_flight = std::thread::spawn(move || {
        answer(
            "post",
            "/v1/seams/slow/check",
            agent().post(&url).send(r#"{"payload": "30s"}"#),
        )
    });
    std::thread::sleep(Duration::from_millis(200));
    // …while the file changes: seam `one` becomes `two`, `slow` goes.
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\n[seams.two]\ngates = [{ plugin = \"max-words\", settings = { max_words = 1 } }]\n").unwrap();
    let a = post(&server, "/v1/admin/reload", "");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["seams"], json!(["two"]));
    assert_eq!(
        a.body["needs_restart"],
        json!(["[limits] concurrency (4 → 64)"])
    );
    // The request that started before finishes on the configuration it started with.
    let a = in_flight.join().unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["seam"], "slow");
    assert_eq!(
        post(&server, "/v1/seams/two/check", r#"{"payload": "a b"}"#).body["decision"]["action"],
        "reject"
    );
    assert_eq!(
        post(&server, "/v1/seams/one/check", r#"{"payload": 1}"#).status,
        404
    );

    // A bad file is refused with its error; the configuration in force serves on.
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\n[seams.two]\ngates = [{ plugin = \"max-words\", settings = { max_words = \"x\" } }]\n").unwrap();
    let a = post(&server, "/v1/admin/reload", "");
    let (status, code, message) = error(&a);
    assert_eq!((status, code), (422, "bad_config"));
    assert!(message.contains("seam-server.toml:3:"), "{message}");
    assert!(
        message.ends_with("; the configuration in force is unchanged"),
        "{message}"
    );
    assert_eq!(
        post(&server, "/v1/seams/two/check", r#"{"payload": "a"}"#).body["decision"]["action"],
        "next"
    );
    let metrics = get_as(&server, "/metrics", None).body;
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("seam_config_reloads_total{outcome=\"ok\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("seam_config_reloads_total{outcome=\"refused\"} 1\n"),
        "{metrics}"
    );
}

fn recorded(name: &str) -> String {
    std::fs::read_to_string(crate::repo(&format!("tests/all/recorded/{name}"))).unwrap()
}

const GUARD: &str = r#"
[seams.guard]
on_fail = "block"
[[seams.guard.gates]]
plugin = "ban-list"
settings = { words = ["stupid", "weather"] }
[[seams.guard.gates]]
plugin = "pii"
settings = { kinds = ["email"] }
on_fail = "fix"

[seams.demo-self-check-input-output]
[[seams.demo-self-check-input-output.gates]]
plugin = "ban-list"
settings = { words = ["stupid"] }
"#;

#[test]
fn litellm_generic_guardrail_requests_get_its_three_actions() {
    let token = "litellm-key";
    let toml = format!(
        "{GUARD}\n[[tokens]]\nname = \"litellm\"\nsha256 = \"{}\"\nscopes = [\"check\"]\n",
        seam_types::sha256_hex(token.as_bytes())
    );
    let server = start("litellm", &toml);
    let path = "/v1/litellm/guard/beta/litellm_basic_guardrail_api";
    // LiteLLM sends its api_key as x-api-key.
    let send = |body: &str| {
        answer(
            "post",
            path,
            agent()
                .post(server.url(path))
                .header("content-type", "application/json")
                .header("x-api-key", token)
                .send(body),
        )
    };
    // The request body from LiteLLM's documentation: nothing to object to.
    let a = send(&recorded("litellm-request-docs.json"));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body, json!({"action": "NONE"}));
    // As LiteLLM's source sends it: every empty field null, fields the docs lack.
    let full = json!({
        "texts": ["Mail ana@example.com please", "fine"], "images": null, "tools": null,
        "tool_calls": null, "structured_messages": null, "request_data": {},
        "request_headers": {"user-agent": "x", "authorization": "[present]"},
        "input_type": "response", "litellm_call_id": "c1", "litellm_trace_id": null,
        "litellm_version": "1.80.0", "additional_provider_specific_params": null,
        "model": "gpt-4o"
    });
    let a = send(&full.to_string());
    assert_eq!(
        a.body,
        json!({"action": "GUARDRAIL_INTERVENED", "texts": ["Mail [EMAIL] please", "fine"]})
    );
    let mut blocked = full.clone();
    blocked["texts"] = json!(["fine", "You are stupid."]);
    let a = send(&blocked.to_string());
    assert_eq!(a.body["action"], "BLOCKED", "{}", a.body);
    assert_eq!(
        a.body["blocked_reason"],
        "text 1: seam `guard`: blocked at seam guard → next: ban-list failed (ban-list.word: banned word \"stupid\")"
    );
    for texts in [json!(null), json!([])] {
        let mut none = full.clone();
        none["texts"] = texts;
        assert_eq!(send(&none.to_string()).body, json!({"action": "NONE"}));
    }
    // Without the key, or with a wrong one: refused as any request.
    let a = post(&server, path, &full.to_string());
    assert_eq!(error(&a).0, 401);
    let a = post(
        &server,
        "/v1/litellm/nope/beta/litellm_basic_guardrail_api",
        "{}",
    );
    assert_eq!(error(&a).0, 401, "auth comes before the seam is looked up");
    let a = answer(
        "post",
        path,
        agent()
            .post(server.url("/v1/litellm/nope/beta/litellm_basic_guardrail_api"))
            .header("x-api-key", token)
            .send("{}"),
    );
    assert_eq!(error(&a).1, "unknown_seam");
    let a = send(r#"{"texts": "not a list"}"#);
    assert_eq!(error(&a).0, 422);
}

#[test]
fn nemo_guardrail_checks_answer_in_its_shape() {
    let server = start("nemo", GUARD);
    // The request from NeMo Guardrails' documentation, its config_id a seam here.
    let a = post(
        &server,
        "/v1/guardrail/checks",
        &recorded("nemo-request-docs.json"),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body,
        json!({
            "status": "blocked",
            "rails_status": {
                "demo-self-check-input-output input": {"status": "success"},
                "demo-self-check-input-output output": {"status": "blocked"}
            },
            "guardrails_data": {"config_ids": ["demo-self-check-input-output"]}
        })
    );
    let ok = json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": "be kind"},
            {"role": "user", "content": [{"type": "text", "text": "Hello, how are you?"}]}
        ],
        "guardrails": {"config_ids": ["guard", "demo-self-check-input-output"]}
    });
    let a = post(&server, "/v1/guardrail/checks", &ok.to_string());
    assert_eq!(
        a.body,
        json!({
            "status": "success",
            "rails_status": {
                "guard input": {"status": "success"},
                "demo-self-check-input-output input": {"status": "success"}
            },
            "guardrails_data": {"config_ids": ["guard", "demo-self-check-input-output"]}
        })
    );
    for (body, status, expected) in [
        (
            json!({"model": "m", "messages": []}),
            422,
            "no `guardrails.config_id`",
        ),
        (
            json!({"model": "m", "messages": [], "guardrails": {"config": {"rails": {}}}}),
            422,
            "inline `guardrails.config` is not supported",
        ),
        (
            json!({"model": "m", "messages": [], "guardrails": {"config_id": "a", "config_ids": ["b"]}}),
            422,
            "not both",
        ),
        (
            json!({"model": "m", "messages": [], "guardrails": {"config_id": "nope"}}),
            404,
            "no seam `nope`",
        ),
        (
            json!({"messages": [], "guardrails": {"config_id": "guard"}}),
            422,
            "missing field `model`",
        ),
        (
            json!({"model": "m", "messages": [{"content": "x"}], "guardrails": {"config_id": "guard"}}),
            422,
            "missing field `role`",
        ),
    ] {
        let a = post(&server, "/v1/guardrail/checks", &body.to_string());
        let (s, _, m) = error(&a);
        assert_eq!(s, status, "{body}: {}", a.body);
        assert!(m.contains(expected), "{body}: {m}");
    }
}

#[test]
fn recorded_checks_are_outside_runs_that_report_and_review_see() {
    let server = start("record", &format!("ledger = \"ledger.db\"\n{REPLY}"));
    let check = |seam: &str, payload: &str, record: Value| {
        let body = json!({"payload": payload, "record": record}).to_string();
        post(&server, &format!("/v1/seams/{seam}/check"), &body)
    };
    let rec = |run: &str, to: Option<&str>| {
        let mut r = json!({"pipeline": "support", "run": run, "step": "write"});
        if let Some(t) = to {
            r["to"] = json!(t);
        }
        r
    };
    let a = check("reply", "Thanks, on its way.", rec("r1", Some("send")));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["recorded"]["run"], "r1");
    let first = a.body["recorded"]["handoff_id"].as_i64().unwrap();
    assert!(first > 0);
    assert_eq!(a.body["recorded"]["review_id"], Value::Null);
    let a = check(
        "reply",
        "This answer has far too many words in it",
        rec("r1", Some("send")),
    );
    assert_eq!(a.body["decision"]["action"], "retry");
    assert_eq!(a.body["recorded"]["handoff_id"], first + 1);
    let a = check("review", "cheap", rec("r2", None));
    assert_eq!(a.body["decision"]["action"], "human");
    let review = a.body["recorded"]["review_id"].as_i64().expect("a review");
    assert_eq!(
        check("reply", "No refund.", rec("r3", None)).body["decision"]["action"],
        "reject"
    );
    assert_eq!(
        check("reply", "All done.", rec("r4", Some("done"))).body["decision"]["action"],
        "next"
    );

    let path = server_dir("record").join("ledger.db");
    let ledger = seam_ledger::SqliteLedger::open_read_only(&path).unwrap();
    use seam_ledger::Ledger;
    let status = |run: &str| {
        let row = ledger.run(run).unwrap();
        assert_eq!(row.cursor, "outside");
        assert_eq!(row.pipeline, "support");
        (row.status, row.output, row.reason)
    };
    assert_eq!(status("r1").0, "running");
    assert_eq!(status("r2").0, "waiting");
    let (s3, _, reason) = status("r3");
    assert_eq!(s3, "rejected");
    assert!(reason.unwrap().contains("ban-list.word"));
    let (s4, output, _) = status("r4");
    assert_eq!(
        (s4.as_str(), output.as_deref()),
        ("completed", Some("\"All done.\""))
    );
    let h = ledger.handoff(first).unwrap();
    assert_eq!(
        (h.from_step.as_str(), h.to_step.as_str(), h.attempt),
        ("write", "send", 1)
    );
    let verdicts = ledger.verdicts(first).unwrap();
    let gates: Vec<(&str, &str)> = verdicts
        .iter()
        .map(|v| (v.gate.as_str(), v.outcome.as_str()))
        .collect();
    assert_eq!(gates, [("max-words", "passed"), ("no-refunds", "passed")]);
    assert_eq!(ledger.review(review).unwrap().status, "pending");

    // The report over HTTP sees them as `seam report` does.
    let a = get_as(&server, "/v1/report?pipeline=support", None);
    assert_eq!(a.status, 200, "{}", a.body);
    let p = &a.body["pipelines"][0];
    assert_eq!(
        (p["pipeline"].as_str(), p["runs"].as_i64()),
        (Some("support"), Some(4))
    );
    assert_eq!(
        (
            p["completed"].as_i64(),
            p["rejected"].as_i64(),
            p["waiting"].as_i64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let (_, cli, err) = crate::seam(&[
        "report",
        "--ledger",
        path.to_str().unwrap(),
        "--pipeline",
        "support",
        "--format",
        "json",
    ]);
    let cli: Value = serde_json::from_str(&cli).unwrap_or_else(|_| panic!("{err}"));
    assert_eq!(cli, a.body);
    let page = answer(
        "get",
        "/v1/report",
        agent().get(server.url("/v1/report?format=html")).call(),
    );
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .as_str()
        .unwrap()
        .contains("seam reliability report"));

    // A person decides the escalation; there is nothing for seam to resume.
    let (code, out, err) = crate::seam(&[
        "review",
        "accept",
        &review.to_string(),
        "--ledger",
        path.to_str().unwrap(),
        "--by",
        "ana",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("run r2 runs outside seam (its checks were recorded through `seam serve`): nothing to resume here"), "{out}");

    // Mistakes: a run of another pipeline, bad names, unknown fields, bad report queries.
    let a = check("reply", "x", json!({"pipeline": "other", "run": "r1"}));
    assert_eq!(error(&a).0, 409);
    assert!(error(&a)
        .2
        .contains("run `r1` belongs to pipeline `support`, not `other`"));
    for (record, expected) in [
        (
            json!({"pipeline": "", "run": "r"}),
            "`record.pipeline` must be 1 to 128 bytes",
        ),
        (
            json!({"pipeline": "p", "run": "a\nb"}),
            "`record.run` must be 1 to 128 bytes without control characters",
        ),
        (
            json!({"pipeline": "p", "run": "x".repeat(129)}),
            "`record.run` must be 1 to 128 bytes",
        ),
        (json!({"pipeline": "p"}), "missing field `run`"),
        (
            json!({"pipeline": "p", "run": "r", "colour": 1}),
            "unknown field `colour`",
        ),
    ] {
        let a = check("reply", "x", record.clone());
        let (s, _, m) = error(&a);
        assert_eq!(s, 422, "{record}: {}", a.body);
        assert!(m.contains(expected), "{record}: {m}");
    }
    for (query, expected) in [
        ("format=xml", "`format` \"xml\": use json or html"),
        ("since=yesterday", "`since` \"yesterday\""),
        ("colour=red", "unknown field `colour`"),
    ] {
        let a = get_as(&server, &format!("/v1/report?{query}"), None);
        let (s, _, m) = error(&a);
        assert_eq!(s, 422, "{query}: {}", a.body);
        assert!(m.contains(expected), "{query}: {m}");
    }
    assert_eq!(
        get_as(&server, "/readyz", None).body["ledger"],
        path.display().to_string()
    );

    // Without a ledger: nothing to record into or report on.
    let bare = start("record-bare", REPLY);
    let a = post(
        &bare,
        "/v1/seams/reply/check",
        r#"{"payload": 1, "record": {"pipeline": "p", "run": "r"}}"#,
    );
    assert!(
        error(&a).2.contains(
            "`record` needs a ledger, and this server has none: set `ledger = \"FILE\"` in "
        ),
        "{}",
        a.body
    );
    assert_eq!(error(&get_as(&bare, "/v1/report", None)).1, "no_ledger");
}

/// The folder [`config`] wrote the configuration named `name` into.
fn server_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "seam-pipeline-{}-server-{name}",
        std::process::id()
    ))
}

#[test]
fn runs_start_wait_for_review_and_resume_when_it_is_decided_over_http() {
    let (dir, _) = crate::cli::escalating_pipeline("server-runs-pipeline");
    let pipeline = dir.join("pipeline.toml");
    let server = start(
        "runs",
        &format!(
            "ledger = \"ledger.db\"\npipelines = [\"{}\"]\n",
            pipeline.display()
        ),
    );
    let a = post(
        &server,
        "/v1/pipelines/esc/runs",
        r#"{"input": {"n": 1}, "wait_ms": 60000}"#,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["status"], "waiting");
    let run = a.body["run_id"].as_str().unwrap().to_string();

    let a = get_as(&server, "/v1/reviews", None);
    let reviews = a.body["reviews"].as_array().unwrap();
    assert_eq!(reviews.len(), 1, "{}", a.body);
    assert_eq!(reviews[0]["run_id"], run.as_str());
    assert_eq!(reviews[0]["status"], "pending");
    let id = reviews[0]["id"].as_i64().unwrap();
    assert_eq!(
        get_as(&server, &format!("/v1/reviews/{id}"), None).body["kind"],
        "escalation"
    );

    let a = post(
        &server,
        &format!("/v1/reviews/{id}/accept"),
        r#"{"note": "fine", "wait_ms": 60000}"#,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["resumed"], true);
    assert_eq!(a.body["review"]["status"], "accepted");
    assert_eq!(a.body["review"]["decided_by"], "api");
    assert_eq!(a.body["run"]["status"], "completed");
    assert_eq!(a.body["run"]["output"], json!({"shipped": true}));

    let a = get_as(&server, &format!("/v1/runs/{run}"), None);
    assert_eq!(a.body["status"], "completed", "{}", a.body);
    assert_eq!(a.body["outside"], false);
    assert_eq!(a.body["input"], json!({"n": 1}));
    let steps: Vec<&str> = a.body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["w", "ship"]);
    assert_eq!(a.body["reviews"][0]["note"], "fine");
    assert_eq!(
        get_as(&server, "/v1/reviews", None).body["reviews"],
        json!([])
    );
    assert_eq!(
        get_as(&server, "/v1/reviews?status=all", None).body["reviews"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Without waiting: 202 and the run's id, while it goes on.
    let a = post(&server, "/v1/pipelines/esc/runs", r#"{"input": 2}"#);
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.body["status"], "running");
    let second = a.body["run_id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while get_as(&server, &format!("/v1/runs/{second}"), None).body["status"] != "waiting" {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never reached its review"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pending = get_as(&server, "/v1/reviews", None).body["reviews"][0]["id"]
        .as_i64()
        .unwrap();
    let a = post(
        &server,
        &format!("/v1/reviews/{pending}/reject"),
        r#"{"by": "bo", "wait_ms": 60000}"#,
    );
    assert_eq!(a.body["run"]["status"], "rejected", "{}", a.body);
    assert_eq!(a.body["review"]["decided_by"], "bo");

    for (method, path, body, status, code, expected) in [
        (
            "POST",
            "/v1/pipelines/nope/runs".to_string(),
            "{}",
            404,
            "unknown_pipeline",
            "no pipeline `nope` is served by ",
        ),
        (
            "POST",
            format!("/v1/reviews/{id}/accept"),
            "{}",
            409,
            "already_decided",
            "is accepted, not pending",
        ),
        (
            "POST",
            format!("/v1/reviews/{id}/maybe"),
            "{}",
            404,
            "not_found",
            "use accept or reject",
        ),
        (
            "POST",
            format!("/v1/reviews/{pending}/reject"),
            r#"{"payload": 1}"#,
            422,
            "invalid_request",
            "`payload` goes with accept",
        ),
        (
            "GET",
            "/v1/reviews/abc".to_string(),
            "",
            404,
            "not_found",
            "review ids are numbers",
        ),
        (
            "GET",
            "/v1/reviews/999".to_string(),
            "",
            404,
            "not_found",
            "no review `999`",
        ),
        (
            "GET",
            "/v1/reviews?status=open".to_string(),
            "",
            422,
            "invalid_request",
            "use pending or all",
        ),
        (
            "GET",
            "/v1/runs/nope".to_string(),
            "",
            404,
            "not_found",
            "no run `nope`",
        ),
        (
            "POST",
            format!("/v1/runs/{run}/resume"),
            "{}",
            409,
            "run_conflict",
            "has completed and cannot be resumed",
        ),
        (
            "POST",
            "/v1/pipelines/esc/runs".to_string(),
            r#"{"input": 1, "colour": 2}"#,
            422,
            "invalid_request",
            "unknown field `colour`",
        ),
    ] {
        let a = if method == "GET" {
            get_as(&server, &path, None)
        } else {
            post(&server, &path, body)
        };
        let (s, c, m) = error(&a);
        assert_eq!((s, c), (status, code), "{method} {path}: {}", a.body);
        assert!(m.contains(expected), "{method} {path}: {m}");
    }

    // An outside run is never resumed by the server.
    let outside = start("runs-outside", &format!("ledger = \"ledger.db\"\n{REPLY}"));
    post(
        &outside,
        "/v1/seams/reply/check",
        r#"{"payload": "x", "record": {"pipeline": "p", "run": "o1"}}"#,
    );
    let a = post(&outside, "/v1/runs/o1/resume", "{}");
    assert_eq!(error(&a).1, "run_conflict");
    assert!(error(&a).2.contains("runs outside seam"), "{}", a.body);

    // Pipelines need a ledger; one name, one pipeline.
    let e = config(
        "runs-no-ledger",
        &format!("pipelines = [\"{}\"]\n", pipeline.display()),
    )
    .err()
    .unwrap();
    assert!(
        e.contains(":2:14: pipelines need a ledger to record their runs in"),
        "{e}"
    );
    let p = pipeline.display();
    let e = config(
        "runs-twice",
        &format!("ledger = \"l.db\"\npipelines = [\"{p}\", \"{p}\"]\n"),
    )
    .err()
    .unwrap();
    assert!(e.contains("two pipelines are named `esc`"), "{e}");
}

/// A request the collector received: its path, headers (names in lower case) and body.
type Received = (String, Vec<(String, String)>, Vec<u8>);

/// An OTLP/HTTP collector for one test: answers every POST with 200 and hands over
/// each request it received.
struct Collector {
    endpoint: String,
    requests: mpsc::Receiver<Received>,
}

fn collector() -> Collector {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let length: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
            if tx.send((path, headers, body)).is_err() {
                break;
            }
        }
    });
    Collector {
        endpoint,
        requests: rx,
    }
}

#[test]
fn traces_reach_an_otlp_collector_under_the_callers_trace() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::trace::v1::Span;
    use prost::Message;

    let collector = collector();
    let toml = format!(
        "{REPLY}\n[telemetry]\notlp_endpoint = \"{}\"\nservice_name = \"seam-test\"\nheaders = {{ x-collector-key = \"k1\" }}\n",
        collector.endpoint
    );
    let server = start("traces", &toml);
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let caller_span = "b7ad6b7169203331";
    let path = "/v1/seams/reply/check";
    let a = answer(
        "post",
        path,
        agent()
            .post(server.url(path))
            .header("content-type", "application/json")
            .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
            .send(r#"{"payload": "one two three four five six seven"}"#),
    );
    assert_eq!(a.body["decision"]["action"], "retry", "{}", a.body);
    let a = post(
        &server,
        "/v1/check",
        r#"{"gates": [{"gate": "contains", "settings": {"required": ["$89"]}}], "payload": "costs $89"}"#,
    );
    assert_eq!(a.body["passed"], true, "{}", a.body);
    // The shutdown sends what is buffered.
    assert_eq!(server.stop(), Drained { cut: 0 });

    let mut spans: Vec<Span> = Vec::new();
    while let Ok((path, headers, body)) = collector.requests.recv_timeout(Duration::from_secs(2)) {
        assert_eq!(path, "/v1/traces");
        let header = |k: &str| {
            headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("content-type"), Some("application/x-protobuf"));
        assert_eq!(header("x-collector-key"), Some("k1"));
        let export = ExportTraceServiceRequest::decode(body.as_slice()).expect("OTLP protobuf");
        for resource in export.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.clone());
            assert_eq!(service, Some(Any::StringValue("seam-test".into())));
            for scope in resource.scope_spans {
                assert_eq!(
                    scope.scope.as_ref().map(|s| s.name.as_str()),
                    Some("seam-server")
                );
                spans.extend(scope.spans);
            }
        }
    }
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let attr = |s: &Span, key: &str| -> Option<Any> {
        s.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.clone())
    };
    let text = |v: &str| Some(Any::StringValue(v.into()));
    let named = |name: &str| -> Vec<&Span> { spans.iter().filter(|s| s.name == name).collect() };
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();

    // The seam check: a server span under the caller's span, in the caller's trace.
    let request = named("POST /v1/seams/{name}/check");
    assert_eq!(request.len(), 1, "{names:?}");
    let request = request[0];
    assert_eq!(hex(&request.trace_id), trace_id);
    assert_eq!(hex(&request.parent_span_id), caller_span);
    assert_eq!(request.kind, 2, "SERVER");
    assert_eq!(attr(request, "http.route"), text("/v1/seams/{name}/check"));
    assert_eq!(attr(request, "http.request.method"), text("POST"));
    assert_eq!(attr(request, "url.path"), text(path));
    assert_eq!(
        attr(request, "http.response.status_code"),
        Some(Any::IntValue(200))
    );
    let decision = request
        .events
        .iter()
        .find(|e| e.name == "seam.decision")
        .expect("the decision event");
    let event_attr = |key: &str| {
        decision
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.clone())
    };
    assert_eq!(event_attr("seam.decision.action"), text("retry"));
    assert_eq!(event_attr("seam.seam"), text("reply"));

    // One span per gate check, under the request, within its time, with the GenAI
    // evaluation attributes and event.
    for (gate, label) in [("max-words", "fail"), ("no-refunds", "pass")] {
        let found = named(&format!("check {gate}"));
        let s = found
            .iter()
            .find(|s| s.trace_id == request.trace_id)
            .unwrap_or_else(|| panic!("no span for {gate} in {names:?}"));
        assert_eq!(s.parent_span_id, request.span_id, "{gate}");
        assert_eq!(s.kind, 1, "INTERNAL");
        assert!(s.start_time_unix_nano <= s.end_time_unix_nano, "{gate}");
        assert!(
            s.start_time_unix_nano >= request.start_time_unix_nano
                && s.end_time_unix_nano <= request.end_time_unix_nano,
            "{gate}: the check lies within its request"
        );
        assert_eq!(attr(s, "gen_ai.evaluation.name"), text(gate));
        assert_eq!(attr(s, "gen_ai.evaluation.score.label"), text(label));
        assert_eq!(attr(s, "seam.seam"), text("reply"));
        assert_eq!(attr(s, "seam.gate"), text(gate));
        let event = s
            .events
            .iter()
            .find(|e| e.name == "gen_ai.evaluation.result")
            .expect("the evaluation event");
        assert!(event
            .attributes
            .iter()
            .any(|kv| kv.key == "gen_ai.evaluation.name"));
    }
    let max_words = named("check max-words")
        .into_iter()
        .find(|s| s.trace_id == request.trace_id)
        .unwrap();
    match attr(max_words, "gen_ai.evaluation.explanation") {
        Some(Any::StringValue(e)) => assert_eq!(e, "length.words: 7 words, at most 5 allowed"),
        other => panic!("explanation: {other:?}"),
    }

    // The ad-hoc check: a trace of its own (no traceparent), its gate under it.
    let adhoc = named("POST /v1/check");
    assert_eq!(adhoc.len(), 1, "{names:?}");
    assert_ne!(hex(&adhoc[0].trace_id), trace_id);
    assert!(adhoc[0].parent_span_id.is_empty(), "a root span");
    let contains = named("check contains");
    assert_eq!(contains.len(), 1, "{names:?}");
    assert_eq!(contains[0].parent_span_id, adhoc[0].span_id);
    assert_eq!(attr(contains[0], "seam.seam"), text(":ad-hoc"));
    assert_eq!(
        attr(contains[0], "gen_ai.evaluation.score.label"),
        text("pass")
    );

    // A collector that is down costs the checks nothing, and the shutdown still ends.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let toml = format!(
        "{REPLY}\n[telemetry]\notlp_endpoint = \"http://127.0.0.1:{port}\"\nexport_timeout_ms = 300\n"
    );
    let server = start("traces-down", &toml);
    let a = post(&server, path, r#"{"payload": "short"}"#);
    assert_eq!(
        (a.status, &a.body["decision"]["action"]),
        (200, &json!("next"))
    );
    let stopping = std::time::Instant::now();
    assert_eq!(server.stop(), Drained { cut: 0 });
    eprintln!(
        "stopped in {:?} with the collector down",
        stopping.elapsed()
    );
}

/// `seam serve` with `ledger = "postgres://…"`: runs start, wait for a person, resume
/// when the review is decided over HTTP, and the report reads them.
#[test]
fn runs_and_reviews_over_http_with_a_postgres_ledger() {
    let Some(base) = crate::postgres::server("runs_and_reviews_over_http_with_a_postgres_ledger")
    else {
        return;
    };
    let url = crate::postgres::fresh_database(&base, "server_runs");
    let (dir, _) = crate::cli::escalating_pipeline("server-runs-pg-pipeline");
    let pipeline = dir.join("pipeline.toml");
    let server = start(
        "runs-pg",
        &format!(
            "ledger = \"{url}\"\npipelines = [\"{}\"]\n",
            pipeline.display()
        ),
    );
    let a = get_as(&server, "/readyz", None);
    assert_eq!(a.body["ledger"], url.as_str(), "{}", a.body);
    let a = post(
        &server,
        "/v1/pipelines/esc/runs",
        r#"{"input": {"n": 1}, "wait_ms": 60000}"#,
    );
    assert_eq!(
        (a.status, &a.body["status"]),
        (200, &json!("waiting")),
        "{}",
        a.body
    );
    let run = a.body["run_id"].as_str().unwrap().to_string();
    let id = get_as(&server, "/v1/reviews", None).body["reviews"][0]["id"]
        .as_i64()
        .unwrap();
    let a = post(
        &server,
        &format!("/v1/reviews/{id}/accept"),
        r#"{"note": "fine", "wait_ms": 60000}"#,
    );
    assert_eq!(a.body["run"]["status"], "completed", "{}", a.body);
    let a = post(&server, &format!("/v1/reviews/{id}/reject"), "{}");
    assert_eq!(error(&a).0, 409);
    let a = get_as(&server, &format!("/v1/runs/{run}"), None);
    assert_eq!(a.body["status"], "completed", "{}", a.body);
    assert_eq!(a.body["reviews"][0]["note"], "fine");
    let a = get_as(&server, "/v1/report", None);
    assert_eq!(a.body["pipelines"][0]["completed"], 1, "{}", a.body);
    assert_eq!(a.body["pipelines"][0]["escalated"], 1, "{}", a.body);
    conforms("get", "/v1/report", a.status, &a.body);
}

/// Lines a `seam serve` process writes to stdout.
pub(crate) type StdoutLines = std::io::Lines<std::io::BufReader<std::process::ChildStdout>>;

/// A `seam serve` process on `config` (its stderr to `stderr`), the address it says
/// it listens on, and the rest of its stdout.
pub(crate) fn serve_process(
    config: &Path,
    stderr: std::process::Stdio,
) -> (std::process::Child, String, StdoutLines) {
    let mut child =
        crate::hardening::helper_command(&["serve", "--config", config.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("the server says where it listens")
            .unwrap();
        if let Some(rest) = line.strip_prefix("seam serve: listening on ") {
            break rest.split(';').next().unwrap().to_string();
        }
    };
    (child, address, lines)
}
