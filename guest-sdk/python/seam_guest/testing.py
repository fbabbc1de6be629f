"""Run a plugin natively, in plain CPython, the way the host would call it: no build,
so the edit-test loop takes a fraction of a second.

    from seam_guest.testing import check
    verdict = check(MaxChars, {"max_chars": 3}, "four")
    assert verdict.codes == ["length.chars"]

Settings go through the same strict parsing as in the component, and the verdict
through the same shape checks as in the host (every path resolves, every span lies
inside its string on character boundaries, the fix is JSON). An exception in the
plugin is raised as it is, with its traceback, where the component would answer `err`.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from . import GateVerdict, Handoff, Route, Verdict, _resolve, parse_settings


def prepare(plugin: type, settings: Any = None) -> Any:
    """An instance of `plugin` prepared with `settings` (a dict or JSON text)."""
    parsed = parse_settings(plugin.Settings, {} if settings is None else settings)
    instance = plugin()
    instance.prepare(parsed)
    instance._seam_settings = parsed
    return instance


def _handoff(payload: Any, context: Any) -> Handoff:
    if isinstance(payload, Handoff):
        return payload
    # The host sends JSON: a payload that does not survive JSON is not one it can send.
    return Handoff(json.loads(json.dumps(payload)), context)


def check(plugin: type, settings: Any = None, payload: Any = None, context: Any = None) -> Verdict:
    """Prepares `plugin` with `settings` and checks `payload` (any JSON value, or a
    `Handoff`)."""
    instance = plugin if not isinstance(plugin, type) else prepare(plugin, settings)
    handoff = _handoff(payload, context)
    verdict = instance.check(instance._seam_settings, handoff)
    assert_well_formed(verdict, handoff)
    return verdict


def route(plugin: type, settings: Any = None, payload: Any = None, verdicts: Iterable[GateVerdict] = (), context: Any = None) -> Route:
    """Prepares a router with `settings` and asks where `payload` goes."""
    instance = prepare(plugin, settings)
    r = instance.route(instance._seam_settings, _handoff(payload, context), list(verdicts))
    if not isinstance(r, Route):
        raise AssertionError(f"route returned {type(r).__name__}, not a Route")
    return r


def assert_well_formed(verdict: Any, handoff: Handoff) -> None:
    """Raises AssertionError, naming the finding, where the host would refuse the
    verdict."""
    if not isinstance(verdict, Verdict):
        raise AssertionError(f"check returned {type(verdict).__name__}, not a Verdict")
    for f in verdict.findings:
        if f.path is not None:
            try:
                value = _resolve(handoff.payload, f.path)
            except LookupError:
                raise AssertionError(f"finding `{f.code}`: path `{f.path}` is not in the payload") from None
        if f.span is not None:
            text = value if f.path is not None else handoff.payload
            if not isinstance(text, str):
                raise AssertionError(f"finding `{f.code}` has a span but path `{f.path or ''}` is not a string")
            raw = text.encode("utf-8")
            start, end = f.span
            if not 0 <= start <= end <= len(raw):
                raise AssertionError(f"finding `{f.code}`: span {start}..{end} is not inside the {len(raw)}-byte string at `{f.path or ''}`")
            try:
                raw[:start].decode("utf-8")
                raw[start:end].decode("utf-8")
            except UnicodeDecodeError:
                raise AssertionError(f"finding `{f.code}`: span {start}..{end} splits a character") from None
    if verdict.fix is not None:
        try:
            json.dumps(verdict.fix, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise AssertionError(f"the fix is not JSON: {e}") from None
    if verdict.score is not None and not 0.0 <= float(verdict.score) <= 1.0:
        raise AssertionError(f"score {verdict.score} is not in [0, 1]")


def describe(plugin: type) -> dict[str, Any]:
    """What the plugin will tell the host: name, version, kind, description, settings
    schema."""
    return plugin.info()
