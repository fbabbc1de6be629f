"""Write seam gates and routers in Python.

A gate is a class with a `Settings` dataclass and a `check(settings, handoff)` that
returns a `Verdict`:

    from dataclasses import dataclass, field
    from seam_guest import Gate, Finding, Verdict

    @dataclass
    class Settings:
        max_chars: int = field(default=280, metadata={"description": "Most characters allowed."})

    class MaxChars(Gate):
        name = "max-chars"
        description = "Fails text longer than max_chars characters."
        Settings = Settings

        def check(self, settings, handoff):
            verdict = Verdict()
            for t in handoff.texts(""):
                if len(t.text) > settings.max_chars:
                    verdict.add(Finding.error("length.chars", f"{len(t.text)} characters").at(t))
            return verdict

`seam_guest.testing.check(MaxChars, {"max_chars": 3}, "four")` runs it in plain
CPython; `seam-guest-py build gate.py` makes the component the seam host runs. Setup
to do once per settings (compiling patterns, loading tables) goes in `prepare(self,
settings)`, which keeps what it made on `self`.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
from typing import Any, Iterable

__all__ = [
    "Finding",
    "Gate",
    "GateVerdict",
    "Handoff",
    "Route",
    "Router",
    "SettingsError",
    "Severity",
    "Text",
    "Verdict",
    "parse_settings",
    "pointer_escape",
    "settings_schema",
    "log",
]

# The contract the SDK's build targets (seam_guest/wit/seam.wit).
CONTRACT = "0.2.0"


class Severity(str, enum.Enum):
    """How much a finding matters: only `ERROR` fails a verdict by itself."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclasses.dataclass(frozen=True)
class Text:
    """A string inside the payload, with the JSON pointer that locates it."""

    pointer: str
    text: str

    def byte_span(self, start: int, end: int) -> tuple[int, int]:
        """Character offsets `start..end` of `text` as the UTF-8 byte offsets a span
        carries."""
        if not 0 <= start <= end <= len(self.text):
            raise ValueError(
                f"span {start}..{end} is not inside the {len(self.text)}-character string at `{self.pointer}`"
            )
        before = len(self.text[:start].encode("utf-8"))
        return before, before + len(self.text[start:end].encode("utf-8"))


@dataclasses.dataclass
class Finding:
    """One thing a gate found. Build one with `Finding.error/warning/info`, then point
    it at a string with `.at(text)` or `.at(text, start, end)`."""

    code: str
    message: str
    severity: Severity = Severity.ERROR
    # JSON pointer into the payload; None: not about one value.
    path: str | None = None
    # UTF-8 byte offsets [start, end) in the string at `path`.
    span: tuple[int, int] | None = None

    @classmethod
    def error(cls, code: str, message: str) -> Finding:
        return cls(code, message, Severity.ERROR)

    @classmethod
    def warning(cls, code: str, message: str) -> Finding:
        return cls(code, message, Severity.WARNING)

    @classmethod
    def info(cls, code: str, message: str) -> Finding:
        return cls(code, message, Severity.INFO)

    def at(self, where: Text | str, start: int | None = None, end: int | None = None) -> Finding:
        """Points the finding at a `Text` (or a JSON pointer), and with `start` and
        `end` at those characters of it (converted to the byte span the host wants)."""
        if isinstance(where, Text):
            self.path = where.pointer
            if start is not None or end is not None:
                s = 0 if start is None else start
                self.span = where.byte_span(s, len(where.text) if end is None else end)
        else:
            if start is not None or end is not None:
                raise TypeError("a span needs the Text itself: .at(text, start, end)")
            self.path = where
        return self


class Verdict:
    """A gate's answer. It passes until an error finding is added (or `passed` is
    set); a failed verdict is the gate doing its job, not an error."""

    def __init__(
        self,
        findings: Iterable[Finding] = (),
        *,
        passed: bool | None = None,
        score: float | None = None,
        fix: Any = None,
    ) -> None:
        self.findings: list[Finding] = []
        self._passed = passed
        self.score = score
        # A repaired payload the gate would pass (any JSON value), or None.
        self.fix = fix
        for f in findings:
            self.add(f)

    @property
    def passed(self) -> bool:
        if self._passed is not None:
            return self._passed
        return not any(f.severity == Severity.ERROR for f in self.findings)

    @passed.setter
    def passed(self, value: bool) -> None:
        self._passed = bool(value)

    def add(self, finding: Finding) -> Verdict:
        if not isinstance(finding, Finding):
            raise TypeError(f"Verdict.add takes a Finding, not {type(finding).__name__}")
        self.findings.append(finding)
        return self

    def has(self, code: str) -> bool:
        return any(f.code == code for f in self.findings)

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def __repr__(self) -> str:
        return f"Verdict(passed={self.passed}, findings={self.findings!r}, score={self.score!r}, fix={self.fix!r})"


@dataclasses.dataclass
class GateVerdict:
    """One gate's verdict, as a router sees it."""

    gate: str
    verdict: Verdict


@dataclasses.dataclass
class Route:
    """Where a handoff goes next: a step name, or `next`, `retry`, `human`, `done`,
    `reject`; and why, in one sentence."""

    target: str
    reason: str


class PointerError(LookupError):
    """Nothing in the payload at a JSON pointer."""


def pointer_escape(token: str) -> str:
    """Escapes one JSON pointer token (RFC 6901: `~` to `~0`, `/` to `~1`)."""
    return token.replace("~", "~0").replace("/", "~1")


def _resolve(value: Any, pointer: str) -> Any:
    if pointer == "":
        return value
    if not pointer.startswith("/"):
        raise PointerError(f"`{pointer}` is not a JSON pointer: it starts with / (or is empty)")
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and (token == "0" or not token.startswith("0")) and int(token) < len(value):
            value = value[int(token)]
        else:
            raise PointerError(f"the payload has no value at JSON pointer `{pointer}`")
    return value


class Handoff:
    """One handoff between two pipeline steps: the payload (parsed JSON), the context
    the upstream step was given, and where it sits in its run."""

    def __init__(
        self,
        payload: Any,
        context: Any = None,
        *,
        pipeline: str = "",
        run_id: str = "",
        from_step: str = "",
        to_step: str = "",
        attempt: int = 1,
    ) -> None:
        self.payload = payload
        self.context = context
        self.pipeline = pipeline
        self.run_id = run_id
        self.from_step = from_step
        self.to_step = to_step
        self.attempt = attempt

    @classmethod
    def from_json(cls, payload: str, context: str = "null", **where: Any) -> Handoff:
        """A handoff from JSON text, as the host sends it."""
        try:
            value = json.loads(payload)
        except ValueError as e:
            raise ValueError(f"the payload is not valid JSON: {e}") from None
        try:
            ctx = json.loads(context) if context.strip() else None
        except ValueError as e:
            raise ValueError(f"the context is not valid JSON: {e}") from None
        return cls(value, ctx, **where)

    def texts(self, pointer: str = "") -> list[Text]:
        """Every string at or beneath JSON pointer `pointer` of the payload, in document
        order; `""` is the whole payload. Raises `PointerError` when nothing is there."""
        out: list[Text] = []

        def walk(value: Any, at: str) -> None:
            if isinstance(value, str):
                out.append(Text(at, value))
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    walk(item, f"{at}/{i}")
            elif isinstance(value, dict):
                for key, item in value.items():
                    walk(item, f"{at}/{pointer_escape(key)}")

        walk(_resolve(self.payload, pointer), pointer)
        return out

    def payload_with(self, replacements: dict[str, str]) -> Any:
        """The payload with the strings at the given pointers replaced (for a fix)."""
        payload = json.loads(json.dumps(self.payload))
        for pointer, text in replacements.items():
            if pointer == "":
                payload = text
                continue
            parent_pointer, _, last = pointer.rpartition("/")
            parent = _resolve(payload, parent_pointer)
            token = last.replace("~1", "/").replace("~0", "~")
            if isinstance(parent, list):
                parent[int(token)] = text
            else:
                parent[token] = text
        return payload

    def __repr__(self) -> str:
        return f"Handoff(payload={self.payload!r}, context={self.context!r})"


_LEVELS = ("trace", "debug", "info", "warn", "error")


def log(message: str, level: str = "info") -> None:
    """A line in the check's log (the host caps it; `print` goes nowhere in the
    component). Natively, in tests, it goes to stderr."""
    if level not in _LEVELS:
        raise ValueError(f"log level {level!r}: use one of {', '.join(_LEVELS)}")
    try:
        from wit_world.imports import host  # type: ignore[import-not-found]
    except ImportError:
        import sys

        print(f"[{level}] {message}", file=sys.stderr)
        return
    host.log(getattr(host.Level, level.upper()), str(message))


class SettingsError(ValueError):
    """Settings that do not fit the plugin's `Settings` dataclass."""


# ---------------------------------------------------------------------------------
# Settings: a dataclass, its JSON Schema, and strict parsing into it.


def _schema_of(tp: Any, where: str) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is typing.Any:
        return {}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if tp is type(None):
        return {"type": "null"}
    if origin in (list, tuple, set, frozenset) or tp in (list,):
        item = args[0] if args else typing.Any
        return {"type": "array", "items": _schema_of(item, where)}
    if origin is dict or tp is dict:
        value = args[1] if len(args) == 2 else typing.Any
        return {"type": "object", "additionalProperties": _schema_of(value, where)}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, getattr(types, "UnionType", None)):
        return {"anyOf": [_schema_of(a, where) for a in args]}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    if dataclasses.is_dataclass(tp):
        return _object_schema(tp)
    raise TypeError(
        f"settings field `{where}`: type {tp!r} has no JSON Schema here; use bool, int, float, str, "
        "list[...], dict[str, ...], Literal[...], an Enum, Optional[...] or a dataclass"
    )


def _jsonable(value: Any) -> Any:
    """A default as JSON: dataclasses as objects, enums as their values."""
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _object_schema(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        prop = dict(_schema_of(hints[f.name], f.name))
        if "description" in f.metadata:
            prop["description"] = str(f.metadata["description"])
        if f.default is not dataclasses.MISSING:
            prop["default"] = _jsonable(f.default)
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            prop["default"] = _jsonable(f.default_factory())  # type: ignore[misc]
        else:
            required.append(f.name)
        properties[f.name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "("):
        schema["description"] = cls.__doc__.strip()
    return schema


def settings_schema(settings: type | None) -> dict[str, Any]:
    """The JSON Schema the plugin declares for `settings` (a dataclass, or None for a
    plugin without settings)."""
    if settings is None:
        return {"type": "object", "additionalProperties": False}
    if not dataclasses.is_dataclass(settings):
        raise TypeError(f"Settings must be a dataclass, not {settings!r}")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": settings.__name__}
    schema.update(_object_schema(settings))
    return schema


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    def wrong(expected: str) -> SettingsError:
        return SettingsError(f"settings `{where}`: expected {expected}, got {json.dumps(value)}")

    if tp is typing.Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise wrong("an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong("a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise wrong("a string")
        return value
    if tp is type(None):
        if value is not None:
            raise wrong("null")
        return None
    if origin in (list, tuple, set, frozenset) or tp is list:
        if not isinstance(value, list):
            raise wrong("a list")
        item = args[0] if args else typing.Any
        items = [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return (origin or list)(items) if origin in (tuple, set, frozenset) else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise wrong("an object")
        vt = args[1] if len(args) == 2 else typing.Any
        return {k: _convert(vt, v, f"{where}.{k}") for k, v in value.items()}
    if origin is typing.Literal:
        if value not in args:
            raise wrong("one of " + ", ".join(json.dumps(a) for a in args))
        return value
    if origin in (typing.Union, getattr(types, "UnionType", None)):
        for a in args:
            try:
                return _convert(a, value, where)
            except SettingsError:
                continue
        raise wrong(" or ".join(_describe(a) for a in args))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise wrong("one of " + ", ".join(json.dumps(m.value) for m in tp)) from None
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    raise TypeError(f"settings field `{where}`: unsupported type {tp!r}")


def _describe(tp: Any) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _build(cls: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise SettingsError(f"settings{' `' + where + '`' if where else ''}: expected an object, got {json.dumps(value)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise SettingsError(
            f"settings: unknown field `{(where + '.') if where else ''}{unknown[0]}`; "
            f"{cls.__name__} has: {', '.join(fields) or 'no fields'}"
        )
    kwargs = {}
    for name, f in fields.items():
        path = f"{where}.{name}" if where else name
        if name in value:
            kwargs[name] = _convert(hints[name], value[name], path)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            raise SettingsError(f"settings: missing field `{path}` ({_describe(hints[name])})")
    return cls(**kwargs)


def parse_settings(settings: type | None, value: Any) -> Any:
    """`value` (parsed JSON) as an instance of the `settings` dataclass, strictly:
    unknown fields, missing required ones and wrong types raise `SettingsError` naming
    the field."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else {}
    if settings is None:
        if value not in ({}, None):
            raise SettingsError(f"settings: this plugin takes none, got {json.dumps(value)}")
        return None
    return _build(settings, value, "")


# ---------------------------------------------------------------------------------
# Plugins.

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class _Plugin:
    name: str = ""
    version: str = "0.1.0"
    description: str = ""
    Settings: type | None = None

    def prepare(self, settings: Any) -> None:
        """Setup to do once per settings; keep what it makes on `self`. Raise to refuse
        the settings (the message reaches the operator)."""

    @classmethod
    def info(cls) -> dict[str, Any]:
        """What the plugin says about itself (the host's `describe`)."""
        if not _NAME.match(cls.name or ""):
            raise ValueError(
                f"{cls.__name__}.name = {cls.name!r}: give the plugin a kebab-case name, e.g. name = \"no-shouting\""
            )
        return {
            "name": cls.name,
            "version": cls.version,
            "kind": "gate" if issubclass(cls, Gate) else "router",
            "description": cls.description or (cls.__doc__ or "").strip(),
            "settings_schema": settings_schema(cls.Settings),
        }


class Gate(_Plugin):
    """Subclass it: set `name`, `description`, `Settings` (a dataclass) and define
    `check(self, settings, handoff) -> Verdict`."""

    def check(self, settings: Any, handoff: Handoff) -> Verdict:
        raise NotImplementedError(f"{type(self).__name__}.check")


class Router(_Plugin):
    """Subclass it: set `name`, `description`, `Settings` and define
    `route(self, settings, handoff, verdicts) -> Route`."""

    def route(self, settings: Any, handoff: Handoff, verdicts: list[GateVerdict]) -> Route:
        raise NotImplementedError(f"{type(self).__name__}.route")


def plugin_of(module: types.ModuleType) -> type:
    """The one Gate or Router subclass defined in `module`."""
    found = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, (Gate, Router)) and v not in (Gate, Router) and v.__module__ == module.__name__
    ]
    if len(found) != 1:
        names = ", ".join(v.__name__ for v in found) or "none"
        raise ValueError(
            f"{module.__name__}: a plugin module defines exactly one Gate or Router subclass; found {names}"
        )
    return found[0]
