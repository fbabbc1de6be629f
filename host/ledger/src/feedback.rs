//! Feedback export: every judged candidate in the ledger — accepted or rejected, by the
//! gates, a router or a person — as JSONL for fine-tuning or retrieval. Each backend
//! streams rows to the writer ([`crate::Ledger::export`]); memory holds at most one
//! run's seam at a time. This module holds the shapes and writes the pairs.
//!
//! Four shapes (docs/report.md): `records`, one line per judged candidate; `pairs`, one
//! line per (rejected, chosen) pair of candidates for the same run and seam; and the
//! same two as trainers read them: `dpo` (TRL's preference format: `prompt`, `chosen`,
//! `rejected`) and `kto` (TRL's unpaired preference format: `prompt`, `completion`,
//! `label`).

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

use crate::report::Filter;
use crate::LedgerError;

/// The export's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Records,
    Pairs,
    /// `pairs` as TRL's preference rows.
    Dpo,
    /// `records` as TRL's unpaired preference rows.
    Kto,
}

impl Shape {
    /// Whether lines come from pairs of candidates of one run's seam (else one line per
    /// judged candidate).
    pub fn paired(self) -> bool {
        matches!(self, Shape::Pairs | Shape::Dpo)
    }
}

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    pub runs: Filter,
    /// Only candidates this gate judged.
    pub gate: Option<String>,
    /// Only `accepted` or only `rejected` candidates (records only).
    pub decision: Option<String>,
}

/// One gate's judgment of a candidate.
#[derive(Debug, Clone, Serialize)]
pub struct Judgment {
    pub gate: String,
    pub outcome: String,
    pub score: Option<f64>,
    pub findings: Value,
}

/// A person's decision on a candidate.
#[derive(Debug, Clone, Serialize)]
pub struct HumanDecision {
    pub decision: String,
    pub by: Option<String>,
    pub note: Option<String>,
}

/// One judged candidate (the `records` shape).
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub run_id: String,
    pub pipeline: String,
    pub step: String,
    pub attempt: u32,
    pub created_at: i64,
    /// The run's input.
    pub input: Value,
    /// What the step was given (its prompt and inputs).
    pub context: Value,
    /// The step's output that was judged.
    pub candidate: Value,
    /// `accepted` (it went on) or `rejected`.
    pub label: String,
    /// `policy`, `router:<plugin>` or `review`.
    pub decided_by: String,
    pub verdicts: Vec<Judgment>,
    pub review: Option<HumanDecision>,
}

/// A rejected candidate and the accepted one for the same run and seam (`pairs`).
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub run_id: String,
    pub pipeline: String,
    pub step: String,
    pub input: Value,
    /// What the step was given on the rejected attempt.
    pub prompt: Value,
    pub chosen: Value,
    pub rejected: Value,
    /// The findings that rejected it, with the gate that found each.
    pub reasons: Vec<Value>,
    pub review_note: Option<String>,
}

/// A row of TRL's preference format (`--shape dpo`): the prompt as text or as chat
/// messages, and the two completions in the same form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preference {
    pub prompt: Value,
    pub chosen: Value,
    pub rejected: Value,
}

/// A row of TRL's unpaired preference format (`--shape kto`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unpaired {
    pub prompt: Value,
    pub completion: Value,
    /// Whether the candidate was accepted.
    pub label: bool,
}

/// What the step was given, as a trainer's prompt: chat messages when the context holds
/// them, else text.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    Text(String),
    Chat(Vec<Value>),
}

fn is_messages(m: &[Value]) -> bool {
    !m.is_empty()
        && m.iter().all(|x| {
            x.get("role").is_some_and(Value::is_string)
                && x.get("content").is_some_and(Value::is_string)
        })
}

/// The prompt in a step's context, by the first rule that fits: a string; a list of
/// chat messages (`role` and `content`); an object's `messages`, then its `prompt`
/// string, then (for a step's input as seam records it) its `input`, looked into the
/// same way; an object of one string field, that string; else the context as compact
/// JSON.
pub fn prompt_of(context: &Value) -> Prompt {
    fn find(v: &Value, depth: u8) -> Prompt {
        match v {
            Value::String(s) => Prompt::Text(s.clone()),
            Value::Array(m) if is_messages(m) => Prompt::Chat(m.clone()),
            Value::Object(o) if depth > 0 => {
                if let Some(Value::Array(m)) = o.get("messages") {
                    if is_messages(m) {
                        return Prompt::Chat(m.clone());
                    }
                }
                if let Some(Value::String(p)) = o.get("prompt") {
                    return Prompt::Text(p.clone());
                }
                if let Some(input) = o.get("input").filter(|i| !i.is_null()) {
                    return find(input, depth - 1);
                }
                match o.values().next() {
                    Some(Value::String(s)) if o.len() == 1 => Prompt::Text(s.clone()),
                    _ => Prompt::Text(v.to_string()),
                }
            }
            Value::Null => Prompt::Text(String::new()),
            other => Prompt::Text(other.to_string()),
        }
    }
    find(context, 4)
}

impl Prompt {
    fn value(&self) -> Value {
        match self {
            Prompt::Text(t) => Value::String(t.clone()),
            Prompt::Chat(m) => Value::Array(m.clone()),
        }
    }

    /// A candidate in this prompt's form: text, or one assistant message.
    fn completion(&self, candidate: &Value) -> Value {
        let text = match candidate {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match self {
            Prompt::Text(_) => Value::String(text),
            Prompt::Chat(_) => serde_json::json!([{"role": "assistant", "content": text}]),
        }
    }
}

/// A judged candidate as a line of a per-candidate shape (`records` or `kto`).
pub(crate) fn write_record(
    shape: Shape,
    record: &Record,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let line = match shape {
        Shape::Kto => {
            let prompt = prompt_of(&record.context);
            serde_json::to_string(&Unpaired {
                prompt: prompt.value(),
                completion: prompt.completion(&record.candidate),
                label: record.label == "accepted",
            })?
        }
        _ => serde_json::to_string(record)?,
    };
    writeln!(out, "{line}")
}

/// One routed handoff as a backend reads it for the export, in the order of run, seam
/// and handoff.
pub(crate) struct Candidate {
    pub run_id: String,
    pub pipeline: String,
    pub step: String,
    pub attempt: u32,
    pub created_at: i64,
    pub input: String,
    pub context: String,
    pub payload: String,
    /// The last route's target and who decided it.
    pub target: String,
    pub decided_by: String,
    /// The last decided review of the handoff: its status, who and the note.
    pub review: Option<(String, Option<String>, Option<String>)>,
}

/// Turns candidates into lines of `shape`, holding one run's seam at a time (the pairs
/// are made from it): the part of the export every backend shares.
pub(crate) struct Exporter<'a> {
    shape: Shape,
    decision: Option<String>,
    out: &'a mut dyn Write,
    group: Vec<Record>,
    written: u64,
}

impl<'a> Exporter<'a> {
    pub fn new(filter: &ExportFilter, shape: Shape, out: &'a mut dyn Write) -> Self {
        Exporter {
            shape,
            decision: filter.decision.clone(),
            out,
            group: Vec::new(),
            written: 0,
        }
    }

    /// The next candidate and the gates' judgments of it.
    pub fn push(&mut self, c: Candidate, verdicts: Vec<Judgment>) -> std::io::Result<()> {
        let stopped = matches!(c.target.as_str(), "retry" | "human" | "reject" | "error")
            || c.target.starts_with("fix:");
        let review = c.review.map(|(decision, by, note)| HumanDecision {
            decision,
            by: by.filter(|b| !b.is_empty()),
            note: note.filter(|n| !n.is_empty()),
        });
        let label = match &review {
            Some(r) if r.decision == "rejected" => "rejected",
            _ if stopped => "rejected",
            _ => "accepted",
        };
        let record = Record {
            run_id: c.run_id,
            pipeline: c.pipeline,
            step: c.step,
            attempt: c.attempt,
            created_at: c.created_at,
            input: json(&c.input),
            context: json(&c.context),
            candidate: json(&c.payload),
            label: label.to_string(),
            decided_by: c.decided_by,
            verdicts,
            review,
        };
        if let Some(last) = self.group.last() {
            if last.run_id != record.run_id || last.step != record.step {
                if self.shape.paired() {
                    self.written += write_pairs(&self.group, self.shape, self.out)?;
                }
                self.group.clear();
            }
        }
        if !self.shape.paired() && self.decision.as_deref().is_none_or(|d| d == record.label) {
            write_record(self.shape, &record, self.out)?;
            self.written += 1;
        }
        self.group.push(record);
        Ok(())
    }

    /// Writes the last group's pairs; returns the number of lines written in all.
    pub fn finish(mut self) -> std::io::Result<u64> {
        if self.shape.paired() {
            self.written += write_pairs(&self.group, self.shape, self.out)?;
        }
        Ok(self.written)
    }
}

pub(crate) fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// Writes one pair per rejected candidate of one run's seam, against the last accepted
/// one, in `shape` (`pairs` or `dpo`); returns how many.
pub(crate) fn write_pairs(
    group: &[Record],
    shape: Shape,
    out: &mut dyn Write,
) -> std::io::Result<u64> {
    let Some(chosen) = group.iter().rev().find(|r| r.label == "accepted") else {
        return Ok(0);
    };
    let mut n = 0;
    for rej in group.iter().filter(|r| r.label == "rejected") {
        if shape == Shape::Dpo {
            // The prompt the rejected candidate answered; the chosen one in its form.
            let prompt = prompt_of(&rej.context);
            let row = Preference {
                prompt: prompt.value(),
                chosen: prompt.completion(&chosen.candidate),
                rejected: prompt.completion(&rej.candidate),
            };
            writeln!(out, "{}", serde_json::to_string(&row)?)?;
            n += 1;
            continue;
        }
        let reasons: Vec<Value> = rej
            .verdicts
            .iter()
            .filter(|j| j.outcome != "passed")
            .flat_map(|j| {
                j.findings
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|mut f| {
                        f["gate"] = Value::String(j.gate.clone());
                        f
                    })
            })
            .collect();
        let pair = Pair {
            run_id: rej.run_id.clone(),
            pipeline: rej.pipeline.clone(),
            step: rej.step.clone(),
            input: rej.input.clone(),
            prompt: rej.context.clone(),
            chosen: chosen.candidate.clone(),
            rejected: rej.candidate.clone(),
            reasons,
            review_note: rej.review.as_ref().and_then(|r| r.note.clone()),
        };
        writeln!(out, "{}", serde_json::to_string(&pair)?)?;
        n += 1;
    }
    Ok(n)
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_prompt_is_text_or_chat_by_the_first_rule_that_fits() {
        let chat = json!([{"role": "user", "content": "hi"}]);
        let cases = [
            (json!("write it"), Prompt::Text("write it".into())),
            (chat.clone(), Prompt::Chat(chat.as_array().unwrap().clone())),
            (
                json!({"messages": chat, "prompt": "not this"}),
                Prompt::Chat(chat.as_array().unwrap().clone()),
            ),
            (
                json!({"prompt": "p", "input": "not this"}),
                Prompt::Text("p".into()),
            ),
            (
                json!({"attempt": 1, "feedback": [], "input": {"task": "Describe the $89 headphones"}}),
                Prompt::Text("Describe the $89 headphones".into()),
            ),
            (
                json!({"input": {"a": 1, "b": 2}}),
                Prompt::Text(r#"{"a":1,"b":2}"#.into()),
            ),
            (json!({"a": 1}), Prompt::Text(r#"{"a":1}"#.into())),
            (
                json!([{"role": "user"}]),
                Prompt::Text(r#"[{"role":"user"}]"#.into()),
            ),
            (json!(null), Prompt::Text(String::new())),
            (json!(42), Prompt::Text("42".into())),
        ];
        for (context, want) in cases {
            assert_eq!(prompt_of(&context), want, "{context}");
        }
        // Nested inputs are looked into a bounded number of times.
        let mut deep = json!("bottom");
        for _ in 0..10 {
            deep = json!({"input": deep});
        }
        assert!(matches!(prompt_of(&deep), Prompt::Text(t) if t.starts_with("{\"input\"")));
    }

    #[test]
    fn completions_take_the_prompts_form() {
        let text = Prompt::Text("p".into());
        assert_eq!(text.completion(&json!("answer")), json!("answer"));
        assert_eq!(text.completion(&json!({"a": 1})), json!(r#"{"a":1}"#));
        let chat = Prompt::Chat(vec![json!({"role": "user", "content": "p"})]);
        assert_eq!(
            chat.completion(&json!("answer")),
            json!([{"role": "assistant", "content": "answer"}])
        );
    }
}
