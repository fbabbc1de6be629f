//! Step adapters: how a step is run. `command` (a subprocess: JSON on stdin, JSON on
//! stdout), `http` (POST JSON, JSON back) and `openai` (an OpenAI-compatible
//! chat-completions endpoint). The `human` step is not run here: the runner pauses.
//!
//! Every adapter has a timeout, and every failure says which step failed and why,
//! with the tail of the step's stderr where there is one.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::config::{Adapter, Step};

/// Most bytes read from a step's stdout or an HTTP response.
pub const MAX_OUTPUT_BYTES: usize = 16 << 20;
/// Bytes of stderr kept for messages and the ledger.
pub const STDERR_TAIL_BYTES: usize = 2048;

/// What a step is given: the run's input, the upstream payload, and on a retry the
/// findings that caused it.
#[derive(Debug, Clone, Serialize)]
pub struct StepInput {
    pub run_id: String,
    pub pipeline: String,
    pub step: String,
    pub attempt: u32,
    pub input: Value,
    pub payload: Value,
    pub feedback: Vec<Value>,
}

/// A step's output, with what the ledger records about the execution.
#[derive(Debug)]
pub struct StepOutput {
    pub output: Value,
    pub exit_code: Option<i32>,
    pub stderr_tail: String,
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
#[error("step `{step}` failed: {message}{}", tail_note(stderr_tail))]
pub struct StepFailure {
    pub step: String,
    pub message: String,
    pub exit_code: Option<i32>,
    pub stderr_tail: String,
}

fn tail_note(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("\n  stderr (last lines):\n{}", indent(tail.trim_end()))
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}\n"))
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// Runs `step` (not a human step) with `input`.
pub fn run(step: &Step, input: &StepInput) -> Result<StepOutput, StepFailure> {
    let fail = |message: String| StepFailure {
        step: step.name.clone(),
        message,
        exit_code: None,
        stderr_tail: String::new(),
    };
    match &step.adapter {
        Adapter::Command {
            argv,
            cwd,
            env,
            text_output,
        } => run_command(step, argv, cwd, env, *text_output, input),
        Adapter::Http { url, headers } => {
            let body = serde_json::to_string(input).map_err(|e| fail(e.to_string()))?;
            let text = post(step, url, headers, &body)?;
            parse_json(&text, "response")
                .map_err(fail)
                .map(|output| StepOutput {
                    output,
                    exit_code: None,
                    stderr_tail: String::new(),
                })
        }
        Adapter::OpenAi {
            base_url,
            model,
            prompt,
            system,
            api_key_env,
            temperature,
            max_tokens,
            json_output,
        } => {
            let mut headers = std::collections::HashMap::new();
            if let Some(var) = api_key_env {
                let key = std::env::var(var).map_err(|_| {
                    fail(format!(
                        "the environment variable {var} (named by `api_key_env`) is not set; export it with the API key"
                    ))
                })?;
                headers.insert("Authorization".to_string(), format!("Bearer {key}"));
            }
            let mut messages = Vec::new();
            if let Some(system) = system {
                let content = render(system, input).map_err(|e| fail(format!("system: {e}")))?;
                messages.push(serde_json::json!({"role": "system", "content": content}));
            }
            let content = render(prompt, input).map_err(|e| fail(format!("prompt: {e}")))?;
            messages.push(serde_json::json!({"role": "user", "content": content}));
            let mut body = serde_json::json!({"model": model, "messages": messages});
            if let Some(t) = temperature {
                body["temperature"] = serde_json::json!(t);
            }
            if let Some(m) = max_tokens {
                body["max_tokens"] = serde_json::json!(m);
            }
            let url = format!("{}/chat/completions", base_url.trim_end_matches('/'));
            let text = post(step, &url, &headers, &body.to_string())?;
            let response = parse_json(&text, "response").map_err(fail)?;
            let content = response
                .pointer("/choices/0/message/content")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    fail(format!(
                        "the response has no choices[0].message.content: {}",
                        head(&text, 300)
                    ))
                })?;
            let output = if *json_output {
                parse_json(strip_fences(content), "model's answer").map_err(fail)?
            } else {
                Value::String(content.trim().to_string())
            };
            Ok(StepOutput {
                output,
                exit_code: None,
                stderr_tail: String::new(),
            })
        }
        Adapter::Human { .. } => Err(fail("a human step is decided in review, not run".into())),
    }
}

/// The placeholders a prompt template may use.
pub const PLACEHOLDERS: &str =
    "{{input}}, {{input.KEY}}, {{payload}}, {{feedback}}, {{attempt}}, {{step}}";

/// One piece of a parsed prompt template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part<'t> {
    Text(&'t str),
    Input,
    InputKey(&'t str),
    Payload,
    Feedback,
    Attempt,
    Step,
}

/// A mistake in a prompt template, at a byte offset into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

/// Parses a prompt template strictly: every `{{…}}` must close and name a known
/// placeholder (checked when the pipeline loads, so a typo is not sent to a model).
pub fn check_template(template: &str) -> Result<(), TemplateError> {
    parse_template(template).map(drop)
}

fn parse_template(template: &str) -> Result<Vec<Part<'_>>, TemplateError> {
    let mut parts = Vec::new();
    let mut at = 0;
    while let Some(found) = template[at..].find("{{") {
        let open = at + found;
        // `\{{` is a literal `{{`.
        if open > at && template.as_bytes()[open - 1] == b'\\' {
            parts.push(Part::Text(&template[at..open - 1]));
            parts.push(Part::Text("{{"));
            at = open + 2;
            continue;
        }
        if open > at {
            parts.push(Part::Text(&template[at..open]));
        }
        let Some(len) = template[open + 2..].find("}}") else {
            return Err(TemplateError {
                offset: open,
                message: "`{{` is never closed with `}}` (write `\\{{` for a literal `{{`)".into(),
            });
        };
        let key = template[open + 2..open + 2 + len].trim();
        let part = match key {
            "input" => Part::Input,
            "payload" => Part::Payload,
            "feedback" => Part::Feedback,
            "attempt" => Part::Attempt,
            "step" => Part::Step,
            _ => match key.strip_prefix("input.") {
                Some(k) if !k.is_empty() && !k.contains(char::is_whitespace) => Part::InputKey(k),
                _ => {
                    return Err(TemplateError {
                        offset: open,
                        message: format!(
                            "unknown placeholder `{{{{{key}}}}}`; a prompt may use {PLACEHOLDERS} (write `\\{{{{` for a literal `{{{{`)"
                        ),
                    })
                }
            },
        };
        parts.push(part);
        at = open + 2 + len + 2;
    }
    if at < template.len() {
        parts.push(Part::Text(&template[at..]));
    }
    Ok(parts)
}

/// Fills a prompt template checked by [`check_template`]: `{{input}}`, `{{input.KEY}}`,
/// `{{payload}}`, `{{feedback}}`, `{{attempt}}` and `{{step}}`. Strings are inserted as
/// they are, other values as JSON. A `{{input.KEY}}` whose key the run's input lacks is
/// an error, not an empty string.
pub fn render(template: &str, input: &StepInput) -> Result<String, String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let parts = parse_template(template).map_err(|e| e.message)?;
    let mut out = String::with_capacity(template.len());
    for part in parts {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Input => out.push_str(&text(&input.input)),
            Part::InputKey(k) => match input.input.get(k) {
                Some(v) => out.push_str(&text(v)),
                None => {
                    return Err(format!(
                        "the prompt uses `{{{{input.{k}}}}}`, but the run's input has no `{k}` (input: {})",
                        preview_json(&input.input)
                    ))
                }
            },
            Part::Payload => out.push_str(&text(&input.payload)),
            Part::Feedback => out.push_str(&feedback_text(&input.feedback)),
            Part::Attempt => out.push_str(&input.attempt.to_string()),
            Part::Step => out.push_str(&input.step),
        }
    }
    Ok(out)
}

/// A short, single-line form of a JSON value for messages.
fn preview_json(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// A model's answer with Markdown code fences around it, unwrapped.
fn strip_fences(text: &str) -> &str {
    let t = text.trim();
    let Some(inner) = t.strip_prefix("```") else {
        return t;
    };
    let inner = inner.split_once('\n').map_or("", |(_, rest)| rest);
    inner.strip_suffix("```").unwrap_or(inner).trim()
}

fn head(text: &str, n: usize) -> String {
    let mut s: String = text.chars().take(n).collect();
    if text.chars().count() > n {
        s.push('…');
    }
    s
}

fn parse_json(text: &str, what: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| {
        format!(
            "its {what} is not JSON ({e}); it began: {:?}",
            head(text.trim(), 200)
        )
    })
}

fn post(
    step: &Step,
    url: &str,
    headers: &std::collections::HashMap<String, String>,
    body: &str,
) -> Result<String, StepFailure> {
    let fail = |message: String| StepFailure {
        step: step.name.clone(),
        message,
        exit_code: None,
        stderr_tail: String::new(),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(step.timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.post(url).header("Content-Type", "application/json");
    for (k, v) in headers {
        request = request.header(k, v);
    }
    let mut response = request.send(body).map_err(|e| match e {
        ureq::Error::Timeout(_) => fail(format!(
            "no answer from {url} within {} ms (timeout_ms)",
            step.timeout.as_millis()
        )),
        other => fail(format!("POST {url} failed: {other}")),
    })?;
    let status = response.status();
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_OUTPUT_BYTES as u64)
        .read_to_string()
        .map_err(|e| fail(format!("reading the answer of {url} failed: {e}")))?;
    if !status.is_success() {
        return Err(fail(format!(
            "POST {url} answered {status}: {}",
            head(text.trim(), 300)
        )));
    }
    Ok(text)
}

fn run_command(
    step: &Step,
    argv: &[String],
    cwd: &std::path::Path,
    env: &std::collections::HashMap<String, String>,
    text_output: bool,
    input: &StepInput,
) -> Result<StepOutput, StepFailure> {
    let fail = |message: String, exit_code: Option<i32>, stderr_tail: String| StepFailure {
        step: step.name.clone(),
        message,
        exit_code,
        stderr_tail,
    };
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(cwd)
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so a timeout kills everything the step started.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().map_err(|e| {
        fail(
            format!("could not start `{}` (in {}): {e}", argv[0], cwd.display()),
            None,
            String::new(),
        )
    })?;
    let body = serde_json::to_vec(input).unwrap_or_default();
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let writer = std::thread::spawn(move || {
        // A step that exits without reading its input is not an error of ours.
        let _ = stdin.write_all(&body);
    });
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let (out_tx, out_rx) = std::sync::mpsc::channel();
    let (err_tx, err_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let n = (&mut stdout)
            .take(MAX_OUTPUT_BYTES as u64 + 1)
            .read_to_end(&mut buf);
        // Drain the rest so the child never blocks on a full pipe.
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        let _ = out_tx.send(n.map(|_| buf));
    });
    std::thread::spawn(move || {
        let mut tail: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut chunk) {
            if n == 0 {
                break;
            }
            tail.extend_from_slice(&chunk[..n]);
            if tail.len() > STDERR_TAIL_BYTES * 2 {
                tail.drain(..tail.len() - STDERR_TAIL_BYTES);
            }
        }
        let start = tail.len().saturating_sub(STDERR_TAIL_BYTES);
        let _ = err_tx.send(String::from_utf8_lossy(&tail[start..]).into_owned());
    });
    let deadline = Instant::now() + step.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                kill_group(&mut child);
                let _ = child.wait();
                break Err(format!(
                    "it did not finish within {} ms (timeout_ms) and was killed",
                    step.timeout.as_millis()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => break Err(format!("waiting for it failed: {e}")),
        }
    };
    // Whatever the step left running in the background goes too: it would hold the
    // pipes open (and outlive the step).
    kill_group(&mut child);
    let _ = writer.join();
    let grace = Duration::from_secs(2);
    let stdout = out_rx
        .recv_timeout(grace)
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let stderr_tail = err_rx.recv_timeout(grace).unwrap_or_default();
    let status = status.map_err(|m| fail(m, None, stderr_tail.clone()))?;
    let code = status.code();
    if !status.success() {
        let how = match code {
            Some(c) => format!("it exited with status {c}"),
            None => "it was killed by a signal".to_string(),
        };
        return Err(fail(how, code, stderr_tail));
    }
    if stdout.len() > MAX_OUTPUT_BYTES {
        return Err(fail(
            format!("its output is over {} bytes", MAX_OUTPUT_BYTES),
            code,
            stderr_tail,
        ));
    }
    let text = String::from_utf8(stdout)
        .map_err(|_| fail("its output is not UTF-8".into(), code, stderr_tail.clone()))?;
    let output = if text_output {
        Value::String(text.strip_suffix('\n').unwrap_or(&text).to_string())
    } else if text.trim().is_empty() {
        return Err(fail(
            "it printed nothing; a command step prints its output as JSON on stdout (or set output = \"text\")".into(),
            code,
            stderr_tail,
        ));
    } else {
        parse_json(&text, "output").map_err(|m| fail(m, code, stderr_tail.clone()))?
    };
    Ok(StepOutput {
        output,
        exit_code: code,
        stderr_tail,
    })
}

/// Kills the step's process group (the step and everything it started).
fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        let pgid = child.id() as i32;
        // SAFETY: kill(2) with a negative pid signals the process group we created for
        // this step with `process_group(0)`; it touches no memory.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
}

/// The findings a retry carries, as the text a step is given (`{{feedback}}`):
/// `Your previous answer was rejected:` and a line per finding, `- GATE (CODE): MESSAGE`.
/// Empty when there are none.
pub fn feedback_text(feedback: &[Value]) -> String {
    if feedback.is_empty() {
        return String::new();
    }
    let lines: Vec<String> = feedback
        .iter()
        .map(|f| {
            format!(
                "- {} ({}): {}",
                f["gate"].as_str().unwrap_or("gate"),
                f["code"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    format!("Your previous answer was rejected:\n{}", lines.join("\n"))
}
