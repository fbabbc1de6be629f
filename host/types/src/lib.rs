//! `seam-types`: the data every part of the host shares — the `seam:plugin` contract's
//! records on the host side (with serde for the CLI, files, the ledger and the API;
//! mirroring the WIT `types` interface one to one), where a plugin's bytes come from,
//! and two small helpers (SHA-256 digests, line/column positions).
//!
//! This crate must stay light: serde and sha2, no wasmtime, no database.

pub mod files;
pub mod json;
pub mod payload;
pub mod position;
pub mod text;
pub mod vet;

use std::borrow::Cow;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where a plugin's bytes come from, and the name it is known by.
#[derive(Debug, Clone)]
pub struct PluginSource {
    /// The name used in messages: a standard plugin's name, a bundle's `BUNDLE/PLUGIN`,
    /// or the file's stem.
    pub name: String,
    pub bytes: Cow<'static, [u8]>,
    /// The name is only the file's stem: once loaded, the plugin is known by the name
    /// its own `describe()` gives (a crate `no-shouting` builds `no_shouting.wasm`).
    pub named_by_file: bool,
}

/// A plugin file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not read plugin `{plugin}` from {path}: {reason}")]
pub struct ReadError {
    pub plugin: String,
    pub path: String,
    pub reason: String,
}

impl PluginSource {
    /// A plugin read from a `.wasm` file, named after the file's stem.
    pub fn file(path: &Path) -> Result<Self, ReadError> {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let bytes = std::fs::read(path).map_err(|e| ReadError {
            plugin: name.clone(),
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(PluginSource {
            name,
            bytes: Cow::Owned(bytes),
            named_by_file: true,
        })
    }
}

/// One handoff between two pipeline steps: the payload on its way downstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    #[serde(default)]
    pub pipeline: String,
    #[serde(default)]
    pub run_id: String,
    #[serde(default)]
    pub from_step: String,
    #[serde(default)]
    pub to_step: String,
    #[serde(default = "one")]
    pub attempt: u32,
    /// The payload as JSON text.
    pub payload: String,
    /// What the upstream step was given, as JSON text (`null` when unknown).
    #[serde(default = "null")]
    pub context: String,
}

fn one() -> u32 {
    1
}

fn null() -> String {
    "null".to_string()
}

impl Handoff {
    /// A handoff outside any pipeline, carrying `payload` (JSON text).
    pub fn new(payload: impl Into<String>) -> Self {
        Handoff {
            pipeline: String::new(),
            run_id: String::new(),
            from_step: String::new(),
            to_step: String::new(),
            attempt: 1,
            payload: payload.into(),
            context: null(),
        }
    }

    /// A handoff whose payload is the plain text `text` (encoded as a JSON string).
    pub fn text(text: &str) -> Self {
        Self::new(serde_json::Value::String(text.to_string()).to_string())
    }

    /// Sets the context (JSON text).
    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        self.context = context.into();
        self
    }

    /// `from → to` for messages, or `""` outside a pipeline.
    pub fn seam_label(&self) -> String {
        if self.from_step.is_empty() && self.to_step.is_empty() {
            String::new()
        } else {
            format!(" at seam {} → {}", self.from_step, self.to_step)
        }
    }
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// A byte range `[start, end)` in the string a finding points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

/// One thing a gate found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
    pub severity: Severity,
}

/// A gate's answer about one handoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Verdict {
    pub passed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Repaired payload (JSON text) the gate would pass; written in JSON documents as
    /// the JSON value itself, not as a string holding JSON.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "json::embedded"
    )]
    #[schemars(with = "Option<serde_json::Value>")]
    pub fix: Option<String>,
}

/// One gate's verdict, as a router receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateVerdict {
    pub gate: String,
    pub verdict: Verdict,
}

/// A router's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Route {
    pub target: String,
    pub reason: String,
}

/// Gate or router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    Gate,
    Router,
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PluginKind::Gate => "gate",
            PluginKind::Router => "router",
        })
    }
}

/// What a plugin says about itself in `describe()`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub kind: PluginKind,
    pub description: String,
    /// The settings schema, parsed.
    pub settings_schema: serde_json::Value,
}
