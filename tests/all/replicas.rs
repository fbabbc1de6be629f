//! Several `seam serve` processes on one PostgreSQL ledger, as replicas behind a load
//! balancer: runs shared between them, replicas killed (`kill -9`) while they drive
//! runs, and the database going away under a replica and coming back. Every test here
//! needs `SEAM_TEST_POSTGRES` (see `postgres.rs`) and says so without it.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::pipeline::scratch;

/// A `seam serve` process, killed when dropped so a failing test leaves none behind.
struct Replica {
    child: Child,
    base: String,
    alive: bool,
}

impl Replica {
    /// A `seam serve` process on `config`, at the address it says it listens on.
    fn start(config: &std::path::Path) -> Replica {
        let (child, base, lines) =
            crate::server::serve_process(config, std::process::Stdio::null());
        // Keep reading, so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Replica {
            child,
            base,
            alive: true,
        }
    }

    /// `kill -9`: no drain, no release of its claims.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.alive = false;
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if self.alive {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// `method url` with an optional JSON body: the status and the body as JSON.
fn call(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let agent = agent();
    let result = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        (_, Some(b)) => agent.post(url).send_json(b),
        (_, None) => agent.post(url).send_empty(),
    };
    let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A small, seeded generator: the seed is printed, and `SEAM_TEST_SEED` replays it.
struct Rng(u64);

impl Rng {
    fn seeded(test: &str) -> Rng {
        let seed = std::env::var("SEAM_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("{test}: SEAM_TEST_SEED={seed}");
        Rng(seed | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// The pipeline every replica serves: a drafting step whose output always fails a
/// gate that escalates to a person, then a shipping step. Each step appends its run's
/// number to a file, so the test can see which steps ran again after a kill.
fn escalating_pipeline(dir: &std::path::Path) {
    std::fs::write(
        dir.join("pipeline.toml"),
        "[pipeline]\nname = \"esc\"\n\
         [[steps]]\nname = \"draft\"\nkind = \"command\"\n\
         command = [\"sh\", \"-c\", '''n=$(cat); echo \"$n\" >> drafted; sleep 0.02; echo '\"one two three four\"' ''']\n\
         [[steps]]\nname = \"ship\"\nkind = \"command\"\n\
         command = [\"sh\", \"-c\", '''cat >/dev/null; sleep 0.02; echo '{\"shipped\": true}' ''']\n\
         [[seams]]\nfrom = \"draft\"\n[[seams.gates]]\nplugin = \"max-words\"\n\
         settings = { max_words = 3 }\non_fail = \"escalate\"\n",
    )
    .unwrap();
}

/// One row per group: `SELECT key, count(*) … GROUP BY key` as a sorted list.
fn counts(db: &mut postgres::Client, sql: &str) -> Vec<(String, i64)> {
    let mut rows: Vec<(String, i64)> = db
        .query(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    rows.sort();
    rows
}

fn count(db: &mut postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .get(0)
}

/// Three replicas on one database drive 200 runs of a pipeline with a human step;
/// runs are started and their reviews decided through whichever replica is alive, and
/// two replicas are killed at random moments. Every run completes exactly once: one
/// record of each step, one review, one verdict — nothing lost, nothing repeated.
#[test]
fn three_replicas_drive_200_runs_while_two_are_killed() {
    const RUNS: usize = 200;
    let Some(base) = crate::postgres::server("three_replicas_drive_200_runs_while_two_are_killed")
    else {
        return;
    };
    let url = crate::postgres::fresh_database(&base, "replicas");
    let dir = scratch("replicas-200");
    escalating_pipeline(&dir);
    let config = dir.join("seam-server.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nledger = \"{url}\"\npipelines = [\"pipeline.toml\"]\n\
             [runs]\nlease_ms = 600\npickup_interval_ms = 100\n"
        ),
    )
    .unwrap();
    let mut rng = Rng::seeded("three_replicas_drive_200_runs_while_two_are_killed");
    let mut replicas: Vec<Replica> = (0..3).map(|_| Replica::start(&config)).collect();
    // 200 starts and 200 decisions: two of those 400 moments, at random, are kills.
    let mut kills = [10 + rng.below(380), 10 + rng.below(380)];
    kills.sort();
    if kills[0] == kills[1] {
        kills[1] += 1;
    }
    let mut moment = 0;
    let mut next_moment = |replicas: &mut Vec<Replica>, rng: &mut Rng| {
        moment += 1;
        if kills.contains(&moment) {
            let alive: Vec<usize> = (0..replicas.len()).filter(|&i| replicas[i].alive).collect();
            let victim = alive[rng.below(alive.len())];
            eprintln!("moment {moment}: kill -9 replica {victim}");
            replicas[victim].kill();
        }
    };
    let pick = |replicas: &[Replica], rng: &mut Rng| -> String {
        let alive: Vec<&Replica> = replicas.iter().filter(|r| r.alive).collect();
        alive[rng.below(alive.len())].base.clone()
    };

    let started = Instant::now();
    let mut run_ids = Vec::new();
    for n in 0..RUNS {
        next_moment(&mut replicas, &mut rng);
        let on = pick(&replicas, &mut rng);
        let (status, body) = call(
            "POST",
            &format!("{on}/v1/pipelines/esc/runs"),
            Some(&json!({"input": n})),
        );
        assert_eq!(status, 202, "starting run {n} on {on}: {body}");
        run_ids.push(body["run_id"].as_str().unwrap().to_string());
    }

    let mut decided = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    while decided.len() < RUNS {
        assert!(
            Instant::now() < deadline,
            "only {} of {RUNS} reviews ever came up",
            decided.len()
        );
        let on = pick(&replicas, &mut rng);
        let (status, body) = call("GET", &format!("{on}/v1/reviews"), None);
        assert_eq!(status, 200, "{body}");
        let pending: Vec<i64> = body["reviews"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .filter(|id| !decided.contains(id))
            .collect();
        if pending.is_empty() {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        for id in pending {
            next_moment(&mut replicas, &mut rng);
            let on = pick(&replicas, &mut rng);
            let (status, body) = call(
                "POST",
                &format!("{on}/v1/reviews/{id}/accept"),
                Some(&json!({"by": "load-test", "note": "fine"})),
            );
            assert!(
                status == 200 || status == 202,
                "deciding review {id} on {on}: {status} {body}"
            );
            decided.insert(id);
        }
    }

    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let done = count(
            &mut db,
            "SELECT count(*) FROM runs WHERE status = 'completed'",
        );
        if done == RUNS as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{done} of {RUNS} runs completed: {:?}",
            counts(&mut db, "SELECT status, count(*) FROM runs GROUP BY status")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{RUNS} runs, each with a review, through 3 replicas (2 killed) in {elapsed:?}: {:.1} runs/s",
        RUNS as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(replicas.iter().filter(|r| r.alive).count(), 1);

    // Exactly the runs started, each once, with the input it was started with.
    let inputs = counts(&mut db, "SELECT input, count(*) FROM runs GROUP BY input");
    let mut expected: Vec<(String, i64)> = (0..RUNS).map(|n| (n.to_string(), 1)).collect();
    expected.sort();
    assert_eq!(inputs, expected);
    let mut ids: Vec<String> = db
        .query("SELECT id FROM runs", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    ids.sort();
    run_ids.sort();
    assert_eq!(ids, run_ids);
    // One record of each step of each run: none repeated, none lost.
    assert_eq!(
        counts(
            &mut db,
            "SELECT step || ' ' || status, count(*) FROM step_runs GROUP BY 1"
        ),
        [
            ("draft ok".to_string(), RUNS as i64),
            ("ship ok".to_string(), RUNS as i64)
        ]
    );
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM (SELECT run_id, step FROM step_runs \
             GROUP BY 1, 2 HAVING count(*) <> 1) AS repeated"
        ),
        0
    );
    // Two handoffs (the seam's, and the run's output), one failing verdict at the seam, one escalation, one review
    // accepted, per run.
    assert_eq!(
        counts(
            &mut db,
            "SELECT from_step || ' -> ' || to_step, count(*) FROM handoffs GROUP BY 1"
        ),
        [
            ("draft -> ship".to_string(), RUNS as i64),
            ("ship -> done".to_string(), RUNS as i64)
        ]
    );
    assert_eq!(
        counts(
            &mut db,
            "SELECT gate || ' ' || outcome, count(*) FROM verdicts GROUP BY 1"
        ),
        [("max-words failed".to_string(), RUNS as i64)]
    );
    assert_eq!(
        counts(
            &mut db,
            "SELECT kind || ' ' || status, count(*) FROM reviews GROUP BY 1"
        ),
        [("escalation accepted".to_string(), RUNS as i64)]
    );
    assert_eq!(
        count(
            &mut db,
            "SELECT count(DISTINCT run_id) FROM reviews WHERE decided_by = 'load-test'"
        ),
        RUNS as i64
    );
    // Nothing left claimed: a run's last record releases its claim in the same
    // transaction, so even a replica killed right after it leaves nothing claimed.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let claimed = counts(
            &mut db,
            "SELECT id || ' ' || status || ' ' || claimed_by, lease_until FROM runs \
             WHERE claimed_by IS NOT NULL",
        );
        if claimed.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "runs still claimed: {claimed:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Drafting steps cut by a kill before their record ran again: at least once each.
    // Each line is the step's input, a JSON object naming its run, counted by run (CI
    // once saw 201 distinct lines for 200 runs: a step run again need not be given
    // the same text, and a replica killed while writing a step's input leaves that
    // step, its child, running on a cut input, which is no JSON and counted apart).
    // The ledger assertions above are what prove each step recorded once.
    let drafted = std::fs::read_to_string(dir.join("drafted")).unwrap();
    let mut times = std::collections::BTreeMap::<String, usize>::new();
    let mut cut = 0;
    for line in drafted.lines() {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(input) => *times.entry(input["run_id"].to_string()).or_default() += 1,
            Err(_) => cut += 1,
        }
    }
    assert_eq!(times.len(), RUNS, "every run drafted");
    let again: usize = times.values().map(|t| t - 1).sum();
    let survivor = replicas.iter().find(|r| r.alive).unwrap();
    let (_, metrics) = call("GET", &format!("{}/metrics", survivor.base), None);
    let taken_over = metrics
        .as_str()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("seam_runs_taken_over_total "))
        .unwrap_or("0")
        .to_string();
    eprintln!(
        "drafting steps that ran again after a kill: {again} (and {cut} on a cut input); runs the survivor took over: {taken_over}"
    );
}

/// A pipeline of two command steps: `work` (the shell text given, after it has read
/// its input and appended a line to `started`), then `after` (appends a line to
/// `after`), whose output `"after"` ends the run.
fn two_step_pipeline(dir: &std::path::Path, work: &str) {
    std::fs::write(
        dir.join("pipeline.toml"),
        format!(
            "[pipeline]\nname = \"slow\"\n\
             [[steps]]\nname = \"work\"\nkind = \"command\"\n\
             command = [\"sh\", \"-c\", '''cat >/dev/null; echo x >> started; {work}''']\n\
             [[steps]]\nname = \"after\"\nkind = \"command\"\n\
             command = [\"sh\", \"-c\", '''cat >/dev/null; echo y >> after; printf '\"after\"' ''']\n"
        ),
    )
    .unwrap();
}

/// A server configuration on `ledger` serving `pipeline.toml`, with a short lease so
/// takeovers happen within the test.
fn replica_config(dir: &std::path::Path, ledger: &str) -> std::path::PathBuf {
    let config = dir.join("seam-server.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nledger = \"{ledger}\"\npipelines = [\"pipeline.toml\"]\n\
             [runs]\nlease_ms = 600\npickup_interval_ms = 100\n"
        ),
    )
    .unwrap();
    config
}

/// Waits until `file` in `dir` has a line.
fn wait_for_line(dir: &std::path::Path, file: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(dir.join(file))
        .unwrap_or_default()
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "nothing in {file}: the step never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn lines_in(dir: &std::path::Path, file: &str) -> usize {
    std::fs::read_to_string(dir.join(file))
        .unwrap()
        .lines()
        .count()
}

/// Polls run `run` on the server at `base` until it completes (60 s at most); its
/// document, after checking that each step was recorded once, in order.
fn completed_once(base: &str, run: &str, steps: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let doc = loop {
        let (status, doc) = call("GET", &format!("{base}/v1/runs/{run}"), None);
        if status == 200 && doc["status"] == "completed" {
            break doc;
        }
        assert!(Instant::now() < deadline, "the run never finished: {doc}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let recorded: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(recorded, steps, "every recorded step once: {doc}");
    doc
}

/// Two `seam serve` processes on one PostgreSQL ledger; one is killed (`kill -9`) in
/// the middle of a step. The other takes the run over once the dead one's claim lapses
/// and finishes it: the step that had no record yet runs again, every recorded step
/// once.
#[test]
fn a_killed_servers_run_is_taken_over_by_another_and_finished_once() {
    let Some(base) =
        crate::postgres::server("a_killed_servers_run_is_taken_over_by_another_and_finished_once")
    else {
        return;
    };
    let url = crate::postgres::fresh_database(&base, "takeover");
    let dir = scratch("server-takeover");
    two_step_pipeline(&dir, "sleep 1; printf '\"done\"'");
    let config = replica_config(&dir, &url);
    let mut a = Replica::start(&config);
    let b = Replica::start(&config);
    let (status, body) = call(
        "POST",
        &format!("{}/v1/pipelines/slow/runs", a.base),
        Some(&json!({"input": 1})),
    );
    assert_eq!(status, 202, "{body}");
    let run = body["run_id"].as_str().unwrap().to_string();
    wait_for_line(&dir, "started");
    a.kill();
    let killed = Instant::now();
    let doc = completed_once(&b.base, &run, &["work", "after"]);
    eprintln!(
        "takeover: the run completed {:?} after its server was killed",
        killed.elapsed()
    );
    assert_eq!(doc["output"], "after");
    assert_eq!(
        lines_in(&dir, "started"),
        2,
        "the unrecorded step ran again, once"
    );
    assert_eq!(lines_in(&dir, "after"), 1);
    let (_, metrics) = call("GET", &format!("{}/metrics", b.base), None);
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("seam_runs_taken_over_total 1"),
        "{metrics}"
    );
}

/// A TCP proxy to the test's PostgreSQL server that can be cut (every connection
/// through it reset, new ones closed at once, as when the database stops or the
/// network drops) and restored, to take the database away from a replica.
struct Proxy {
    address: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn to(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let open = Arc::new(Mutex::new(Vec::<TcpStream>::new()));
        let (up2, open2) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let server = TcpStream::connect(&upstream);
                // Under the lock `cut` takes, so no connection slips past a cut.
                let mut open = open2.lock().unwrap();
                let server = match server {
                    Ok(s) if up2.load(Ordering::SeqCst) => s,
                    _ => {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    }
                };
                open.push(client.try_clone().unwrap());
                open.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy { address, up, open }
    }

    fn cut(&self) {
        let mut open = self.open.lock().unwrap();
        self.up.store(false, Ordering::SeqCst);
        for s in open.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// The database goes away while a replica drives a run, and comes back. Meanwhile the
/// replica stays alive (`/healthz`), reports not-ready (`/readyz` 503 naming the
/// ledger), refuses new runs with the ledger's error, and writes nothing half; once
/// the database is back it is ready again, and the run is taken over and finished: its
/// cut step (whose record never reached the database) runs again, every record once.
#[test]
fn a_replica_whose_database_goes_away_recovers_when_it_returns() {
    let Some(base) =
        crate::postgres::server("a_replica_whose_database_goes_away_recovers_when_it_returns")
    else {
        return;
    };
    let url = crate::postgres::fresh_database(&base, "away");
    let (head, db) = url.rsplit_once('/').unwrap();
    let (user, upstream) = head.rsplit_once('@').unwrap();
    let proxy = Proxy::to(upstream.to_string());
    let proxied = format!("{user}@{}/{db}", proxy.address);
    let dir = scratch("replicas-away");
    two_step_pipeline(
        &dir,
        "while [ ! -e go ]; do sleep 0.02; done; printf '\"done\"'",
    );
    let config = replica_config(&dir, &proxied);
    let replica = Replica::start(&config);
    let at = |path: &str| format!("{}{path}", replica.base);
    let (status, body) = call("GET", &at("/readyz"), None);
    assert_eq!((status, &body["ledger"]), (200, &json!(proxied)), "{body}");
    let (status, body) = call(
        "POST",
        &at("/v1/pipelines/slow/runs"),
        Some(&json!({"input": 1})),
    );
    assert_eq!(status, 202, "{body}");
    let run = body["run_id"].as_str().unwrap().to_string();
    wait_for_line(&dir, "started");

    proxy.cut();
    let (status, body) = call("GET", &at("/readyz"), None);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "not_ready", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("the ledger {proxied} does not answer: ")),
        "{message}"
    );
    let (status, body) = call("GET", &at("/healthz"), None);
    assert_eq!(status, 200, "alive while the database is away: {body}");
    let (status, body) = call(
        "POST",
        &at("/v1/pipelines/slow/runs"),
        Some(&json!({"input": 2})),
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "ledger", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&proxied),
        "{body}"
    );
    let (status, body) = call("GET", &at(&format!("/v1/runs/{run}")), None);
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("ledger")),
        "{body}"
    );
    // The step ends while the database is away: its record cannot be written.
    std::fs::write(dir.join("go"), "").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let (status, _) = call("GET", &at("/readyz"), None);
    assert_eq!(status, 503);

    proxy.restore();
    let back = Instant::now();
    let deadline = back + Duration::from_secs(30);
    loop {
        let (status, body) = call("GET", &at("/readyz"), None);
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "never ready again: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("ready {:?} after the database came back", back.elapsed());
    let doc = completed_once(&replica.base, &run, &["work", "after"]);
    eprintln!(
        "the run completed {:?} after the database came back",
        back.elapsed()
    );
    assert_eq!(doc["output"], "after");
    assert_eq!(lines_in(&dir, "started"), 2, "the cut step ran again, once");
    assert_eq!(lines_in(&dir, "after"), 1);
    // Nothing half-written: the refused run left no record, the finished one all of
    // its records once.
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    assert_eq!(
        counts(&mut db, "SELECT status, count(*) FROM runs GROUP BY 1"),
        [("completed".to_string(), 1)]
    );
    assert_eq!(
        counts(&mut db, "SELECT step, count(*) FROM step_runs GROUP BY 1"),
        [("after".to_string(), 1), ("work".to_string(), 1)]
    );
    assert_eq!(count(&mut db, "SELECT count(*) FROM handoffs"), 2);
    // And it serves new runs again.
    let (status, body) = call(
        "POST",
        &at("/v1/pipelines/slow/runs"),
        Some(&json!({"input": 3, "wait_ms": 30000})),
    );
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("completed")),
        "{body}"
    );
}
