//! The reliability report: per gate, per seam and per pipeline figures, and
//! gate-versus-human agreement (definitions in docs/report.md), and its renderings.
//! Each backend computes the figures in its own query language ([`crate::Ledger::report`]),
//! in bounded memory; this module holds the shapes and turns them into text and HTML.

use serde::Serialize;

/// Which part of the ledger to report on.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub pipeline: Option<String>,
    pub run: Option<String>,
    /// Only runs created at or after this time (unix milliseconds).
    pub since_ms: Option<i64>,
    /// Only runs created before this time (unix milliseconds).
    pub until_ms: Option<i64>,
}

/// The whole report. Its JSON form is stable: fields are only ever added.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub pipelines: Vec<PipelineReport>,
    pub seams: Vec<SeamReport>,
    pub gates: Vec<GateReport>,
    pub agreement: Vec<Agreement>,
}

impl Report {
    /// The report from a backend's figures: each pipeline's products of its seams'
    /// reliabilities are computed here, the same for every backend.
    pub(crate) fn assemble(
        pipelines: Vec<PipelineReport>,
        seams: Vec<SeamReport>,
        gates: Vec<GateReport>,
        agreement: Vec<Agreement>,
    ) -> Report {
        let pipelines = pipelines
            .into_iter()
            .map(|mut pr| {
                let mine: Vec<&SeamReport> =
                    seams.iter().filter(|s| s.pipeline == pr.pipeline).collect();
                let product = |f: fn(&SeamReport) -> Option<f64>| -> Option<f64> {
                    if mine.is_empty() {
                        return None;
                    }
                    mine.iter().map(|s| f(s)).product::<Option<f64>>()
                };
                pr.product_first_pass = product(|s| s.first_pass_reliability);
                pr.product_after_recovery = product(|s| s.reliability_after_recovery);
                pr
            })
            .collect();
        Report {
            pipelines,
            seams,
            gates,
            agreement,
        }
    }
}

/// One pipeline's runs.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PipelineReport {
    pub pipeline: String,
    pub runs: i64,
    pub completed: i64,
    pub rejected: i64,
    pub failed: i64,
    /// Runs waiting for a person (status `waiting`).
    pub waiting: i64,
    /// The same number as `waiting`, under its old name; kept so the JSON stays
    /// stable, and to be removed in 0.2.
    pub pending: i64,
    /// Runs that were escalated to a person at least once.
    pub escalated: i64,
    /// completed / (completed + rejected + failed); `null` with no finished run.
    pub end_to_end: Option<f64>,
    /// The product of the seams' first-pass reliability: what the pipeline would do
    /// if nothing were recovered (the compounding arithmetic).
    pub product_first_pass: Option<f64>,
    /// The product of the seams' reliability after retries, fixes and reviews.
    pub product_after_recovery: Option<f64>,
}

/// One seam (the checks after one step).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SeamReport {
    pub pipeline: String,
    /// The upstream step.
    pub seam: String,
    /// Times a run reached this seam (run × seam).
    pub visits: i64,
    /// Visits whose first handoff passed at once.
    pub first_pass: i64,
    /// Visits that eventually went on (after retries, fixes or a review).
    pub passed_after_recovery: i64,
    pub first_pass_reliability: Option<f64>,
    pub reliability_after_recovery: Option<f64>,
    /// Retries the seam asked for.
    pub retries: i64,
    /// Visits that failed first and went on after a retry, a fix, or a review.
    pub recovered_by_retry: i64,
    pub recovered_by_fix: i64,
    pub recovered_by_review: i64,
}

/// One gate of one seam.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct GateReport {
    pub pipeline: String,
    pub seam: String,
    pub gate: String,
    pub checks: i64,
    pub passed: i64,
    pub failed: i64,
    pub errors: i64,
    pub pass_rate: Option<f64>,
    /// Error verdicts by cause (`timeout`, `out-of-memory`, …).
    pub errors_by_cause: Vec<(String, i64)>,
    pub latency_us_p50: Option<i64>,
    pub latency_us_p95: Option<i64>,
    pub latency_us_p99: Option<i64>,
}

/// How often people agreed with a gate on handoffs they reviewed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Agreement {
    pub pipeline: String,
    pub seam: String,
    pub gate: String,
    /// Reviewed handoffs this gate had a verdict on.
    pub reviewed: i64,
    pub agreed: i64,
    /// The gate failed the handoff; the person accepted it.
    pub overruled_to_accept: i64,
    /// The gate passed the handoff; the person rejected it.
    pub overruled_to_reject: i64,
}

fn pct(x: Option<f64>) -> String {
    x.map_or("—".into(), |v| format!("{:.1}%", v * 100.0))
}

fn us(x: Option<i64>) -> String {
    match x {
        None => "—".into(),
        Some(v) if v >= 1000 => format!("{:.1} ms", v as f64 / 1000.0),
        Some(v) => format!("{v} µs"),
    }
}

/// The report as terminal tables.
pub fn render_text(r: &Report) -> String {
    let mut s = String::new();
    s.push_str("PIPELINES\n");
    s.push_str(&format!(
        "  {:<20} {:>6} {:>9} {:>8} {:>6} {:>7} {:>9}  {:>10} {:>16} {:>19}\n",
        "pipeline",
        "runs",
        "completed",
        "rejected",
        "failed",
        "waiting",
        "escalated",
        "end-to-end",
        "∏ first-pass",
        "∏ after recovery"
    ));
    for p in &r.pipelines {
        s.push_str(&format!(
            "  {:<20} {:>6} {:>9} {:>8} {:>6} {:>7} {:>9}  {:>10} {:>16} {:>19}\n",
            p.pipeline,
            p.runs,
            p.completed,
            p.rejected,
            p.failed,
            p.waiting,
            p.escalated,
            pct(p.end_to_end),
            pct(p.product_first_pass),
            pct(p.product_after_recovery)
        ));
    }
    s.push_str("\nSEAMS\n");
    s.push_str(&format!(
        "  {:<20} {:<14} {:>7} {:>11} {:>16} {:>8} {:>10} {:>8} {:>9}\n",
        "pipeline",
        "after step",
        "visits",
        "first pass",
        "after recovery",
        "retries",
        "by retry",
        "by fix",
        "by review"
    ));
    for x in &r.seams {
        s.push_str(&format!(
            "  {:<20} {:<14} {:>7} {:>11} {:>16} {:>8} {:>10} {:>8} {:>9}\n",
            x.pipeline,
            x.seam,
            x.visits,
            pct(x.first_pass_reliability),
            pct(x.reliability_after_recovery),
            x.retries,
            x.recovered_by_retry,
            x.recovered_by_fix,
            x.recovered_by_review
        ));
    }
    s.push_str("\nGATES\n");
    s.push_str(&format!(
        "  {:<20} {:<14} {:<14} {:>7} {:>9} {:>7} {:>9} {:>9} {:>9}  errors by cause\n",
        "pipeline", "after step", "gate", "checks", "pass rate", "errors", "p50", "p95", "p99"
    ));
    for g in &r.gates {
        let causes = g
            .errors_by_cause
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        s.push_str(&format!(
            "  {:<20} {:<14} {:<14} {:>7} {:>9} {:>7} {:>9} {:>9} {:>9}  {}\n",
            g.pipeline,
            g.seam,
            g.gate,
            g.checks,
            pct(g.pass_rate),
            g.errors,
            us(g.latency_us_p50),
            us(g.latency_us_p95),
            us(g.latency_us_p99),
            causes
        ));
    }
    if !r.agreement.is_empty() {
        s.push_str("\nGATE VERSUS HUMAN (reviewed handoffs)\n");
        s.push_str(&format!(
            "  {:<20} {:<14} {:<14} {:>8} {:>7} {:>22} {:>22}\n",
            "pipeline",
            "after step",
            "gate",
            "reviewed",
            "agreed",
            "gate failed, accepted",
            "gate passed, rejected"
        ));
        for a in &r.agreement {
            s.push_str(&format!(
                "  {:<20} {:<14} {:<14} {:>8} {:>7} {:>22} {:>22}\n",
                a.pipeline,
                a.seam,
                a.gate,
                a.reviewed,
                a.agreed,
                a.overruled_to_accept,
                a.overruled_to_reject
            ));
        }
    }
    s
}

/// `s` escaped for HTML text and attribute values.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// One series of a chart: its name (shown beside every bar, so colour is never the
/// only cue) and its CSS class (the colour, in [`CHART_CSS`]).
#[derive(Clone, Copy)]
struct Series {
    name: &'static str,
    class: &'static str,
}

const MEASURED: Series = Series {
    name: "measured",
    class: "s-measured",
};
const FIRST_PASS: Series = Series {
    name: "first pass",
    class: "s-first",
};
const RECOVERED: Series = Series {
    name: "after recovery",
    class: "s-recovered",
};

/// One row of a chart: a full label, what its figures rest on, a link (the
/// drill-down), and one bar per series.
struct Row {
    label: String,
    n: String,
    href: Option<String>,
    bars: Vec<(Option<f64>, Series)>,
}

/// A horizontal bar chart in HTML and CSS: every row is drawn whatever the count, a
/// label is never cut (it wraps), every bar carries its value and its series' name,
/// and every row says how many runs, visits, checks or reviews it rests on. A bar
/// with no figure yet shows "—" and no fill.
fn chart(id: &str, title: &str, rows: &[Row], max: f64, unit: &dyn Fn(f64) -> String) -> String {
    let mut html = format!(
        "<figure class=\"chart\" id=\"{id}\"><figcaption>{}</figcaption>",
        esc(title)
    );
    if rows.is_empty() {
        html.push_str("<p class=\"empty\">Nothing recorded in this window.</p></figure>");
        return html;
    }
    html.push_str("<ul class=\"rows\">");
    for row in rows {
        let label = match &row.href {
            Some(href) => format!("<a href=\"{}\">{}</a>", esc(href), esc(&row.label)),
            None => esc(&row.label),
        };
        html.push_str(&format!(
            "<li class=\"row\"><div class=\"head\"><span class=\"label\">{label}</span> <span class=\"n\">{}</span></div>",
            esc(&row.n)
        ));
        for (value, series) in &row.bars {
            let (width, text) = match value {
                Some(v) if max > 0.0 => ((v / max).clamp(0.0, 1.0) * 100.0, unit(*v)),
                Some(v) => (0.0, unit(*v)),
                None => (0.0, "—".to_string()),
            };
            html.push_str(&format!(
                "<div class=\"bar\"><span class=\"series\">{}</span><span class=\"track\"><span class=\"fill {}\" style=\"width:{width:.1}%\"></span></span><span class=\"value\">{}</span></div>",
                series.name,
                series.class,
                esc(&text)
            ));
        }
        html.push_str("</li>");
    }
    html.push_str("</ul></figure>");
    html
}

/// The charts' styles, shared by the static report and the reviewers' page. The
/// colours keep a 4.5:1 contrast against white for the text beside them; no series is
/// drawn in red, so a full bar never reads as a failure.
pub const CHART_CSS: &str = "
.chart{margin:1.5rem 0}
.chart figcaption{font-weight:600;margin-bottom:.5rem}
.chart .rows{list-style:none;margin:0;padding:0}
.chart .row{padding:.35rem 0;border-top:1px solid #e4e4e4}
.chart .head{display:flex;flex-wrap:wrap;gap:.25rem 1rem;justify-content:space-between}
.chart .label{overflow-wrap:anywhere}
.chart .n{color:#555;font-size:.85em;white-space:nowrap}
.chart .bar{display:grid;grid-template-columns:7.5rem 1fr 5.5rem;align-items:center;gap:.5rem;font-size:.85em}
.chart .series{color:#444}
.chart .track{background:#f0f0f0;height:.8rem;border-radius:2px;overflow:hidden}
.chart .fill{display:block;height:100%}
.chart .value{text-align:right;font-variant-numeric:tabular-nums}
.chart .empty{color:#555}
.s-measured{background:#1b5e20}.s-first{background:#78909c}.s-recovered{background:#1565c0}
.s-p50{background:#90caf9}.s-p95{background:#42a5f5}.s-p99{background:#1565c0}
.s-agreed{background:#1b5e20}.s-to-accept{background:#e65100}.s-to-reject{background:#6a1b9a}
@media (max-width:40rem){.chart .bar{grid-template-columns:5.5rem 1fr 4.5rem}}
";

fn count(n: i64, one: &str, many: &str) -> String {
    format!("n = {n} {}", if n == 1 { one } else { many })
}

/// Where a seam's drill-down lives, given its pipeline and upstream step; `None` for
/// no links (the static report).
pub type SeamLink<'a> = &'a dyn Fn(&str, &str) -> Option<String>;

/// The report's charts as one HTML fragment (styles in [`CHART_CSS`]).
pub fn render_charts(r: &Report, seam_link: SeamLink<'_>) -> String {
    let pc = |v: f64| format!("{:.1}%", v * 100.0);
    let lat = |v: f64| us(Some(v as i64));
    let pipelines: Vec<Row> = r
        .pipelines
        .iter()
        .map(|p| Row {
            label: p.pipeline.clone(),
            n: format!(
                "{}, {} finished",
                count(p.runs, "run", "runs"),
                p.completed + p.rejected + p.failed
            ),
            href: None,
            bars: vec![
                (p.end_to_end, MEASURED),
                (
                    p.product_first_pass,
                    Series {
                        name: "∏ first pass",
                        class: FIRST_PASS.class,
                    },
                ),
                (
                    p.product_after_recovery,
                    Series {
                        name: "∏ after recovery",
                        class: RECOVERED.class,
                    },
                ),
            ],
        })
        .collect();
    let seams: Vec<Row> = r
        .seams
        .iter()
        .map(|s| Row {
            label: format!("{} · after {}", s.pipeline, s.seam),
            n: count(s.visits, "visit", "visits"),
            href: seam_link(&s.pipeline, &s.seam),
            bars: vec![
                (s.first_pass_reliability, FIRST_PASS),
                (s.reliability_after_recovery, RECOVERED),
            ],
        })
        .collect();
    let gate_label = |p: &str, s: &str, g: &str| format!("{p} · after {s} · {g}");
    let gates: Vec<Row> = r
        .gates
        .iter()
        .map(|g| Row {
            label: gate_label(&g.pipeline, &g.seam, &g.gate),
            n: count(g.checks, "check", "checks"),
            href: seam_link(&g.pipeline, &g.seam),
            bars: vec![(
                g.pass_rate,
                Series {
                    name: "passed",
                    class: MEASURED.class,
                },
            )],
        })
        .collect();
    let max_lat = r
        .gates
        .iter()
        .filter_map(|g| g.latency_us_p99)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let latency: Vec<Row> = r
        .gates
        .iter()
        .map(|g| Row {
            label: gate_label(&g.pipeline, &g.seam, &g.gate),
            n: count(g.checks, "check", "checks"),
            href: None,
            bars: [
                (g.latency_us_p50, "p50", "s-p50"),
                (g.latency_us_p95, "p95", "s-p95"),
                (g.latency_us_p99, "p99", "s-p99"),
            ]
            .into_iter()
            .map(|(v, name, class)| (v.map(|v| v as f64), Series { name, class }))
            .collect(),
        })
        .collect();
    let agreement: Vec<Row> = r
        .agreement
        .iter()
        .map(|a| {
            let share = |k: i64| (a.reviewed > 0).then(|| k as f64 / a.reviewed as f64);
            Row {
                label: gate_label(&a.pipeline, &a.seam, &a.gate),
                n: count(a.reviewed, "reviewed handoff", "reviewed handoffs"),
                href: seam_link(&a.pipeline, &a.seam),
                bars: vec![
                    (
                        share(a.agreed),
                        Series {
                            name: "agreed",
                            class: "s-agreed",
                        },
                    ),
                    (
                        share(a.overruled_to_accept),
                        Series {
                            name: "gate failed, person accepted",
                            class: "s-to-accept",
                        },
                    ),
                    (
                        share(a.overruled_to_reject),
                        Series {
                            name: "gate passed, person rejected",
                            class: "s-to-reject",
                        },
                    ),
                ],
            }
        })
        .collect();
    [
        chart(
            "chart-pipelines",
            "End-to-end reliability: measured, and the product of the seams (∏) at first pass and after recovery",
            &pipelines,
            1.0,
            &pc,
        ),
        chart(
            "chart-seams",
            "Per-seam reliability: first pass, after retries, fixes and reviews",
            &seams,
            1.0,
            &pc,
        ),
        chart("chart-gates", "Gate pass rate", &gates, 1.0, &pc),
        chart(
            "chart-latency",
            "Gate latency p50 / p95 / p99",
            &latency,
            max_lat,
            &lat,
        ),
        chart(
            "chart-agreement",
            "Gate versus human, on reviewed handoffs",
            &agreement,
            1.0,
            &pc,
        ),
    ]
    .concat()
}

/// The report as one self-contained HTML page (inline CSS; no script, no network).
pub fn render_html(r: &Report, title: &str) -> String {
    let table = esc(&render_text(r));
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{t}</title><style>
body{{font:15px/1.45 system-ui,sans-serif;margin:1rem auto;max-width:60rem;padding:0 1rem;color:#1a1a1a}} h1{{font-size:1.4rem}}
pre{{background:#f6f6f6;padding:1rem;overflow:auto;font-size:12px}}
{css}</style></head><body><h1>{t}</h1>
{charts}
<h2>Tables</h2><pre>{table}</pre></body></html>\n",
        t = esc(title),
        css = CHART_CSS,
        charts = render_charts(r, &|_, _| None),
    )
}

/// A time (unix milliseconds) as `2026-11-26 13:40:02 UTC`.
pub fn format_time(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    let text = humantime::format_rfc3339_seconds(at).to_string();
    format!("{} UTC", text.trim_end_matches('Z').replacen('T', " ", 1))
}

/// The last millisecond of the year 9999, the latest time a filter accepts.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// A time for a report filter (`--since`, `--until`): a duration before `now_ms`
/// (`30m`, `24h`, `7d`, `1h 30m`), an RFC 3339 time (`2026-11-01T00:00:00Z`,
/// `2026-11-01 08:00:00`, UTC), or unix milliseconds — in 1970 to 9999 whichever way.
/// Parsed by `humantime`, which rejects what it does not know (any unit, any
/// character) with a message instead of panicking. The error says what was wrong and
/// what to give instead.
pub fn parse_time(spec: &str, now_ms: i64) -> Result<i64, String> {
    let spec = spec.trim();
    let hint = "give a duration before now (30m, 24h, 7d), a time (2026-11-01T00:00:00Z) or unix milliseconds";
    if let Ok(ms) = spec.parse::<i64>() {
        if !(0..=MAX_TIME_MS).contains(&ms) {
            return Err(format!(
                "unix milliseconds must lie in 0..={MAX_TIME_MS} (1970 to 9999); {hint}"
            ));
        }
        return Ok(ms);
    }
    if spec.starts_with(['-', '+']) {
        return Err(format!("a signed number is not a time; {hint}"));
    }
    if let Ok(at) = humantime::parse_rfc3339_weak(spec) {
        return match at.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) if d.as_millis() <= MAX_TIME_MS as u128 => Ok(d.as_millis() as i64),
            _ => Err(format!("the time lies outside 1970 to 9999; {hint}")),
        };
    }
    if !duration_fits(spec) {
        return Err(format!("number is too large; {hint}"));
    }
    match humantime::parse_duration(spec) {
        Ok(ago) => match i64::try_from(ago.as_millis()) {
            Ok(ago) if ago <= now_ms => Ok(now_ms - ago),
            _ => Err(
                "it reaches back before 1970, so it would match every run while saying it \
                 filters; give a shorter duration, or leave the filter out"
                    .into(),
            ),
        },
        Err(e) => Err(format!("{e}; {hint}")),
    }
}

/// Whether the duration `spec` surely adds up to less than `u64::MAX` seconds: an upper
/// bound of its total, each number times its unit (the largest unit, a year, for any
/// unit but nano-, micro- and milliseconds, and a fraction's digits counted as a whole
/// number). `humantime` panics when the running total lands on `u64::MAX` seconds with a
/// whole second of nanoseconds to carry (`18446744073709551615s 0.5s 0.5s`); anything
/// near that is far beyond 1970 anyway.
fn duration_fits(spec: &str) -> bool {
    const YEAR_SECONDS: u128 = 31_557_600;
    let bytes = spec.as_bytes();
    let mut total: u128 = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut value: u128 = 0;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            value = value
                .saturating_mul(10)
                .saturating_add(u128::from(bytes[i] - b'0'));
            i += 1;
        }
        // The unit: after a fraction (whose digits are the next number) and spaces.
        let mut j = i;
        while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b'.') {
            j += 1;
        }
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        let unit = &spec[j..];
        let seconds = if unit.starts_with("ns") || unit.starts_with("nsec") {
            value / 1_000_000_000 + 1
        } else if unit.starts_with("us") || unit.starts_with("µs") || unit.starts_with("usec") {
            value / 1_000_000 + 1
        } else if unit.starts_with("ms") || unit.starts_with("msec") {
            value / 1_000 + 1
        } else {
            value.saturating_mul(YEAR_SECONDS)
        };
        total = total.saturating_add(seconds);
    }
    total < u128::from(u64::MAX)
}

#[cfg(test)]
mod duration_tests {
    use super::*;

    /// Found by the `time` fuzz target: `humantime` panicked on it.
    #[test]
    fn a_duration_that_overflows_seconds_is_an_error() {
        let spec = "000000000000000000000000018446744073709551615.0s0.5s00.000s0.\u{2005}\u{2005}\u{2005}5s0.0000s90.000s0.5s0.000s0.5s0";
        for now in [0, 1_764_115_200_000, MAX_TIME_MS] {
            let err = parse_time(spec, now).unwrap_err();
            assert!(err.starts_with("number is too large; "), "{err}");
            let err = parse_time("18446744073709551615s 0.5s 0.5s", now).unwrap_err();
            assert!(err.starts_with("number is too large; "), "{err}");
        }
    }

    #[test]
    fn ordinary_durations_still_parse() {
        let now = 1_764_115_200_000;
        assert_eq!(parse_time("30m", now), Ok(now - 30 * 60_000));
        assert_eq!(parse_time("1h 30m", now), Ok(now - 90 * 60_000));
        assert_eq!(parse_time("1.5h", now), Ok(now - 90 * 60_000));
        assert_eq!(parse_time("100000000000000ns", now), Ok(now - 100_000_000));
        assert!(parse_time("999999d", now)
            .unwrap_err()
            .starts_with("it reaches back before 1970"));
    }
}

#[cfg(test)]
mod chart_tests {
    use super::*;

    fn gate(i: usize) -> GateReport {
        GateReport {
            pipeline: "a-pipeline-with-a-long-name".into(),
            seam: format!("step-{i}"),
            gate: format!("gate-number-{i}-with-a-label-far-longer-than-any-column"),
            checks: 10 + i as i64,
            passed: 10,
            failed: i as i64,
            errors: 0,
            pass_rate: Some(10.0 / (10 + i) as f64),
            errors_by_cause: Vec::new(),
            latency_us_p50: Some(100),
            latency_us_p95: Some(200),
            latency_us_p99: Some(300),
        }
    }

    fn rows_of(html: &str, id: &str) -> usize {
        let start = html.find(&format!("id=\"{id}\"")).unwrap();
        let end = start + html[start..].find("</figure>").unwrap();
        html[start..end].matches("<li class=\"row\">").count()
    }

    #[test]
    fn every_row_is_drawn_with_its_full_label_and_its_n() {
        let r = Report {
            pipelines: Vec::new(),
            seams: Vec::new(),
            gates: (0..9).map(gate).collect(),
            agreement: Vec::new(),
        };
        let html = render_charts(&r, &|p, s| {
            Some(format!("/ui/report/seam?pipeline={p}&seam={s}"))
        });
        assert_eq!(rows_of(&html, "chart-gates"), 9);
        assert_eq!(rows_of(&html, "chart-latency"), 9);
        for i in 0..9 {
            let g = gate(i);
            assert!(
                html.contains(&esc(&g.gate)),
                "label of gate {i} cut or missing"
            );
            assert!(html.contains(&format!("n = {} checks", g.checks)));
        }
        assert!(html.contains(
            "href=\"/ui/report/seam?pipeline=a-pipeline-with-a-long-name&amp;seam=step-8\""
        ));
        assert!(html.contains("Nothing recorded in this window."));
    }

    #[test]
    fn a_missing_figure_is_a_dash_not_an_empty_bar_and_no_series_is_red() {
        let mut g = gate(1);
        g.pass_rate = None;
        let r = Report {
            pipelines: Vec::new(),
            seams: Vec::new(),
            gates: vec![g],
            agreement: Vec::new(),
        };
        let html = render_charts(&r, &|_, _| None);
        assert!(html.contains("<span class=\"value\">—</span>"));
        assert!(!html.contains("<a href"));
        for red in ["#c62828", "#d32f2f", "#f44336", "#b71c1c", ":red"] {
            assert!(!CHART_CSS.contains(red), "{red}");
        }
    }

    #[test]
    fn labels_and_names_are_escaped() {
        let mut g = gate(1);
        g.gate = "<script>alert(1)</script>".into();
        let r = Report {
            pipelines: Vec::new(),
            seams: Vec::new(),
            gates: vec![g],
            agreement: Vec::new(),
        };
        let html = render_charts(&r, &|_, _| Some("\"><x".into()));
        assert!(!html.contains("<script>") && !html.contains("\"><x"));
    }
}
