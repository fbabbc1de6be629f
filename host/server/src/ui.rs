//! The reviewers' page: the review queue, one review with its handoff's findings
//! marked in place, the decision (accept, reject, accept with an edited payload, each
//! with a note), a run's history, and the reliability report with a drill-down per
//! seam — HTML rendered here, styled and scripted by two files served from the binary
//! (`/ui/assets/…`), so nothing is fetched from anywhere else. See docs/review.md.
//!
//! Who may do what is the API's tokens: a token typed once at `/ui/login` is kept in a
//! session cookie (`HttpOnly`, `SameSite=Strict`) for the visit. Any scope may read;
//! deciding needs `review`. Every form carries a token derived from this process's
//! secret and the caller's token, and a `POST` from another origin is refused.

// The helpers return the page to answer with as their error: every handler answers
// with it at once, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

use std::fmt::Write as _;
use std::sync::{Arc, LazyLock};

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::Value;

use seam_ledger::report::{esc, format_time, parse_time, render_charts, render_text, Filter};
use seam_ledger::{HandoffRow, Ledger, ReviewRow};
use seam_types::{Finding, Span};

use crate::api::ApiError;
use crate::auth::{self, Denied, Scope};
use crate::runs::{decide_and_resume, ledger_of};
use crate::Shared;

/// The value of a `Result` whose error is the page to answer with: the handlers'
/// early return.
macro_rules! or_answer {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(page) => return page,
        }
    };
}

/// The cookie that keeps the token for the visit.
const TOKEN_COOKIE: &str = "seam_ui";
/// The cookie that remembers the reviewer's name on a server without tokens.
const NAME_COOKIE: &str = "seam_ui_name";
/// Most visits a seam's drill-down lists.
const DRILL_DOWN_LIMIT: usize = 500;
/// Most bytes of a payload the page marks findings in; beyond it, the payload is shown
/// as is (the editor still holds all of it).
const MARK_LIMIT: usize = 256 << 10;

/// The page's routes (under the server's admission, like the API).
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/reviews") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/reviews") }))
        .route("/ui/login", get(login_form).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/reviews", get(queue))
        .route("/ui/reviews/{id}", get(item))
        .route("/ui/reviews/{id}/decide", post(decide))
        .route("/ui/report", get(report))
        .route("/ui/report/seam", get(seam_visits))
        .route("/ui/runs/{id}", get(run))
        .route("/ui/assets/{file}", get(asset))
        .route("/ui/{*rest}", get(missing))
}

/// A new random secret for this process's form tokens.
pub(crate) fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness from the OS: fall back on the clock and the process, which an
        // attacker on another site still cannot read.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let seed = format!("{now:?}:{}", std::process::id());
        return seam_types::sha256_hex(seed.as_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------
// Who is looking

/// The caller of a page.
struct Viewer {
    /// The token's name (`None` on a server without tokens).
    name: Option<String>,
    /// The token has the `review` scope (always, without tokens).
    can_decide: bool,
    /// The token every form must send back.
    form_token: String,
    /// The server has tokens (so there is a sign-out).
    signed_in: bool,
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

fn form_token(shared: &Shared, token: &str) -> String {
    seam_types::sha256_hex(format!("seam-ui-form:{}:{token}", shared.ui_secret).as_bytes())
}

/// The caller, or the answer to give instead: the sign-in page for a browser without
/// a (valid) token.
fn viewer(shared: &Shared, headers: &HeaderMap, here: &str) -> Result<Viewer, Response> {
    let config = shared.config();
    if config.tokens.is_empty() {
        return Ok(Viewer {
            name: None,
            can_decide: true,
            form_token: form_token(shared, ""),
            signed_in: false,
        });
    }
    let token = cookie(headers, TOKEN_COOKIE).unwrap_or_default();
    let bearer = format!("Bearer {token}");
    match auth::authorize_any(&config.tokens, Some(&bearer), &Scope::READ) {
        Ok(name) => Ok(Viewer {
            name,
            can_decide: auth::authorize(&config.tokens, Some(&bearer), Scope::Review).is_ok(),
            form_token: form_token(shared, &token),
            signed_in: true,
        }),
        Err(Denied::Missing) => Err(to_login(here, None)),
        Err(Denied::Unknown) => Err(to_login(
            here,
            Some("This server no longer knows the token you signed in with; sign in again."),
        )),
        Err(Denied::Scope { token, .. }) => Err(error_page(
            StatusCode::FORBIDDEN,
            "Not allowed",
            &format!(
                "Token `{token}` has no scope that reads this page; give it `view` (or `review` to decide)."
            ),
        )),
    }
}

/// The page's path and query, to come back to after signing in.
fn here(path: &str, query: Option<String>) -> String {
    match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    }
}

fn to_login(here: &str, why: Option<&str>) -> Response {
    let mut to = format!("/ui/login?next={}", enc(here));
    if let Some(why) = why {
        let _ = write!(to, "&why={}", enc(why));
    }
    Redirect::to(&to).into_response()
}

/// A `POST` must come from this page: the same origin when the browser says, and the
/// form token of the caller.
fn check_post(
    shared: &Shared,
    headers: &HeaderMap,
    viewer: &Viewer,
    sent: &str,
) -> Result<(), Response> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|h| h.to_str().ok());
    if let (Some(origin), Some(host)) = (origin, host) {
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
            .unwrap_or("");
        if origin_host != host {
            return Err(error_page(
                StatusCode::FORBIDDEN,
                "Refused",
                &format!(
                    "A form from {origin} may not act on this server; use this server's own page."
                ),
            ));
        }
    }
    let _ = shared;
    if sent.is_empty() || sent != viewer.form_token {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "Refused",
            "The form is stale or did not come from this page (the server restarted, or you signed in again); reload the page and decide again.",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Page chrome

fn page(title: &str, viewer: Option<&Viewer>, section: &str, body: &str) -> String {
    let nav = |href: &str, label: &str, key: &str| {
        format!(
            "<a href=\"{href}\"{}>{label}</a>",
            if key == section {
                " aria-current=\"page\""
            } else {
                ""
            }
        )
    };
    let who = match viewer {
        Some(v) if v.signed_in => format!(
            "<form class=\"who\" method=\"post\" action=\"/ui/logout\"><span>Signed in as <b>{}</b>{}</span> <input type=\"hidden\" name=\"form_token\" value=\"{}\"><button type=\"submit\" class=\"link\">Sign out</button></form>",
            esc(v.name.as_deref().unwrap_or("")),
            if v.can_decide { "" } else { " (read only)" },
            v.form_token
        ),
        _ => String::new(),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{} · seam</title><link rel=\"stylesheet\" href=\"/ui/assets/style.css\">\
<script src=\"/ui/assets/page.js\" defer></script></head><body>\
<a class=\"skip\" href=\"#main\">Skip to the content</a>\
<header><nav aria-label=\"seam\"><span class=\"brand\">seam</span>{}{}</nav>{who}</header>\
<main id=\"main\" tabindex=\"-1\">{body}</main></body></html>\n",
        esc(title),
        nav("/ui/reviews", "Review queue", "queue"),
        nav("/ui/report", "Report", "report"),
    )
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        [(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self' 'unsafe-inline'; script-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        )],
        Html(body),
    )
        .into_response()
}

fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p><p><a href=\"/ui/reviews\">Back to the review queue</a></p>",
        esc(title),
        esc(message)
    );
    html(status, page(title, None, "", &body))
}

fn api_error_page(e: ApiError) -> Response {
    let title = match e.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT => "Already decided",
        StatusCode::SERVICE_UNAVAILABLE => "The ledger is not answering",
        _ => "Something went wrong",
    };
    error_page(e.status, title, &e.message)
}

async fn missing(Path(rest): Path<String>) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Not found",
        &format!(
            "There is no page /ui/{rest}; the review queue and the report are linked at the top."
        ),
    )
}

static STYLE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{}\n{}",
        include_str!("ui/style.css"),
        seam_ledger::report::CHART_CSS
    )
});

async fn asset(Path(file): Path<String>) -> Response {
    let (kind, body): (&str, &str) = match file.as_str() {
        "style.css" => ("text/css; charset=utf-8", STYLE.as_str()),
        "page.js" => ("text/javascript; charset=utf-8", include_str!("ui/page.js")),
        _ => {
            return error_page(
                StatusCode::NOT_FOUND,
                "Not found",
                &format!("There is no asset `{file}`."),
            )
        }
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body.to_string(),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------
// Sign in and out

#[derive(Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
    why: Option<String>,
}

/// Only a path of this page may be gone to after signing in.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_string()
        }
        _ => "/ui/reviews".to_string(),
    }
}

fn login_page(status: StatusCode, next: &str, message: Option<&str>) -> Response {
    let message = message
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(m)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in</h1>{message}<form class=\"login\" method=\"post\" action=\"/ui/login\">\
<input type=\"hidden\" name=\"next\" value=\"{}\">\
<label for=\"token\">Your seam token</label>\
<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus>\
<p class=\"hint\">The token your administrator made with <code>seam serve --new-token NAME --scope review</code>. \
It is kept in this browser until you sign out or close it.</p>\
<button type=\"submit\">Sign in</button></form>",
        esc(next)
    );
    html(status, page("Sign in", None, "", &body))
}

async fn login_form(State(shared): State<Arc<Shared>>, Query(q): Query<LoginQuery>) -> Response {
    let next = safe_next(q.next.as_deref());
    if shared.config().tokens.is_empty() {
        return Redirect::to(&next).into_response();
    }
    login_page(StatusCode::OK, &next, q.why.as_deref())
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    #[serde(default)]
    next: Option<String>,
}

async fn login(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return login_page(
            StatusCode::BAD_REQUEST,
            "/ui/reviews",
            Some("The sign-in form came without a token; type your token."),
        );
    };
    let next = safe_next(form.next.as_deref());
    let config = shared.config();
    if config.tokens.is_empty() {
        return Redirect::to(&next).into_response();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if let (Some(origin), Some(host)) = (
        headers.get(header::ORIGIN).and_then(|h| h.to_str().ok()),
        host,
    ) {
        if origin.split_once("://").map(|(_, r)| r) != Some(host) {
            return login_page(
                StatusCode::FORBIDDEN,
                &next,
                Some("A sign-in from another site is refused; sign in on this page."),
            );
        }
    }
    let token = form.token.trim();
    let bearer = format!("Bearer {token}");
    match auth::authorize_any(&config.tokens, Some(&bearer), &Scope::READ) {
        Ok(_) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, next),
                (
                    header::SET_COOKIE,
                    format!(
                        "{TOKEN_COOKIE}={}; Path=/ui; HttpOnly; SameSite=Strict",
                        percent_encode(token)
                    ),
                ),
            ],
        )
            .into_response(),
        Err(Denied::Scope { token, .. }) => login_page(
            StatusCode::FORBIDDEN,
            &next,
            Some(&format!(
                "Token `{token}` has no scope that reads this page; give it `view` (or `review` to decide)."
            )),
        ),
        Err(_) => login_page(
            StatusCode::UNAUTHORIZED,
            &next,
            Some("This server does not know that token. Check it, or ask for a new one."),
        ),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    form_token: String,
}

async fn logout(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let sent = form.map(|Form(f)| f.form_token).unwrap_or_default();
    if let Ok(v) = viewer(&shared, &headers, "/ui/reviews") {
        if let Err(refused) = check_post(&shared, &headers, &v, &sent) {
            return refused;
        }
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/ui/login".to_string()),
            (
                header::SET_COOKIE,
                format!("{TOKEN_COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0"),
            ),
        ],
    )
        .into_response()
}

// ---------------------------------------------------------------------------------
// The queue

#[derive(Deserialize, Default)]
struct QueueQuery {
    pipeline: Option<String>,
    seam: Option<String>,
    decided: Option<String>,
    outcome: Option<String>,
    run: Option<String>,
}

fn ledger_or_page(shared: &Shared) -> Result<Arc<dyn Ledger>, Response> {
    ledger_of(shared).map_err(api_error_page)
}

fn read<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, seam_ledger::LedgerError>,
) -> Result<T, Response> {
    tokio::task::block_in_place(f).map_err(|e| match e {
        seam_ledger::LedgerError::NotFound { what, id, .. } => error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("There is no {what} `{id}` in the ledger."),
        ),
        other => error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The ledger is not answering",
            &format!("Reading {what} from the ledger failed: {other}. Try again in a moment."),
        ),
    })
}

fn age(created_ms: i64) -> String {
    let secs = (seam_ledger::now_ms() - created_ms).max(0) / 1000;
    match secs {
        0..=59 => "just now".into(),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=172_799 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

fn when(ms: i64) -> String {
    format!(
        "<time datetime=\"{}\" title=\"{}\">{}</time>",
        esc(&format_time(ms)),
        esc(&format_time(ms)),
        esc(&age(ms))
    )
}

/// What the review is about, in words: the seam after a step, or a human step.
fn where_of(r: &ReviewRow) -> String {
    if r.kind == "human-step" {
        format!("step {} (done by a person)", r.step)
    } else {
        format!("after {}", r.step)
    }
}

fn options(name: &str, label: &str, all: &[String], chosen: Option<&str>) -> String {
    let mut s = format!(
        "<label for=\"f-{name}\">{label}</label><select id=\"f-{name}\" name=\"{name}\"><option value=\"\">all</option>"
    );
    for v in all {
        let _ = write!(
            s,
            "<option value=\"{0}\"{1}>{0}</option>",
            esc(v),
            if Some(v.as_str()) == chosen {
                " selected"
            } else {
                ""
            }
        );
    }
    s.push_str("</select>");
    s
}

fn sorted_unique(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

async fn queue(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    query: Result<Query<QueueQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let here = here("/ui/reviews", raw);
    let v = or_answer!(viewer(&shared, &headers, &here));
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let ledger = or_answer!(ledger_or_page(&shared));
    let pending = or_answer!(read("the review queue", || ledger.reviews(Some("pending"))));
    let pipeline = q.pipeline.as_deref().filter(|s| !s.is_empty());
    let seam = q.seam.as_deref().filter(|s| !s.is_empty());
    let mut pipelines: Vec<String> = pending.iter().map(|r| r.pipeline.clone()).collect();
    pipelines.extend(shared.config().pipelines.iter().map(|p| p.name.clone()));
    let steps: Vec<String> = pending
        .iter()
        .filter(|r| pipeline.is_none_or(|p| r.pipeline == p))
        .map(|r| r.step.clone())
        .collect();
    let shown: Vec<&ReviewRow> = pending
        .iter()
        .filter(|r| pipeline.is_none_or(|p| r.pipeline == p) && seam.is_none_or(|s| r.step == s))
        .collect();
    let mut body = String::from("<h1>Review queue</h1>");
    body.push_str(&decided_notice(&q));
    let _ = write!(
        body,
        "<form class=\"filters\" method=\"get\" action=\"/ui/reviews\">{}{}<button type=\"submit\">Filter</button></form>",
        options("pipeline", "Pipeline", &sorted_unique(pipelines), pipeline),
        options("seam", "Seam (the step before it)", &sorted_unique(steps), seam),
    );
    if shown.is_empty() {
        body.push_str("<p class=\"empty\">Nothing waits for a person. New reviews appear here as runs reach them; reload to see them.</p>");
    } else {
        let _ = write!(
            body,
            "<p>{} waiting, oldest first.</p><table class=\"queue\"><caption class=\"sr\">Reviews waiting for a person</caption><thead><tr><th scope=\"col\">Review</th><th scope=\"col\">Waiting since</th><th scope=\"col\">Pipeline</th><th scope=\"col\">Where</th><th scope=\"col\">Why</th></tr></thead><tbody>",
            shown.len()
        );
        for r in &shown {
            let _ = write!(
                body,
                "<tr><td><a href=\"/ui/reviews/{id}\" data-review=\"{id}\">Review {id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                when(r.created_at),
                esc(&r.pipeline),
                esc(&where_of(r)),
                esc(&clip(&r.reason, 160)),
                id = r.id,
            );
        }
        body.push_str("</tbody></table>");
    }
    html(
        StatusCode::OK,
        page("Review queue", Some(&v), "queue", &body),
    )
}

/// The notice after a decision (the decision's page redirects with `decided`,
/// `outcome` and `run`): only known words are shown.
fn decided_notice(q: &QueueQuery) -> String {
    let Some(id) = q.decided.as_deref().and_then(|d| d.parse::<i64>().ok()) else {
        return String::new();
    };
    let outcome = match q.outcome.as_deref() {
        Some("accepted") => "accepted",
        Some("rejected") => "rejected",
        _ => "decided",
    };
    let run = match q.run.as_deref() {
        Some(s @ ("completed" | "rejected" | "failed" | "waiting" | "running")) => {
            format!(" Its run resumed and is now <b>{s}</b>.")
        }
        _ => String::new(),
    };
    format!("<p class=\"notice\" role=\"status\">Review {id} {outcome}.{run}</p>")
}

fn clip(s: &str, chars: usize) -> String {
    match s.char_indices().nth(chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

// ---------------------------------------------------------------------------------
// One review

/// A finding as it sent the handoff to review: the finding and its gate.
struct Marked {
    gate: String,
    finding: Finding,
}

fn findings_of(json: &str) -> Vec<Marked> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let gate = item
                .get("gate")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            serde_json::from_value::<Finding>(item)
                .ok()
                .map(|finding| Marked { gate, finding })
        })
        .collect()
}

/// `text` with the spans of `findings` (numbered from 1, in their order) marked: each
/// stretch of text covered by one or more spans is a `<mark>` naming its findings, and
/// a span's number follows its end. Spans that do not fall on the text's character
/// boundaries are not marked (they are listed all the same).
fn mark_spans(text: &str, findings: &[(usize, Span)]) -> String {
    let valid: Vec<(usize, usize, usize)> = findings
        .iter()
        .filter_map(|(n, s)| {
            let (a, b) = (s.start as usize, s.end as usize);
            (a < b && b <= text.len() && text.is_char_boundary(a) && text.is_char_boundary(b))
                .then_some((*n, a, b))
        })
        .collect();
    let mut cuts: Vec<usize> = vec![0, text.len()];
    for (_, a, b) in &valid {
        cuts.push(*a);
        cuts.push(*b);
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = String::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let covering: Vec<usize> = valid
            .iter()
            .filter(|(_, s, e)| *s <= a && b <= *e)
            .map(|(n, _, _)| *n)
            .collect();
        let piece = esc(&text[a..b]);
        if covering.is_empty() {
            out.push_str(&piece);
        } else {
            let names: Vec<String> = covering.iter().map(|n| format!("finding-{n}")).collect();
            let _ = write!(
                out,
                "<mark class=\"{}\" aria-describedby=\"{}\">{piece}</mark>",
                if covering.len() > 1 {
                    "finding overlap"
                } else {
                    "finding"
                },
                names.join(" ")
            );
        }
        for (n, _, e) in &valid {
            if *e == b {
                let _ = write!(
                    out,
                    "<sup class=\"ref\"><a href=\"#finding-{n}\" aria-label=\"finding {n}\">{n}</a></sup>"
                );
            }
        }
    }
    out
}

/// The JSON value at RFC 6901 `pointer` in `v`, when it is a string.
fn string_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The payload with its findings' spans marked in place: a text payload as text, the
/// strings that findings point into one by one, then the whole JSON.
fn payload_view(payload: &Value, findings: &[Marked]) -> String {
    let mut by_path: Vec<(String, Vec<(usize, Span)>)> = Vec::new();
    for (i, m) in findings.iter().enumerate() {
        if let Some(span) = m.finding.span {
            let path = m.finding.path.clone().unwrap_or_default();
            match by_path.iter_mut().find(|(p, _)| *p == path) {
                Some((_, spans)) => spans.push((i + 1, span)),
                None => by_path.push((path, vec![(i + 1, span)])),
            }
        }
    }
    let mut out = String::new();
    if let Value::String(text) = payload {
        let spans = by_path
            .iter()
            .find(|(p, _)| p.is_empty())
            .map(|(_, s)| s.as_slice())
            .unwrap_or(&[]);
        let marked = if text.len() <= MARK_LIMIT {
            mark_spans(text, spans)
        } else {
            esc(text)
        };
        let _ = write!(
            out,
            "<div class=\"payload text\" id=\"payload\">{marked}</div>"
        );
        return out;
    }
    for (path, spans) in &by_path {
        if let Some(text) = string_at(payload, path) {
            let marked = if text.len() <= MARK_LIMIT {
                mark_spans(text, spans)
            } else {
                esc(text)
            };
            let _ = write!(
                out,
                "<p class=\"path\"><code>{}</code></p><div class=\"payload text\">{marked}</div>",
                esc(if path.is_empty() { "/" } else { path })
            );
        }
    }
    let pretty = serde_json::to_string_pretty(payload).unwrap_or_default();
    let _ = write!(
        out,
        "<pre class=\"payload json\" id=\"payload\">{}</pre>",
        esc(&pretty)
    );
    out
}

fn findings_list(findings: &[Marked]) -> String {
    if findings.is_empty() {
        return "<p class=\"empty\">No findings came with it.</p>".into();
    }
    let mut out = String::from("<ol class=\"findings\">");
    for (i, m) in findings.iter().enumerate() {
        let f = &m.finding;
        let severity = serde_json::to_value(f.severity)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<li id=\"finding-{}\"><span class=\"sev sev-{}\">{}</span> <b>{}</b> <code>{}</code>{}<br>{}</li>",
            i + 1,
            esc(&severity),
            esc(&severity),
            esc(if m.gate.is_empty() { "gate" } else { &m.gate }),
            esc(&f.code),
            f.path
                .as_deref()
                .filter(|p| !p.is_empty())
                .map(|p| format!(" at <code>{}</code>", esc(p)))
                .unwrap_or_default(),
            esc(&f.message)
        );
    }
    out.push_str("</ol>");
    out
}

fn outcome_badge(outcome: &str) -> String {
    let (class, word) = match outcome {
        "passed" => ("ok", "passed"),
        "failed" => ("bad", "failed"),
        _ => ("err", "error"),
    };
    format!("<span class=\"badge {class}\">{word}</span>")
}

/// The handoffs of a run, in order, with their verdicts and where they went: the
/// attempts before, and the feedback each retry carried back.
fn history(
    ledger: &dyn Ledger,
    run_id: &str,
    current: Option<i64>,
) -> Result<String, seam_ledger::LedgerError> {
    let handoffs: Vec<HandoffRow> = ledger.handoffs(run_id)?;
    if handoffs.is_empty() {
        return Ok("<p class=\"empty\">No handoff recorded yet.</p>".into());
    }
    let mut out = String::from("<ol class=\"history\">");
    for h in &handoffs {
        let verdicts = ledger.verdicts(h.id)?;
        let routes = ledger.routes(h.id)?;
        let _ = write!(
            out,
            "<li{}><p><b>after {}</b>, attempt {}{}{}</p>",
            if Some(h.id) == current {
                " class=\"current\" aria-current=\"step\""
            } else {
                ""
            },
            esc(&h.from_step),
            h.attempt,
            h.fixed_by
                .as_deref()
                .map(|g| format!(", fixed by <b>{}</b>", esc(g)))
                .unwrap_or_default(),
            if Some(h.id) == current {
                " — <em>this review</em>"
            } else {
                ""
            }
        );
        if !verdicts.is_empty() {
            out.push_str("<ul class=\"verdicts\">");
            for v in &verdicts {
                let findings = findings_of(&v.findings);
                let _ = write!(
                    out,
                    "<li>{} {}{}</li>",
                    esc(&v.gate),
                    outcome_badge(&v.outcome),
                    if findings.is_empty() && v.error.is_none() {
                        String::new()
                    } else {
                        let mut s: Vec<String> = findings
                            .iter()
                            .map(|m| format!("{}: {}", m.finding.code, m.finding.message))
                            .collect();
                        if let Some(e) = &v.error {
                            s.push(e.clone());
                        }
                        format!(" — {}", esc(&clip(&s.join("; "), 300)))
                    }
                );
            }
            out.push_str("</ul>");
        }
        for r in &routes {
            let _ = write!(
                out,
                "<p class=\"route\">→ <b>{}</b> <span class=\"by\">(decided by {})</span>{}</p>",
                esc(&r.target),
                esc(&r.decided_by),
                if r.reason.is_empty() {
                    String::new()
                } else {
                    format!(
                        "<br><span class=\"feedback\">{}</span>",
                        esc(&clip(&r.reason, 600))
                    )
                }
            );
        }
        out.push_str("</li>");
    }
    out.push_str("</ol>");
    Ok(out)
}

/// What the editor starts with: a text payload as its text, any other as pretty JSON.
fn editor_text(payload: &Value) -> String {
    match payload {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// The review page; `problem` is shown above the form (a refused decision), and
/// `draft` keeps what the reviewer typed.
struct Draft<'a> {
    /// The notice of the decision just made (on the next review's page).
    notice: String,
    note: &'a str,
    payload: Option<&'a str>,
    problem: Option<&'a str>,
}

fn item_page(
    shared: &Shared,
    v: &Viewer,
    ledger: &dyn Ledger,
    r: &ReviewRow,
    draft: &Draft<'_>,
    name_cookie: Option<String>,
) -> Result<String, seam_ledger::LedgerError> {
    let payload: Value = serde_json::from_str(&r.payload).unwrap_or(Value::Null);
    let findings = findings_of(&r.findings);
    let handoff = match r.handoff_id {
        Some(h) => Some(ledger.handoff(h)?),
        None => None,
    };
    let pending = ledger.reviews(Some("pending"))?;
    let next = pending
        .iter()
        .find(|p| p.id != r.id && (p.created_at, p.id) > (r.created_at, r.id))
        .or_else(|| pending.iter().find(|p| p.id != r.id))
        .map(|p| p.id);
    let mut body = format!(
        "<p class=\"crumbs\"><a href=\"/ui/reviews\">Review queue</a> › Review {}</p><h1>Review {} <span class=\"sub\">{} · {}</span></h1>",
        r.id,
        r.id,
        esc(&r.pipeline),
        esc(&where_of(r))
    );
    let _ = write!(
        body,
        "<p class=\"meta\">Run <a href=\"/ui/runs/{}\">{}</a> · waiting since {} · {}</p>",
        enc(&r.run_id),
        esc(&r.run_id),
        when(r.created_at),
        esc(if r.kind == "human-step" {
            "a step done by a person"
        } else {
            "escalated by its seam"
        })
    );
    let _ = write!(
        body,
        "<p class=\"reason\"><b>Why:</b> {}</p>",
        esc(&r.reason)
    );
    if r.status != "pending" {
        let _ = write!(
            body,
            "<p class=\"notice decided\" role=\"status\">This review was <b>{}</b> by <b>{}</b>{}{}.</p>",
            esc(&r.status),
            esc(r.decided_by.as_deref().unwrap_or("someone")),
            r.decided_at
                .map(|t| format!(" at {}", esc(&format_time(t))))
                .unwrap_or_default(),
            r.note
                .as_deref()
                .filter(|n| !n.is_empty())
                .map(|n| format!(", with the note “{}”", esc(n)))
                .unwrap_or_default()
        );
    }
    body.push_str(&draft.notice);
    if let Some(problem) = draft.problem {
        let _ = write!(
            body,
            "<p class=\"error\" role=\"alert\">{}</p>",
            esc(problem)
        );
    }
    body.push_str(
        "<div class=\"review\"><section class=\"handoff\" aria-labelledby=\"h-payload\">",
    );
    let _ = write!(
        body,
        "<h2 id=\"h-payload\">The handoff</h2>{}<h2 id=\"h-findings\">Findings</h2>{}",
        payload_view(&payload, &findings),
        findings_list(&findings)
    );
    body.push_str("</section><section class=\"decide\" aria-labelledby=\"h-decide\">");
    if r.status == "pending" && v.can_decide {
        let text = draft
            .payload
            .map(str::to_string)
            .unwrap_or_else(|| editor_text(&payload));
        let original = seam_types::sha256_hex(editor_text(&payload).as_bytes());
        let who = if v.signed_in {
            format!(
                "<p class=\"hint\">Recorded as decided by <b>{}</b>.</p>",
                esc(v.name.as_deref().unwrap_or(""))
            )
        } else {
            format!(
                "<label for=\"by\">Your name</label><input id=\"by\" name=\"by\" required maxlength=\"200\" value=\"{}\" autocomplete=\"name\">",
                esc(name_cookie.as_deref().unwrap_or(""))
            )
        };
        let _ = write!(
            body,
            "<h2 id=\"h-decide\">Your decision</h2>\
<form method=\"post\" action=\"/ui/reviews/{id}/decide\" class=\"decision\" data-review=\"{id}\">\
<input type=\"hidden\" name=\"form_token\" value=\"{token}\">\
<input type=\"hidden\" name=\"original\" value=\"{original}\">\
{who}\
<label for=\"note\">Note (optional)</label><textarea id=\"note\" name=\"note\" rows=\"3\" maxlength=\"4000\">{note}</textarea>\
<label for=\"payload-editor\">The {kind} to go on with — edit it to accept with changes</label>\
<textarea id=\"payload-editor\" name=\"payload\" rows=\"10\" spellcheck=\"true\">{text}</textarea>\
<div class=\"actions\"><button type=\"submit\" name=\"decision\" value=\"accept\" id=\"accept\" class=\"accept\">Accept</button> \
<button type=\"submit\" name=\"decision\" value=\"reject\" id=\"reject\" class=\"reject\">Reject</button></div>\
<p class=\"keys\">Keys: <kbd>a</kbd> accept · <kbd>r</kbd> reject · <kbd>e</kbd> edit · <kbd>n</kbd> next · <kbd>q</kbd> queue</p>\
</form>",
            id = r.id,
            token = v.form_token,
            note = esc(draft.note),
            kind = if payload.is_string() { "text" } else { "JSON" },
            text = esc(&text),
        );
    } else if r.status == "pending" {
        body.push_str("<h2 id=\"h-decide\">Your decision</h2><p class=\"hint\">Your token may read but not decide: deciding needs the <code>review</code> scope.</p>");
    } else {
        body.push_str("<h2 id=\"h-decide\">Decision</h2>");
        if let Some(output) = &r.output {
            let _ = write!(
                body,
                "<p>Accepted with an edited payload:</p><pre class=\"payload json\">{}</pre>",
                esc(output)
            );
        }
    }
    let _ = write!(
        body,
        "<p class=\"next\">{}</p>",
        match next {
            Some(n) => format!("<a href=\"/ui/reviews/{n}\" rel=\"next\" id=\"next\">Next waiting review ({n}) →</a>"),
            None => "<a href=\"/ui/reviews\" id=\"next\">Nothing else waits — back to the queue</a>".into(),
        }
    );
    body.push_str("</section></div>");
    if let Some(h) = &handoff {
        let verdicts = ledger.verdicts(h.id)?;
        if !verdicts.is_empty() {
            body.push_str("<section aria-labelledby=\"h-verdicts\"><h2 id=\"h-verdicts\">The gates' verdicts</h2><table><thead><tr><th scope=\"col\">Gate</th><th scope=\"col\">Plugin</th><th scope=\"col\">Verdict</th><th scope=\"col\">Score</th><th scope=\"col\">Findings</th><th scope=\"col\">Took</th></tr></thead><tbody>");
            for vd in &verdicts {
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} µs</td></tr>",
                    esc(&vd.gate),
                    esc(&vd.plugin),
                    outcome_badge(&vd.outcome),
                    vd.score.map(|s| format!("{s:.3}")).unwrap_or_else(|| "—".into()),
                    findings_of(&vd.findings).len(),
                    vd.duration_us
                );
            }
            body.push_str("</tbody></table></section>");
        }
        let context: Value = serde_json::from_str(&h.context).unwrap_or(Value::Null);
        let _ = write!(
            body,
            "<section aria-labelledby=\"h-context\"><h2 id=\"h-context\">The context the step was given</h2><details><summary>Show the context</summary><pre>{}</pre></details></section>",
            esc(&serde_json::to_string_pretty(&context).unwrap_or_default())
        );
    }
    let _ = write!(
        body,
        "<section aria-labelledby=\"h-history\"><h2 id=\"h-history\">The run so far</h2>{}</section>",
        history(ledger, &r.run_id, r.handoff_id)?
    );
    let _ = shared;
    Ok(page(&format!("Review {}", r.id), Some(v), "queue", &body))
}

fn review_id(id: &str) -> Result<i64, Response> {
    id.parse::<i64>().map_err(|_| {
        error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("There is no review `{id}`: review ids are numbers; pick one in the queue."),
        )
    })
}

async fn item(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<QueueQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let v = or_answer!(viewer(
        &shared,
        &headers,
        &format!("/ui/reviews/{}", enc(&id))
    ));
    let id = or_answer!(review_id(&id));
    let ledger = or_answer!(ledger_or_page(&shared));
    let draft = Draft {
        notice: query.map(|Query(q)| decided_notice(&q)).unwrap_or_default(),
        note: "",
        payload: None,
        problem: None,
    };
    let name = cookie(&headers, NAME_COOKIE);
    let body = or_answer!(read("the review", || {
        let r = ledger.review(id)?;
        item_page(&shared, &v, &*ledger, &r, &draft, name)
    }));
    html(StatusCode::OK, body)
}

#[derive(Deserialize)]
struct DecideForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    payload: Option<String>,
    #[serde(default)]
    original: String,
    #[serde(default)]
    by: Option<String>,
}

/// Browsers send a textarea's line breaks as CRLF; the payload goes on as the reviewer
/// saw it.
fn unix_lines(s: &str) -> String {
    s.replace("\r\n", "\n")
}

async fn decide(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<DecideForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let v = or_answer!(viewer(
        &shared,
        &headers,
        &format!("/ui/reviews/{}", enc(&id))
    ));
    let id = or_answer!(review_id(&id));
    let Ok(Form(form)) = form else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Not a decision",
            "The form could not be read; reload the review and decide again.",
        );
    };
    if let Err(r) = check_post(&shared, &headers, &v, &form.form_token) {
        return r;
    }
    if !v.can_decide {
        return error_page(
            StatusCode::FORBIDDEN,
            "Not allowed",
            &format!(
                "Token `{}` may read but not decide: deciding needs the `review` scope.",
                v.name.as_deref().unwrap_or("")
            ),
        );
    }
    let ledger = or_answer!(ledger_or_page(&shared));
    let review = or_answer!(read("the review", || ledger.review(id)));
    let note = unix_lines(form.note.trim());
    let typed = form.payload.as_deref().map(unix_lines);
    let again = |status: StatusCode, problem: &str| -> Response {
        let draft = Draft {
            notice: String::new(),
            note: &note,
            payload: typed.as_deref(),
            problem: Some(problem),
        };
        let name = form.by.clone();
        match read("the review", || {
            let r = ledger.review(id)?;
            item_page(&shared, &v, &*ledger, &r, &draft, name)
        }) {
            Ok(body) => html(status, body),
            Err(r) => r,
        }
    };
    let accept = match form.decision.as_str() {
        "accept" => true,
        "reject" => false,
        other => {
            return again(
                StatusCode::BAD_REQUEST,
                &format!(
                    "“{}” is not a decision: press Accept or Reject.",
                    clip(other, 40)
                ),
            )
        }
    };
    let original: Value = serde_json::from_str(&review.payload).unwrap_or(Value::Null);
    let edited = typed
        .as_deref()
        .filter(|t| seam_types::sha256_hex(t.as_bytes()) != form.original)
        .filter(|t| *t != editor_text(&original));
    let payload = match edited {
        None => None,
        Some(_) if !accept => {
            return again(
                StatusCode::UNPROCESSABLE_ENTITY,
                "You edited the payload and pressed Reject: an edited payload goes with Accept. Accept it, or undo the edit to reject.",
            )
        }
        Some(text) if original.is_string() => Some(Value::String(text.to_string())),
        Some(text) => match seam_types::json::parse_strict(text) {
            Ok(v) => Some(v),
            Err(e) => {
                return again(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("The edited payload is not valid JSON: {e}. Fix it and accept again."),
                )
            }
        },
    };
    let by = if v.signed_in {
        v.name.clone().unwrap_or_default()
    } else {
        match form.by.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
            Some(b) => clip(b, 200),
            None => {
                return again(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Give your name: the ledger records who decided.",
                )
            }
        }
    };
    let note = (!note.is_empty()).then_some(note.as_str());
    match decide_and_resume(&shared, id, accept, &by, note, payload.as_ref(), Some(2_000)).await {
        Ok((_, done)) => {
            let next = tokio::task::block_in_place(|| ledger.reviews(Some("pending")))
                .ok()
                .and_then(|p| p.into_iter().next())
                .map(|p| p.id);
            let mut to = match next {
                Some(n) => format!("/ui/reviews/{n}?"),
                None => "/ui/reviews?".to_string(),
            };
            let _ = write!(
                to,
                "decided={id}&outcome={}",
                if accept { "accepted" } else { "rejected" }
            );
            if let Some(run) = &done.run {
                let _ = write!(to, "&run={}", enc(run.status.as_str()));
            }
            let mut response = Redirect::to(&to).into_response();
            if !v.signed_in {
                if let Ok(value) = format!(
                    "{NAME_COOKIE}={}; Path=/ui; SameSite=Strict",
                    percent_encode(&by)
                )
                .parse()
                {
                    response.headers_mut().insert(header::SET_COOKIE, value);
                }
            }
            response
        }
        Err(e) if e.status == StatusCode::CONFLICT && e.code == "already_decided" => again(
            StatusCode::CONFLICT,
            "Someone decided this review while you had it open (see below). Nothing was recorded twice; your decision was not recorded.",
        ),
        Err(e) => api_error_page(e),
    }
}

// ---------------------------------------------------------------------------------
// The report

#[derive(Deserialize, Default)]
struct ReportQuery {
    pipeline: Option<String>,
    seam: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

impl ReportQuery {
    fn filter(&self) -> Result<Filter, String> {
        let now = seam_ledger::now_ms();
        let time = |spec: &Option<String>, name: &str| -> Result<Option<i64>, String> {
            match spec.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => parse_time(s, now)
                    .map(Some)
                    .map_err(|e| format!("“{name}” {s:?}: {e}")),
            }
        };
        Ok(Filter {
            pipeline: self.pipeline.clone().filter(|p| !p.is_empty()),
            run: None,
            since_ms: time(&self.since, "since")?,
            until_ms: time(&self.until, "until")?,
        })
    }

    /// The window as a query string suffix (`&since=…&until=…`).
    fn window(&self) -> String {
        let mut s = String::new();
        for (k, v) in [("since", &self.since), ("until", &self.until)] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                let _ = write!(s, "&{k}={}", enc(v));
            }
        }
        s
    }
}

fn report_filters(q: &ReportQuery, pipelines: &[String], extra: &str) -> String {
    format!(
        "<form class=\"filters\" method=\"get\">{extra}{}\
<label for=\"f-since\">Since</label><input id=\"f-since\" name=\"since\" value=\"{}\" placeholder=\"7d, 24h, 2026-11-01\" size=\"12\">\
<label for=\"f-until\">Until</label><input id=\"f-until\" name=\"until\" value=\"{}\" placeholder=\"now\" size=\"12\">\
<button type=\"submit\">Show</button></form>",
        options("pipeline", "Pipeline", pipelines, q.pipeline.as_deref().filter(|p| !p.is_empty())),
        esc(q.since.as_deref().unwrap_or("")),
        esc(q.until.as_deref().unwrap_or("")),
    )
}

async fn report(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let here = here("/ui/report", raw);
    let v = or_answer!(viewer(&shared, &headers, &here));
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let ledger = or_answer!(ledger_or_page(&shared));
    let mut pipelines: Vec<String> = shared
        .config()
        .pipelines
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let filter = match q.filter() {
        Ok(f) => f,
        Err(e) => {
            let body = format!(
                "<h1>Reliability report</h1>{}<p class=\"error\" role=\"alert\">{}</p>",
                report_filters(&q, &sorted_unique(pipelines), ""),
                esc(&e)
            );
            return html(
                StatusCode::BAD_REQUEST,
                page("Report", Some(&v), "report", &body),
            );
        }
    };
    let r = or_answer!(read("the report", || ledger.report(&filter)));
    pipelines.extend(r.pipelines.iter().map(|p| p.pipeline.clone()));
    // The filter's choices name every pipeline in the ledger: a filtered report lists
    // only its own, so only then is the whole report read as well.
    let unfiltered =
        filter.pipeline.is_none() && filter.since_ms.is_none() && filter.until_ms.is_none();
    if !unfiltered {
        let all = or_answer!(read("the report", || ledger.report(&Filter::default())));
        pipelines.extend(all.pipelines.iter().map(|p| p.pipeline.clone()));
    }
    let window = q.window();
    let link = |p: &str, s: &str| {
        Some(format!(
            "/ui/report/seam?pipeline={}&seam={}{window}",
            enc(p),
            enc(s)
        ))
    };
    let body = format!(
        "<h1>Reliability report</h1>{}<p class=\"hint\">Live from the ledger. A seam's or gate's name opens the runs behind its figures. Definitions: <code>docs/report.md</code>.</p>{}<details><summary>The same figures as tables</summary><pre>{}</pre></details>",
        report_filters(&q, &sorted_unique(pipelines), ""),
        render_charts(&r, &link),
        esc(&render_text(&r))
    );
    html(StatusCode::OK, page("Report", Some(&v), "report", &body))
}

async fn seam_visits(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let here = here("/ui/report/seam", raw);
    let v = or_answer!(viewer(&shared, &headers, &here));
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let (Some(pipeline), Some(seam)) = (
        q.pipeline.clone().filter(|p| !p.is_empty()),
        q.seam.clone().filter(|s| !s.is_empty()),
    ) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Which seam?",
            "Give both `pipeline` and `seam` (the step before it); the report links each seam here.",
        );
    };
    let filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, "Not a window", &e),
    };
    let ledger = or_answer!(ledger_or_page(&shared));
    let (r, visits) = or_answer!(read("the seam's runs", || {
        Ok((
            ledger.report(&filter)?,
            ledger.seam_visits(&filter, &pipeline, &seam, DRILL_DOWN_LIMIT)?,
        ))
    }));
    let figures = r
        .seams
        .iter()
        .find(|s| s.pipeline == pipeline && s.seam == seam);
    let mut body = format!(
        "<p class=\"crumbs\"><a href=\"/ui/report?pipeline={}{}\">Report</a> › {} · after {}</p><h1>{} · after {}</h1>",
        enc(&pipeline),
        q.window(),
        esc(&pipeline),
        esc(&seam),
        esc(&pipeline),
        esc(&seam)
    );
    match figures {
        None => body.push_str("<p class=\"empty\">No run reached this seam in this window.</p>"),
        Some(s) => {
            let pct = |x: Option<f64>| x.map_or("—".into(), |v| format!("{:.1}%", v * 100.0));
            let _ = write!(
                body,
                "<p class=\"figures\">{} visits: first pass {} ({}), after recovery {} ({}); recovered by retry {}, by fix {}, by review {}; {} retries asked.</p>",
                s.visits,
                pct(s.first_pass_reliability),
                s.first_pass,
                pct(s.reliability_after_recovery),
                s.passed_after_recovery,
                s.recovered_by_retry,
                s.recovered_by_fix,
                s.recovered_by_review,
                s.retries
            );
            let gates: Vec<_> = r
                .gates
                .iter()
                .filter(|g| g.pipeline == pipeline && g.seam == seam)
                .collect();
            if !gates.is_empty() {
                body.push_str("<table><caption>Its gates</caption><thead><tr><th scope=\"col\">Gate</th><th scope=\"col\">Checks</th><th scope=\"col\">Passed</th><th scope=\"col\">Failed</th><th scope=\"col\">Errors</th><th scope=\"col\">p50</th><th scope=\"col\">p99</th></tr></thead><tbody>");
                for g in gates {
                    let _ = write!(
                        body,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&g.gate),
                        g.checks,
                        g.passed,
                        g.failed,
                        g.errors,
                        g.latency_us_p50.map_or("—".into(), |v| format!("{v} µs")),
                        g.latency_us_p99.map_or("—".into(), |v| format!("{v} µs")),
                    );
                }
                body.push_str("</tbody></table>");
            }
        }
    }
    if !visits.is_empty() {
        let _ = write!(
            body,
            "<table class=\"visits\"><caption>The runs behind it, newest first{}</caption><thead><tr><th scope=\"col\">Run</th><th scope=\"col\">Started</th><th scope=\"col\">Run status</th><th scope=\"col\">Handoffs here</th><th scope=\"col\">First pass</th><th scope=\"col\">Went on</th><th scope=\"col\">Recovered by</th></tr></thead><tbody>",
            if visits.len() == DRILL_DOWN_LIMIT {
                format!(" (the latest {DRILL_DOWN_LIMIT}; narrow the window for older ones)")
            } else {
                String::new()
            }
        );
        let yes = |b: bool| if b { "yes" } else { "no" };
        for x in &visits {
            let _ = write!(
                body,
                "<tr><td><a href=\"/ui/runs/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                enc(&x.run_id),
                esc(&x.run_id),
                esc(&format_time(x.created_at)),
                esc(&x.status),
                x.handoffs,
                yes(x.first_pass),
                yes(x.passed),
                esc(x.recovered_by.as_deref().unwrap_or("—")),
            );
        }
        body.push_str("</tbody></table>");
    }
    html(
        StatusCode::OK,
        page(
            &format!("{pipeline} · after {seam}"),
            Some(&v),
            "report",
            &body,
        ),
    )
}

// ---------------------------------------------------------------------------------
// A run

async fn run(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let v = or_answer!(viewer(&shared, &headers, &format!("/ui/runs/{}", enc(&id))));
    let ledger = or_answer!(ledger_or_page(&shared));
    let built = read("the run", || {
        let run = ledger.run(&id)?;
        let reviews: Vec<ReviewRow> = ledger
            .reviews(None)?
            .into_iter()
            .filter(|r| r.run_id == run.id)
            .collect();
        let steps = ledger.step_runs(&run.id)?;
        let input: Value = serde_json::from_str(&run.input).unwrap_or(Value::Null);
        let mut body = format!(
            "<p class=\"crumbs\"><a href=\"/ui/report?pipeline={}\">Report</a> › run</p><h1>Run {} <span class=\"sub\">{}</span></h1>\
<p class=\"meta\">Status <b>{}</b> · started {} · last moved {}</p>",
            enc(&run.pipeline),
            esc(&run.id),
            esc(&run.pipeline),
            esc(&run.status),
            esc(&format_time(run.created_at)),
            esc(&format_time(run.updated_at)),
        );
        if let Some(reason) = &run.reason {
            let _ = write!(
                body,
                "<p class=\"reason\"><b>Why it ended:</b> {}</p>",
                esc(reason)
            );
        }
        let _ = write!(
            body,
            "<h2>Input</h2><pre>{}</pre>",
            esc(&serde_json::to_string_pretty(&input).unwrap_or_default())
        );
        if let Some(output) = &run.output {
            let out: Value = serde_json::from_str(output).unwrap_or(Value::Null);
            let _ = write!(
                body,
                "<h2>Output</h2><pre>{}</pre>",
                esc(&serde_json::to_string_pretty(&out).unwrap_or_default())
            );
        }
        if !steps.is_empty() {
            body.push_str("<h2>Steps</h2><ol class=\"steps\">");
            for s in &steps {
                let _ = write!(
                    body,
                    "<li>{} (attempt {}): {}{}</li>",
                    esc(&s.step),
                    s.attempt,
                    esc(&s.status),
                    s.error
                        .as_deref()
                        .map(|e| format!(" — {}", esc(&clip(e, 300))))
                        .unwrap_or_default()
                );
            }
            body.push_str("</ol>");
        }
        let _ = write!(
            body,
            "<h2>Handoffs</h2>{}",
            history(&*ledger, &run.id, None)?
        );
        if !reviews.is_empty() {
            body.push_str("<h2>Reviews</h2><ul>");
            for r in &reviews {
                let _ = write!(
                    body,
                    "<li><a href=\"/ui/reviews/{}\">Review {}</a> ({}): {}{}</li>",
                    r.id,
                    r.id,
                    esc(&where_of(r)),
                    esc(&r.status),
                    r.decided_by
                        .as_deref()
                        .map(|b| format!(" by {}", esc(b)))
                        .unwrap_or_default()
                );
            }
            body.push_str("</ul>");
        }
        Ok(page(&format!("Run {}", run.id), Some(&v), "report", &body))
    });
    match built {
        Ok(body) => html(StatusCode::OK, body),
        Err(r) => r,
    }
}

// ---------------------------------------------------------------------------------
// Encoding

/// `s` percent-encoded for a URL's query or a cookie value (everything but
/// unreserved characters).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn enc(s: &str) -> String {
    percent_encode(s)
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_marked_in_place_overlaps_and_all() {
        let text = "Great, $89 headphones. Buy now!";
        let marked = mark_spans(
            text,
            &[
                (1, Span { start: 7, end: 10 }),
                (2, Span { start: 7, end: 21 }),
                (3, Span { start: 29, end: 99 }),
            ],
        );
        assert_eq!(
            marked,
            "Great, <mark class=\"finding overlap\" aria-describedby=\"finding-1 finding-2\">$89</mark>\
<sup class=\"ref\"><a href=\"#finding-1\" aria-label=\"finding 1\">1</a></sup>\
<mark class=\"finding\" aria-describedby=\"finding-2\"> headphones</mark>\
<sup class=\"ref\"><a href=\"#finding-2\" aria-label=\"finding 2\">2</a></sup>. Buy now!"
        );
    }

    #[test]
    fn spans_off_character_boundaries_are_not_marked_and_text_is_escaped() {
        let text = "héllo <b>";
        let marked = mark_spans(text, &[(1, Span { start: 2, end: 3 })]);
        assert_eq!(marked, "héllo &lt;b&gt;");
        assert_eq!(mark_spans("", &[(1, Span { start: 0, end: 0 })]), "");
    }

    #[test]
    fn only_paths_of_this_page_are_gone_to_after_signing_in() {
        for bad in [
            None,
            Some("https://evil.example/"),
            Some("//evil.example/ui"),
            Some("/v1/report"),
            Some("/ui\\..\\x"),
        ] {
            assert_eq!(safe_next(bad), "/ui/reviews", "{bad:?}");
        }
        assert_eq!(safe_next(Some("/ui/reviews/3")), "/ui/reviews/3");
    }

    #[test]
    fn percent_encoding_round_trips() {
        for s in ["seam-abc", "a b;c=d%", "ünï", "%", "%4", "%zz", "%é"] {
            assert_eq!(percent_decode(&percent_encode(s)), s, "{s}");
        }
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%é%41"), "%éA");
    }
}
