//! The PostgreSQL ledger against a real server. `SEAM_TEST_POSTGRES` names it as
//! `postgres://USER@HOST:PORT` (no database: each test makes its own); `.ci/run` starts
//! a throwaway cluster and sets it. Without it, each test that needs the server says so
//! on stderr and passes, so a developer without PostgreSQL still gets every other test.

use seam_ledger::feedback::{ExportFilter, Shape};
use seam_ledger::report::Filter;
use seam_ledger::{conformance, Ledger, LedgerError, PgLedger};

use crate::pipeline::scratch;

/// The test server's base URL, or `None` with a note.
pub(crate) fn server(test: &str) -> Option<String> {
    match std::env::var("SEAM_TEST_POSTGRES") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().trim_end_matches('/').to_string()),
        _ => {
            eprintln!(
                "{test}: skipped: no PostgreSQL; set SEAM_TEST_POSTGRES=postgres://USER@HOST:PORT \
                 (.ci/run starts one) to run it"
            );
            None
        }
    }
}

/// A new, empty database on the test server; returns its URL.
pub(crate) fn fresh_database(base: &str, name: &str) -> String {
    let db: String = format!("seam_{}_{name}", std::process::id())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    let mut admin = postgres::Client::connect(&format!("{base}/postgres"), postgres::NoTls)
        .unwrap_or_else(|e| panic!("connecting to SEAM_TEST_POSTGRES ({base}): {e}"));
    for sql in [
        format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        format!("CREATE DATABASE {db}"),
    ] {
        admin
            .batch_execute(&sql)
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }
    format!("{base}/{db}")
}

#[test]
fn postgres_passes_the_conformance_suite() {
    let Some(base) = server("postgres_passes_the_conformance_suite") else {
        return;
    };
    let mut failed = Vec::new();
    for (i, (name, check)) in conformance::CHECKS.iter().enumerate() {
        let url = fresh_database(&base, &format!("conformance_{i}"));
        let ledger = PgLedger::open(&url).unwrap_or_else(|e| panic!("{e}"));
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&ledger))).is_err() {
            failed.push(*name);
        }
    }
    assert!(failed.is_empty(), "conformance checks failed: {failed:?}");
}

fn report_json(l: &dyn Ledger, filter: &Filter) -> serde_json::Value {
    serde_json::to_value(l.report(filter).unwrap()).unwrap()
}

fn export_text(l: &dyn Ledger, filter: &ExportFilter, shape: Shape) -> String {
    let mut out = Vec::new();
    l.export(filter, shape, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The same records in both backends (imported with their ids and times) give the
/// same report, drill-downs and exports, byte for byte.
#[test]
fn postgres_reports_and_exports_what_sqlite_does_from_the_same_records() {
    let Some(base) = server("postgres_reports_and_exports_what_sqlite_does_from_the_same_records")
    else {
        return;
    };
    let dir = scratch("pg-same-records");
    let sqlite = crate::report::known_ledger(&dir);
    let pg = PgLedger::open(&fresh_database(&base, "same_records")).unwrap();
    let copied = pg.import_sqlite(&sqlite).unwrap();
    assert_eq!(copied, sqlite.counts().unwrap());
    assert_eq!(pg.counts().unwrap(), sqlite.counts().unwrap());
    let runs = sqlite.runs(None).unwrap();
    let mut filters = vec![
        Filter::default(),
        Filter {
            pipeline: Some("retrying".into()),
            ..Filter::default()
        },
        Filter {
            run: Some(runs[0].id.clone()),
            ..Filter::default()
        },
        Filter {
            since_ms: Some(runs[2].created_at),
            until_ms: Some(runs[0].created_at + 1),
            ..Filter::default()
        },
    ];
    filters.push(Filter {
        pipeline: Some("no-such-pipeline".into()),
        ..Filter::default()
    });
    for f in &filters {
        assert_eq!(report_json(&pg, f), report_json(&sqlite, f), "{f:?}");
    }
    assert!(!sqlite
        .report(&Filter::default())
        .unwrap()
        .agreement
        .is_empty());
    for (pipeline, seam) in [("retrying", "w"), ("escalating", "w"), ("retrying", "none")] {
        assert_eq!(
            pg.seam_visits(&Filter::default(), pipeline, seam, 100)
                .unwrap(),
            sqlite
                .seam_visits(&Filter::default(), pipeline, seam, 100)
                .unwrap()
        );
    }
    for shape in [Shape::Records, Shape::Pairs, Shape::Dpo, Shape::Kto] {
        for filter in [
            ExportFilter::default(),
            ExportFilter {
                gate: Some("short".into()),
                decision: Some("rejected".into()),
                ..ExportFilter::default()
            },
        ] {
            let (a, b) = (
                export_text(&pg, &filter, shape),
                export_text(&sqlite, &filter, shape),
            );
            assert_eq!(a, b, "{shape:?} {filter:?}");
        }
    }
    assert!(!export_text(&pg, &ExportFilter::default(), Shape::Pairs).is_empty());
    for r in &runs {
        assert_eq!(pg.run(&r.id).unwrap(), *r);
        assert_eq!(pg.handoffs(&r.id).unwrap(), sqlite.handoffs(&r.id).unwrap());
        assert_eq!(
            pg.step_runs(&r.id).unwrap(),
            sqlite.step_runs(&r.id).unwrap()
        );
    }
    assert_eq!(pg.reviews(None).unwrap(), sqlite.reviews(None).unwrap());
    // New records after the import get new ids, not the imported ones.
    let before = pg.counts().unwrap();
    crate::report::fill(&dir, &pg);
    let after = pg.counts().unwrap();
    assert!(
        after.iter().zip(&before).all(|(a, b)| a.1 > b.1),
        "{before:?} → {after:?}"
    );
    // Importing into a ledger that holds runs is refused, and changes nothing.
    let err = pg.import_sqlite(&sqlite).unwrap_err().to_string();
    assert!(err.contains("writing the records of"), "{err}");
    assert_eq!(pg.counts().unwrap(), after);
}

/// The runner writes through PostgreSQL as through SQLite: the same figures from the
/// same runs (latencies aside: the gates ran twice).
#[test]
fn runs_through_postgres_give_the_figures_they_give_through_sqlite() {
    let Some(base) = server("runs_through_postgres_give_the_figures_they_give_through_sqlite")
    else {
        return;
    };
    let dir = scratch("pg-runs");
    let sqlite = crate::report::known_ledger(&dir);
    let pg = PgLedger::open(&fresh_database(&base, "runs")).unwrap();
    crate::report::fill(&dir, &pg);
    let strip = |mut v: serde_json::Value| {
        for g in v["gates"].as_array_mut().unwrap() {
            for k in ["latency_us_p50", "latency_us_p95", "latency_us_p99"] {
                assert!(g[k].is_i64(), "{k} of {g}");
                g[k] = serde_json::Value::Null;
            }
        }
        v
    };
    assert_eq!(
        strip(report_json(&pg, &Filter::default())),
        strip(report_json(&sqlite, &Filter::default()))
    );
    assert_eq!(pg.counts().unwrap(), sqlite.counts().unwrap());
}

/// Replicas starting together on a new database migrate it once: the others wait on
/// the advisory lock, then find it done.
#[test]
fn replicas_opening_a_new_database_at_once_migrate_it_once() {
    let Some(base) = server("replicas_opening_a_new_database_at_once_migrate_it_once") else {
        return;
    };
    let url = fresh_database(&base, "migrate_once");
    let opened: Vec<Result<PgLedger, LedgerError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6).map(|_| s.spawn(|| PgLedger::open(&url))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &opened {
        assert!(o.is_ok(), "{:?}", o.as_ref().err().map(|e| e.to_string()));
    }
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let rows = c.query("SELECT version FROM seam_schema", &[]).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i64>(0), 1);
    // A newer schema than this seam knows is refused, naming both versions.
    c.execute("UPDATE seam_schema SET version = 99", &[])
        .unwrap();
    let err = PgLedger::open(&url).err().unwrap().to_string();
    assert!(
        err.contains("has schema version 99, newer than this seam knows (1)"),
        "{err}"
    );
}

/// What a user can get wrong in the URL is an open error naming the ledger without
/// its password, and saying what was wrong. Needs no server.
#[test]
fn a_bad_postgres_url_is_an_open_error_without_the_password() {
    let cases = [
        (
            "postgres://seam:s3cret@127.0.0.1:1/ledger?connect_timeout=2",
            "cannot open the ledger postgres://seam:***@127.0.0.1:1/ledger?connect_timeout=2",
        ),
        (
            "postgres://seam:s3cret@127.0.0.1:5432/ledger?sslmode=require",
            "sslmode=require: this seam connects without TLS",
        ),
        ("postgres://seam:s3cret@[::1/x", "not a PostgreSQL URL"),
        (
            "postgresql://seam@127.0.0.1/ledger?bogus=1&password=s3cret",
            "not a PostgreSQL URL",
        ),
    ];
    for (url, want) in cases {
        let err = match PgLedger::open(url) {
            Ok(_) => panic!("{url} opened"),
            Err(e) => e,
        };
        let text = format!(
            "{err}: {}",
            std::error::Error::source(&err)
                .map(|s| s.to_string())
                .unwrap_or_default()
        );
        assert!(text.contains(want), "{url}: {text}");
        assert!(
            !text.contains("s3cret"),
            "{url}: the password leaked: {text}"
        );
        assert!(matches!(err, LedgerError::Open { .. }), "{url}: {err:?}");
    }
}

/// `seam ledger import`, then `seam report`, `seam feedback export`, `seam review` and
/// `seam run` with `--ledger postgres://…`.
#[test]
fn the_command_line_moves_a_ledger_to_postgres_and_works_on_it() {
    let Some(base) = server("the_command_line_moves_a_ledger_to_postgres_and_works_on_it") else {
        return;
    };
    let dir = scratch("pg-cli");
    let _ = crate::report::known_ledger(&dir);
    let file = dir.join("l.db");
    let file = file.to_str().unwrap();
    let url = fresh_database(&base, "cli");
    let (code, out, err) = crate::seam(&["ledger", "import", file, "--to", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("copied "), "{out}");
    assert!(out.contains("5 runs"), "{out}");
    for args in [
        vec!["report", "--format", "json"],
        vec!["report", "--pipeline", "retrying", "--format", "json"],
        vec!["feedback", "export", "--shape", "pairs"],
        vec!["review", "list", "--all", "--format", "json"],
    ] {
        let on = |ledger: &str| {
            let mut a = args.clone();
            a.extend(["--ledger", ledger]);
            crate::seam(&a)
        };
        let (a, b) = (on(&url), on(file));
        assert_eq!((a.0, &a.1), (0, &b.1), "{args:?}: {}", a.2);
    }
    let (code, _, err) = crate::seam(&["ledger", "import", file, "--to", &url]);
    assert_eq!(code, 2);
    assert!(err.contains("already holds 5 runs"), "{err}");
    // A run recorded straight into PostgreSQL.
    let p = dir.join("pipeline.toml");
    let (code, out, err) = crate::seam(&[
        "run",
        p.to_str().unwrap(),
        "--input",
        r#"{"i": "pg"}"#,
        "--ledger",
        &url,
    ]);
    assert!(code == 0 || code == 3, "{out}{err}");
    assert!(out.contains(&format!("ledger: {url}")), "{out}");
    let (_, out, _) = crate::seam(&["report", "--ledger", &url, "--format", "json"]);
    let runs: i64 = serde_json::from_str::<serde_json::Value>(&out).unwrap()["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["runs"].as_i64().unwrap())
        .sum();
    assert_eq!(runs, 6);
}

/// What `seam ledger import` refuses, server or not.
#[test]
fn ledger_import_refuses_what_it_cannot_copy() {
    let dir = scratch("pg-import-bad");
    let missing = dir.join("missing.db");
    for (args, want) in [
        (
            vec![
                "ledger",
                "import",
                missing.to_str().unwrap(),
                "--to",
                "postgres://h/d",
            ],
            "no ledger file at",
        ),
        (
            vec![
                "ledger",
                "import",
                missing.to_str().unwrap(),
                "--to",
                "other.db",
            ],
            "is not a PostgreSQL URL",
        ),
        (
            vec![
                "ledger",
                "import",
                "postgres://u:pw@h/d",
                "--to",
                "postgres://h/d",
            ],
            "copies from a SQLite ledger FILE",
        ),
    ] {
        let (code, _, err) = crate::seam(&args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains(":pw@"), "{err}");
    }
}
