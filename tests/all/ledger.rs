//! The ledger behind its trait: the conformance suite on the SQLite backend, and one
//! driver per run (claims with leases) through the pipeline runner.

use std::time::Duration;

use seam_ledger::{conformance, Ledger, SqliteLedger};
use seam_pipeline::{decide_review, Pipeline, RunError, RunStatus, Runner, Silent};
use serde_json::json;

use crate::pipeline::{load, scratch};

/// Every conformance check on a fresh SQLite ledger; failures are listed by name.
#[test]
fn sqlite_passes_the_conformance_suite() {
    let mut failed = Vec::new();
    for (name, check) in conformance::CHECKS {
        let dir = scratch(&format!("conformance-{name}"));
        let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&ledger))).is_err() {
            failed.push(*name);
        }
    }
    assert!(failed.is_empty(), "conformance checks failed: {failed:?}");
}

/// A pipeline whose second step appends a line to `lines` (slowly), after a person
/// approves: the run waits at the review, then is resumed.
fn appending_pipeline(name: &str) -> (std::path::PathBuf, Pipeline) {
    let dir = scratch(name);
    let toml = "[pipeline]\nname = \"t\"\n\
        [[steps]]\nname = \"approve\"\nkind = \"human\"\n\
        [[steps]]\nname = \"append\"\nkind = \"command\"\n\
        command = [\"sh\", \"-c\", '''cat >/dev/null; echo line >> lines; sleep 1; printf '\"done\"' ''']\n";
    let p = load(&dir, toml);
    (dir, p)
}

#[test]
fn two_concurrent_resumes_run_the_next_step_once() {
    let (dir, p) = appending_pipeline("two-resumes");
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = Runner::new(&p, &ledger, &Silent)
        .start(json!(null))
        .unwrap();
    assert_eq!(o.status, RunStatus::Waiting);
    let review = ledger.reviews(Some("pending")).unwrap()[0].id;
    decide_review(&ledger, review, true, "ana", None, Some(&json!("approved"))).unwrap();
    let results: Vec<_> = std::thread::scope(|s| {
        let a = s.spawn(|| Runner::new(&p, &ledger, &Silent).resume(&o.run_id));
        let b = s.spawn(|| Runner::new(&p, &ledger, &Silent).resume(&o.run_id));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    let lines = std::fs::read_to_string(dir.join("lines")).unwrap();
    assert_eq!(lines, "line\n", "the side-effecting step ran once");
    let completed = results
        .iter()
        .filter(|r| matches!(r, Ok(o) if o.status == RunStatus::Completed))
        .count();
    assert_eq!(completed, 1, "{results:?}");
    let refused = results
        .iter()
        .find_map(|r| r.as_ref().err())
        .expect("one resume is refused");
    assert!(
        matches!(
            refused,
            RunError::Claimed { .. } | RunError::Finished { .. }
        ),
        "{refused}"
    );
    let steps: Vec<String> = ledger
        .step_runs(&o.run_id)
        .unwrap()
        .into_iter()
        .map(|s| s.step)
        .collect();
    assert_eq!(steps, ["approve", "append"], "each step recorded once");
}

#[test]
fn a_claimed_run_is_refused_with_a_message_naming_the_holder() {
    let (dir, p) = appending_pipeline("claimed-message");
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = Runner::new(&p, &ledger, &Silent)
        .start(json!(null))
        .unwrap();
    ledger
        .claim(&o.run_id, "another worker", Duration::from_secs(60))
        .unwrap();
    let err = Runner::new(&p, &ledger, &Silent)
        .resume(&o.run_id)
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "run `{}` is being driven by another worker (another worker), whose claim lasts 60 s more; nothing was run.",
            o.run_id
        )),
        "{text}"
    );
    assert!(!dir.join("lines").exists());
}

#[test]
fn a_lapsed_claim_of_a_dead_worker_is_taken_over() {
    let (dir, p) = appending_pipeline("lapsed-claim");
    let ledger = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let o = Runner::new(&p, &ledger, &Silent)
        .start(json!(null))
        .unwrap();
    let review = ledger.reviews(Some("pending")).unwrap()[0].id;
    decide_review(&ledger, review, true, "ana", None, Some(&json!("ok"))).unwrap();
    // A worker that claimed the run and died: its lease lapses.
    ledger
        .claim(&o.run_id, "dead worker", Duration::from_millis(1))
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let done = Runner::new(&p, &ledger, &Silent).resume(&o.run_id).unwrap();
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(
        std::fs::read_to_string(dir.join("lines")).unwrap(),
        "line\n"
    );
}

/// A ledger that refuses to start runs whose input contains `"boom"`: one run of a
/// batch that cannot go on.
struct RefusesBoom(SqliteLedger);

impl Ledger for RefusesBoom {
    fn location(&self) -> String {
        self.0.location()
    }
    fn start_run(&self, run: &seam_ledger::NewRun<'_>) -> Result<(), seam_ledger::LedgerError> {
        if run.input.contains("boom") {
            return Err(seam_ledger::LedgerError::Write {
                what: "the new run".into(),
                location: self.location(),
                source: "disk full".into(),
            });
        }
        self.0.start_run(run)
    }
    fn record(
        &self,
        what: &str,
        phase: seam_ledger::Phase<'_>,
    ) -> Result<seam_ledger::Recorded, seam_ledger::LedgerError> {
        self.0.record(what, phase)
    }
    fn claim(
        &self,
        run_id: &str,
        holder: &str,
        lease: Duration,
    ) -> Result<seam_ledger::Claim, seam_ledger::LedgerError> {
        self.0.claim(run_id, holder, lease)
    }
    fn renew(
        &self,
        run_id: &str,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, seam_ledger::LedgerError> {
        self.0.renew(run_id, holder, lease)
    }
    fn release(&self, run_id: &str, holder: &str) -> Result<(), seam_ledger::LedgerError> {
        self.0.release(run_id, holder)
    }
    fn claim_orphan(
        &self,
        holder: &str,
        pipelines: &[String],
        lease: Duration,
        grace: Duration,
    ) -> Result<Option<seam_ledger::Orphan>, seam_ledger::LedgerError> {
        self.0.claim_orphan(holder, pipelines, lease, grace)
    }
    fn decide_review(
        &self,
        id: i64,
        accepted: bool,
        by: &str,
        note: Option<&str>,
        output: Option<&str>,
    ) -> Result<(), seam_ledger::LedgerError> {
        self.0.decide_review(id, accepted, by, note, output)
    }
    fn run(&self, id: &str) -> Result<seam_ledger::RunRow, seam_ledger::LedgerError> {
        self.0.run(id)
    }
    fn runs(
        &self,
        status: Option<&str>,
    ) -> Result<Vec<seam_ledger::RunRow>, seam_ledger::LedgerError> {
        self.0.runs(status)
    }
    fn handoff(&self, id: i64) -> Result<seam_ledger::HandoffRow, seam_ledger::LedgerError> {
        self.0.handoff(id)
    }
    fn handoffs(
        &self,
        run_id: &str,
    ) -> Result<Vec<seam_ledger::HandoffRow>, seam_ledger::LedgerError> {
        self.0.handoffs(run_id)
    }
    fn routes(&self, id: i64) -> Result<Vec<seam_ledger::RouteRow>, seam_ledger::LedgerError> {
        self.0.routes(id)
    }
    fn seam_visits(
        &self,
        filter: &seam_ledger::report::Filter,
        pipeline: &str,
        seam: &str,
        limit: usize,
    ) -> Result<Vec<seam_ledger::SeamVisit>, seam_ledger::LedgerError> {
        self.0.seam_visits(filter, pipeline, seam, limit)
    }
    fn step_input(&self, id: i64) -> Result<String, seam_ledger::LedgerError> {
        self.0.step_input(id)
    }
    fn step_runs(
        &self,
        run_id: &str,
    ) -> Result<Vec<seam_ledger::StepRunRow>, seam_ledger::LedgerError> {
        self.0.step_runs(run_id)
    }
    fn verdicts(&self, id: i64) -> Result<Vec<seam_ledger::VerdictRow>, seam_ledger::LedgerError> {
        self.0.verdicts(id)
    }
    fn review(&self, id: i64) -> Result<seam_ledger::ReviewRow, seam_ledger::LedgerError> {
        self.0.review(id)
    }
    fn reviews(
        &self,
        status: Option<&str>,
    ) -> Result<Vec<seam_ledger::ReviewRow>, seam_ledger::LedgerError> {
        self.0.reviews(status)
    }
    fn counts(&self) -> Result<seam_ledger::Counts, seam_ledger::LedgerError> {
        self.0.counts()
    }
    fn report(
        &self,
        filter: &seam_ledger::report::Filter,
    ) -> Result<seam_ledger::report::Report, seam_ledger::LedgerError> {
        self.0.report(filter)
    }
    fn export(
        &self,
        filter: &seam_ledger::feedback::ExportFilter,
        shape: seam_ledger::feedback::Shape,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, seam_ledger::LedgerError> {
        self.0.export(filter, shape, out)
    }
}

#[test]
fn one_run_that_cannot_go_on_does_not_lose_the_other_runs_outcomes() {
    let dir = scratch("batch-error");
    let p = load(
        &dir,
        "[pipeline]\nname = \"t\"\n[[steps]]\nname = \"echo\"\nkind = \"command\"\ncommand = [\"cat\"]\n",
    );
    let ledger = RefusesBoom(SqliteLedger::open(&dir.join("l.db")).unwrap());
    let inputs = vec![json!({"i": 1}), json!({"i": "boom"}), json!({"i": 3})];
    let results = seam_cli::run::execute_each(&p, &ledger, &Silent, inputs, 2);
    let summary: Vec<(usize, Result<RunStatus, String>)> = results
        .into_iter()
        .map(|(i, r)| (i, r.map(|o| o.status).map_err(|e| e.to_string())))
        .collect();
    assert_eq!(
        summary,
        [
            (0, Ok(RunStatus::Completed)),
            (
                1,
                Err(format!(
                    "writing the new run to the ledger {} failed; the run stops here",
                    dir.join("l.db").display()
                ))
            ),
            (2, Ok(RunStatus::Completed)),
        ]
    );
    assert_eq!(ledger.runs(None).unwrap().len(), 2);
}
