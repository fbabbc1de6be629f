//! `/metrics` in the Prometheus text format. Checks take microseconds, so the duration
//! histograms start at 5 µs. Names and labels are documented in docs/server.md.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds of the duration buckets, in seconds: 5 µs to 10 s.
pub const BUCKETS: [f64; 20] = [
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The `seam` label of checks made by `POST /v1/check` (no seam name contains `:`).
pub const AD_HOC: &str = ":ad-hoc";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabels {
    pub gate: String,
    pub seam: String,
    /// `passed`, `failed` or `error`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GateLabels {
    pub gate: String,
    pub seam: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub gate: String,
    pub seam: String,
    /// The error's cause: `timeout`, `out-of-memory`, `trap`, …
    pub cause: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub seam: String,
    /// `next`, `retry`, `fix`, `human`, `reject`, `route` or `error`.
    pub action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route's pattern (`/v1/seams/{name}/check`), not the path, so names do not
    /// multiply series.
    pub route: String,
    pub method: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Copy)]
/// Builds the histograms with [`BUCKETS`].
pub struct Buckets;

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(BUCKETS)
    }
}

/// Every metric the server keeps.
pub struct Metrics {
    registry: Registry,
    pub checks: Family<CheckLabels, Counter>,
    pub check_duration: Family<GateLabels, Histogram, Buckets>,
    pub check_errors: Family<ErrorLabels, Counter>,
    pub decisions: Family<DecisionLabels, Counter>,
    pub requests: Family<RequestLabels, Counter>,
    pub request_duration: Family<RouteLabels, Histogram, Buckets>,
    pub in_flight: Gauge,
    pub queue_depth: Gauge,
    pub shed: Counter<u64, AtomicU64>,
    pub reload_results: Family<ReloadLabels, Counter>,
    /// Orphaned runs (of a dead server, or decided and not resumed) taken over.
    pub runs_taken_over: Counter<u64, AtomicU64>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `ok` or `refused`.
    pub outcome: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Metrics {
            registry: Registry::default(),
            checks: Family::default(),
            check_duration: Family::new_with_constructor(Buckets),
            check_errors: Family::default(),
            decisions: Family::default(),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(Buckets),
            in_flight: Gauge::default(),
            queue_depth: Gauge::default(),
            shed: Counter::default(),
            reload_results: Family::default(),
            runs_taken_over: Counter::default(),
        };
        let r = &mut m.registry;
        r.register(
            "seam_checks",
            "Gate checks, by gate, seam and outcome (passed, failed, error)",
            m.checks.clone(),
        );
        r.register(
            "seam_check_duration_seconds",
            "Time of one gate check, sandbox included",
            m.check_duration.clone(),
        );
        r.register(
            "seam_check_errors",
            "Gate checks that could not answer, by cause",
            m.check_errors.clone(),
        );
        r.register(
            "seam_decisions",
            "Seam decisions, by seam and action",
            m.decisions.clone(),
        );
        r.register(
            "seam_http_requests",
            "HTTP requests, by route pattern, method and status",
            m.requests.clone(),
        );
        r.register(
            "seam_http_request_duration_seconds",
            "Time to answer an HTTP request, queueing included",
            m.request_duration.clone(),
        );
        r.register(
            "seam_http_in_flight",
            "Requests being handled now",
            m.in_flight.clone(),
        );
        r.register(
            "seam_http_queue_depth",
            "Requests waiting for a slot now",
            m.queue_depth.clone(),
        );
        r.register(
            "seam_http_shed",
            "Requests answered 503 because the queue was full",
            m.shed.clone(),
        );
        r.register(
            "seam_runs_taken_over",
            "Orphaned runs this server took over (a dead server's, or decided and not resumed)",
            m.runs_taken_over.clone(),
        );
        r.register(
            "seam_config_reloads",
            "Configuration reloads, by outcome (ok, refused)",
            m.reload_results.clone(),
        );
        m
    }
}

impl Metrics {
    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts one gate check.
    pub fn check(&self, seam: &str, gate: &str, report: &seam_runtime::CheckReport) {
        let outcome = match &report.outcome {
            seam_runtime::Outcome::Verdict(v) if v.passed => "passed",
            seam_runtime::Outcome::Verdict(_) => "failed",
            seam_runtime::Outcome::Error(cause) => {
                self.check_errors
                    .get_or_create(&ErrorLabels {
                        gate: gate.into(),
                        seam: seam.into(),
                        cause: cause.kind().to_string(),
                    })
                    .inc();
                "error"
            }
        };
        self.checks
            .get_or_create(&CheckLabels {
                gate: gate.into(),
                seam: seam.into(),
                outcome: outcome.into(),
            })
            .inc();
        self.check_duration
            .get_or_create(&GateLabels {
                gate: gate.into(),
                seam: seam.into(),
            })
            .observe(report.duration.as_secs_f64());
    }

    /// Counts one reload.
    pub fn reloads(&self, ok: bool) {
        self.reload_results
            .get_or_create(&ReloadLabels {
                outcome: if ok { "ok" } else { "refused" }.into(),
            })
            .inc();
    }

    /// Counts one answered HTTP request.
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.into(),
                method: method.into(),
                status: status.to_string(),
            })
            .inc();
        self.request_duration
            .get_or_create(&RouteLabels {
                route: route.into(),
            })
            .observe(took.as_secs_f64());
    }
}
