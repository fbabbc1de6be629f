"""The component's side of the contract: turns a Gate or Router subclass into the
`WitWorld` class componentize-py exports. Imported only inside the component (it
needs the generated `wit_world` bindings); `seam-guest-py build` writes the entry
module that calls `world()`."""

from __future__ import annotations

import json
import traceback
from typing import Any

from componentize_py_types import Err  # type: ignore[import-not-found]
from wit_world.imports import host, types  # type: ignore[import-not-found]

from . import Finding, Gate, GateVerdict, Handoff, Route, Router, Severity, Verdict, parse_settings

_SEVERITY = {
    Severity.INFO: types.Severity.INFO,
    Severity.WARNING: types.Severity.WARNING,
    Severity.ERROR: types.Severity.ERROR,
}


def _failure(during: str, e: BaseException) -> Err:
    """An exception as the plugin's `err`: its type and message; the traceback goes to
    the check's log."""
    try:
        host.log(host.Level.ERROR, "".join(traceback.format_exception(type(e), e, e.__traceback__)))
    except Exception:
        pass
    message = str(e)
    return Err(f"{during}: {type(e).__name__}: {message}" if message else f"{during}: {type(e).__name__}")


def _handoff(h: Any) -> Handoff:
    return Handoff.from_json(
        h.payload, h.context, pipeline=h.pipeline, run_id=h.run_id, from_step=h.from_step, to_step=h.to_step, attempt=h.attempt
    )


def _to_wit(v: Any) -> Any:
    if not isinstance(v, Verdict):
        raise TypeError(f"check returned {type(v).__name__}, not a Verdict")
    findings = []
    for f in v.findings:
        span = None if f.span is None else types.Span(start=int(f.span[0]), end=int(f.span[1]))
        findings.append(
            types.Finding(code=str(f.code), message=str(f.message), path=f.path, span=span, severity=_SEVERITY[Severity(f.severity)])
        )
    fix = None if v.fix is None else json.dumps(v.fix)
    score = None if v.score is None else float(v.score)
    return types.Verdict(passed=bool(v.passed), score=score, findings=findings, fix=fix)


def _from_wit(v: Any) -> Verdict:
    back = {types.Severity.INFO: Severity.INFO, types.Severity.WARNING: Severity.WARNING, types.Severity.ERROR: Severity.ERROR}
    findings = [
        Finding(f.code, f.message, back[f.severity], f.path, None if f.span is None else (f.span.start, f.span.end))
        for f in v.findings
    ]
    return Verdict(findings, passed=v.passed, score=v.score, fix=None if v.fix is None else json.loads(v.fix))


def world(plugin: type) -> type:
    """The `WitWorld` class for `plugin`."""
    state: dict[str, Any] = {}

    def describe(self: Any) -> Any:
        info = plugin.info()
        kind = types.PluginKind.GATE if info["kind"] == "gate" else types.PluginKind.ROUTER
        return types.PluginInfo(
            name=info["name"],
            version=info["version"],
            kind=kind,
            description=info["description"],
            settings_schema=json.dumps(info["settings_schema"]),
        )

    def prepare(self: Any, settings: str) -> None:
        try:
            parsed = parse_settings(plugin.Settings, settings)
            instance = plugin()
            instance.prepare(parsed)
            state["settings"], state["instance"] = parsed, instance
        except Exception as e:
            raise _failure("prepare", e) from None

    def check(self: Any, handoff: Any) -> Any:
        try:
            return _to_wit(state["instance"].check(state["settings"], _handoff(handoff)))
        except Exception as e:
            raise _failure("check", e) from None

    def route(self: Any, handoff: Any, verdicts: list[Any]) -> Any:
        try:
            given = [GateVerdict(v.gate, _from_wit(v.verdict)) for v in verdicts]
            r = state["instance"].route(state["settings"], _handoff(handoff), given)
            if not isinstance(r, Route):
                raise TypeError(f"route returned {type(r).__name__}, not a Route")
            return types.Route(target=str(r.target), reason=str(r.reason))
        except Exception as e:
            raise _failure("route", e) from None

    body: dict[str, Any] = {"describe": describe, "prepare": prepare}
    if issubclass(plugin, Gate):
        body["check"] = check
    elif issubclass(plugin, Router):
        body["route"] = route
    return type("WitWorld", (), body)
