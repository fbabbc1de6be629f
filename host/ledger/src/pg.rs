//! The PostgreSQL backend: a ledger shared by many processes and machines (several
//! `seam serve` replicas behind a load balancer), selected by a `postgres://` URL.
//!
//! Connections come from a small pool (idle ones are kept, broken ones dropped).
//! Migrations run on open inside one transaction holding an advisory lock, so replicas
//! starting together migrate once. Every phase is one transaction; a phase whose run
//! was moved on by another worker meanwhile is refused ([`LedgerError::Conflict`]) and
//! records nothing, as with SQLite. The report and the export are PostgreSQL's SQL
//! (`percentile_disc` for the latency percentiles, a portal read in batches for the
//! export), in bounded memory. Text is ordered bytewise (`COLLATE "C"`), as SQLite
//! orders it, so identical ledgers give identical reports.
//!
//! The client is `postgres` (the synchronous client over `tokio-postgres`), like the
//! trait: each call blocks its thread. From async code, call it as the server does,
//! inside `tokio::task::block_in_place` or `spawn_blocking`.

mod feedback;
mod report;

use std::borrow::Cow;
use std::sync::Mutex;
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, Config, NoTls, Row};

use crate::{
    now_ms, Claim, Counts, HandoffRow, LedgerError, NewRun, Phase, Recorded, ReviewRow, RouteRow,
    RunRow, SeamVisit, StepRunRow, VerdictRow,
};

/// How long connecting waits when the URL sets no `connect_timeout`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most idle connections kept for reuse.
const MAX_IDLE: usize = 16;
/// The advisory lock key under which migrations run ("seam" in ASCII).
const MIGRATION_LOCK: i64 = 0x7365_616d;

/// Schema migrations, applied in order; `seam_schema.version` is the number applied.
/// The first is the whole schema of SQLite's three migrations.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    pipeline        TEXT NOT NULL,
    pipeline_file   TEXT NOT NULL,
    pipeline_digest TEXT NOT NULL,
    input           TEXT NOT NULL,
    status          TEXT NOT NULL,
    cursor          TEXT NOT NULL,
    output          TEXT,
    reason          TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    claimed_by      TEXT,
    lease_until     BIGINT
);
CREATE TABLE step_runs (
    id          BIGSERIAL PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs(id),
    step        TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    adapter     TEXT NOT NULL,
    input       TEXT NOT NULL,
    output      TEXT,
    status      TEXT NOT NULL,
    error       TEXT,
    exit_code   BIGINT,
    stderr_tail TEXT,
    started_at  BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL
);
CREATE TABLE handoffs (
    id          BIGSERIAL PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs(id),
    step_run_id BIGINT REFERENCES step_runs(id),
    from_step   TEXT NOT NULL,
    to_step     TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    payload     TEXT NOT NULL,
    context     TEXT NOT NULL,
    fixed_by    TEXT,
    created_at  BIGINT NOT NULL
);
CREATE TABLE verdicts (
    id            BIGSERIAL PRIMARY KEY,
    handoff_id    BIGINT NOT NULL REFERENCES handoffs(id),
    run_id        TEXT NOT NULL REFERENCES runs(id),
    gate          TEXT NOT NULL,
    plugin        TEXT NOT NULL,
    plugin_digest TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    score         DOUBLE PRECISION,
    findings      TEXT NOT NULL,
    fix           TEXT,
    error_cause   TEXT,
    error         TEXT,
    policy        TEXT NOT NULL,
    duration_us   BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE TABLE routes (
    id         BIGSERIAL PRIMARY KEY,
    handoff_id BIGINT NOT NULL REFERENCES handoffs(id),
    run_id     TEXT NOT NULL REFERENCES runs(id),
    decided_by TEXT NOT NULL,
    target     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE reviews (
    id          BIGSERIAL PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs(id),
    handoff_id  BIGINT REFERENCES handoffs(id),
    step        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    payload     TEXT NOT NULL,
    findings    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    decided_by  TEXT,
    decided_at  BIGINT,
    note        TEXT,
    output      TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX step_runs_run ON step_runs(run_id);
CREATE INDEX handoffs_run ON handoffs(run_id);
CREATE INDEX handoffs_step ON handoffs(run_id, from_step);
CREATE INDEX verdicts_run ON verdicts(run_id);
CREATE INDEX verdicts_gate ON verdicts(gate, created_at);
CREATE INDEX verdicts_handoff ON verdicts(handoff_id);
CREATE INDEX routes_run ON routes(run_id);
CREATE INDEX routes_handoff ON routes(handoff_id);
CREATE INDEX reviews_status ON reviews(status);
CREATE INDEX reviews_handoff ON reviews(handoff_id);
CREATE INDEX runs_pipeline ON runs(pipeline, created_at);
CREATE INDEX runs_status ON runs(status, lease_until);
"#];

/// Whether `location` names a PostgreSQL ledger (a `postgres://` or `postgresql://`
/// URL) rather than a SQLite file.
pub fn is_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// `url` without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    // A password may also come as a parameter.
    let tail = match tail.split_once('?') {
        None => tail.to_string(),
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some(("password", _)) => "password=***".to_string(),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
    };
    format!("{scheme}://{authority}{tail}")
}

/// A ledger in a PostgreSQL database.
pub struct PgLedger {
    config: Config,
    location: String,
    idle: Mutex<Vec<Client>>,
}

/// The driver's error in words: the server's own message (with its detail and hint)
/// for a database error, else the driver's, with its cause.
fn boxed(e: postgres::Error) -> crate::BoxError {
    if let Some(db) = e.as_db_error() {
        let mut message = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            message.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = db.hint() {
            message.push_str(&format!("; {hint}"));
        }
        return message.into();
    }
    match std::error::Error::source(&e) {
        Some(cause) if !e.to_string().contains(&cause.to_string()) => {
            format!("{e}: {cause}").into()
        }
        _ => e.to_string().into(),
    }
}

/// Text PostgreSQL can hold: it refuses NUL characters, which a step's stderr may carry.
fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(s)
    }
}

fn opt_text(s: Option<&str>) -> Option<Cow<'_, str>> {
    s.map(text)
}

/// A pooled connection, given back when dropped; when it broke, it and every idle
/// connection are closed instead.
struct Pooled<'a> {
    client: Option<Client>,
    pool: &'a Mutex<Vec<Client>>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("a pooled client until dropped")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("a pooled client until dropped")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let mut idle = self.pool.lock().unwrap_or_else(|e| e.into_inner());
            if !client.is_closed() {
                if idle.len() < MAX_IDLE {
                    idle.push(client);
                    return;
                }
                drop(idle);
                close(vec![client]);
                return;
            }
            // A broken connection mostly means the server restarted or the network
            // dropped: the idle ones are as stale, and each would fail its next caller.
            let mut stale = std::mem::take(&mut *idle);
            drop(idle);
            stale.push(client);
            close(stale);
        }
    }
}

/// Closes connections. Closing blocks on the driver's own runtime, which must not
/// start on a thread that drives async tasks: there, a thread of its own closes them.
fn close(clients: Vec<Client>) {
    if clients.is_empty() {
        return;
    }
    if tokio::runtime::Handle::try_current().is_ok() {
        let _ = std::thread::Builder::new()
            .name("seam-pg-close".into())
            .spawn(move || drop(clients));
    } else {
        drop(clients);
    }
}

impl Drop for PgLedger {
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|e| e.into_inner()));
        close(idle);
    }
}

impl PgLedger {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`, any
    /// of libpq's URL parameters) and brings its schema up to date.
    pub fn open(url: &str) -> Result<PgLedger, LedgerError> {
        let location = redact(url);
        let open_err = |source: crate::BoxError| LedgerError::Open {
            location: location.clone(),
            source,
        };
        let mut config: Config = url
            .parse()
            .map_err(|e: postgres::Error| open_err(format!("not a PostgreSQL URL: {e}").into()))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("seam");
        }
        if matches!(config.get_ssl_mode(), postgres::config::SslMode::Require) {
            return Err(open_err(
                "sslmode=require: this seam connects without TLS; reach the database over a \
                 trusted network or a local socket (sslmode=disable), or put a TLS proxy in front"
                    .into(),
            ));
        }
        let ledger = PgLedger {
            config,
            location,
            idle: Mutex::new(Vec::new()),
        };
        ledger.blocking("the schema", || ledger.migrate())?;
        Ok(ledger)
    }

    /// Runs `f`, which talks to the database, where the driver may block: the
    /// synchronous client runs a runtime of its own, which must not start on a thread
    /// that drives async tasks. On a multi-threaded tokio runtime the call is a
    /// `block_in_place`; on a single-threaded one it is refused (call the ledger from
    /// `spawn_blocking` there).
    fn blocking<T>(
        &self,
        what: &str,
        f: impl FnOnce() -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Err(_) => f(),
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(f)
            }
            Ok(_) => Err(LedgerError::Read {
                what: what.to_string(),
                location: self.location.clone(),
                source: "the PostgreSQL ledger was called on a single-threaded async runtime, \
                         where it may not block; call it from tokio::task::spawn_blocking"
                    .into(),
            }),
        }
    }

    fn connect(&self) -> Result<Pooled<'_>, postgres::Error> {
        let reused = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let client = match reused {
            Some(c) if !c.is_closed() => c,
            _ => self.config.connect(NoTls)?,
        };
        Ok(Pooled {
            client: Some(client),
            pool: &self.idle,
        })
    }

    fn migrate(&self) -> Result<(), LedgerError> {
        let known = MIGRATIONS.len() as i64;
        let err = |e: postgres::Error| LedgerError::Open {
            location: self.location.clone(),
            source: boxed(e),
        };
        let mut client = self.connect().map_err(err)?;
        let mut tx = client.transaction().map_err(err)?;
        // Replicas starting together wait here for the first to finish migrating.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(err)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS seam_schema (version BIGINT NOT NULL)")
            .map_err(err)?;
        let version: i64 = match tx
            .query_opt("SELECT version FROM seam_schema", &[])
            .map_err(err)?
        {
            Some(row) => row.get(0),
            None => {
                tx.execute("INSERT INTO seam_schema (version) VALUES (0)", &[])
                    .map_err(err)?;
                0
            }
        };
        if version > known {
            return Err(LedgerError::TooNew {
                location: self.location.clone(),
                found: version,
                known,
            });
        }
        for migration in MIGRATIONS.iter().skip(version as usize) {
            tx.batch_execute(migration).map_err(err)?;
        }
        tx.execute("UPDATE seam_schema SET version = $1", &[&known])
            .map_err(err)?;
        tx.commit().map_err(err)
    }

    fn write<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error>,
    ) -> Result<T, LedgerError> {
        self.blocking(what, || {
            let err = |e: postgres::Error| LedgerError::Write {
                what: what.to_string(),
                location: self.location.clone(),
                source: boxed(e),
            };
            let mut client = self.connect().map_err(err)?;
            let mut tx = client.transaction().map_err(err)?;
            let value = f(&mut tx).map_err(err)?;
            tx.commit().map_err(err)?;
            Ok(value)
        })
    }

    fn read<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, LedgerError> {
        self.blocking(what, || {
            let err = |e: postgres::Error| LedgerError::Read {
                what: what.to_string(),
                location: self.location.clone(),
                source: boxed(e),
            };
            let mut client = self.connect().map_err(err)?;
            f(&mut client).map_err(err)
        })
    }

    fn not_found(&self, what: &'static str, id: impl ToString) -> LedgerError {
        LedgerError::NotFound {
            what,
            id: id.to_string(),
            location: self.location.clone(),
        }
    }
}

/// The tables in the order their rows may be copied (each refers only to earlier ones),
/// with their columns and each column's kind: `t` text, `i` integer, `r` real.
const TABLES: &[(&str, &[(&str, char)])] = &[
    (
        "runs",
        &[
            ("id", 't'),
            ("pipeline", 't'),
            ("pipeline_file", 't'),
            ("pipeline_digest", 't'),
            ("input", 't'),
            ("status", 't'),
            ("cursor", 't'),
            ("output", 't'),
            ("reason", 't'),
            ("created_at", 'i'),
            ("updated_at", 'i'),
            ("claimed_by", 't'),
            ("lease_until", 'i'),
        ],
    ),
    (
        "step_runs",
        &[
            ("id", 'i'),
            ("run_id", 't'),
            ("step", 't'),
            ("attempt", 'i'),
            ("adapter", 't'),
            ("input", 't'),
            ("output", 't'),
            ("status", 't'),
            ("error", 't'),
            ("exit_code", 'i'),
            ("stderr_tail", 't'),
            ("started_at", 'i'),
            ("duration_ms", 'i'),
        ],
    ),
    (
        "handoffs",
        &[
            ("id", 'i'),
            ("run_id", 't'),
            ("step_run_id", 'i'),
            ("from_step", 't'),
            ("to_step", 't'),
            ("attempt", 'i'),
            ("payload", 't'),
            ("context", 't'),
            ("fixed_by", 't'),
            ("created_at", 'i'),
        ],
    ),
    (
        "verdicts",
        &[
            ("id", 'i'),
            ("handoff_id", 'i'),
            ("run_id", 't'),
            ("gate", 't'),
            ("plugin", 't'),
            ("plugin_digest", 't'),
            ("outcome", 't'),
            ("score", 'r'),
            ("findings", 't'),
            ("fix", 't'),
            ("error_cause", 't'),
            ("error", 't'),
            ("policy", 't'),
            ("duration_us", 'i'),
            ("created_at", 'i'),
        ],
    ),
    (
        "routes",
        &[
            ("id", 'i'),
            ("handoff_id", 'i'),
            ("run_id", 't'),
            ("decided_by", 't'),
            ("target", 't'),
            ("reason", 't'),
            ("created_at", 'i'),
        ],
    ),
    (
        "reviews",
        &[
            ("id", 'i'),
            ("run_id", 't'),
            ("handoff_id", 'i'),
            ("step", 't'),
            ("kind", 't'),
            ("status", 't'),
            ("payload", 't'),
            ("findings", 't'),
            ("reason", 't'),
            ("decided_by", 't'),
            ("decided_at", 'i'),
            ("note", 't'),
            ("output", 't'),
            ("created_at", 'i'),
        ],
    ),
];

impl PgLedger {
    /// Copies every record of the SQLite ledger `from` into this one, ids and times
    /// unchanged, in one transaction: all of it or nothing. This ledger must be empty
    /// (a ledger moving from SQLite to PostgreSQL). Returns the records copied per table.
    pub fn import_sqlite(&self, from: &crate::SqliteLedger) -> Result<Counts, LedgerError> {
        self.blocking("an import", || self.import_now(from))
    }

    fn import_now(&self, from: &crate::SqliteLedger) -> Result<Counts, LedgerError> {
        let what = format!("the records of {}", from.path().display());
        let werr = |source: crate::BoxError| LedgerError::Write {
            what: what.clone(),
            location: self.location.clone(),
            source,
        };
        let mut client = self.connect().map_err(|e| werr(boxed(e)))?;
        let mut tx = client.transaction().map_err(|e| werr(boxed(e)))?;
        let existing: i64 = tx
            .query_one("SELECT COUNT(*) FROM runs", &[])
            .map_err(|e| werr(boxed(e)))?
            .get(0);
        if existing > 0 {
            return Err(werr(
                format!("the ledger already holds {existing} runs; import only into an empty one")
                    .into(),
            ));
        }
        let mut counts = Vec::new();
        for (table, columns) in TABLES {
            let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
            let marks: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
            let insert = tx
                .prepare(&format!(
                    "INSERT INTO {table} ({}) VALUES ({})",
                    names.join(", "),
                    marks.join(", ")
                ))
                .map_err(|e| werr(boxed(e)))?;
            let select = format!("SELECT {} FROM {table} ORDER BY rowid", names.join(", "));
            let mut copied = 0i64;
            from.read(&what, |c| {
                let mut st = c.prepare(&select)?;
                let mut rows = st.query([])?;
                while let Some(row) = rows.next()? {
                    let mut params: Params = Vec::with_capacity(columns.len());
                    for (i, (_, kind)) in columns.iter().enumerate() {
                        params.push(match kind {
                            'i' => Box::new(row.get::<_, Option<i64>>(i)?),
                            'r' => Box::new(row.get::<_, Option<f64>>(i)?),
                            _ => Box::new(
                                row.get::<_, Option<String>>(i)?
                                    .map(|s| text(&s).into_owned()),
                            ),
                        });
                    }
                    tx.execute(&insert, &refs(&params))
                        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                    copied += 1;
                }
                Ok(())
            })?;
            if columns[0] == ("id", 'i') {
                tx.execute(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"
                    ),
                    &[],
                )
                .map_err(|e| werr(boxed(e)))?;
            }
            counts.push((table.to_string(), copied));
        }
        tx.commit().map_err(|e| werr(boxed(e)))?;
        Ok(counts)
    }
}

/// Why a phase's transaction stopped: the database failed, or the run was no longer
/// where the phase starts.
enum PhaseError {
    Db(postgres::Error),
    Moved,
}

impl From<postgres::Error> for PhaseError {
    fn from(e: postgres::Error) -> Self {
        PhaseError::Db(e)
    }
}

fn until(lease: Duration) -> (i64, i64) {
    let now = now_ms();
    (
        now,
        now.saturating_add(lease.as_millis().min(i64::MAX as u128) as i64),
    )
}

impl PgLedger {
    fn record_now(&self, what: &str, phase: Phase<'_>) -> Result<Recorded, LedgerError> {
        let err = |e: postgres::Error| LedgerError::Write {
            what: what.to_string(),
            location: self.location.clone(),
            source: boxed(e),
        };
        let mut client = self.connect().map_err(err)?;
        let result = (|| -> Result<Recorded, PhaseError> {
            let mut t = client.transaction()?;
            let now = now_ms();
            let mut ids = Recorded::default();
            if let Some(s) = &phase.step_run {
                let status = if s.error.is_some() { "error" } else { "ok" };
                let row = t.query_one(
                    "INSERT INTO step_runs (run_id, step, attempt, adapter, input, output, status, error, exit_code, stderr_tail, started_at, duration_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                    &[&phase.run_id, &s.step, &i64::from(s.attempt), &s.adapter, &text(s.input), &opt_text(s.output), &status,
                      &opt_text(s.error), &s.exit_code.map(i64::from), &opt_text(s.stderr_tail), &s.started_at, &s.duration_ms],
                )?;
                ids.step_run_id = Some(row.get(0));
            }
            if let Some(h) = &phase.handoff {
                let step_run_id = ids.step_run_id.or(h.step_run_id);
                let row = t.query_one(
                    "INSERT INTO handoffs (run_id, step_run_id, from_step, to_step, attempt, payload, context, fixed_by, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                    &[&phase.run_id, &step_run_id, &h.from_step, &h.to_step, &i64::from(h.attempt), &text(h.payload), &text(h.context), &h.fixed_by, &now],
                )?;
                ids.handoff_id = Some(row.get(0));
            }
            for v in &phase.verdicts {
                t.execute(
                    "INSERT INTO verdicts (handoff_id, run_id, gate, plugin, plugin_digest, outcome, score, findings, fix, error_cause, error, policy, duration_us, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                    &[&v.handoff_id, &phase.run_id, &v.gate, &v.plugin, &v.plugin_digest, &v.outcome, &v.score, &text(v.findings),
                      &opt_text(v.fix), &v.error_cause, &opt_text(v.error), &v.policy, &v.duration_us, &now],
                )?;
            }
            if let Some(r) = &phase.route {
                t.execute(
                    "INSERT INTO routes (handoff_id, run_id, decided_by, target, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&r.handoff_id, &phase.run_id, &r.decided_by, &r.target, &text(r.reason), &now],
                )?;
            }
            if let Some(r) = &phase.review {
                let row = t.query_one(
                    "INSERT INTO reviews (run_id, handoff_id, step, kind, status, payload, findings, reason, created_at)
                     VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8) RETURNING id",
                    &[&phase.run_id, &r.handoff_id, &r.step, &r.kind, &text(r.payload), &text(r.findings), &text(r.reason), &now],
                )?;
                ids.review_id = Some(row.get(0));
            }
            let to = (phase.then)(&ids);
            let n = t.execute(
                // A run's last phase releases its claim with it (see `ENDED_STATUSES`).
                &format!(
                    "UPDATE runs SET status = $2, cursor = $3, output = COALESCE($4, output), reason = COALESCE($5, reason), updated_at = $6,
                     claimed_by = CASE WHEN $2 IN {ENDED} THEN NULL ELSE claimed_by END,
                     lease_until = CASE WHEN $2 IN {ENDED} THEN NULL ELSE lease_until END
                     WHERE id = $1 AND cursor = $7 AND ($8::TEXT IS NULL OR claimed_by = $8)",
                    ENDED = crate::ENDED_STATUSES
                ),
                &[&phase.run_id, &to.status, &to.cursor, &opt_text(to.output.as_deref()), &opt_text(to.reason.as_deref()), &now, &phase.at, &phase.holder],
            )?;
            if n != 1 {
                return Err(PhaseError::Moved);
            }
            t.commit()?;
            Ok(ids)
        })();
        drop(client);
        match result {
            Ok(ids) => Ok(ids),
            Err(PhaseError::Db(e)) => Err(err(e)),
            Err(PhaseError::Moved) => match crate::Ledger::run(self, phase.run_id) {
                Err(e @ LedgerError::NotFound { .. }) => Err(e),
                _ => Err(LedgerError::Conflict {
                    run: phase.run_id.to_string(),
                }),
            },
        }
    }

    fn export_now(
        &self,
        filter: &crate::feedback::ExportFilter,
        shape: crate::feedback::Shape,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, LedgerError> {
        let err = |source: crate::BoxError| LedgerError::Read {
            what: "the feedback export".to_string(),
            location: self.location.clone(),
            source,
        };
        let mut client = self.connect().map_err(|e| err(boxed(e)))?;
        feedback::export(&mut client, filter, shape, out).map_err(|e| {
            err(match e.downcast::<postgres::Error>() {
                Ok(pg) => boxed(*pg),
                Err(other) => other,
            })
        })
    }
}

impl crate::Ledger for PgLedger {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn start_run(&self, run: &NewRun<'_>) -> Result<(), LedgerError> {
        let (now, lease_until) = until(run.lease);
        self.write("the new run", |t| {
            t.execute(
                "INSERT INTO runs (id, pipeline, pipeline_file, pipeline_digest, input, status, cursor, created_at, updated_at, claimed_by, lease_until)
                 VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $7, $8, $9)",
                &[&run.id, &run.pipeline, &run.pipeline_file, &run.pipeline_digest, &text(run.input), &run.cursor, &now, &run.holder, &lease_until],
            )
            .map(drop)
        })
    }

    fn record(&self, what: &str, phase: Phase<'_>) -> Result<Recorded, LedgerError> {
        self.blocking(what, || self.record_now(what, phase))
    }

    fn claim(&self, run_id: &str, holder: &str, lease: Duration) -> Result<Claim, LedgerError> {
        let (now, lease_until) = until(lease);
        let other = self.write("a claim on a run", |t| {
            let n = t.execute(
                "UPDATE runs SET claimed_by = $2, lease_until = $3
                 WHERE id = $1 AND (claimed_by IS NULL OR claimed_by = $2 OR lease_until IS NULL OR lease_until <= $4)",
                &[&text(run_id), &text(holder), &lease_until, &now],
            )?;
            if n == 1 {
                return Ok(None);
            }
            t.query_opt(
                "SELECT claimed_by, lease_until FROM runs WHERE id = $1",
                &[&text(run_id)],
            )
            .map(|row| {
                Some(row.map(|r| {
                    (
                        r.get::<_, Option<String>>(0),
                        r.get::<_, Option<i64>>(1),
                    )
                }))
            })
        })?;
        match other {
            None => Ok(Claim::Held {
                until_ms: lease_until,
            }),
            Some(Some((holder, until_ms))) => Ok(Claim::HeldByOther {
                holder: holder.unwrap_or_else(|| "(unknown)".into()),
                until_ms: until_ms.unwrap_or(now),
            }),
            Some(None) => Err(self.not_found("run", run_id)),
        }
    }

    fn renew(&self, run_id: &str, holder: &str, lease: Duration) -> Result<bool, LedgerError> {
        let (now, lease_until) = until(lease);
        self.write("the renewal of a claim", |t| {
            t.execute(
                "UPDATE runs SET lease_until = $3 WHERE id = $1 AND claimed_by = $2 AND lease_until > $4",
                &[&text(run_id), &text(holder), &lease_until, &now],
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
        let (now, lease_until) = until(lease);
        let decided_before = now.saturating_sub(grace.as_millis().min(i64::MAX as u128) as i64);
        let names: Vec<String> = pipelines.iter().map(|p| text(p).into_owned()).collect();
        self.write("a claim on an orphaned run", |t| {
            // SKIP LOCKED: replicas looking at once each take a different run.
            t.query_opt(
                "UPDATE runs SET claimed_by = $1, lease_until = $2 WHERE id = (
                    SELECT r.id FROM runs r
                    WHERE r.pipeline = ANY($3) AND r.cursor <> $6
                      AND (r.lease_until IS NULL OR r.lease_until <= $4)
                      AND (r.status = 'running'
                           OR (r.status = 'waiting'
                               AND NOT EXISTS (SELECT 1 FROM reviews v WHERE v.run_id = r.id AND v.status = 'pending')
                               AND EXISTS (SELECT 1 FROM reviews v WHERE v.run_id = r.id AND v.decided_at <= $5)))
                    ORDER BY r.updated_at, r.id LIMIT 1
                    FOR UPDATE SKIP LOCKED)
                 RETURNING id, pipeline",
                &[&text(holder), &lease_until, &names, &now, &decided_before, &crate::OUTSIDE_CURSOR],
            )
            .map(|row| {
                row.map(|r| crate::Orphan {
                    run_id: r.get(0),
                    pipeline: r.get(1),
                })
            })
        })
    }

    fn release(&self, run_id: &str, holder: &str) -> Result<(), LedgerError> {
        self.write("the release of a claim", |t| {
            t.execute(
                "UPDATE runs SET claimed_by = NULL, lease_until = NULL WHERE id = $1 AND claimed_by = $2",
                &[&text(run_id), &text(holder)],
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
        let status = if accepted { "accepted" } else { "rejected" };
        let found = self.write("a review decision", |t| {
            let n = t.execute(
                "UPDATE reviews SET status = $2, decided_by = $3, decided_at = $4, note = $5, output = $6
                 WHERE id = $1 AND status = 'pending'",
                &[&id, &status, &text(by), &now_ms(), &opt_text(note), &opt_text(output)],
            )?;
            if n == 1 {
                return Ok(None);
            }
            t.query_opt("SELECT status FROM reviews WHERE id = $1", &[&id])
                .map(|row| Some(row.map(|r| r.get::<_, String>(0))))
        })?;
        match found {
            None => Ok(()),
            Some(None) => Err(self.not_found("review", id)),
            Some(Some(status)) => Err(LedgerError::AlreadyDecided { review: id, status }),
        }
    }

    fn run(&self, id: &str) -> Result<RunRow, LedgerError> {
        self.read("a run", |c| {
            c.query_opt(&format!("{RUN_SELECT} WHERE id = $1"), &[&text(id)])
                .map(|r| r.map(|r| run_row(&r)))
        })?
        .ok_or_else(|| self.not_found("run", id))
    }

    fn runs(&self, status: Option<&str>) -> Result<Vec<RunRow>, LedgerError> {
        self.read("runs", |c| {
            c.query(
                &format!(
                    "{RUN_SELECT} WHERE $1::TEXT IS NULL OR status = $1 ORDER BY created_at DESC, id COLLATE \"C\" DESC"
                ),
                &[&opt_text(status)],
            )
            .map(|rows| rows.iter().map(run_row).collect())
        })
    }

    fn handoff(&self, id: i64) -> Result<HandoffRow, LedgerError> {
        self.read("a handoff", |c| {
            c.query_opt(&format!("{HANDOFF_SELECT} WHERE id = $1"), &[&id])
                .map(|r| r.map(|r| handoff_row(&r)))
        })?
        .ok_or_else(|| self.not_found("handoff", id))
    }

    fn handoffs(&self, run_id: &str) -> Result<Vec<HandoffRow>, LedgerError> {
        self.read("handoffs", |c| {
            c.query(
                &format!("{HANDOFF_SELECT} WHERE run_id = $1 ORDER BY id"),
                &[&text(run_id)],
            )
            .map(|rows| rows.iter().map(handoff_row).collect())
        })
    }

    fn routes(&self, handoff_id: i64) -> Result<Vec<RouteRow>, LedgerError> {
        self.read("routes", |c| {
            c.query(
                "SELECT handoff_id, decided_by, target, reason FROM routes WHERE handoff_id = $1 ORDER BY id",
                &[&handoff_id],
            )
            .map(|rows| {
                rows.iter()
                    .map(|r| RouteRow {
                        handoff_id: r.get(0),
                        decided_by: r.get(1),
                        target: r.get(2),
                        reason: r.get(3),
                    })
                    .collect()
            })
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

    fn step_input(&self, step_run_id: i64) -> Result<String, LedgerError> {
        self.read("a step's input", |c| {
            c.query_opt("SELECT input FROM step_runs WHERE id = $1", &[&step_run_id])
                .map(|r| r.map(|r| r.get::<_, String>(0)))
        })?
        .ok_or_else(|| self.not_found("step execution", step_run_id))
    }

    fn step_runs(&self, run_id: &str) -> Result<Vec<StepRunRow>, LedgerError> {
        self.read("step executions", |c| {
            c.query(
                "SELECT id, step, attempt, input, output, status, error FROM step_runs WHERE run_id = $1 ORDER BY id",
                &[&text(run_id)],
            )
            .map(|rows| {
                rows.iter()
                    .map(|r| StepRunRow {
                        id: r.get(0),
                        step: r.get(1),
                        attempt: r.get::<_, i64>(2) as u32,
                        input: r.get(3),
                        output: r.get(4),
                        status: r.get(5),
                        error: r.get(6),
                    })
                    .collect()
            })
        })
    }

    fn verdicts(&self, handoff_id: i64) -> Result<Vec<VerdictRow>, LedgerError> {
        self.read("verdicts", |c| {
            c.query(
                "SELECT gate, plugin, outcome, score, findings, error, policy, duration_us FROM verdicts WHERE handoff_id = $1 ORDER BY id",
                &[&handoff_id],
            )
            .map(|rows| {
                rows.iter()
                    .map(|r| VerdictRow {
                        gate: r.get(0),
                        plugin: r.get(1),
                        outcome: r.get(2),
                        score: r.get(3),
                        findings: r.get(4),
                        error: r.get(5),
                        policy: r.get(6),
                        duration_us: r.get(7),
                    })
                    .collect()
            })
        })
    }

    fn review(&self, id: i64) -> Result<ReviewRow, LedgerError> {
        self.read("a review", |c| {
            c.query_opt(&format!("{REVIEW_SELECT} WHERE v.id = $1"), &[&id])
                .map(|r| r.map(|r| review_row(&r)))
        })?
        .ok_or_else(|| self.not_found("review", id))
    }

    fn reviews(&self, status: Option<&str>) -> Result<Vec<ReviewRow>, LedgerError> {
        self.read("reviews", |c| {
            c.query(
                &format!(
                    "{REVIEW_SELECT} WHERE $1::TEXT IS NULL OR v.status = $1 ORDER BY v.created_at, v.id"
                ),
                &[&opt_text(status)],
            )
            .map(|rows| rows.iter().map(review_row).collect())
        })
    }

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
                let n: i64 = c
                    .query_one(&format!("SELECT COUNT(*) FROM {t}"), &[])?
                    .get(0);
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
        self.blocking("the feedback export", || {
            self.export_now(filter, shape, out)
        })
    }
}

const RUN_SELECT: &str = "SELECT id, pipeline, pipeline_file, pipeline_digest, input, status, cursor, output, reason, created_at, updated_at FROM runs";

fn run_row(r: &Row) -> RunRow {
    RunRow {
        id: r.get(0),
        pipeline: r.get(1),
        pipeline_file: r.get(2),
        pipeline_digest: r.get(3),
        input: r.get(4),
        status: r.get(5),
        cursor: r.get(6),
        output: r.get(7),
        reason: r.get(8),
        created_at: r.get(9),
        updated_at: r.get(10),
    }
}

const HANDOFF_SELECT: &str =
    "SELECT id, run_id, step_run_id, from_step, to_step, attempt, payload, context, fixed_by FROM handoffs";

fn handoff_row(r: &Row) -> HandoffRow {
    HandoffRow {
        id: r.get(0),
        run_id: r.get(1),
        step_run_id: r.get(2),
        from_step: r.get(3),
        to_step: r.get(4),
        attempt: r.get::<_, i64>(5) as u32,
        payload: r.get(6),
        context: r.get(7),
        fixed_by: r.get(8),
    }
}

const REVIEW_SELECT: &str = "SELECT v.id, v.run_id, r.pipeline, v.handoff_id, v.step, v.kind, v.status, v.payload, v.findings, v.reason,
    v.decided_by, v.decided_at, v.note, v.output, v.created_at FROM reviews v JOIN runs r ON r.id = v.run_id";

fn review_row(r: &Row) -> ReviewRow {
    ReviewRow {
        id: r.get(0),
        run_id: r.get(1),
        pipeline: r.get(2),
        handoff_id: r.get(3),
        step: r.get(4),
        kind: r.get(5),
        status: r.get(6),
        payload: r.get(7),
        findings: r.get(8),
        reason: r.get(9),
        decided_by: r.get(10),
        decided_at: r.get(11),
        note: r.get(12),
        output: r.get(13),
        created_at: r.get(14),
    }
}

/// Parameters built at run time (a report's filter).
pub(crate) type Params = Vec<Box<dyn ToSql + Sync>>;

pub(crate) fn refs(p: &Params) -> Vec<&(dyn ToSql + Sync)> {
    p.iter().map(|b| b.as_ref()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        for (url, want) in [
            (
                "postgres://seam:s3cret@db.example:5432/ledger",
                "postgres://seam:***@db.example:5432/ledger",
            ),
            (
                "postgresql://seam@localhost/ledger?password=s3cret&sslmode=disable",
                "postgresql://seam@localhost/ledger?password=***&sslmode=disable",
            ),
            ("postgres://localhost", "postgres://localhost"),
            ("postgres://a:b:c@h/d", "postgres://a:***@h/d"),
        ] {
            assert_eq!(redact(url), want, "{url}");
            assert!(!redact(url).contains("s3cret"));
        }
    }

    #[test]
    fn nul_characters_are_replaced_not_refused() {
        assert_eq!(text("a\0b"), "a\u{fffd}b");
        assert!(matches!(text("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_url_is_told_from_a_file() {
        assert!(is_url("postgres://h/d") && is_url("postgresql://h/d"));
        assert!(!is_url("seam-ledger.db") && !is_url("/var/postgres://x"));
    }
}
