"""The reviewers' page, driven in headless Chromium through WebDriver against a real
`seam serve` (tests/browser/test.sh sets SEAM_BIN, CHROMIUM and CHROMEDRIVER).

Each test writes its own server configuration and pipeline into a temporary folder
(the support-reply example of examples/review, whose drafts the gates doubt), starts
the server on a free port, starts runs through the API, and then works the page as a
reviewer would: the queue, a review with its findings marked, accept with an edit and
a note, the run completing, the report changing, two reviewers at once, sign-in with
tokens, the keys, a phone's width, and a report of more than five gates.
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "review"
ARTIFACTS = ROOT / "target" / "browser-artifacts"
SEAM = os.environ.get("SEAM_BIN", str(ROOT / "target" / "debug" / "seam"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`seam serve` on a free port over a copy of examples/review."""

    def __init__(self, folder, tokens=(), gates=None):
        self.folder = folder
        for name in ("pipeline.toml", "draft.sh", "send.sh"):
            shutil.copy(EXAMPLE / name, folder / name)
        if gates is not None:
            text = (folder / "pipeline.toml").read_text()
            text = text[: text.index("[[seams.gates]]")] + gates
            (folder / "pipeline.toml").write_text(text)
        self.port = free_port()
        config = [
            f'listen = "127.0.0.1:{self.port}"',
            'ledger = "seam-ledger.db"',
            'pipelines = ["pipeline.toml"]',
        ]
        for name, token, scopes in tokens:
            digest = hashlib.sha256(token.encode()).hexdigest()
            config += [
                "[[tokens]]",
                f'name = "{name}"',
                f'sha256 = "{digest}"',
                f"scopes = {json.dumps(list(scopes))}",
            ]
        (folder / "seam-server.toml").write_text("\n".join(config) + "\n")
        self.log = open(folder / "serve.log", "w")
        self.process = subprocess.Popen(
            [SEAM, "serve", "--config", str(folder / "seam-server.toml")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        self.admin = next((t for _, t, s in tokens if "admin" in s), None)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1)
                return
            except (urllib.error.URLError, ConnectionError):
                if self.process.poll() is not None:
                    raise RuntimeError((folder / "serve.log").read_text())
                time.sleep(0.05)
        raise RuntimeError("seam serve did not answer within 30 s")

    def api(self, method, path, body=None):
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"content-type": "application/json"},
        )
        if self.admin:
            request.add_header("authorization", f"Bearer {self.admin}")
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def start(self, customer):
        return self.api(
            "POST",
            "/v1/pipelines/support-reply/runs",
            {"input": {"customer": customer}, "wait_ms": 10000},
        )

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture
def server(tmp_path):
    servers = []

    def make(**kw):
        folder = tmp_path / f"server-{len(servers)}"
        folder.mkdir()
        s = Server(folder, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


def new_browser(width=1280, height=1000):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=options)


@pytest.fixture
def browser():
    drivers = []

    def make(**kw):
        d = new_browser(**kw)
        drivers.append(d)
        return d

    yield make
    for d in drivers:
        d.quit()


def shot(driver, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, min(max(height + 140, 600), 4000))
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def wait_for(driver, css):
    return WebDriverWait(driver, 15).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def error_says(driver, text):
    """Waits until the page's error says `text`. The error of the page before a click
    can still be there, or go stale, while the next page loads: reading it once raced
    that load (a StaleElementReferenceException in CI)."""
    WebDriverWait(driver, 15).until(
        EC.text_to_be_present_in_element((By.CSS_SELECTOR, "p.error"), text))
    return True


def text_of(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text


def every_field_is_labelled(driver):
    missing = driver.execute_script(
        """
        return Array.from(document.querySelectorAll('input, select, textarea'))
          .filter(e => e.type !== 'hidden')
          .filter(e => !(e.id && document.querySelector('label[for="' + e.id + '"]')))
          .map(e => e.name);
        """
    )
    assert missing == [], f"fields without a label: {missing}"


def seam_row(driver):
    return text_of(driver, "#chart-seams .row")


def test_a_reviewer_accepts_an_edited_reply_and_the_run_completes(server, browser):
    s = server()
    assert s.start("Ana")["status"] == "completed"
    bob = s.start("Bob")
    cleo = s.start("Cleo")
    assert (bob["status"], cleo["status"]) == ("waiting", "waiting")
    d = browser()

    # The report before: one of three visits went on.
    d.get(s.base + "/ui/report")
    wait_for(d, "#chart-seams")
    assert "n = 3 visits" in seam_row(d)
    assert "33.3%" in seam_row(d)

    # The queue: two reviews, oldest first.
    d.get(s.base + "/ui/")
    wait_for(d, "table.queue")
    assert d.current_url.endswith("/ui/reviews")
    links = d.find_elements(By.CSS_SELECTOR, "table.queue a[data-review]")
    assert [a.text for a in links] == ["Review 1", "Review 2"]
    every_field_is_labelled(d)
    shot(d, "queue")
    d.set_window_size(1280, 1000)

    # One review: the reply with every finding's span marked in place.
    links[0].click()
    wait_for(d, "#payload")
    marks = [m.text for m in d.find_elements(By.CSS_SELECTOR, "#payload mark.finding")]
    assert marks == ["guarantee", "sam.lee@example.com", "415-555-0100", "always"]
    findings = [li.text for li in d.find_elements(By.CSS_SELECTOR, "ol.findings li")]
    assert len(findings) == 4
    assert 'banned word "guarantee"' in findings[0] and "promises" in findings[0]
    assert "e-mail address found" in findings[2] and "personal-data" in findings[2]
    verdicts = text_of(d, "section[aria-labelledby=h-verdicts]")
    assert "promises" in verdicts and "failed" in verdicts
    history = text_of(d, "ol.history")
    assert "after draft" in history and "human" in history
    every_field_is_labelled(d)
    shot(d, "review")
    d.set_window_size(1280, 1000)

    # Accept with an edit and a note.
    edited = "Hi Bob, your refund for order 1042 is on its way; reply here if anything is missing."
    d.find_element(By.ID, "by").send_keys("Maria")
    d.find_element(By.ID, "note").send_keys("promised too much; took the contact details out")
    editor = d.find_element(By.ID, "payload-editor")
    editor.clear()
    editor.send_keys(edited)
    d.find_element(By.ID, "accept").click()
    wait_for(d, "p.notice")
    assert "Review 1 accepted. Its run resumed and is now completed." in text_of(d, "p.notice")
    assert "/ui/reviews/2" in d.current_url, "the next waiting review follows"

    run = s.api("GET", f"/v1/runs/{bob['run_id']}")
    assert run["status"] == "completed"
    assert run["output"] == {"sent": True, "text": edited}
    review = s.api("GET", "/v1/reviews/1")
    assert (review["status"], review["decided_by"], review["note"]) == (
        "accepted",
        "Maria",
        "promised too much; took the contact details out",
    )
    assert review["output"] == edited

    # The report after: two of three visits went on, one recovered by a review.
    d.get(s.base + "/ui/report")
    wait_for(d, "#chart-seams")
    assert "66.7%" in seam_row(d)
    assert "n = 1 reviewed handoff" in text_of(d, "#chart-agreement")
    every_field_is_labelled(d)
    shot(d, "report")
    d.set_window_size(1280, 1000)

    # The seam's drill-down lists the three runs, and opens one.
    d.find_element(By.CSS_SELECTOR, "#chart-seams .row a").click()
    wait_for(d, "table.visits")
    rows = d.find_elements(By.CSS_SELECTOR, "table.visits tbody tr")
    assert len(rows) == 3
    by_run = {r.find_element(By.CSS_SELECTOR, "a").text: r.text for r in rows}
    assert by_run[bob["run_id"]].endswith("completed 1 no yes review")
    assert by_run[cleo["run_id"]].endswith("waiting 1 no no —")
    d.find_element(By.LINK_TEXT, bob["run_id"]).click()
    wait_for(d, "ol.history")
    assert "Status completed" in text_of(d, "p.meta")
    assert "accepted by Maria" in text_of(d, "main")


def test_two_reviewers_deciding_at_once_record_one_decision(server, browser):
    s = server()
    run = s.start("Bob")
    first, second = browser(), browser()
    for d in (first, second):
        d.get(s.base + "/ui/reviews/1")
        wait_for(d, "#accept")
    first.find_element(By.ID, "by").send_keys("Ann")
    second.find_element(By.ID, "by").send_keys("Ben")
    second.find_element(By.ID, "note").send_keys("too pushy")
    first.find_element(By.ID, "accept").click()
    wait_for(first, "p.notice")
    second.find_element(By.ID, "reject").click()
    alert = wait_for(second, "p.error[role=alert]")
    assert "Someone decided this review while you had it open" in alert.text
    assert "accepted by Ann" in text_of(second, "p.notice.decided")
    assert second.find_elements(By.ID, "accept") == [], "no form on a decided review"
    review = s.api("GET", "/v1/reviews/1")
    assert (review["status"], review["decided_by"], review["note"]) == ("accepted", "Ann", None)
    doc = s.api("GET", f"/v1/runs/{run['run_id']}")
    assert doc["status"] == "completed"
    assert [r["status"] for r in doc["reviews"]] == ["accepted"]
    assert len(doc["steps"]) == 2, "the run resumed once: draft, then send"


def test_keys_accept_reject_and_go_to_the_next_review_but_never_while_typing(server, browser):
    s = server()
    s.start("Bob")
    s.start("Cleo")
    d = browser()
    d.get(s.base + "/ui/reviews/1")
    wait_for(d, "#accept")
    by = d.find_element(By.ID, "by")
    by.send_keys("Kim")
    by.send_keys("a")  # typed into the field: no decision
    assert s.api("GET", "/v1/reviews/1")["status"] == "pending"
    by.send_keys(Keys.BACK_SPACE)
    d.find_element(By.TAG_NAME, "h1").click()
    d.find_element(By.TAG_NAME, "body").send_keys("n")
    WebDriverWait(d, 10).until(lambda d: d.current_url.endswith("/ui/reviews/2"))
    wait_for(d, "#reject")
    d.find_element(By.ID, "by").send_keys("Kim")
    d.find_element(By.TAG_NAME, "h1").click()
    d.find_element(By.TAG_NAME, "body").send_keys("r")
    wait_for(d, "p.notice")
    assert "Review 2 rejected." in text_of(d, "p.notice")
    assert s.api("GET", "/v1/reviews/2")["status"] == "rejected"
    assert s.api("GET", "/v1/reviews/1")["status"] == "pending"


def test_bad_decisions_are_refused_with_the_reason_and_nothing_recorded(server, browser):
    s = server()
    s.start("Bob")
    d = browser()
    d.get(s.base + "/ui/reviews/1")
    wait_for(d, "#accept")
    # No name: the ledger records who decided.
    d.execute_script("document.getElementById('by').removeAttribute('required')")
    d.find_element(By.ID, "accept").click()
    assert error_says(d, "Give your name")
    # An edit with Reject.
    d.find_element(By.ID, "by").send_keys("Lee")
    editor = d.find_element(By.ID, "payload-editor")
    editor.send_keys(" (edited)")
    d.find_element(By.ID, "reject").click()
    assert error_says(d, "an edited payload goes with Accept")
    assert d.find_element(By.ID, "payload-editor").get_attribute("value").endswith("(edited)")
    # A stale form token (another site, or a restarted server).
    d.execute_script("document.querySelector('input[name=form_token]').value = 'forged'")
    d.find_element(By.ID, "accept").click()
    assert error_says(d, "stale or did not come from this page")
    assert s.api("GET", "/v1/reviews/1")["status"] == "pending"
    # Pages that are not there, and a review that is not.
    d.get(s.base + "/ui/reviews/999")
    assert error_says(d, "no review `999`")
    d.get(s.base + "/ui/reviews/abc")
    assert error_says(d, "review ids are numbers")
    d.get(s.base + "/ui/report?since=lately")
    assert error_says(d, "“since” \"lately\"")
    d.get(s.base + "/ui/nowhere")
    assert error_says(d, "There is no page /ui/nowhere")


def test_tokens_sign_in_for_the_visit_and_only_review_may_decide(server, browser):
    s = server(
        tokens=[
            ("ops", "seam-admin-token", ["admin"]),
            ("viewer", "seam-view-token", ["view"]),
            ("maria", "seam-review-token", ["review"]),
            ("bot", "seam-check-token", ["check"]),
        ]
    )
    s.start("Bob")
    d = browser()
    d.get(s.base + "/ui/reviews/1")
    wait_for(d, "#token")
    assert "/ui/login?next=" in d.current_url
    every_field_is_labelled(d)
    d.find_element(By.ID, "token").send_keys("not-a-token", Keys.ENTER)
    assert error_says(d, "does not know that token")
    d.find_element(By.ID, "token").send_keys("seam-view-token", Keys.ENTER)
    wait_for(d, "h1")
    assert d.current_url.endswith("/ui/reviews/1"), "back where the reviewer was going"
    assert "Signed in as viewer (read only)" in text_of(d, "header")
    assert d.find_elements(By.ID, "accept") == []
    assert "may read but not decide" in text_of(d, "main")
    cookie = d.get_cookie("seam_ui")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and "expiry" not in cookie
    d.find_element(By.CSS_SELECTOR, "header button").click()
    wait_for(d, "#token")
    assert d.get_cookie("seam_ui") is None
    d.find_element(By.ID, "token").send_keys("seam-review-token", Keys.ENTER)
    wait_for(d, "table.queue")
    assert "Signed in as maria" in text_of(d, "header")
    d.find_element(By.CSS_SELECTOR, "a[data-review='1']").click()
    wait_for(d, "#accept")
    assert d.find_elements(By.ID, "by") == [], "the token names who decides"
    d.find_element(By.ID, "accept").click()
    wait_for(d, "p.notice")
    assert s.api("GET", "/v1/reviews/1")["decided_by"] == "maria"
    # A token of another scope reads the page; the API's own rules are unchanged.
    d.delete_all_cookies()
    d.get(s.base + "/ui/login")
    d.find_element(By.ID, "token").send_keys("seam-check-token", Keys.ENTER)
    wait_for(d, "table, p.empty")
    assert "Signed in as bot (read only)" in text_of(d, "header")


def test_the_page_fits_a_phone(server, browser):
    s = server()
    s.start("Bob")
    d = browser(width=390, height=844)
    for path in ("/ui/reviews", "/ui/reviews/1", "/ui/report"):
        d.get(s.base + path)
        wait_for(d, "main h1")
        overflow = d.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
    d.get(s.base + "/ui/reviews/1")
    wait_for(d, "#accept")
    shot(d, "review-phone")


SEVEN_GATES = "".join(
    f"""
[[seams.gates]]
name = "gate-{i}-{'with-a-long-descriptive-name-' * 2}end"
plugin = "max-words"
settings = {{ max_words = {20 + i} }}
"""
    for i in range(7)
)


def test_a_report_of_more_than_five_gates_draws_every_row(server, browser, tmp_path):
    s = server(gates=SEVEN_GATES)
    s.start("Ana")
    s.start("Bob")
    d = browser()
    d.get(s.base + "/ui/report")
    wait_for(d, "#chart-gates")
    for chart in ("chart-gates", "chart-latency"):
        rows = d.find_elements(By.CSS_SELECTOR, f"#{chart} .row")
        assert len(rows) == 8, f"{chart}: 7 gates and the output schema"
        figure = d.find_element(By.ID, chart).rect
        for row in rows:
            assert row.is_displayed()
            r = row.rect
            assert r["height"] > 0 and r["y"] + r["height"] <= figure["y"] + figure["height"] + 1
            assert "n = 2 checks" in row.text
    labels = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#chart-gates .label")]
    assert f"support-reply · after draft · gate-6-{'with-a-long-descriptive-name-' * 2}end" in labels
    # The static report shares the chart code: every row there too.
    html = tmp_path / "report.html"
    subprocess.run(
        [SEAM, "report", "--ledger", str(s.folder / "seam-ledger.db"), "--html", str(html)],
        check=True,
        capture_output=True,
    )
    d.get(html.as_uri())
    wait_for(d, "#chart-gates")
    assert len(d.find_elements(By.CSS_SELECTOR, "#chart-gates .row")) == 8
    assert all(r.is_displayed() for r in d.find_elements(By.CSS_SELECTOR, "#chart-latency .row"))


def test_a_form_posted_from_another_site_is_refused(server):
    """No browser needed: what a page on another site could send."""
    import re
    import urllib.parse

    s = server()
    s.start("Bob")
    with urllib.request.urlopen(s.base + "/ui/reviews/1", timeout=10) as page:
        html = page.read().decode()
        csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    token = re.search(r'name="form_token" value="([0-9a-f]{64})"', html).group(1)
    original = re.search(r'name="original" value="([0-9a-f]{64})"', html).group(1)
    form = urllib.parse.urlencode(
        {"form_token": token, "original": original, "decision": "reject", "by": "x"}
    ).encode()

    def post(headers):
        request = urllib.request.Request(
            s.base + "/ui/reviews/1/decide", data=form, method="POST", headers=headers
        )
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(request, timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    status, body = post({"Origin": "http://evil.example"})
    assert status == 403 and "may not act on this server" in body
    status, body = post({"Referer": "http://evil.example/page"})
    assert status == 403
    assert s.api("GET", "/v1/reviews/1")["status"] == "pending"
    status, _ = post({"Origin": s.base})
    assert status == 303
    assert s.api("GET", "/v1/reviews/1")["status"] == "rejected"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
