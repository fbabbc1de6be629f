"""The LangGraph example runs offline (write → verify → retry with feedback → verify →
publish), and the helpers turn a seam's decision into the state update and the edge."""

import subprocess
import sys
from pathlib import Path

import seam
from seam.langgraph import route_on, update_from, verify_node

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples/langgraph/graph.py"


def test_the_example_retries_with_seams_feedback_then_publishes():
    run = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "write    attempt 1: 46 words"
    assert lines[1] == (
        "verify   retry: Your previous answer was rejected: "
        "| - max-words (length.words): 46 words, at most 40 allowed "
        '| - contains (contains.missing): required text "$89" not found'
    )
    assert lines[2] == "write    attempt 2: 23 words"
    assert lines[3] == "verify   next"
    assert lines[4].startswith("publish  Block the noise, keep the music. These $89")
    assert len(lines) == 5


SEAM = {
    "on_fail": "retry",
    "max_retries": 1,
    "gates": [
        {"plugin": "max-words", "settings": {"max_words": 3}},
        {"plugin": "pii", "settings": {"kinds": ["email"]}, "on_fail": "fix"},
    ],
}


def test_the_verify_node_updates_the_state_by_the_decision():
    reply = seam.Seam("reply", SEAM)
    verify = verify_node(reply)
    route = route_on(reply)
    state = {"draft": "one two three four", "attempt": 1}
    state.update(verify(state))
    assert (state["decision"], state["attempt"], route(state)) == ("retry", 2, "retry")
    assert state["feedback"].startswith("Your previous answer was rejected:")
    state.update(verify(state))
    assert (state["decision"], route(state)) == ("reject", "reject")
    state = {"draft": "mail a@b.co", "attempt": 1}
    state.update(verify(state))
    assert (state["decision"], state["draft"], route(state)) == ("fix", "mail [EMAIL]", "next")
    ok = {"draft": "fine", "attempt": 1}
    ok.update(verify(ok))
    assert (ok["decision"], ok["feedback"], ok["attempt"], route(ok)) == ("next", "", 1, "next")


def test_update_from_names_the_route_target():
    triage = seam.Seam("triage", {
        "routes": ["research"],
        "gates": [{"plugin": "contains", "settings": {"required": ["source:"]}}],
        "router": {"plugin": "verdict-router",
                   "settings": {"rules": [{"outcome": "failed", "route": "research"}]}},
    })
    state = {"draft": "no sources"}
    update = update_from(triage.check(state["draft"]), state)
    assert (update["decision"], update["route"]) == ("route", "research")
    assert route_on()({**state, **update}) == "research"
