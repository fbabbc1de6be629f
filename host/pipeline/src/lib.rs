//! Pipelines: steps run by adapters, and at every seam between two steps the output
//! schema, the gates, and the router or the gates' policies, all recorded in the
//! ledger. See docs/pipeline.md.

pub mod adapters;
pub mod bundles;
pub mod config;
pub mod outside;
pub mod policy;
mod run;
pub mod standalone;

pub use config::{Adapter, ConfigError, Next, OnError, Pipeline, Policy};
pub use run::{
    decide_review, Event, GateResult, Observer, RunError, RunOutcome, RunStatus, Runner, Silent,
    VerdictRecord, MAX_SCHEMA_FINDINGS, RUN_LEASE,
};
