//! The SQLite backend: one file (WAL), schema migrations, every SQL statement of the
//! ledger. The file format stays compatible with ledgers written by earlier seams:
//! migrations only add.
//!
//! Many processes may share one file: one connection per process behind a mutex, a
//! busy timeout of [`BUSY_TIMEOUT`], and immediate transactions for every write.

mod feedback;
mod report;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::{
    now_ms, Claim, Counts, HandoffRow, LedgerError, NewRun, Phase, Recorded, ReviewRow, RouteRow,
    RunRow, SeamVisit, StepRunRow, VerdictRow,
};

/// How long a statement waits for another process's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long opening a new ledger retries while other processes create it.
pub const OPEN_RETRY: Duration = Duration::from_secs(30);

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
    r#"
-- 3: one driver per run: the worker that holds the run, and until when.
ALTER TABLE runs ADD COLUMN claimed_by TEXT;
ALTER TABLE runs ADD COLUMN lease_until INTEGER;
"#,
];

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

/// A ledger in one SQLite file. One connection behind a mutex; many processes may
/// share the file (WAL, with a busy timeout).
pub struct SqliteLedger {
    conn: Mutex<Connection>,
    path: PathBuf,
}

fn boxed(e: rusqlite::Error) -> crate::BoxError {
    Box::new(e)
}

fn is_cant_open(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
    )
}

impl SqliteLedger {
    /// Opens (creating if needed) the ledger at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteLedger, LedgerError> {
        let open_err = |source| LedgerError::Open {
            location: path.display().to_string(),
            source: boxed(source),
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
                Err(PrepareError::Busy(_)) if started.elapsed() < OPEN_RETRY => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(PrepareError::Busy(e) | PrepareError::Sqlite(e)) => return Err(open_err(e)),
                Err(PrepareError::TooNew(found)) => {
                    return Err(LedgerError::TooNew {
                        location: path.display().to_string(),
                        found,
                        known: MIGRATIONS.len() as i64,
                    })
                }
            }
        };
        Ok(SqliteLedger {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// Opens the ledger at `path` for reading only: no lock is taken and nothing is
    /// written, so a reader never waits behind a writer, and a ledger the user may only
    /// read can still be reported. A ledger whose schema is older than this seam's is
    /// brought up to date first when the file may be written (and refused, saying so,
    /// when it may not).
    pub fn open_read_only(path: &Path) -> Result<SqliteLedger, LedgerError> {
        let open_err = |source| LedgerError::Open {
            location: path.display().to_string(),
            source: boxed(source),
        };
        if !path.is_file() {
            return Err(LedgerError::Open {
                location: path.display().to_string(),
                source: if path.exists() {
                    "it is not a regular file (a folder, FIFO or device)".into()
                } else {
                    "there is no ledger file there".into()
                },
            });
        }
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
            | rusqlite::OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        let version: i64 = match conn.query_row("PRAGMA user_version", [], |r| r.get(0)) {
            Ok(v) => v,
            // A WAL ledger in a folder this user cannot write has no shared-memory file
            // to read through: read it as an immutable file instead.
            Err(e) if is_cant_open(&e) => return Self::open_immutable(path),
            Err(e) => return Err(open_err(e)),
        };
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(LedgerError::TooNew {
                location: path.display().to_string(),
                found: version,
                known,
            });
        }
        if version < known {
            drop(conn);
            return Self::open(path).map_err(|e| LedgerError::Open {
                location: path.display().to_string(),
                source: format!(
                    "its schema (version {version}) is older than this seam's ({known}) and \
                     could not be brought up to date: {e}; open it once with write access"
                )
                .into(),
            });
        }
        Ok(SqliteLedger {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    fn open_immutable(path: &Path) -> Result<SqliteLedger, LedgerError> {
        let open_err = |source| LedgerError::Open {
            location: path.display().to_string(),
            source: boxed(source),
        };
        let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let uri = format!(
            "file:{}?immutable=1",
            absolute
                .to_string_lossy()
                .replace('%', "%25")
                .replace('?', "%3f")
                .replace('#', "%23")
        );
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
            | rusqlite::OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(uri, flags).map_err(open_err)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(open_err)?;
        if version != MIGRATIONS.len() as i64 {
            return Err(LedgerError::Open {
                location: path.display().to_string(),
                source: format!(
                    "its schema is version {version}, this seam reads version {}, and the file \
                     cannot be written to bring it up to date",
                    MIGRATIONS.len()
                )
                .into(),
            });
        }
        Ok(SqliteLedger {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// Opens the file, switches it to WAL and brings the schema up to date.
    fn prepare(path: &Path) -> Result<Connection, PrepareError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
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

    /// Runs `f` in one transaction; `what` names the write in any error. SQLite only:
    /// for tests and tools that work on the file itself.
    pub fn write<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Transaction) -> rusqlite::Result<T>,
    ) -> Result<T, LedgerError> {
        let err = |source| LedgerError::Write {
            what: what.to_string(),
            location: self.path.display().to_string(),
            source: boxed(source),
        };
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let value = f(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(value)
    }

    /// Runs a read `f`; `what` names it in any error. SQLite only, like [`write`](Self::write).
    pub fn read<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, LedgerError> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn).map_err(|source| LedgerError::Read {
            what: what.to_string(),
            location: self.path.display().to_string(),
            source: boxed(source),
        })
    }

    fn not_found(&self, what: &'static str, id: impl ToString) -> LedgerError {
        LedgerError::NotFound {
            what,
            id: id.to_string(),
            location: self.path.display().to_string(),
        }
    }
}

impl crate::Ledger for SqliteLedger {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn start_run(&self, run: &NewRun<'_>) -> Result<(), LedgerError> {
        self.write("the new run", |t| tx::insert_run(t, run))
    }

    fn record(&self, what: &str, phase: Phase<'_>) -> Result<Recorded, LedgerError> {
        let result = self.write(what, |t| {
            let mut ids = Recorded::default();
            if let Some(sr) = &phase.step_run {
                ids.step_run_id = Some(tx::insert_step_run(t, phase.run_id, sr)?);
            }
            if let Some(h) = &phase.handoff {
                let step_run_id = ids.step_run_id.or(h.step_run_id);
                ids.handoff_id = Some(tx::insert_handoff(t, phase.run_id, step_run_id, h)?);
            }
            for v in &phase.verdicts {
                tx::insert_verdict(t, phase.run_id, v)?;
            }
            if let Some(r) = &phase.route {
                tx::insert_route(t, phase.run_id, r)?;
            }
            if let Some(r) = &phase.review {
                ids.review_id = Some(tx::insert_review(t, phase.run_id, r)?);
            }
            let to = (phase.then)(&ids);
            tx::update_run(t, phase.run_id, phase.at, phase.holder, &to)?;
            Ok(ids)
        });
        match result {
            Err(LedgerError::Write { source, .. })
                if matches!(
                    source.downcast_ref::<rusqlite::Error>(),
                    Some(rusqlite::Error::QueryReturnedNoRows)
                ) =>
            {
                match self.run(phase.run_id) {
                    Err(e @ LedgerError::NotFound { .. }) => Err(e),
                    _ => Err(LedgerError::Conflict {
                        run: phase.run_id.to_string(),
                    }),
                }
            }
            other => other,
        }
    }

    fn claim(&self, run_id: &str, holder: &str, lease: Duration) -> Result<Claim, LedgerError> {
        let now = now_ms();
        let until = now.saturating_add(lease.as_millis().min(i64::MAX as u128) as i64);
        let granted = self.write("a claim on a run", |t| {
            let n = t.execute(
                "UPDATE runs SET claimed_by = ?2, lease_until = ?3
                 WHERE id = ?1 AND (claimed_by IS NULL OR claimed_by = ?2 OR lease_until IS NULL OR lease_until <= ?4)",
                params![run_id, holder, until, now],
            )?;
            if n == 1 {
                return Ok(None);
            }
            t.query_row(
                "SELECT claimed_by, lease_until FROM runs WHERE id = ?1",
                [run_id],
                |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<i64>>(1)?)),
            )
            .optional()
            .map(Some)
        })?;
        match granted {
            None => Ok(Claim::Held { until_ms: until }),
            Some(Some((Some(other), Some(until_ms)))) => Ok(Claim::HeldByOther {
                holder: other,
                until_ms,
            }),
            // Not granted, yet held by nobody: cannot happen inside one transaction;
            // answer conservatively.
            Some(Some((holder, until_ms))) => Ok(Claim::HeldByOther {
                holder: holder.unwrap_or_else(|| "(unknown)".into()),
                until_ms: until_ms.unwrap_or(now),
            }),
            Some(None) => Err(self.not_found("run", run_id)),
        }
    }

    fn renew(&self, run_id: &str, holder: &str, lease: Duration) -> Result<bool, LedgerError> {
        let now = now_ms();
        let until = now.saturating_add(lease.as_millis().min(i64::MAX as u128) as i64);
        self.write("the renewal of a claim", |t| {
            t.execute(
                "UPDATE runs SET lease_until = ?3 WHERE id = ?1 AND claimed_by = ?2 AND lease_until > ?4",
                params![run_id, holder, until, now],
            )
            .map(|n| n == 1)
        })
    }

    fn claim_orphan(
        &self,
        holder: &str,
        pipelines: &[String],
        lease: Duration,
        grace: Duration,
    ) -> Result<Option<crate::Orphan>, LedgerError> {
        let now = now_ms();
        let until = now.saturating_add(lease.as_millis().min(i64::MAX as u128) as i64);
        let decided_before = now.saturating_sub(grace.as_millis().min(i64::MAX as u128) as i64);
        let names = serde_json::to_string(pipelines).unwrap_or_else(|_| "[]".into());
        // One writer at a time holds a SQLite file, so no other worker can claim the
        // same run between the choice and the claim.
        self.write("a claim on an orphaned run", |t| {
            t.query_row(
                &format!("UPDATE runs SET claimed_by = ?1, lease_until = ?2 WHERE id = ({ORPHAN}) RETURNING id, pipeline"),
                params![holder, until, names, now, decided_before, crate::OUTSIDE_CURSOR],
                |r| {
                    Ok(crate::Orphan {
                        run_id: r.get(0)?,
                        pipeline: r.get(1)?,
                    })
                },
            )
            .optional()
        })
    }

    fn release(&self, run_id: &str, holder: &str) -> Result<(), LedgerError> {
        self.write("the release of a claim", |t| {
            t.execute(
                "UPDATE runs SET claimed_by = NULL, lease_until = NULL WHERE id = ?1 AND claimed_by = ?2",
                params![run_id, holder],
            )
            .map(drop)
        })
    }

    fn decide_review(
        &self,
        id: i64,
        accepted: bool,
        by: &str,
        note: Option<&str>,
        output: Option<&str>,
    ) -> Result<(), LedgerError> {
        let decided = self.write("a review decision", |t| {
            tx::decide_review(t, id, accepted, by, note, output)
        })?;
        match decided {
            None => Ok(()),
            Some(status) if status == "missing" => Err(self.not_found("review", id)),
            Some(status) => Err(LedgerError::AlreadyDecided { review: id, status }),
        }
    }

    /// The run `id`.
    fn run(&self, id: &str) -> Result<RunRow, LedgerError> {
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
    fn runs(&self, status: Option<&str>) -> Result<Vec<RunRow>, LedgerError> {
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
    fn handoff(&self, id: i64) -> Result<HandoffRow, LedgerError> {
        self.read("a handoff", |c| {
            c.query_row(
                &format!("{HANDOFF_SELECT} WHERE id = ?1"),
                [id],
                handoff_row,
            )
            .optional()
        })?
        .ok_or_else(|| self.not_found("handoff", id))
    }

    fn handoffs(&self, run_id: &str) -> Result<Vec<HandoffRow>, LedgerError> {
        self.read("handoffs", |c| {
            let mut st = c.prepare(&format!("{HANDOFF_SELECT} WHERE run_id = ?1 ORDER BY id"))?;
            let rows = st.query_map([run_id], handoff_row)?;
            rows.collect()
        })
    }

    fn routes(&self, handoff_id: i64) -> Result<Vec<RouteRow>, LedgerError> {
        self.read("routes", |c| {
            let mut st = c.prepare(
                "SELECT handoff_id, decided_by, target, reason FROM routes WHERE handoff_id = ?1 ORDER BY id",
            )?;
            let rows = st.query_map([handoff_id], |r| {
                Ok(RouteRow {
                    handoff_id: r.get(0)?,
                    decided_by: r.get(1)?,
                    target: r.get(2)?,
                    reason: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    fn seam_visits(
        &self,
        filter: &crate::report::Filter,
        pipeline: &str,
        seam: &str,
        limit: usize,
    ) -> Result<Vec<SeamVisit>, LedgerError> {
        self.read("a seam's visits", |c| {
            report::seam_visits(c, filter, pipeline, seam, limit)
        })
    }

    /// The input a recorded step execution was given.
    fn step_input(&self, step_run_id: i64) -> Result<String, LedgerError> {
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
    fn step_runs(&self, run_id: &str) -> Result<Vec<StepRunRow>, LedgerError> {
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
    fn verdicts(&self, handoff_id: i64) -> Result<Vec<VerdictRow>, LedgerError> {
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
    fn review(&self, id: i64) -> Result<ReviewRow, LedgerError> {
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
    fn reviews(&self, status: Option<&str>) -> Result<Vec<ReviewRow>, LedgerError> {
        self.read("reviews", |c| {
            let mut st = c.prepare(&format!(
                "{REVIEW_SELECT} WHERE ?1 IS NULL OR v.status = ?1 ORDER BY v.created_at, v.id"
            ))?;
            let rows = st.query_map([status], review_row)?;
            rows.collect()
        })
    }

    /// Counts of records per table, for checks and tests.
    fn counts(&self) -> Result<Counts, LedgerError> {
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

    fn report(&self, filter: &crate::report::Filter) -> Result<crate::report::Report, LedgerError> {
        self.read("the report", |c| report::build(c, filter))
    }

    fn export(
        &self,
        filter: &crate::feedback::ExportFilter,
        shape: crate::feedback::Shape,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, LedgerError> {
        self.read("the feedback export", |c| {
            feedback::export(c, filter, shape, out)
        })
    }
}

/// The oldest orphaned run ([`crate::Ledger::claim_orphan`]): ?3 the pipelines (a JSON
/// list), ?4 now, ?5 the latest decision time that counts as abandoned, ?6 the outside
/// cursor.
const ORPHAN: &str = "SELECT r.id FROM runs r
    WHERE r.pipeline IN (SELECT value FROM json_each(?3)) AND r.cursor <> ?6
      AND (r.lease_until IS NULL OR r.lease_until <= ?4)
      AND (r.status = 'running'
           OR (r.status = 'waiting'
               AND NOT EXISTS (SELECT 1 FROM reviews v WHERE v.run_id = r.id AND v.status = 'pending')
               AND EXISTS (SELECT 1 FROM reviews v WHERE v.run_id = r.id AND v.decided_at <= ?5)))
    ORDER BY r.updated_at, r.id LIMIT 1";

const HANDOFF_SELECT: &str =
    "SELECT id, run_id, step_run_id, from_step, to_step, attempt, payload, context, fixed_by FROM handoffs";

fn handoff_row(r: &rusqlite::Row) -> rusqlite::Result<HandoffRow> {
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

/// The writes of a phase; each takes the open transaction.
mod tx {
    use super::*;
    use crate::{NewHandoff, NewReview, NewRoute, NewStepRun, NewVerdict, RunMove};

    pub fn insert_run(tx: &Transaction, run: &NewRun<'_>) -> rusqlite::Result<()> {
        let now = now_ms();
        let until = now.saturating_add(run.lease.as_millis().min(i64::MAX as u128) as i64);
        tx.execute(
            "INSERT INTO runs (id, pipeline, pipeline_file, pipeline_digest, input, status, cursor, created_at, updated_at, claimed_by, lease_until)
             VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6, ?7, ?7, ?8, ?9)",
            params![run.id, run.pipeline, run.pipeline_file, run.pipeline_digest, run.input, run.cursor, now, run.holder, until],
        )?;
        Ok(())
    }

    /// Moves a run's cursor from `from` and sets its status (and output and reason,
    /// when it ends). Fails with `QueryReturnedNoRows` when the run is no longer at
    /// `from`: another process moved it on meanwhile, and this transaction must not
    /// record anything.
    pub fn update_run(
        tx: &Transaction,
        id: &str,
        from: &str,
        holder: Option<&str>,
        to: &RunMove,
    ) -> rusqlite::Result<()> {
        let n = tx.execute(
            // A run's last phase releases its claim with it (see `ENDED_STATUSES`).
            &format!(
                "UPDATE runs SET status = ?2, cursor = ?3, output = COALESCE(?4, output), reason = COALESCE(?5, reason), updated_at = ?6,
                 claimed_by = CASE WHEN ?2 IN {ENDED} THEN NULL ELSE claimed_by END,
                 lease_until = CASE WHEN ?2 IN {ENDED} THEN NULL ELSE lease_until END
                 WHERE id = ?1 AND cursor = ?7 AND (?8 IS NULL OR claimed_by = ?8)",
                ENDED = crate::ENDED_STATUSES
            ),
            params![id, to.status, to.cursor, to.output, to.reason, now_ms(), from, holder],
        )?;
        if n != 1 {
            return Err(rusqlite::Error::QueryReturnedNoRows);
        }
        Ok(())
    }

    pub fn insert_step_run(
        tx: &Transaction,
        run_id: &str,
        s: &NewStepRun<'_>,
    ) -> rusqlite::Result<i64> {
        let status = if s.error.is_some() { "error" } else { "ok" };
        tx.execute(
            "INSERT INTO step_runs (run_id, step, attempt, adapter, input, output, status, error, exit_code, stderr_tail, started_at, duration_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![run_id, s.step, s.attempt, s.adapter, s.input, s.output, status, s.error, s.exit_code, s.stderr_tail, s.started_at, s.duration_ms],
        )?;
        Ok(tx.last_insert_rowid())
    }

    pub fn insert_handoff(
        tx: &Transaction,
        run_id: &str,
        step_run_id: Option<i64>,
        h: &NewHandoff<'_>,
    ) -> rusqlite::Result<i64> {
        tx.execute(
            "INSERT INTO handoffs (run_id, step_run_id, from_step, to_step, attempt, payload, context, fixed_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![run_id, step_run_id, h.from_step, h.to_step, h.attempt, h.payload, h.context, h.fixed_by, now_ms()],
        )?;
        Ok(tx.last_insert_rowid())
    }

    pub fn insert_verdict(
        tx: &Transaction,
        run_id: &str,
        v: &NewVerdict<'_>,
    ) -> rusqlite::Result<()> {
        tx.execute(
            "INSERT INTO verdicts (handoff_id, run_id, gate, plugin, plugin_digest, outcome, score, findings, fix, error_cause, error, policy, duration_us, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![v.handoff_id, run_id, v.gate, v.plugin, v.plugin_digest, v.outcome, v.score, v.findings, v.fix, v.error_cause, v.error, v.policy, v.duration_us, now_ms()],
        )?;
        Ok(())
    }

    pub fn insert_route(tx: &Transaction, run_id: &str, r: &NewRoute<'_>) -> rusqlite::Result<()> {
        tx.execute(
            "INSERT INTO routes (handoff_id, run_id, decided_by, target, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![r.handoff_id, run_id, r.decided_by, r.target, r.reason, now_ms()],
        )?;
        Ok(())
    }

    pub fn insert_review(
        tx: &Transaction,
        run_id: &str,
        r: &NewReview<'_>,
    ) -> rusqlite::Result<i64> {
        tx.execute(
            "INSERT INTO reviews (run_id, handoff_id, step, kind, status, payload, findings, reason, created_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8)",
            params![run_id, r.handoff_id, r.step, r.kind, r.payload, r.findings, r.reason, now_ms()],
        )?;
        Ok(tx.last_insert_rowid())
    }

    /// Decides a pending review; returns the status it has when it was not pending.
    pub fn decide_review(
        tx: &Transaction,
        id: i64,
        accepted: bool,
        by: &str,
        note: Option<&str>,
        output: Option<&str>,
    ) -> rusqlite::Result<Option<String>> {
        let n = tx.execute(
            "UPDATE reviews SET status = ?2, decided_by = ?3, decided_at = ?4, note = ?5, output = ?6 WHERE id = ?1 AND status = 'pending'",
            params![id, if accepted { "accepted" } else { "rejected" }, by, now_ms(), note, output],
        )?;
        if n == 1 {
            return Ok(None);
        }
        tx.query_row("SELECT status FROM reviews WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()
        .map(|s| Some(s.unwrap_or_else(|| "missing".to_string())))
    }
}
