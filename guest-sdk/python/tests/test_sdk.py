"""The Python SDK natively: settings schemas and strict parsing, handoff texts and
spans, verdicts, the native test helper's checks, and plugin discovery. No build."""

import dataclasses
import enum
import json
import types
from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest

import seam_guest
from seam_guest import Finding, Gate, GateVerdict, Handoff, Route, Router, Severity, SettingsError, Text, Verdict
from seam_guest import testing


class Tone(enum.Enum):
    PLAIN = "plain"
    WARM = "warm"


@dataclass
class Limits:
    words: int = 40


@dataclass
class Settings:
    """Settings of a test gate."""

    banned: list[str]
    max_chars: int = field(default=280, metadata={"description": "Most characters allowed."})
    ratio: float = 0.5
    strict: bool = False
    mode: Literal["any", "all"] = "any"
    tone: Tone = Tone.PLAIN
    note: Optional[str] = None
    limits: Limits = field(default_factory=Limits)


def test_the_schema_comes_from_the_dataclass():
    schema = seam_guest.settings_schema(Settings)
    assert schema == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Settings",
        "description": "Settings of a test gate.",
        "type": "object",
        "additionalProperties": False,
        "required": ["banned"],
        "properties": {
            "banned": {"type": "array", "items": {"type": "string"}},
            "max_chars": {"type": "integer", "default": 280, "description": "Most characters allowed."},
            "ratio": {"type": "number", "default": 0.5},
            "strict": {"type": "boolean", "default": False},
            "mode": {"enum": ["any", "all"], "default": "any"},
            "tone": {"enum": ["plain", "warm"], "default": "plain"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "limits": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"words": {"type": "integer", "default": 40}},
                "default": {"words": 40},
            },
        },
    }
    json.dumps(schema)  # the host reads it as JSON text
    assert seam_guest.settings_schema(None) == {"type": "object", "additionalProperties": False}


def test_settings_are_parsed_strictly_naming_the_field():
    s = seam_guest.parse_settings(Settings, {"banned": ["x"], "ratio": 1, "tone": "warm", "limits": {"words": 3}})
    assert s == Settings(banned=["x"], ratio=1.0, tone=Tone.WARM, limits=Limits(words=3))
    assert seam_guest.parse_settings(Settings, '{"banned": []}').max_chars == 280
    bad = [
        ({}, "settings: missing field `banned` (list)"),
        ({"banned": [], "extra": 1}, "settings: unknown field `extra`; Settings has: banned, max_chars"),
        ({"banned": "x"}, "settings `banned`: expected a list, got \"x\""),
        ({"banned": [1]}, "settings `banned[0]`: expected a string, got 1"),
        ({"banned": [], "max_chars": "9"}, "settings `max_chars`: expected an integer, got \"9\""),
        ({"banned": [], "max_chars": True}, "settings `max_chars`: expected an integer, got true"),
        ({"banned": [], "strict": 1}, "settings `strict`: expected true or false, got 1"),
        ({"banned": [], "mode": "some"}, "settings `mode`: expected one of \"any\", \"all\", got \"some\""),
        ({"banned": [], "tone": "cold"}, "settings `tone`: expected one of \"plain\", \"warm\", got \"cold\""),
        ({"banned": [], "note": 3}, "settings `note`: expected a string or null, got 3"),
        ({"banned": [], "limits": {"lines": 1}}, "settings: unknown field `limits.lines`; Limits has: words"),
        ([], "settings: expected an object, got []"),
    ]
    for value, message in bad:
        with pytest.raises(SettingsError) as e:
            seam_guest.parse_settings(Settings, value)
        assert str(e.value).startswith(message), (value, str(e.value))
    with pytest.raises(SettingsError, match=r"^settings: this plugin takes none, got \{\"a\": 1\}$"):
        seam_guest.parse_settings(None, {"a": 1})
    assert seam_guest.parse_settings(None, "{}") is None


def test_an_unsupported_settings_type_is_named():
    @dataclass
    class Odd:
        when: complex = 1j

    with pytest.raises(TypeError, match=r"settings field `when`: type <class 'complex'> has no JSON Schema"):
        seam_guest.settings_schema(Odd)
    with pytest.raises(TypeError, match="Settings must be a dataclass"):
        seam_guest.settings_schema(dict)


def test_texts_walk_every_string_with_escaped_pointers():
    h = Handoff({"a/b": ["x", {"c~d": "y"}, 3], "e": "z"})
    assert h.texts("") == [Text("/a~1b/0", "x"), Text("/a~1b/1/c~0d", "y"), Text("/e", "z")]
    assert h.texts("/a~1b/1") == [Text("/a~1b/1/c~0d", "y")]
    assert Handoff("plain").texts() == [Text("", "plain")]
    for pointer in ["/missing", "/a~1b/7", "/a~1b/01", "e"]:
        with pytest.raises(LookupError):
            h.texts(pointer)


def test_spans_are_utf8_byte_offsets_of_character_ranges():
    t = Text("", "héllo wörld")
    assert t.byte_span(6, 11) == (7, 13)
    f = Finding.warning("w", "m").at(t, 6, 11)
    assert (f.path, f.span, f.severity) == ("", (7, 13), Severity.WARNING)
    assert Finding.error("e", "m").at(t, 6).span == (7, 13)
    with pytest.raises(ValueError, match=r"span 3\.\.99 is not inside the 11-character string"):
        t.byte_span(3, 99)
    with pytest.raises(TypeError, match="a span needs the Text itself"):
        Finding.info("i", "m").at("/x", 1, 2)


def test_a_verdict_fails_on_its_first_error_finding():
    v = Verdict()
    assert v.passed
    v.add(Finding.warning("w", "m"))
    assert v.passed
    v.add(Finding.error("e", "m"))
    assert (v.passed, v.codes, v.has("e")) == (False, ["w", "e"], True)
    v.passed = True
    assert v.passed
    with pytest.raises(TypeError, match="Verdict.add takes a Finding, not str"):
        Verdict().add("oops")


def test_payload_with_replaces_strings_for_a_fix():
    h = Handoff({"a": ["x", "y"], "b/c": "z"})
    assert h.payload_with({"/a/1": "Y", "/b~1c": "Z"}) == {"a": ["x", "Y"], "b/c": "Z"}
    assert h.payload == {"a": ["x", "y"], "b/c": "z"}


@dataclass
class MaxSettings:
    max_chars: int = 5


class MaxChars(Gate):
    name = "max-chars"
    description = "Fails long text."
    Settings = MaxSettings

    def prepare(self, settings):
        if settings.max_chars < 0:
            raise ValueError("max_chars must be 0 or more")
        self.limit = settings.max_chars

    def check(self, settings, handoff):
        v = Verdict()
        for t in handoff.texts():
            if len(t.text) > self.limit:
                v.add(Finding.error("length.chars", f"{len(t.text)} characters").at(t, self.limit))
        return v


def test_the_native_helper_prepares_and_checks_like_the_host():
    v = testing.check(MaxChars, {"max_chars": 3}, {"reply": "héllo"})
    assert (v.passed, v.codes, v.findings[0].path, v.findings[0].span) == (False, ["length.chars"], "/reply", (4, 6))
    assert testing.check(MaxChars, None, "short").passed
    with pytest.raises(ValueError, match="max_chars must be 0 or more"):
        testing.check(MaxChars, {"max_chars": -1}, "x")
    with pytest.raises(SettingsError, match="unknown field `max`"):
        testing.check(MaxChars, {"max": 1}, "x")
    assert testing.describe(MaxChars) == {
        "name": "max-chars",
        "version": "0.1.0",
        "kind": "gate",
        "description": "Fails long text.",
        "settings_schema": seam_guest.settings_schema(MaxSettings),
    }


def test_the_native_helper_refuses_what_the_host_would():
    class Bad(Gate):
        name = "bad"
        outcome = None

        def check(self, settings, handoff):
            return type(self).outcome

    cases = [
        ("nothing", "check returned NoneType, not a Verdict"),
        (Verdict([Finding.error("x", "m").at("/nope")]), "finding `x`: path `/nope` is not in the payload"),
        (Verdict([Finding("x", "m", Severity.ERROR, "", (0, 99))]), "finding `x`: span 0..99 is not inside the 2-byte string"),
        (Verdict([Finding("x", "m", Severity.ERROR, "", (0, 1))]), "finding `x`: span 0..1 splits a character"),
        (Verdict(fix=float("nan")), "the fix is not JSON"),
        (Verdict(score=2.0), "score 2.0 is not in [0, 1]"),
    ]
    for outcome, message in cases:
        Bad.outcome = None if outcome == "nothing" else outcome
        with pytest.raises(AssertionError) as e:
            testing.check(Bad, {}, "é")
        assert str(e.value).startswith(message), str(e.value)


def test_a_router_routes_natively():
    class OnFailure(Router):
        name = "on-failure"

        def route(self, settings, handoff, verdicts):
            failed = [v.gate for v in verdicts if not v.verdict.passed]
            return Route("retry", f"{failed[0]} failed") if failed else Route("next", "all passed")

    failed = GateVerdict("g", Verdict([Finding.error("x", "m")]))
    assert testing.route(OnFailure, {}, "x", [failed]) == Route("retry", "g failed")
    assert testing.route(OnFailure, {}, "x", []) == Route("next", "all passed")
    assert OnFailure.info()["kind"] == "router"


def test_a_plugin_needs_a_kebab_case_name_and_a_module_exactly_one_plugin():
    class Unnamed(Gate):
        pass

    with pytest.raises(ValueError, match=r"Unnamed.name = '': give the plugin a kebab-case name"):
        Unnamed.info()
    module = types.ModuleType("two")
    for n in ["A", "B"]:
        module.__dict__[n] = type(n, (Gate,), {"__module__": "two", "name": n.lower()})
    with pytest.raises(ValueError, match="two: a plugin module defines exactly one Gate or Router subclass; found A, B"):
        seam_guest.plugin_of(module)
    empty = types.ModuleType("empty")
    with pytest.raises(ValueError, match="found none"):
        seam_guest.plugin_of(empty)


def test_the_packaged_contract_is_the_repositorys():
    from pathlib import Path

    packaged = (Path(seam_guest.__file__).parent / "wit" / "seam.wit").read_text()
    repo = Path(__file__).resolve().parents[3] / "wit" / "seam.wit"
    assert packaged == repo.read_text()
    assert f"package seam:plugin@{seam_guest.CONTRACT};" in packaged
    assert dataclasses.is_dataclass(Settings)


def test_log_goes_to_stderr_natively_and_refuses_unknown_levels(capsys):
    seam_guest.log("prepared 3 patterns")
    seam_guest.log("odd", "warn")
    assert capsys.readouterr().err == "[info] prepared 3 patterns\n[warn] odd\n"
    with pytest.raises(ValueError, match=r"log level 'loud': use one of trace, debug, info, warn, error"):
        seam_guest.log("x", "loud")
