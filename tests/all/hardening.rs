//! Hostile and careless input, class by class: nothing seam writes destroys what it
//! reads, every input is bounded while it is read, numbers are checked instead of
//! wrapped, stdin has one reader, text stays text, plugin text cannot drive the
//! terminal, and the exit code tells the outcome whatever happens to stdout.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use seam_ledger::{Ledger, SqliteLedger};
use serde_json::json;

use crate::pipeline::scratch;
use crate::seam;

/// Runs the `seam` command line in a child process (this test binary in helper mode)
/// with `stdin` as its stdin; returns (exit code, stdout, stderr).
fn seam_child(args: &[&str], stdin: Stdio) -> (i32, String, String) {
    seam_child_with(args, stdin, None, &[])
}

/// [`seam_child`] with `text` written to its stdin through a pipe.
fn seam_child_piping(args: &[&str], text: &str) -> (i32, String, String) {
    seam_child_with(args, Stdio::piped(), Some(text), &[])
}

/// Environment changes for a child: a value sets the variable, `None` removes it.
type Env<'a> = &'a [(&'a str, Option<&'a std::ffi::OsStr>)];

fn seam_child_with(
    args: &[&str],
    stdin: Stdio,
    text: Option<&str>,
    env: Env,
) -> (i32, String, String) {
    let mut command = helper_command(args);
    for (key, value) in env {
        match value {
            Some(v) => command.env(key, v),
            None => command.env_remove(key),
        };
    }
    let mut child = command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = text {
        use std::io::Write;
        let mut pipe = child.stdin.take().unwrap();
        // The child may stop reading early (that is what some tests check).
        let _ = pipe.write_all(text.as_bytes());
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stdout = stdout
        .split_once(MARKER)
        .map(|(_, after)| after.to_string())
        .unwrap_or_default();
    (
        output.status.code().unwrap_or(-1),
        stdout,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// This test binary run as `seam args…` ([`helper_seam`]); its stdout starts with
/// [`MARKER`].
pub fn helper_command(args: &[&str]) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "hardening::helper_seam",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SEAM_HELPER_ARGS", serde_json::to_string(args).unwrap());
    command
}

const MARKER: &str = "--- seam output ---\n";

/// Not a test by itself: the child process of [`seam_child`].
#[test]
#[ignore = "helper process for the tests that need a real stdin"]
fn helper_seam() {
    let Ok(args) = std::env::var("SEAM_HELPER_ARGS") else {
        return;
    };
    let args: Vec<String> = serde_json::from_str(&args).unwrap();
    use std::io::Write;
    print!("{MARKER}");
    std::io::stdout().flush().unwrap();
    let argv = std::iter::once("seam".to_string())
        .chain(args)
        .map(Into::into);
    let code = seam_cli::main(argv, &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(code.into());
}

fn piped(text: &str) -> Stdio {
    let dir = scratch("stdin-text");
    let path = dir.join(format!("stdin-{}", seam_types::sha256_hex(text.as_bytes())));
    std::fs::write(&path, text).unwrap();
    Stdio::from(std::fs::File::open(path).unwrap())
}

fn file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A ledger with one finished and one waiting run, made by real runs.
fn ledger_with_runs(name: &str) -> (PathBuf, String) {
    let (dir, ledger) = crate::cli::escalating_pipeline(name);
    let pipeline = dir.join("pipeline.toml").display().to_string();
    let (code, _, err) = seam(&["run", &pipeline, "--ledger", &ledger]);
    assert_eq!(code, 3, "{err}");
    (dir, ledger)
}

fn runs_in(ledger: &str) -> usize {
    SqliteLedger::open(Path::new(ledger))
        .unwrap()
        .runs(None)
        .unwrap()
        .len()
}

mod outputs {
    use super::*;

    #[test]
    fn report_never_writes_onto_the_ledger() {
        let (dir, ledger) = ledger_with_runs("out-report");
        let before = std::fs::read(&ledger).unwrap();
        let hard = dir.join("hard-link.db");
        std::fs::hard_link(&ledger, &hard).unwrap();
        let soft = dir.join("soft-link.db");
        std::os::unix::fs::symlink(&ledger, &soft).unwrap();
        let wal = format!("{ledger}-wal");
        for target in [
            ledger.clone(),
            hard.display().to_string(),
            soft.display().to_string(),
        ] {
            let (code, out, err) = seam(&["report", "--ledger", &ledger, "--html", &target]);
            assert_eq!(code, 2, "{out}{err}");
            assert_eq!(
                err,
                format!(
                    "seam: error: refusing to write the HTML report to {target}: it is the ledger this command reads ({ledger}); choose another file\n"
                )
            );
        }
        if Path::new(&wal).exists() {
            let (code, _, err) = seam(&["report", "--ledger", &ledger, "--html", &wal]);
            assert_eq!(code, 2);
            assert!(err.contains("it is the ledger this command reads"), "{err}");
        }
        assert_eq!(std::fs::read(&ledger).unwrap(), before);
        assert_eq!(runs_in(&ledger), 1);
    }

    #[test]
    fn feedback_export_never_truncates_the_ledger() {
        let (_, ledger) = ledger_with_runs("out-export");
        let before = std::fs::read(&ledger).unwrap();
        let (code, _, err) = seam(&["feedback", "export", "--ledger", &ledger, "--out", &ledger]);
        assert_eq!(code, 2);
        assert_eq!(
            err,
            format!("seam: error: refusing to write the export to {ledger}: it is the ledger this command reads ({ledger}); choose another file\n")
        );
        assert_eq!(std::fs::read(&ledger).unwrap(), before);
    }

    #[test]
    fn an_output_that_cannot_be_written_leaves_nothing_behind() {
        let (dir, ledger) = ledger_with_runs("out-atomic");
        let folder = dir.join("a-folder");
        std::fs::create_dir(&folder).unwrap();
        let (code, _, err) = seam(&[
            "report",
            "--ledger",
            &ledger,
            "--html",
            &folder.display().to_string(),
        ]);
        assert_eq!(code, 2);
        assert!(
            err.contains(&format!("writing the HTML report to {}", folder.display()))
                && err.contains("it is a directory"),
            "{err}"
        );
        let html = dir.join("report.html");
        let (code, _, err) = seam(&[
            "report",
            "--ledger",
            &ledger,
            "--html",
            &html.display().to_string(),
        ]);
        assert_eq!(code, 0, "{err}");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("seam-tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert!(std::fs::read_to_string(&html)
            .unwrap()
            .starts_with("<!doctype html>"));
    }

    #[test]
    fn lock_never_overwrites_the_pipeline_it_reads() {
        let (dir, _) = crate::cli::escalating_pipeline("out-lock");
        let named_lock = dir.join("pipeline.lock");
        std::fs::rename(dir.join("pipeline.toml"), &named_lock).unwrap();
        let before = std::fs::read(&named_lock).unwrap();
        let (code, _, err) = seam(&["lock", &named_lock.display().to_string()]);
        assert_eq!(code, 2);
        assert!(
            err.contains("refusing to write the lock file to")
                && err.contains("it is the pipeline file this command reads"),
            "{err}"
        );
        assert_eq!(std::fs::read(&named_lock).unwrap(), before);
    }

    #[test]
    fn keygen_never_overwrites_either_half_of_a_key() {
        let dir = scratch("out-keygen");
        let prefix = dir.join("signer").display().to_string();
        std::fs::write(dir.join("signer.pub"), "mine").unwrap();
        let (code, _, err) = seam(&["keygen", "--out", &prefix]);
        assert_eq!(code, 2);
        assert_eq!(
            err,
            format!("seam: error: {prefix}.pub exists; refusing to overwrite a key: choose another --out PREFIX\n")
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("signer.pub")).unwrap(),
            "mine"
        );
        assert!(!dir.join("signer.key").exists());
    }

    #[test]
    fn bundle_build_never_writes_into_its_source() {
        let dir = scratch("out-bundle");
        let src = dir.join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::copy(seam_test_artifacts::EXITS, src.join("exits.wasm")).unwrap();
        let manifest = "[bundle]\nname = \"b\"\nversion = \"0.1.0\"\n[[plugins]]\nname = \"exits\"\nfile = \"exits.wasm\"\n";
        std::fs::write(src.join("bundle.toml"), manifest).unwrap();
        let s = src.display().to_string();
        for (out, says) in [
            (
                s.clone(),
                "it is the bundle source folder this command reads",
            ),
            (
                src.join("bundle.toml").display().to_string(),
                "it is the bundle source file this command reads",
            ),
            (
                src.join("exits.wasm").display().to_string(),
                "it is the bundle source file this command reads",
            ),
        ] {
            let (code, _, err) = seam(&["bundle", "build", &s, "--out", &out]);
            assert_eq!(code, 2, "{err}");
            assert!(err.contains(says), "{out}: {err}");
        }
        let full = dir.join("full");
        std::fs::create_dir(&full).unwrap();
        std::fs::write(full.join("notes.txt"), "keep").unwrap();
        let (code, _, err) = seam(&["bundle", "build", &s, "--out", &full.display().to_string()]);
        assert_eq!(code, 2);
        assert!(err.contains("the folder is not empty"), "{err}");
        assert_eq!(
            std::fs::read_to_string(src.join("bundle.toml")).unwrap(),
            manifest
        );
        assert_eq!(
            std::fs::read_to_string(full.join("notes.txt")).unwrap(),
            "keep"
        );
    }

    #[test]
    fn demo_never_overwrites_files_already_there() {
        let dir = scratch("out-demo");
        std::fs::write(dir.join("pipeline.toml"), "# my own pipeline\n").unwrap();
        let d = dir.display().to_string();
        let (code, _, err) = seam(&["demo", "--dir", &d]);
        assert_eq!(code, 2);
        assert_eq!(
            err,
            format!("seam: error: {d}/pipeline.toml already exists and is not the demo's own file; seam demo never overwrites files: give --dir a new or empty folder\n")
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("pipeline.toml")).unwrap(),
            "# my own pipeline\n"
        );
        assert!(
            !dir.join("writer.sh").exists(),
            "nothing written before refusing"
        );
        // Its own files from an earlier demo in the same folder are fine.
        let again = scratch("out-demo-again");
        let a = again.display().to_string();
        assert_eq!(seam(&["demo", "--dir", &a, "--format", "json"]).0, 0);
        assert_eq!(seam(&["demo", "--dir", &a, "--format", "json"]).0, 0);
        assert_eq!(runs_in(&format!("{a}/seam-ledger.db")), 2);
    }
}

mod bounded_inputs {
    use super::*;

    const RAISE: &str = "raise the cap with --max-input-mib (1 to 1024), or give less";

    #[test]
    fn every_input_stops_reading_at_its_cap() {
        let (_, ledger) = ledger_with_runs("bounded-review");
        let (dir, run_ledger) = crate::cli::escalating_pipeline("bounded-run");
        let pipeline = dir.join("pipeline.toml").display().to_string();
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (
                vec!["check", "--gate", "max-words", "--payload", "/dev/zero"],
                "the payload from /dev/zero",
            ),
            (
                vec![
                    "check",
                    "--gate",
                    "max-words",
                    "--settings",
                    "@/dev/zero",
                    "--payload",
                    "/dev/null",
                ],
                "the settings for gate `max-words` from /dev/zero",
            ),
            (
                vec![
                    "check",
                    "--gate",
                    "max-words",
                    "--payload",
                    "/dev/null",
                    "--context",
                    "/dev/zero",
                ],
                "the context from /dev/zero",
            ),
            (
                vec![
                    "run",
                    &pipeline,
                    "--input",
                    "@/dev/zero",
                    "--ledger",
                    &run_ledger,
                ],
                "the input from /dev/zero",
            ),
            (
                vec![
                    "review",
                    "accept",
                    "1",
                    "--payload",
                    "@/dev/zero",
                    "--ledger",
                    &ledger,
                ],
                "the payload from /dev/zero",
            ),
            (
                vec![
                    "route",
                    "--router",
                    "verdict-router",
                    "--payload",
                    "/dev/null",
                    "--verdicts",
                    "/dev/zero",
                ],
                "the verdicts from /dev/zero",
            ),
        ];
        for (args, what) in cases {
            let (code, out, err) = seam(&args);
            assert_eq!(code, 2, "{args:?}: {out}{err}");
            assert_eq!(
                err,
                format!(
                    "seam: error: {what} is over the 1 MiB cap (reading stopped there); {RAISE}\n"
                ),
                "{args:?}"
            );
        }
        // Nothing was decided on the way.
        let (_, out, _) = seam(&["review", "list", "--ledger", &ledger]);
        assert!(out.contains("pending"), "{out}");
    }

    #[test]
    fn stdin_is_capped_too() {
        let zero = Stdio::from(std::fs::File::open("/dev/zero").unwrap());
        let (code, _, err) = seam_child(&["check", "--gate", "max-words", "--payload", "-"], zero);
        assert_eq!(code, 2);
        assert_eq!(
            err,
            format!("seam: error: the payload from stdin is over the 1 MiB cap (reading stopped there); {RAISE}\n")
        );
    }

    #[test]
    fn max_input_mib_raises_the_cap_for_reading_and_for_the_gates() {
        let dir = scratch("bounded-raise");
        let big = file(&dir, "big.txt", &"word ".repeat(300_000));
        let (code, _, err) = seam(&["check", "--gate", "max-words", "--payload", &big]);
        assert_eq!(code, 2);
        assert!(err.contains("over the 1 MiB cap"), "{err}");
        let (code, out, err) = seam(&[
            "check",
            "--gate",
            "max-words",
            "--settings",
            r#"{"max_words": 1000000}"#,
            "--payload",
            &big,
            "--max-input-mib",
            "2",
        ]);
        assert_eq!(code, 0, "{out}{err}");
    }

    #[test]
    fn a_payload_that_is_not_utf8_is_named() {
        let dir = scratch("bounded-utf8");
        let path = dir.join("latin1.txt");
        std::fs::write(&path, b"caf\xe9").unwrap();
        let p = path.display().to_string();
        let (code, _, err) = seam(&["check", "--gate", "max-words", "--payload", &p]);
        assert_eq!(code, 2);
        assert_eq!(
            err,
            format!("seam: error: the payload from {p}: it is not UTF-8 text (the byte at offset 3 is not valid UTF-8)\n")
        );
    }

    #[test]
    fn an_input_file_line_over_the_cap_is_named_by_line() {
        let (dir, ledger) = crate::cli::escalating_pipeline("bounded-jsonl");
        let pipeline = dir.join("pipeline.toml").display().to_string();
        let lines = format!("{{\"n\": 1}}\n\"{}\"\n", "x".repeat(1_100_000));
        let inputs = file(&dir, "inputs.jsonl", &lines);
        let (code, _, err) = seam(&[
            "run",
            &pipeline,
            "--ledger",
            &ledger,
            "--input-file",
            &inputs,
        ]);
        assert_eq!(code, 2);
        assert_eq!(
            err,
            format!("seam: error: {inputs}:2: the input on this line is 1100002 bytes, over the 1 MiB cap; raise it with --max-input-mib (1 to 1024)\n")
        );
        assert!(!Path::new(&ledger).exists() || runs_in(&ledger) == 0);
    }

    #[test]
    fn a_fifo_never_hangs_a_reader() {
        let dir = scratch("bounded-fifo");
        let bundle = dir.join("bundle");
        std::fs::create_dir(&bundle).unwrap();
        std::fs::write(bundle.join("bundle.toml"), "[bundle]\nname = \"b\"\n").unwrap();
        let fifo = bundle.join("pipe");
        assert!(Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let b = bundle.display().to_string();
        let (code, _, err) = seam(&["bundle", "inspect", &b]);
        assert_eq!(code, 2);
        assert!(
            err.contains("`pipe` is not a regular file (a FIFO, socket or device)"),
            "{err}"
        );
        let (code, _, err) = seam(&["bundle", "inspect", &fifo.display().to_string()]);
        assert_eq!(code, 2);
        assert!(
            err.contains("it is neither a folder nor a .seam archive file"),
            "{err}"
        );
        let (code, _, err) = seam(&["run", &fifo.display().to_string()]);
        assert_eq!(code, 2);
        assert!(
            err.contains("cannot read the pipeline file: it is not a regular file"),
            "{err}"
        );
    }

    #[test]
    fn a_folder_bundle_has_the_archive_caps() {
        let dir = scratch("bounded-folder");
        let many = dir.join("many");
        std::fs::create_dir(&many).unwrap();
        for i in 0..1100 {
            std::fs::write(many.join(format!("f{i}")), "").unwrap();
        }
        let (code, _, err) = seam(&["bundle", "inspect", &many.display().to_string()]);
        assert_eq!(code, 2);
        assert!(
            err.contains("it has more than 1024 files and folders"),
            "{err}"
        );
        // Sparse files: 5 × 60 MiB of nothing, over the 256 MiB cap without being read.
        let big = dir.join("big");
        std::fs::create_dir(&big).unwrap();
        for i in 0..5 {
            std::fs::File::create(big.join(format!("f{i}")))
                .unwrap()
                .set_len(60 << 20)
                .unwrap();
        }
        let (code, _, err) = seam(&["bundle", "inspect", &big.display().to_string()]);
        assert_eq!(code, 2);
        assert!(
            err.contains("the folder's contents") && err.contains(&format!("{}", 256u64 << 20)),
            "{err}"
        );
    }
}

mod numbers {
    use super::*;

    #[test]
    fn options_outside_their_range_are_refused_naming_the_range() {
        let cases: &[(&[&str], &str)] = &[
            (&["--deadline-ms", "18446744073709551615"], "invalid value '18446744073709551615' for '--deadline-ms <MS>': 18446744073709551615 is not in 1..=600000"),
            (&["--deadline-ms", "0"], "invalid value '0' for '--deadline-ms <MS>': 0 is not in 1..=600000"),
            (&["--memory-mib", "17592186044416"], "invalid value '17592186044416' for '--memory-mib <MIB>': 17592186044416 is not in 1..=4096"),
            (&["--memory-mib", "0"], "0 is not in 1..=4096"),
            (&["--fuel", "0"], "invalid value '0' for '--fuel <N>': 0 is not in 1.."),
            (&["--max-input-mib", "0"], "0 is not in 1..=1024"),
            (&["--max-input-mib", "99999"], "99999 is not in 1..=1024"),
            (&["--deadline-ms=-5"], "invalid value '-5' for '--deadline-ms <MS>'"),
            (&["--deadline-ms", "-5"], "unexpected argument '-5' found"),
            (&["--deadline-ms", "1e3"], "invalid value '1e3' for '--deadline-ms <MS>': invalid digit found in string"),
            (&["--memory-mib", "64.5"], "invalid value '64.5' for '--memory-mib <MIB>'"),
        ];
        for (extra, says) in cases {
            let mut args = vec!["check", "--gate", "max-words", "--payload", "/dev/null"];
            args.extend_from_slice(extra);
            let (code, _, err) = seam(&args);
            assert_eq!(code, 2, "{extra:?}");
            assert!(err.contains(says), "{extra:?}: {err}");
        }
    }

    #[test]
    fn concurrency_is_bounded() {
        let (dir, ledger) = crate::cli::escalating_pipeline("numbers-concurrency");
        let pipeline = dir.join("pipeline.toml").display().to_string();
        let (code, _, err) = seam(&["run", &pipeline, "--concurrency", "100000"]);
        assert_eq!(code, 2);
        assert!(err.contains("100000 is not in 1..=256"), "{err}");
        let toml = std::fs::read_to_string(dir.join("pipeline.toml")).unwrap();
        std::fs::write(
            dir.join("pipeline.toml"),
            toml.replace(
                "[pipeline]\nname = \"esc\"\n",
                "[pipeline]\nname = \"esc\"\n[defaults]\nconcurrency = 100000\n",
            ),
        )
        .unwrap();
        let (code, _, err) = seam(&["run", &pipeline, "--ledger", &ledger]);
        assert_eq!(code, 2);
        assert_eq!(
            err,
            format!(
                "seam: error: {}:4:15: 100000 is outside the allowed range 1..=256\n",
                std::fs::canonicalize(&pipeline).unwrap().display()
            )
        );
    }

    #[test]
    fn pipeline_numbers_are_checked_at_their_place() {
        let dir = scratch("numbers-pipeline");
        for (line, says) in [
            (
                "[defaults]\nstep_timeout_ms = 18446744073709551615",
                "18446744073709551615 is outside the allowed range 1..=86400000",
            ),
            (
                "[defaults]\nmax_step_runs = 0",
                "0 is outside the allowed range 1..=10000",
            ),
            (
                "[defaults]\nmax_retries = 4000000000",
                "4000000000 is outside the allowed range 0..=100",
            ),
            ("[defaults]\nmax_fixes = -1", "invalid value: integer `-1`"),
            (
                "[defaults.limits]\nmemory_bytes = 0",
                "memory_bytes 0 is outside 65536..=4294967296",
            ),
            (
                "[defaults.limits]\nmax_findings = 0",
                "max_findings 0 is outside 1..=100000",
            ),
        ] {
            let toml = format!("[pipeline]\nname = \"n\"\n{line}\n[[steps]]\nname = \"w\"\nkind = \"command\"\ncommand = [\"true\"]\n[[seams]]\nfrom = \"w\"\n[[seams.gates]]\nplugin = \"max-words\"\n");
            let p = file(&dir, "pipeline.toml", &toml);
            let (code, _, err) = seam(&[
                "run",
                &p,
                "--ledger",
                &dir.join("l.db").display().to_string(),
            ]);
            assert_eq!(code, 2, "{line}");
            assert!(err.contains(says), "{line}: {err}");
        }
    }

    #[test]
    fn times_that_reach_outside_the_calendar_are_refused() {
        let (_, ledger) = ledger_with_runs("numbers-since");
        for (since, says) in [
            (
                "999999d",
                "reaches back before 1970, so it would match every run while saying it filters; give a shorter duration, or leave the filter out",
            ),
            ("999999999999999d", "number is too large"),
            (
                "-5",
                "unix milliseconds must lie in 0..=253402300799999 (1970 to 9999)",
            ),
            (
                "99999999999999999",
                "unix milliseconds must lie in 0..=253402300799999",
            ),
            ("+3d", "a signed number is not a time"),
            ("10000-01-01T00:00:00Z", "--since \"10000-01-01T00:00:00Z\""),
        ] {
            let flag = format!("--since={since}");
            let (code, _, err) = seam(&["report", "--ledger", &ledger, &flag]);
            assert_eq!(code, 2, "{since}");
            assert!(err.contains(says), "{since}: {err}");
        }
        let (code, out, _) = seam(&["report", "--ledger", &ledger, "--since", "7d"]);
        assert_eq!(code, 0);
        assert!(out.contains("esc"), "{out}");
    }
}

mod one_stdin {
    use super::*;

    #[test]
    fn two_inputs_from_stdin_are_refused() {
        let (code, out, err) = seam_child(
            &[
                "check",
                "--gate",
                "max-words",
                "--settings",
                "@-",
                "--payload",
                "-",
            ],
            piped(r#"{"max_words": 1}"#),
        );
        assert_eq!(code, 2, "{out}");
        assert_eq!(
            err,
            "seam: error: the payload and the settings for gate `max-words` both read stdin (`-`); only one input can come from stdin: put the other in a file\n"
        );
        // Stdin by another name (a pipe here) is still stdin.
        let (code, _, err) = seam_child_piping(
            &[
                "check",
                "--gate",
                "max-words",
                "--settings",
                "@-",
                "--payload",
                "/dev/stdin",
            ],
            r#"{"max_words": 1}"#,
        );
        assert_eq!(code, 2);
        assert!(
            err.contains("the payload and the settings for gate `max-words` both read stdin (`-`)"),
            "{err}"
        );
        let (code, _, err) = seam_child(
            &[
                "route",
                "--router",
                "verdict-router",
                "--payload",
                "-",
                "--verdicts",
                "-",
            ],
            piped("[]"),
        );
        assert_eq!(code, 2);
        assert!(
            err.contains("the verdicts and the payload both read stdin"),
            "{err}"
        );
    }

    #[test]
    fn one_input_from_stdin_is_read_as_given() {
        let (code, out, err) = seam_child(
            &[
                "check",
                "--gate",
                "contains",
                "--settings",
                r#"{"required": ["$89"]}"#,
                "--payload",
                "-",
            ],
            piped("[Sponsored] Great, $89.\n"),
        );
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("passed: 1 of 1 gates passed"), "{out}");
    }
}

mod text_in_text_out {
    use super::*;

    fn check_text(dir: &Path, name: &str, payload: &str, extra: &[&str]) -> (u8, String, String) {
        let p = file(dir, name, payload);
        let mut args = vec![
            "check",
            "--gate",
            "contains",
            "--settings",
            r#"{"required": ["$89"]}"#,
            "--payload",
            &p,
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        seam(&args)
    }

    #[test]
    fn auto_reads_what_is_not_a_json_document_as_text() {
        let dir = scratch("text-auto");
        for payload in [
            "[Sponsored] Great, $89.",
            "\"Great,\" she said. Only $89.",
            "{not json} but $89",
            "$89",
            "\"$89\"",
            "42 reasons, $89",
        ] {
            let (code, out, err) = check_text(&dir, "draft.txt", payload, &[]);
            assert_eq!(code, 0, "{payload}: {out}{err}");
        }
        // Text is checked as given: the quotes of a quoted line stay.
        let (code, _, _) = check_text(
            &dir,
            "quoted.txt",
            "\"no price\"",
            &["--payload-format", "text"],
        );
        assert_eq!(code, 1);
    }

    #[test]
    fn a_json_object_or_array_is_json_and_json_format_is_strict() {
        let dir = scratch("text-json");
        let (code, out, _) = check_text(&dir, "d.txt", r#"{"text": "Only $89"}"#, &[]);
        assert_eq!(code, 0, "{out}");
        let (code, _, err) = check_text(&dir, "d.txt", "Only $89", &["--payload-format", "json"]);
        assert_eq!(code, 2);
        assert!(
            err.contains("is not valid JSON (line 1, column 1)"),
            "{err}"
        );
        assert!(err.contains("pass --payload-format text"), "{err}");
        let (code, _, err) = check_text(&dir, "d.json", "Only $89", &[]);
        assert_eq!(code, 2, "a .json file is JSON");
        assert!(err.contains("d.json is not valid JSON"), "{err}");
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_position() {
        let dir = scratch("text-dupes");
        let (code, _, err) = seam(&[
            "check",
            "--gate",
            "max-words",
            "--settings",
            r#"{"max_words": 40, "max_words": 1}"#,
            "--payload",
            "/dev/null",
        ]);
        assert_eq!(code, 2);
        assert_eq!(
            err,
            "seam: error: the settings for gate `max-words` from the command line is not valid JSON (line 1, column 29): the key \"max_words\" is given twice in one object; keep one; give JSON inline ('{\"max_words\": 40}') or as @FILE\n"
        );
        let (code, _, err) = check_text(&dir, "dupe.json", "{\"a\": {\"t\": 1,\n \"t\": 2}}", &[]);
        assert_eq!(code, 2);
        assert!(
            err.contains("(line 2, column 4): the key \"t\" is given twice"),
            "{err}"
        );
        let (pdir, ledger) = crate::cli::escalating_pipeline("text-dupes-run");
        let pipeline = pdir.join("pipeline.toml").display().to_string();
        let (code, _, err) = seam(&[
            "run",
            &pipeline,
            "--ledger",
            &ledger,
            "--input",
            r#"{"n": 1, "n": 2}"#,
        ]);
        assert_eq!(code, 2);
        assert!(err.contains("the key \"n\" is given twice"), "{err}");
        let jsonl = file(&pdir, "in.jsonl", "{\"n\": 1}\n{\"n\": 1, \"n\": 2}\n");
        let (code, _, err) = seam(&[
            "run",
            &pipeline,
            "--ledger",
            &ledger,
            "--input-file",
            &jsonl,
        ]);
        assert_eq!(code, 2);
        assert!(
            err.contains(
                ":2:12: not a JSON value: the key \"n\" is given twice in one object; keep one\n"
            ),
            "{err}"
        );
        let context = file(&dir, "context.json", r#"{"task": 1, "task": 2}"#);
        let (code, _, err) = seam(&[
            "check",
            "--gate",
            "max-words",
            "--payload",
            "/dev/null",
            "--context",
            &context,
        ]);
        assert_eq!(code, 2);
        assert!(err.contains("the context from"), "{err}");
    }

    #[test]
    fn review_accept_takes_a_payload_as_check_does() {
        let (_, ledger) = ledger_with_runs("text-review");
        let (code, out, err) = seam(&[
            "review",
            "accept",
            "1",
            "--by",
            "ana",
            "--no-resume",
            "--payload",
            "\"Fine,\" she said: one two three",
            "--ledger",
            &ledger,
        ]);
        assert_eq!(code, 0, "{out}{err}");
        let review = SqliteLedger::open(Path::new(&ledger))
            .unwrap()
            .review(1)
            .unwrap();
        assert_eq!(
            review.output.as_deref(),
            Some(r#""\"Fine,\" she said: one two three""#)
        );
    }
}

mod plugin_text {
    use super::*;

    const HOSTILE: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}\r\u{1b}[1A✓ passed\u{9b}31m\u{202e}";

    fn says(verdict: serde_json::Value, log: &str) -> String {
        json!({"verdict": verdict, "log": log}).to_string()
    }

    #[test]
    fn control_characters_from_plugins_are_shown_not_obeyed() {
        let dir = scratch("text-terminal");
        let payload = file(&dir, "p.txt", "hello");
        let settings = says(
            json!({"passed": false, "findings": [
                {"code": format!("x{HOSTILE}"), "message": HOSTILE, "severity": "error"}
            ], "fix": serde_json::Value::String(HOSTILE.into()).to_string()}),
            HOSTILE,
        );
        let (code, out, err) = seam(&[
            "check",
            "--gate",
            seam_test_artifacts::SAYS_ANYTHING,
            "--settings",
            &settings,
            "--payload",
            &payload,
        ]);
        assert_eq!(code, 1, "{out}{err}");
        assert!(
            !out.chars().any(seam_types::text::is_hidden_control),
            "{out:?}"
        );
        assert!(
            out.contains(
                "\\u001b[2J\\u001b]0;pwned\\u0007\\u000d\\u001b[1A✓ passed\\u009b31m\\u202e"
            ),
            "{out}"
        );
        assert!(out.ends_with("rejected: 1 of 1 gates failed\n"), "{out}");
        // JSON output stays JSON with the same text.
        let (code, out, _) = seam(&[
            "check",
            "--gate",
            seam_test_artifacts::SAYS_ANYTHING,
            "--settings",
            &settings,
            "--payload",
            &payload,
            "--format",
            "json",
        ]);
        assert_eq!(code, 1);
        assert!(!out.chars().any(seam_types::text::is_hidden_control));
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(doc["gates"][0]["findings"][0]["message"], HOSTILE);
        assert_eq!(doc["gates"][0]["log"], format!("[info] {HOSTILE}\n"));
    }

    /// With colour on, seam's own words are coloured and a plugin's escapes are still
    /// shown, not obeyed.
    #[test]
    fn colour_is_seams_own_and_plugin_escapes_stay_escaped() {
        let dir = scratch("text-colour");
        let payload = file(&dir, "p.txt", "hello");
        let settings = says(
            json!({"passed": false, "findings": [
                {"code": "x", "message": HOSTILE, "severity": "error"}
            ]}),
            "",
        );
        let check = |colour: &str| {
            seam(&[
                "--color",
                colour,
                "check",
                "--gate",
                seam_test_artifacts::SAYS_ANYTHING,
                "--settings",
                &settings,
                "--payload",
                &payload,
            ])
        };
        let (code, out, err) = check("always");
        assert_eq!(code, 1, "{out}{err}");
        assert!(
            out.contains(
                "\u{1b}[31m✗\u{1b}[0m \u{1b}[1msays-anything\u{1b}[0m  \u{1b}[31mfailed\u{1b}[0m"
            ),
            "{out:?}"
        );
        assert!(
            out.ends_with("\u{1b}[31mrejected\u{1b}[0m: 1 of 1 gates failed\n"),
            "{out:?}"
        );
        assert!(out.contains("\\u001b[2J\\u001b]0;pwned"), "{out}");
        let ours = ["\u{1b}[31m", "\u{1b}[1m", "\u{1b}[2m", "\u{1b}[0m"];
        let rest = ours.iter().fold(out.clone(), |s, sgr| s.replace(sgr, ""));
        assert!(
            !rest.chars().any(seam_types::text::is_hidden_control),
            "{rest:?}"
        );
        // `never`, and `auto` off a terminal, print the same words without colour
        // (durations aside).
        let untimed = |s: &str| -> String {
            s.lines()
                .map(|l| l.split("  (").next().unwrap_or(l))
                .collect::<Vec<_>>()
                .join("\n")
        };
        for colour in ["never", "auto"] {
            let (code, plain, _) = check(colour);
            assert_eq!(code, 1);
            assert_eq!(untimed(&plain), untimed(&rest), "--color {colour}");
        }
        let (code, _, err) = check("sometimes");
        assert_eq!(code, 2);
        assert!(
            err.contains("invalid value 'sometimes' for '--color <COLOR>'"),
            "{err}"
        );
    }

    #[test]
    fn errors_quoting_plugins_are_shown_not_obeyed() {
        let (code, _, err) = seam(&[
            "check",
            "--gate",
            &format!("no-such-{HOSTILE}"),
            "--payload",
            "/dev/null",
        ]);
        assert_eq!(code, 2);
        assert!(
            !err.chars().any(seam_types::text::is_hidden_control),
            "{err:?}"
        );
        assert!(err.contains("no-such-\\u001b[2J"), "{err}");
    }

    fn outcome(payload: &str, verdict: serde_json::Value) -> seam_runtime::Outcome {
        let gate = crate::fixture(
            seam_test_artifacts::SAYS_ANYTHING,
            json!({"verdict": verdict}),
            seam_runtime::Limits::default(),
        );
        gate.check_blocking(&seam_types::Handoff::new(payload))
            .outcome
    }

    fn malformed(payload: &str, finding: serde_json::Value) -> String {
        let verdict = json!({"passed": false, "findings": [finding]});
        match outcome(payload, verdict) {
            seam_runtime::Outcome::Error(seam_runtime::ErrorCause::Malformed { reason }) => reason,
            other => panic!("expected a malformed verdict, got {other:?}"),
        }
    }

    #[test]
    fn spans_and_paths_must_point_into_the_payload() {
        let f = |path: Option<&str>, span: Option<(u32, u32)>| {
            json!({"code": "c", "message": "m", "severity": "error", "path": path,
                   "span": span.map(|(s, e)| json!({"start": s, "end": e}))})
        };
        let text = "\"héllo\"";
        let doc = r#"{"a": {"b": "xyz", "n": 3}, "l": ["q"]}"#;
        let cases = [
            (text, f(None, Some((0, 99))), "finding 0 (`c`) has span 0..99, past the end of the 6-byte text it points into"),
            (text, f(None, Some((2, 3))), "finding 0 (`c`) has span 2..3, which cuts a UTF-8 character (spans are byte offsets on character boundaries)"),
            (doc, f(Some("/a/missing"), None), "finding 0 (`c`) has path \"/a/missing\", which points at nothing in the payload"),
            (doc, f(Some("a/b"), None), "which is not a JSON pointer"),
            (doc, f(Some("/a/~2"), None), "which is not a JSON pointer"),
            (doc, f(Some("/a/n"), Some((0, 1))), "finding 0 (`c`) has span 0..1 at \"/a/n\", which is not a text (a span points into a JSON string)"),
            (doc, f(Some("/a/b"), Some((1, 4))), "past the end of the 3-byte text"),
        ];
        for (payload, finding, says) in cases {
            let reason = malformed(payload, finding.clone());
            assert!(reason.contains(says), "{finding}: {reason}");
        }
        // And the ones that do point somewhere pass through.
        for (payload, finding) in [
            (text, f(None, Some((1, 3)))),
            (doc, f(Some("/a/b"), Some((0, 3)))),
            (doc, f(Some("/l/0"), Some((0, 1)))),
            (doc, f(Some(""), None)),
        ] {
            let o = outcome(
                payload,
                json!({"passed": false, "findings": [finding.clone()]}),
            );
            assert!(
                matches!(o, seam_runtime::Outcome::Verdict(_)),
                "{finding}: {o:?}"
            );
        }
    }

    #[test]
    fn a_payload_that_is_not_json_is_one_text() {
        // Guests on the SDK refuse such payloads themselves; the host vets any guest.
        let finding = |path: Option<&str>, span: Option<(u32, u32)>| seam_types::Finding {
            code: "c".into(),
            message: "m".into(),
            path: path.map(Into::into),
            span: span.map(|(start, end)| seam_types::Span { start, end }),
            severity: seam_types::Severity::Error,
        };
        let verdict = |f| seam_types::Verdict {
            passed: false,
            score: None,
            findings: vec![f],
            fix: None,
        };
        let limits = seam_runtime::Limits::default();
        let vet = |f| seam_runtime::vet_verdict(verdict(f), &limits, "not json");
        assert!(vet(finding(None, Some((0, 3)))).is_ok());
        assert!(vet(finding(Some(""), Some((4, 8)))).is_ok());
        let Err(seam_runtime::ErrorCause::Malformed { reason }) = vet(finding(Some("/x"), None))
        else {
            panic!("a path into a text must be refused")
        };
        assert_eq!(
            reason,
            "finding 0 (`c`) has path \"/x\", which points at nothing in the payload"
        );
        assert!(vet(finding(None, Some((0, 9)))).is_err());
    }

    #[test]
    fn a_fix_obeys_the_json_depth_limit() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let o = outcome(
            "\"x\"",
            json!({"passed": false, "findings": [], "fix": deep}),
        );
        let seam_runtime::Outcome::Error(seam_runtime::ErrorCause::Malformed { reason }) = o else {
            panic!("{o:?}")
        };
        assert!(
            reason.starts_with("the fix is not valid JSON: recursion limit exceeded"),
            "{reason}"
        );
        let dupes = outcome(
            "\"x\"",
            json!({"passed": false, "findings": [], "fix": r#"{"a":1,"a":2}"#}),
        );
        assert!(
            matches!(dupes, seam_runtime::Outcome::Error(_)),
            "{dupes:?}"
        );
    }
}

mod exit_codes {
    use super::*;

    struct Closed;

    impl std::io::Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }

    fn with_closed_stdout(args: &[&str]) -> u8 {
        let argv = std::iter::once("seam")
            .chain(args.iter().copied())
            .map(Into::into);
        seam_cli::main(argv, &mut Closed, &mut Vec::new())
    }

    #[test]
    fn the_exit_code_tells_the_outcome_when_stdout_closes_early() {
        let long = crate::repo("examples/headphones/draft-1.txt");
        let good = crate::repo("examples/headphones/draft-2.txt");
        let gate = ["--gate", "max-words", "--settings", r#"{"max_words": 40}"#];
        let mut rejected = vec!["check"];
        rejected.extend_from_slice(&gate);
        rejected.extend_from_slice(&["--payload", &long]);
        assert_eq!(with_closed_stdout(&rejected), 1);
        let mut passed = vec!["check"];
        passed.extend_from_slice(&gate);
        passed.extend_from_slice(&["--payload", &good]);
        assert_eq!(with_closed_stdout(&passed), 0);
        let (dir, ledger) = crate::cli::escalating_pipeline("exit-closed");
        let pipeline = dir.join("pipeline.toml").display().to_string();
        assert_eq!(
            with_closed_stdout(&["run", &pipeline, "--ledger", &ledger]),
            3
        );
        assert_eq!(runs_in(&ledger), 1, "the run was recorded all the same");
    }
}

mod read_only_ledger {
    use super::*;

    #[test]
    fn report_does_not_wait_behind_a_writer() {
        let (_, ledger) = ledger_with_runs("ro-writer");
        let writer = rusqlite::Connection::open(&ledger).unwrap();
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        let started = std::time::Instant::now();
        for args in [
            vec!["report", "--ledger", &ledger, "--format", "json"],
            vec!["review", "list", "--ledger", &ledger],
            vec!["review", "show", "1", "--ledger", &ledger],
            vec!["feedback", "export", "--ledger", &ledger],
        ] {
            let (code, out, err) = seam(&args);
            assert_eq!(code, 0, "{args:?}: {out}{err}");
        }
        // Behind the write lock, these would have waited for the 30 s busy timeout.
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        writer.execute_batch("ROLLBACK").unwrap();
    }

    #[test]
    fn a_ledger_that_may_only_be_read_is_reported() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, ledger) = ledger_with_runs("ro-perms");
        let shared = dir.join("shared");
        std::fs::create_dir(&shared).unwrap();
        let copy = shared.join("ledger.db");
        // A checkpointed copy, then the file and its folder made read-only.
        let conn = rusqlite::Connection::open(&ledger).unwrap();
        conn.execute_batch(&format!("VACUUM INTO '{}'", copy.display()))
            .unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o444)).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o555)).unwrap();
        let c = copy.display().to_string();
        let (code, out, err) = seam(&["report", "--ledger", &c, "--format", "json"]);
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(code, 0, "{err}");
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(doc["pipelines"][0]["pipeline"], "esc", "{doc}");
    }
}

mod compile_cache {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// The cache directory is read from the environment: run in a child process.
    fn check_with_cache(dir: &Path) -> (i32, String, String) {
        seam_child_with(
            &["check", "--gate", "max-words", "--payload", "/dev/null"],
            Stdio::null(),
            None,
            &[("SEAM_CACHE_DIR", Some(dir.as_os_str()))],
        )
    }

    #[test]
    fn a_new_cache_is_owner_only() {
        let dir = scratch("cache-new").join("cache");
        let (code, _, err) = check_with_cache(&dir);
        assert_eq!(code, 0, "{err}");
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(!err.contains("note"), "{err}");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");
        // The functions the load compiled (for the next plugin that shares them), the
        // plugin compiled instrumented (described and prepared in that form; the plain
        // form is never compiled) and the prepared snapshot for these settings.
        assert!(names[0].starts_with("functions-"), "{names:?}");
        assert!(names[0].ends_with(".pack"), "{names:?}");
        assert!(names[1].starts_with("instrumented-"), "{names:?}");
        assert!(names[2].starts_with("prepared-"), "{names:?}");
        assert!(
            names[1..].iter().all(|n| n.ends_with(".cwasm")),
            "{names:?}"
        );
        // Owner-only whatever the umask (0o002 would make them group-writable, and
        // then never loaded).
        for name in &names {
            let mode = std::fs::metadata(dir.join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }

    #[test]
    fn a_cache_others_may_write_is_never_loaded_from_and_says_so() {
        let dir = scratch("cache-open").join("cache");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let (code, _, err) = check_with_cache(&dir);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            err,
            format!("seam: note: the compile cache is not used: {} may be written by other users (mode 777); make it owner-only (chmod go-w); every start compiles its plugins again (0.3 s for a Rust plugin, about 9 s for a Python one). Fix the folder, or point SEAM_CACHE_DIR at an owner-only folder\n", dir.display())
        );
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "nothing written there"
        );
    }

    #[test]
    fn a_planted_cache_file_is_replaced_not_loaded() {
        let dir = scratch("cache-planted").join("cache");
        assert_eq!(check_with_cache(&dir).0, 0);
        // Every entry (the compiled functions, the instrumented plugin, the prepared
        // snapshot) made writable by others: someone else may have changed them.
        let entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(entries.len(), 3, "{entries:?}");
        for entry in &entries {
            std::fs::write(entry, b"planted native code").unwrap();
            std::fs::set_permissions(entry, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
        let (code, _, err) = check_with_cache(&dir);
        assert_eq!(code, 0, "{err}");
        for entry in &entries {
            let mode = std::fs::metadata(entry).unwrap().permissions().mode() & 0o777;
            assert_eq!(
                mode & 0o022,
                0,
                "{} is replaced by a fresh, owner-written file",
                entry.display()
            );
            assert_ne!(std::fs::read(entry).unwrap(), b"planted native code");
        }
    }
}

mod fuzz_corpora {
    /// The pipeline file's fuzz target links wasmtime and is run by hand
    /// (docs/fuzzing.md); its corpus, crashes found included, is replayed here.
    #[test]
    fn the_pipeline_fuzz_corpus_parses_or_errors_at_a_place() {
        let dir = crate::repo("fuzz/pipeline/corpus/pipeline_file");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let file = std::path::Path::new("/nonexistent/seam-fuzz/pipeline.toml");
            if let Err(e) = seam_pipeline::Pipeline::parse(file, &text, crate::runtime()) {
                assert!(e.file.ends_with("pipeline.toml"), "{}: {e}", path.display());
            }
            seen += 1;
        }
        assert!(seen >= 3, "the corpus is in {dir}");
    }
}

mod reviewers {
    use super::*;

    #[test]
    fn a_decision_without_a_known_reviewer_says_so() {
        let (_, ledger) = ledger_with_runs("review-unknown");
        let (code, stdout, stderr) = seam_child_with(
            &["review", "accept", "1", "--no-resume", "--ledger", &ledger],
            Stdio::null(),
            None,
            &[("USER", None), ("LOGNAME", None), ("SEAM_REVIEWER", None)],
        );
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert!(stdout.contains("review 1 accepted by unknown"), "{stdout}");
        assert_eq!(
            stderr,
            "seam: note: no reviewer name is known (--by, $SEAM_REVIEWER, $USER and $LOGNAME are all unset): the decision is recorded as made by `unknown`; pass --by NAME\n"
        );
    }
}
