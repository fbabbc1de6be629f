//! `seam-host`: the seam runtime as a library, used by the `seam` binary.
//!
//! - [`runtime`] loads gate and router plugins (WebAssembly components) and runs every
//!   call in a fresh sandboxed instance;
//! - [`types`] is the data of the `seam:plugin` contract (handoff, verdict, finding,
//!   route) on the host side;
//! - [`std_plugins`] are the standard plugins embedded in the binary;
//! - [`pipeline`] runs steps and the seams between them; [`ledger`] records it all;
//! - [`bundle`] reads, checks, signs and resolves shared plugins;
//! - [`report`] and [`feedback`] turn the ledger into figures and training data;
//! - [`cli`] is the `seam` command line, callable in-process.

pub mod bundle;
pub mod cli;
pub mod feedback;
pub mod ledger;
pub mod pipeline;
pub mod position;
pub mod report;
pub mod runtime;
pub mod std_plugins;
pub mod types;
