//! `seam-ledger`: every run, step execution, handoff, verdict, route and human
//! decision, in one SQLite file (WAL), with schema migrations; [`report`] and
//! [`feedback`] compute the reliability report and the training exports from it.
//!
//! This module owns the schema and every SQL statement. It must not decide anything:
//! the pipeline runner tells it what happened, in transactions that also move the run's
//! cursor, so a run killed at any moment resumes exactly after its last recorded step.
//! A write that fails is an error for the caller, never ignored.

pub mod feedback;
pub mod report;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;

/// Schema migrations, applied in order; `PRAGMA user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    pipeline        TEXT NOT NULL,
    pipeline_file   TEXT NOT NULL,
    pipeline_digest TEXT NOT NULL,
    input           TEXT NOT NULL,
    status          TEXT NOT NULL,          -- running | waiting | completed | rejected | failed
    cursor          TEXT NOT NULL,          -- JSON: where the run continues
    output          TEXT,
    reason          TEXT,
    created_at      INTEGER NOT NULL,       -- unix milliseconds
    updated_at      INTEGER NOT NULL
);
CREATE TABLE step_runs (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs(id),
    step        TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    adapter     TEXT NOT NULL,
    input       TEXT NOT NULL,
    output      TEXT,
    status      TEXT NOT NULL,              -- ok | error
    error       TEXT,
    exit_code   INTEGER,
    stderr_tail TEXT,
    started_at  INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL
);
CREATE TABLE handoffs (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs(id),
    step_run_id INTEGER REFERENCES step_runs(id),
    from_step   TEXT NOT NULL,
    to_step     TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    payload     TEXT NOT NULL,
    context     TEXT NOT NULL,
    fixed_by    TEXT,                       -- the gate whose fix produced this payload
    created_at  INTEGER NOT NULL
);
CREATE TABLE verdicts (
    id            INTEGER PRIMARY KEY,
    handoff_id    INTEGER NOT NULL REFERENCES handoffs(id),
    run_id        TEXT NOT NULL REFERENCES runs(id),
    gate          TEXT NOT NULL,
    plugin        TEXT NOT NULL,
    plugin_digest TEXT NOT NULL,
    outcome       TEXT NOT NULL,            -- passed | failed | error
    score         REAL,
    findings      TEXT NOT NULL,            -- JSON list
    fix           TEXT,
    error_cause   TEXT,                     -- timeout | out-of-memory | ... when outcome = error
    error         TEXT,
    policy        TEXT NOT NULL,
    duration_us   INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE TABLE routes (
    id         INTEGER PRIMARY KEY,
    handoff_id INTEGER NOT NULL REFERENCES handoffs(id),
    run_id     TEXT NOT NULL REFERENCES runs(id),
    decided_by TEXT NOT NULL,               -- policy | router:<plugin> | review
    target     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE reviews (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs(id),
    handoff_id  INTEGER REFERENCES handoffs(id),
    step        TEXT NOT NULL,
    kind        TEXT NOT NULL,              -- escalation | human-step
    status      TEXT NOT NULL,              -- pending | accepted | rejected
    payload     TEXT NOT NULL,
    findings    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    decided_by  TEXT,
    decided_at  INTEGER,
    note        TEXT,
    output      TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX step_runs_run ON step_runs(run_id);
CREATE INDEX handoffs_run ON handoffs(run_id);
CREATE INDEX verdicts_run ON verdicts(run_id);
CREATE INDEX verdicts_gate ON verdicts(gate, created_at);
CREATE INDEX routes_run ON routes(run_id);
CREATE INDEX reviews_status ON reviews(status);
"#,
    r#"
-- 2: lookups by handoff, for the report and the feedback export.
CREATE INDEX routes_handoff ON routes(handoff_id);
CREATE INDEX verdicts_handoff ON verdicts(handoff_id);
CREATE INDEX reviews_handoff ON reviews(handoff_id);
CREATE INDEX handoffs_step ON handoffs(run_id, from_step);
CREATE INDEX runs_pipeline ON runs(pipeline, created_at);
"#,
];

/// What went wrong with the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot open the ledger {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the ledger {path} has schema version {found}, newer than this seam knows ({known}); upgrade seam")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("writing {what} to the ledger {path} failed; the run stops here")]
    Write {
        what: String,
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("reading {what} from the ledger {path} failed")]
    Read {
        what: String,
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("no {what} `{id}` in the ledger {path}")]
    NotFound {
        what: &'static str,
        id: String,
        path: PathBuf,
    },
}

enum PrepareError {
    Busy(rusqlite::Error),
    Sqlite(rusqlite::Error),
    TooNew(i64),
}

impl From<rusqlite::Error> for PrepareError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                PrepareError::Busy(e)
            }
            _ => PrepareError::Sqlite(e),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as i64
}

/// An open ledger. One connection behind a mutex; many processes may share the file
/// (WAL, with a busy timeout).
pub struct Ledger {
    conn: Mutex<Connection>,
    path: PathBuf,
}

/// A run as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: String,
    pub pipeline: String,
    pub pipeline_file: String,
    pub pipeline_digest: String,
    pub input: String,
    pub status: String,
    pub cursor: String,
    pub output: Option<String>,
    pub reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A handoff as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct HandoffRow {
    pub id: i64,
    pub run_id: String,
    pub step_run_id: Option<i64>,
    pub from_step: String,
    pub to_step: String,
    pub attempt: u32,
    pub payload: String,
    pub context: String,
    pub fixed_by: Option<String>,
}

/// A review (an escalation or a human step) as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewRow {
    pub id: i64,
    pub run_id: String,
    pub pipeline: String,
    pub handoff_id: Option<i64>,
    pub step: String,
    pub kind: String,
    pub status: String,
    pub payload: String,
    pub findings: String,
    pub reason: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub note: Option<String>,
    pub output: Option<String>,
    pub created_at: i64,
}

/// A verdict as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct VerdictRow {
    pub gate: String,
    pub plugin: String,
    pub outcome: String,
    pub score: Option<f64>,
    pub findings: String,
    pub error: Option<String>,
    pub policy: String,
    pub duration_us: i64,
}

/// A step execution as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct StepRunRow {
    pub id: i64,
    pub step: String,
    pub attempt: u32,
    pub input: String,
    pub output: Option<String>,
    pub status: String,
    pub error: Option<String>,
}

impl Ledger {
    /// Opens (creating if needed) the ledger at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let open_err = |source| LedgerError::Open {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        // Opening a new ledger races with other processes opening it (switching to WAL
        // and migrating need the write lock, and SQLite answers "busy" at once where
        // waiting could deadlock): retry the whole preparation for a while.
        let started = std::time::Instant::now();
        let conn = loop {
            match Self::prepare(path) {
                Ok(conn) => break conn,
                Err(PrepareError::Busy(_)) if started.elapsed() < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(PrepareError::Busy(e) | PrepareError::Sqlite(e)) => return Err(open_err(e)),
                Err(PrepareError::TooNew(found)) => {
                    return Err(LedgerError::TooNew {
                        path: path.to_path_buf(),
                        found,
                        known: MIGRATIONS.len() as i64,
                    })
                }
            }
        };
        Ok(Ledger {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// Opens the file, switches it to WAL and brings the schema up to date.
    fn prepare(path: &Path) -> Result<Connection, PrepareError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Migrate inside one immediate transaction, so that two processes opening a new
        // ledger at once do not both create its tables.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(PrepareError::TooNew(version));
        }
        for migration in MIGRATIONS.iter().skip(version as usize) {
            tx.execute_batch(migration)?;
        }
        tx.pragma_update(None, "user_version", known)?;
        tx.commit()?;
        Ok(conn)
    }

    /// The file of this ledger.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one transaction; `what` names the write in any error.
    pub fn write<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Transaction) -> rusqlite::Result<T>,
    ) -> Result<T, LedgerError> {
        let err = |source| LedgerError::Write {
            what: what.to_string(),
            path: self.path.clone(),
            source,
        };
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let value = f(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(value)
    }

    /// Runs a read `f`; `what` names it in any error.
    pub fn read<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, LedgerError> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn).map_err(|source| LedgerError::Read {
            what: what.to_string(),
            path: self.path.clone(),
            source,
        })
    }

    fn not_found(&self, what: &'static str, id: impl ToString) -> LedgerError {
        LedgerError::NotFound {
            what,
            id: id.to_string(),
            path: self.path.clone(),
        }
    }

    /// The run `id`.
    pub fn run(&self, id: &str) -> Result<RunRow, LedgerError> {
        self.read("a run", |c| {
            c.query_row(
                "SELECT id, pipeline, pipeline_file, pipeline_digest, input, status, cursor, output, reason, created_at, updated_at FROM runs WHERE id = ?1",
                [id],
                run_row,
            )
            .optional()
        })?
        .ok_or_else(|| self.not_found("run", id))
    }

    /// Every run, newest first, optionally only those with `status`.
    pub fn runs(&self, status: Option<&str>) -> Result<Vec<RunRow>, LedgerError> {
        self.read("runs", |c| {
            let mut st = c.prepare(
                "SELECT id, pipeline, pipeline_file, pipeline_digest, input, status, cursor, output, reason, created_at, updated_at
                 FROM runs WHERE ?1 IS NULL OR status = ?1 ORDER BY created_at DESC, id DESC",
            )?;
            let rows = st.query_map([status], run_row)?;
            rows.collect()
        })
    }

    /// The handoff `id`.
    pub fn handoff(&self, id: i64) -> Result<HandoffRow, LedgerError> {
        self.read("a handoff", |c| {
            c.query_row(
                "SELECT id, run_id, step_run_id, from_step, to_step, attempt, payload, context, fixed_by FROM handoffs WHERE id = ?1",
                [id],
                |r| {
                    Ok(HandoffRow {
                        id: r.get(0)?,
                        run_id: r.get(1)?,
                        step_run_id: r.get(2)?,
                        from_step: r.get(3)?,
                        to_step: r.get(4)?,
                        attempt: r.get(5)?,
                        payload: r.get(6)?,
                        context: r.get(7)?,
                        fixed_by: r.get(8)?,
                    })
                },
            )
            .optional()
        })?
        .ok_or_else(|| self.not_found("handoff", id))
    }

    /// The input a recorded step execution was given.
    pub fn step_input(&self, step_run_id: i64) -> Result<String, LedgerError> {
        self.read("a step execution", |c| {
            c.query_row(
                "SELECT input FROM step_runs WHERE id = ?1",
                [step_run_id],
                |r| r.get(0),
            )
            .optional()
        })?
        .ok_or_else(|| self.not_found("step execution", step_run_id))
    }

    /// The step executions of run `id`, in order.
    pub fn step_runs(&self, run_id: &str) -> Result<Vec<StepRunRow>, LedgerError> {
        self.read("step executions", |c| {
            let mut st = c.prepare(
                "SELECT id, step, attempt, input, output, status, error FROM step_runs WHERE run_id = ?1 ORDER BY id",
            )?;
            let rows = st.query_map([run_id], |r| {
                Ok(StepRunRow {
                    id: r.get(0)?,
                    step: r.get(1)?,
                    attempt: r.get(2)?,
                    input: r.get(3)?,
                    output: r.get(4)?,
                    status: r.get(5)?,
                    error: r.get(6)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The verdicts on handoff `id`, in order.
    pub fn verdicts(&self, handoff_id: i64) -> Result<Vec<VerdictRow>, LedgerError> {
        self.read("verdicts", |c| {
            let mut st = c.prepare(
                "SELECT gate, plugin, outcome, score, findings, error, policy, duration_us FROM verdicts WHERE handoff_id = ?1 ORDER BY id",
            )?;
            let rows = st.query_map([handoff_id], |r| {
                Ok(VerdictRow {
                    gate: r.get(0)?,
                    plugin: r.get(1)?,
                    outcome: r.get(2)?,
                    score: r.get(3)?,
                    findings: r.get(4)?,
                    error: r.get(5)?,
                    policy: r.get(6)?,
                    duration_us: r.get(7)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The review `id`.
    pub fn review(&self, id: i64) -> Result<ReviewRow, LedgerError> {
        self.read("a review", |c| {
            c.query_row(
                &format!("{REVIEW_SELECT} WHERE v.id = ?1"),
                [id],
                review_row,
            )
            .optional()
        })?
        .ok_or_else(|| self.not_found("review", id))
    }

    /// Reviews, oldest first, optionally only those with `status`.
    pub fn reviews(&self, status: Option<&str>) -> Result<Vec<ReviewRow>, LedgerError> {
        self.read("reviews", |c| {
            let mut st = c.prepare(&format!(
                "{REVIEW_SELECT} WHERE ?1 IS NULL OR v.status = ?1 ORDER BY v.created_at, v.id"
            ))?;
            let rows = st.query_map([status], review_row)?;
            rows.collect()
        })
    }

    /// Counts of records per table, for checks and tests.
    pub fn counts(&self) -> Result<Vec<(String, i64)>, LedgerError> {
        self.read("counts", |c| {
            [
                "runs",
                "step_runs",
                "handoffs",
                "verdicts",
                "routes",
                "reviews",
            ]
            .iter()
            .map(|t| {
                let n: i64 = c.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))?;
                Ok((t.to_string(), n))
            })
            .collect()
        })
    }
}

const REVIEW_SELECT: &str = "SELECT v.id, v.run_id, r.pipeline, v.handoff_id, v.step, v.kind, v.status, v.payload, v.findings, v.reason,
    v.decided_by, v.decided_at, v.note, v.output, v.created_at FROM reviews v JOIN runs r ON r.id = v.run_id";

fn run_row(r: &rusqlite::Row) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        pipeline: r.get(1)?,
        pipeline_file: r.get(2)?,
        pipeline_digest: r.get(3)?,
        input: r.get(4)?,
        status: r.get(5)?,
        cursor: r.get(6)?,
        output: r.get(7)?,
        reason: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

fn review_row(r: &rusqlite::Row) -> rusqlite::Result<ReviewRow> {
    Ok(ReviewRow {
        id: r.get(0)?,
        run_id: r.get(1)?,
        pipeline: r.get(2)?,
        handoff_id: r.get(3)?,
        step: r.get(4)?,
        kind: r.get(5)?,
        status: r.get(6)?,
        payload: r.get(7)?,
        findings: r.get(8)?,
        reason: r.get(9)?,
        decided_by: r.get(10)?,
        decided_at: r.get(11)?,
        note: r.get(12)?,
        output: r.get(13)?,
        created_at: r.get(14)?,
    })
}

/// Writes used by the pipeline runner; each takes the open transaction.
pub mod tx {
    use super::*;

    /// A new run.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_run(
        tx: &Transaction,
        id: &str,
        pipeline: &str,
        file: &str,
        digest: &str,
        input: &str,
        cursor: &str,
    ) -> rusqlite::Result<()> {
        let now = now_ms();
        tx.execute(
            "INSERT INTO runs (id, pipeline, pipeline_file, pipeline_digest, input, status, cursor, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6, ?7, ?7)",
            params![id, pipeline, file, digest, input, cursor, now],
        )?;
        Ok(())
    }

    /// Moves a run's cursor from `from` to `cursor` and sets its status (and output and
    /// reason, when it ends). Fails with `QueryReturnedNoRows` when the run is no longer
    /// at `from`: another process moved it on meanwhile, and this transaction must not
    /// record anything.
    #[allow(clippy::too_many_arguments)]
    pub fn update_run(
        tx: &Transaction,
        id: &str,
        from: &str,
        status: &str,
        cursor: &str,
        output: Option<&str>,
        reason: Option<&str>,
    ) -> rusqlite::Result<()> {
        let n = tx.execute(
            "UPDATE runs SET status = ?2, cursor = ?3, output = COALESCE(?4, output), reason = COALESCE(?5, reason), updated_at = ?6
             WHERE id = ?1 AND cursor = ?7",
            params![id, status, cursor, output, reason, now_ms(), from],
        )?;
        if n != 1 {
            return Err(rusqlite::Error::QueryReturnedNoRows);
        }
        Ok(())
    }

    /// A finished step execution; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_step_run(
        tx: &Transaction,
        run_id: &str,
        step: &str,
        attempt: u32,
        adapter: &str,
        input: &str,
        output: Option<&str>,
        error: Option<&str>,
        exit_code: Option<i32>,
        stderr_tail: Option<&str>,
        started_at: i64,
        duration_ms: i64,
    ) -> rusqlite::Result<i64> {
        let status = if error.is_some() { "error" } else { "ok" };
        tx.execute(
            "INSERT INTO step_runs (run_id, step, attempt, adapter, input, output, status, error, exit_code, stderr_tail, started_at, duration_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![run_id, step, attempt, adapter, input, output, status, error, exit_code, stderr_tail, started_at, duration_ms],
        )?;
        Ok(tx.last_insert_rowid())
    }

    /// A handoff; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_handoff(
        tx: &Transaction,
        run_id: &str,
        step_run_id: Option<i64>,
        from: &str,
        to: &str,
        attempt: u32,
        payload: &str,
        context: &str,
        fixed_by: Option<&str>,
    ) -> rusqlite::Result<i64> {
        tx.execute(
            "INSERT INTO handoffs (run_id, step_run_id, from_step, to_step, attempt, payload, context, fixed_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![run_id, step_run_id, from, to, attempt, payload, context, fixed_by, now_ms()],
        )?;
        Ok(tx.last_insert_rowid())
    }

    /// One verdict (or error verdict) on a handoff.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_verdict(
        tx: &Transaction,
        handoff_id: i64,
        run_id: &str,
        gate: &str,
        plugin: &str,
        plugin_digest: &str,
        outcome: &str,
        score: Option<f64>,
        findings: &str,
        fix: Option<&str>,
        error_cause: Option<&str>,
        error: Option<&str>,
        policy: &str,
        duration_us: i64,
    ) -> rusqlite::Result<()> {
        tx.execute(
            "INSERT INTO verdicts (handoff_id, run_id, gate, plugin, plugin_digest, outcome, score, findings, fix, error_cause, error, policy, duration_us, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![handoff_id, run_id, gate, plugin, plugin_digest, outcome, score, findings, fix, error_cause, error, policy, duration_us, now_ms()],
        )?;
        Ok(())
    }

    /// Where a handoff went, and who decided.
    pub fn insert_route(
        tx: &Transaction,
        handoff_id: i64,
        run_id: &str,
        decided_by: &str,
        target: &str,
        reason: &str,
    ) -> rusqlite::Result<()> {
        tx.execute(
            "INSERT INTO routes (handoff_id, run_id, decided_by, target, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![handoff_id, run_id, decided_by, target, reason, now_ms()],
        )?;
        Ok(())
    }

    /// A pending review; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_review(
        tx: &Transaction,
        run_id: &str,
        handoff_id: Option<i64>,
        step: &str,
        kind: &str,
        payload: &str,
        findings: &str,
        reason: &str,
    ) -> rusqlite::Result<i64> {
        tx.execute(
            "INSERT INTO reviews (run_id, handoff_id, step, kind, status, payload, findings, reason, created_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8)",
            params![run_id, handoff_id, step, kind, payload, findings, reason, now_ms()],
        )?;
        Ok(tx.last_insert_rowid())
    }

    /// Decides a pending review. Fails (no rows) when it is not pending any more.
    pub fn decide_review(
        tx: &Transaction,
        id: i64,
        accepted: bool,
        by: &str,
        note: Option<&str>,
        output: Option<&str>,
    ) -> rusqlite::Result<()> {
        let n = tx.execute(
            "UPDATE reviews SET status = ?2, decided_by = ?3, decided_at = ?4, note = ?5, output = ?6 WHERE id = ?1 AND status = 'pending'",
            params![id, if accepted { "accepted" } else { "rejected" }, by, now_ms(), note, output],
        )?;
        if n != 1 {
            return Err(rusqlite::Error::QueryReturnedNoRows);
        }
        Ok(())
    }
}
