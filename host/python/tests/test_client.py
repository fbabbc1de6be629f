"""seam.connect: the client for `seam serve`, against the real server (the `seam`
binary) on a free port, answering with the in-process classes."""

import asyncio
import hashlib
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

import seam

REPO = Path(__file__).resolve().parents[3]
SEAM = os.environ.get("SEAM_BIN", str(REPO / "target/debug/seam"))
TOKEN = "seam-test-token-1"
DRAFT_LONG = (REPO / "examples/headphones/draft-1.txt").read_text().strip()
HEADPHONE_GATES = [("max-words", {"max_words": 40}), ("contains", {"required": ["$89"]})]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(SEAM).is_file():
        pytest.fail(f"no seam binary at {SEAM}: run `cargo build --bin seam` (or set SEAM_BIN)")
    d = tmp_path_factory.mktemp("server")
    port = free_port()
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    (d / "seam-server.toml").write_text(f"""
listen = "127.0.0.1:{port}"
ledger = "seam-ledger.db"

[[tokens]]
name = "pytest"
sha256 = "{digest}"
scopes = ["check", "review"]

[seams.reply]
on_fail = "retry"
max_retries = 2
[[seams.reply.gates]]
plugin = "max-words"
settings = {{ max_words = 5 }}
[[seams.reply.gates]]
plugin = "pii"
settings = {{ kinds = ["email"] }}
on_fail = "fix"
""")
    proc = subprocess.Popen(
        [SEAM, "serve", "--config", str(d / "seam-server.toml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    assert "listening on" in line, line
    yield f"http://127.0.0.1:{port}", d / "seam-ledger.db"
    proc.terminate()
    assert proc.wait(timeout=30) == 0


def test_a_seam_check_through_the_server_answers_like_one_in_process(server):
    url, _ = server
    client = seam.connect(url, token=TOKEN)
    assert client.ready() is True
    remote = client.check("reply", "one two three four five six seven")
    assert isinstance(remote, seam.SeamResult)
    assert (remote.seam, remote.passed, remote.decision.action) == ("reply", False, "retry")
    assert remote.decision.feedback == (
        "Your previous answer was rejected:\n"
        "- max-words (length.words): 7 words, at most 5 allowed"
    )
    words = remote.gates[0]
    assert (words.gate, words.plugin, words.policy, words.passed) == (
        "max-words", "max-words", "retry", False,
    )
    assert [(f.code, f.message) for f in words.verdict.findings] == [
        ("length.words", "7 words, at most 5 allowed")
    ]
    fixed = client.check("reply", "Mail ana@example.com")
    assert fixed.decision.action == "fix"
    assert fixed.decision.payload == "Mail [EMAIL]"
    assert fixed.gates[1].verdict.fix == "Mail [EMAIL]"
    assert fixed.gates[1].verdict.findings[0].span.start == 5


def test_ad_hoc_gates_through_the_server(server):
    url, _ = server
    client = seam.connect(url, token=TOKEN)
    remote = client.check_gates(HEADPHONE_GATES, DRAFT_LONG)
    local = seam.Gates(HEADPHONE_GATES).check(DRAFT_LONG)
    assert remote.passed is local.passed is False
    for r, l in zip(remote.gates, local.gates):
        assert (r.gate, r.passed) == (l.gate, l.passed)
        assert [f.message for f in r.verdict.findings] == [f.message for f in l.verdict.findings]


def test_recorded_through_the_server_and_exported(server):
    url, ledger = server
    client = seam.connect(url, token=TOKEN)
    rec = {"pipeline": "support", "run": "py-client-1"}
    first = client.check("reply", "one two three four five six seven", record=rec)
    assert first.recorded.run == "py-client-1"
    client.check("reply", "on its way", attempt=2, record={**rec, "to": "done"})
    rows = seam.export_feedback(ledger, shape="dpo", run="py-client-1")
    assert rows == [{"prompt": "", "chosen": "on its way",
                     "rejected": "one two three four five six seven"}]


def test_batch_asyncio_and_threads(server):
    url, _ = server
    client = seam.connect(url, token=TOKEN)
    results = client.batch("reply", ["fine", "one two three four five six seven", {"x": 1}])
    assert [r.decision.action for r in results] == ["next", "retry", "next"]

    async def main():
        return await asyncio.gather(
            client.acheck("reply", "fine"),
            client.acheck_gates(HEADPHONE_GATES, DRAFT_LONG),
        )

    one, two = asyncio.run(main())
    assert one.passed is True and two.passed is False
    seen = []
    threads = [
        threading.Thread(target=lambda: seen.append(client.check("reply", "fine").passed))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [True] * 8
    assert [s["name"] for s in client.seams()] == ["reply"]


def test_server_errors_are_server_errors_with_status_and_code(server):
    url, _ = server
    with pytest.raises(seam.ServerError) as e:
        seam.connect(url).check("reply", "x")
    assert (e.value.status, e.value.code) == (401, "unauthorized")
    with pytest.raises(seam.ServerError) as e:
        seam.connect(url, token="wrong-token").check("reply", "x")
    assert e.value.status == 401
    with pytest.raises(seam.ServerError) as e:
        seam.connect(url, token=TOKEN).check("replies", "x")
    assert (e.value.status, e.value.code) == (404, "unknown_seam")
    assert "its seams: reply" in str(e.value)
    with pytest.raises(seam.ServerError) as e:
        seam.connect(url, token=TOKEN).check_gates(["max-word"], "x")
    assert (e.value.status, e.value.code) == (422, "invalid_request")
    with pytest.raises(seam.ServerError) as e:
        seam.connect(url, token=TOKEN).check(
            "reply", "x", record={"pipeline": "p", "run": "r", "colour": 1}
        )
    assert e.value.status == 422 and "colour" in str(e.value)
    assert isinstance(e.value, seam.SeamError)
    closed = seam.connect(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(seam.ServerError) as e:
        closed.check("reply", "x")
    assert (e.value.status, e.value.code) == (0, "unreachable")
    assert "cannot reach seam serve" in str(e.value)
    assert closed.ready() is False


def test_bad_client_arguments_are_value_errors():
    for url in ["127.0.0.1:7878", "ftp://x", "http://", "http://x y"]:
        with pytest.raises(ValueError):
            seam.connect(url)
    for timeout in [0, -1, float("nan"), 1e9]:
        with pytest.raises(ValueError):
            seam.connect("http://127.0.0.1:1", timeout=timeout)
    with pytest.raises(ValueError):
        seam.connect("http://127.0.0.1:1", token="has space")
    client = seam.connect("http://127.0.0.1:1/")
    assert client.url == "http://127.0.0.1:1"
    with pytest.raises(ValueError):
        client.check("../admin", "x")
    with pytest.raises(ValueError):
        client.check("reply", "x", attempt=0)
    with pytest.raises(seam.PayloadError):
        client.check("reply", object())
