"""The `seam` package in-process: gates, seams and their decisions, recording, async,
threads, and every bad input as the exception that names it."""

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

import seam

REPO = Path(__file__).resolve().parents[3]
DRAFT_LONG = (REPO / "examples/headphones/draft-1.txt").read_text().strip()
DRAFT_GOOD = (REPO / "examples/headphones/draft-2.txt").read_text().strip()
SERVER_TOML = REPO / "examples/server/seam-server.toml"

HEADPHONE_GATES = [("max-words", {"max_words": 40}), ("contains", {"required": ["$89"]})]


def test_the_good_draft_passes_both_gates():
    result = seam.Gates(HEADPHONE_GATES).check(DRAFT_GOOD)
    assert result.passed is True
    assert bool(result) is True
    assert [g.gate for g in result.gates] == ["max-words", "contains"]
    for g in result.gates:
        assert g.passed is True
        assert g.error is None
        assert g.verdict.passed is True
        assert g.verdict.findings == []
        assert isinstance(g.duration_us, int) and g.duration_us > 0


def test_the_long_draft_fails_with_exact_findings():
    result = seam.Gates(HEADPHONE_GATES).check(DRAFT_LONG)
    assert result.passed is False
    words, price = result.gates
    assert words.plugin == "max-words"
    assert [(f.code, f.message, f.severity) for f in words.verdict.findings] == [
        ("length.words", "46 words, at most 40 allowed", "error")
    ]
    assert price.verdict.passed is False
    finding = price.verdict.findings[0]
    assert finding.code == "contains.missing"
    assert "$89" in finding.message
    assert repr(result) == (
        'CheckResult(passed=False, gates=[GateCheck("max-words", passed=False), '
        'GateCheck("contains", passed=False)])'
    )


def test_gates_are_given_as_names_tuples_dicts_or_a_mapping():
    forms = [
        [("max-words", {"max_words": 3})],
        [{"gate": "max-words", "settings": {"max_words": 3}}],
        {"max-words": {"max_words": 3}},
    ]
    for form in forms:
        gates = seam.Gates(form)
        assert gates.names == ["max-words"]
        assert len(gates) == 1
        assert gates.check("one two three four").passed is False
    assert seam.Gates("pii").names == ["pii"]
    assert seam.Gates(["pii", "max-words"]).names == ["pii", "max-words"]


def test_spans_point_into_the_text_and_fixes_are_python_values():
    text = "Mail ana@example.com today"
    result = seam.Gates([("pii", {"kinds": ["email"]})]).check(text)
    (finding,) = result.gates[0].verdict.findings
    assert finding.span is not None
    assert text.encode()[finding.span.start : finding.span.end] == b"ana@example.com"
    assert result.gates[0].verdict.fix == "Mail [EMAIL] today"
    doc = {"to": "ana@example.com", "n": 1}
    fixed = seam.Gates([("pii", {"kinds": ["email"]})]).check(doc).gates[0].verdict.fix
    assert fixed == {"to": "[EMAIL]", "n": 1}


def test_json_payloads_are_checked_as_json():
    schema = {
        "type": "object",
        "required": ["order_id", "amount"],
        "properties": {"amount": {"type": "number", "maximum": 500}},
    }
    gates = seam.Gates([("json-schema", {"schema": schema})])
    assert gates.check({"order_id": "A1", "amount": 20}).passed is True
    bad = gates.check({"order_id": "A1", "amount": 900})
    assert bad.passed is False
    assert bad.gates[0].verdict.findings[0].path == "/amount"


def test_unknown_gates_and_bad_settings_are_exceptions_that_say_what_to_do():
    with pytest.raises(seam.LoadError) as e:
        seam.Gates(["max-word"])
    assert "did you mean `max-words`?" in str(e.value)
    assert not isinstance(e.value, seam.SettingsError)
    with pytest.raises(seam.SettingsError) as e:
        seam.Gates([("max-words", {"max_words": "forty"})])
    assert "settings for plugin `max-words` are invalid" in str(e.value)
    assert "/max_words" in str(e.value)
    assert isinstance(e.value, seam.LoadError) and isinstance(e.value, seam.SeamError)
    with pytest.raises(seam.SettingsError) as e:
        seam.Gates([("regex", {"must_match": ["("]})])
    assert "refused its settings" in str(e.value)
    with pytest.raises(seam.LoadError) as e:
        seam.Gates([str(REPO / "README.md")])
    assert "plugin `README` is not WebAssembly" in str(e.value)
    with pytest.raises(seam.LoadError) as e:
        seam.Gates(["nobundle/pii"])
    assert "nobundle" in str(e.value)


def test_malformed_gate_lists_are_type_errors_naming_the_item():
    for bad, where in [
        ([("max-words",)], "gates[0]"),
        ([1], "gates[0]"),
        (["pii", {"settings": {}}], "gates[1]"),
        ([{"gate": "pii", "colour": 1}], "unknown key `colour`"),
        (42, "give a list of gates"),
    ]:
        with pytest.raises(TypeError) as e:
            seam.Gates(bad)
        assert where in str(e.value), (bad, str(e.value))
    with pytest.raises(ValueError):
        seam.Gates([])
    with pytest.raises(ValueError) as e:
        seam.Gates(["pii"], deadline_ms=0)
    assert "deadline_ms" in str(e.value)
    with pytest.raises(ValueError) as e:
        seam.Gates(["pii"], memory_mib=1 << 30)
    assert "memory_mib" in str(e.value)


def test_payloads_that_are_not_json_are_payload_errors():
    gates = seam.Gates(["pii"])
    for bad in [object(), float("nan"), {"x": float("inf")}, {1j: 2}, b"bytes"]:
        with pytest.raises(seam.PayloadError) as e:
            gates.check(bad)
        assert "the payload is not JSON-serializable" in str(e.value)
    with pytest.raises(seam.PayloadError) as e:
        gates.check("fine", context=object())
    assert "the context" in str(e.value)
    big = "x " * (3 << 20)
    result = gates.check(big)
    assert result.passed is False
    assert result.gates[0].error.kind == "payload-too-large"
    assert "over the" in result.gates[0].error.message


def test_settings_that_are_not_json_are_payload_errors():
    with pytest.raises(seam.PayloadError) as e:
        seam.Gates([("max-words", {"max_words": object()})])
    assert "gates[0] settings" in str(e.value)


REPLY = {
    "on_fail": "retry",
    "max_retries": 2,
    "gates": [
        {"plugin": "max-words", "settings": {"max_words": 5}},
        {"name": "no-refunds", "plugin": "ban-list", "settings": {"words": ["refund"]},
         "on_fail": "block"},
    ],
}


def test_a_seam_decides_next_retry_with_feedback_and_reject():
    reply = seam.Seam("reply", REPLY)
    assert reply.name == "reply"
    assert reply.gates == ["max-words", "no-refunds"]
    ok = reply.check("thanks, on its way")
    assert (ok.passed, ok.decision.action, ok.decision.decided_by) == (True, "next", "policy")
    long = reply.check("one two three four five six seven")
    assert long.decision.action == "retry"
    assert long.decision.feedback == (
        "Your previous answer was rejected:\n"
        "- max-words (length.words): 7 words, at most 5 allowed"
    )
    assert long.decision.findings[0]["code"] == "length.words"
    assert [g.policy for g in long.gates] == ["retry", "block"]
    exhausted = reply.check("one two three four five six seven", attempt=3)
    assert exhausted.decision.action == "reject"
    refund = reply.check("no refund")
    assert refund.decision.action == "reject"
    assert "no-refunds" in refund.decision.reason
    assert repr(refund) == 'SeamResult("reply", passed=False, action="reject")'


def test_a_seam_fixes_escalates_and_routes():
    redact = seam.Seam("redact", {"on_fail": "fix", "gates": [{"plugin": "pii"}]})
    fixed = redact.check("Write to ana@example.com")
    assert fixed.decision.action == "fix"
    assert fixed.decision.gate == "pii"
    assert fixed.decision.payload == "Write to [EMAIL]"
    # A fixed JSON payload comes back as the Python values json.loads gives, types and
    # all: ints (beyond 64 bits as floats, as seam reads them), floats, bools, None,
    # nested lists and objects, non-ASCII text.
    doc = {"to": "ana@example.com", "n": -7, "big": 18446744073709551615,
           "huge": 123456789012345678901234567890, "ratio": 0.25, "ok": True,
           "none": None, "list": [1, "Grüße", {"x": []}], "nested": {"y": False}}
    payload = redact.check(doc).decision.payload
    assert payload == {**doc, "to": "[EMAIL]", "huge": 1.2345678901234568e29}
    assert [type(payload[k]) for k in ("n", "big", "huge", "ratio", "ok", "none")] == [
        int, int, float, float, bool, type(None)]
    human = seam.Seam(
        "review",
        {"on_fail": "escalate",
         "gates": [{"plugin": "contains", "settings": {"required": ["$89"]}}]},
    ).check("no price")
    assert human.decision.action == "human"
    assert human.decision.findings == [
        {"code": "contains.missing", "gate": "contains", "message": 'required text "$89" not found',
         "path": "", "severity": "error"}]
    triage = seam.Seam(
        "triage",
        {
            "routes": ["research"],
            "gates": [{"plugin": "contains", "settings": {"required": ["source:"]}}],
            "router": {"plugin": "verdict-router",
                       "settings": {"rules": [{"outcome": "failed", "route": "research"}]}},
        },
    ).check("no sources here")
    assert triage.decision.action == "route"
    assert triage.decision.target == "research"
    assert triage.route.router == "verdict-router"
    assert triage.route.target == "research"


def test_a_seam_from_the_server_configuration():
    reply = seam.Seam.from_file(SERVER_TOML, "reply")
    assert reply.gates == ["max-words", "ban-list", "pii"]
    assert reply.check("Write to ana@example.com").decision.payload == "Write to [EMAIL]"
    tool = seam.Seam.from_file(str(SERVER_TOML), "tool-args")
    assert tool.check({"order_id": "A17", "amount": 900}).decision.action == "reject"


def test_seam_configuration_mistakes_are_config_errors_at_their_place(tmp_path):
    with pytest.raises(seam.ConfigError) as e:
        seam.Seam("x", {"on_fail": "shrug", "gates": [{"plugin": "pii"}]})
    assert str(e.value).startswith("seam `x`: unknown policy `shrug`")
    with pytest.raises(seam.ConfigError) as e:
        seam.Seam("x", {"gates": [{"plugin": "pii", "colour": 1}]})
    assert "unknown field `colour`" in str(e.value)
    with pytest.raises(seam.ConfigError) as e:
        seam.Seam("x", {})
    assert "has no gates and no router" in str(e.value)
    with pytest.raises(seam.ConfigError) as e:
        seam.Seam("x", ["not", "a", "mapping"])
    assert "must be a mapping" in str(e.value)
    with pytest.raises(seam.ConfigError) as e:
        seam.Seam("x", {"description": None, "gates": [{"plugin": "pii"}]})
    assert "TOML has no null" in str(e.value)
    with pytest.raises(seam.ConfigError) as e:
        seam.Seam.from_file(SERVER_TOML, "nope")
    assert "no seam `nope`" in str(e.value) and "reply, tool-args" in str(e.value)
    bad = tmp_path / "bad.toml"
    bad.write_text('[seams.s]\non_fail = "retry"\ngates = [{ plugin = "max-word" }]\n')
    with pytest.raises(seam.ConfigError) as e:
        seam.Seam.from_file(bad, "s")
    assert str(e.value).startswith(f"{bad}:3:21: ")
    with pytest.raises(seam.ConfigError) as e:
        seam.Seam.from_file(tmp_path / "missing.toml", "s")
    assert "cannot read" in str(e.value)
    broken = tmp_path / "broken.toml"
    broken.write_text("[seams.s\n")
    with pytest.raises(seam.ConfigError) as e:
        seam.Seam.from_file(broken, "s")
    assert str(e.value).startswith(f"{broken}:1:")
    with pytest.raises(ValueError):
        seam.Seam("reply", REPLY).check("x", attempt=0)


def test_recorded_checks_land_in_the_ledger_as_an_outside_run(tmp_path):
    ledger = tmp_path / "seam-ledger.db"
    reply = seam.Seam("reply", REPLY, ledger=ledger)
    first = reply.check(
        "one two three four five six seven",
        record={"pipeline": "support", "run": "conv-1"},
    )
    assert first.decision.action == "retry"
    assert first.recorded.pipeline == "support"
    assert first.recorded.run == "conv-1"
    assert first.recorded.review_id is None
    second = reply.check(
        "thanks",
        attempt=2,
        record={"pipeline": "support", "run": "conv-1", "to": "done"},
    )
    assert second.recorded.handoff_id > first.recorded.handoff_id
    db = sqlite3.connect(ledger)
    assert db.execute("SELECT pipeline, status FROM runs WHERE id = 'conv-1'").fetchall() == [
        ("support", "completed")
    ]
    assert db.execute("SELECT count(*) FROM verdicts").fetchone() == (4,)
    with pytest.raises(ValueError) as e:
        reply.check("x", record={"pipeline": "support"})
    assert "run" in str(e.value)
    with pytest.raises(ValueError) as e:
        reply.check("x", record={"pipeline": "", "run": "r"})
    assert "record.pipeline" in str(e.value)
    with pytest.raises(seam.LedgerError) as e:
        reply.check("x", record={"pipeline": "other", "run": "conv-1"})
    assert "belongs to pipeline `support`" in str(e.value)
    with pytest.raises(seam.LedgerError) as e:
        seam.Seam("reply", REPLY).check("x", record={"pipeline": "p", "run": "r"})
    assert "record needs a ledger" in str(e.value)
    with pytest.raises(seam.LedgerError) as e:
        seam.Seam("reply", REPLY, ledger=tmp_path)
    assert f"opening the ledger {tmp_path}" in str(e.value)


def test_acheck_runs_checks_concurrently_for_asyncio():
    gates = seam.Gates(HEADPHONE_GATES)
    reply = seam.Seam("reply", REPLY)

    async def main():
        return await asyncio.gather(
            gates.acheck(DRAFT_GOOD),
            gates.acheck(DRAFT_LONG),
            reply.acheck("one two three four five six seven", attempt=1),
        )

    good, long, retry = asyncio.run(main())
    assert (good.passed, long.passed) == (True, False)
    assert retry.decision.action == "retry"


def test_threads_check_in_parallel_with_the_gil_released():
    gates = seam.Gates(HEADPHONE_GATES)
    results = {}

    def work(i):
        results[i] = gates.check(DRAFT_GOOD if i % 2 else DRAFT_LONG).passed

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: bool(i % 2) for i in range(16)}


def test_the_package_names_its_standard_plugins_and_version():
    assert seam.standard_plugins() == [
        "ban-list", "brand-voice", "contains", "json-schema", "max-words", "pii", "regex",
        "verdict-router",
    ]
    assert seam.__version__ == "0.1.0"
    assert issubclass(seam.SettingsError, seam.LoadError)
    for error in [seam.LoadError, seam.ConfigError, seam.PayloadError, seam.LedgerError]:
        assert issubclass(error, seam.SeamError)
