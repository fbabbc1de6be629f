"""Type hints for seam's extension module (re-exported by `seam`)."""

from collections.abc import Awaitable, Iterable, Mapping
from os import PathLike
from typing import Any, Literal

__version__: str

Json = Any
"""A JSON value as Python holds it: dict, list, str, int, float, bool or None."""

GateSpec = str | tuple[str, Mapping[str, Json]] | Mapping[str, Any]
"""`"pii"`, `("max-words", {"max_words": 40})` or `{"gate": "pii", "settings": {...}}`."""

class SeamError(Exception):
    """Every error seam raises: what was wrong, where, and what to do."""

class LoadError(SeamError):
    """A plugin could not be loaded (not found, not a seam plugin, not trusted, ...)."""

class SettingsError(LoadError):
    """A plugin refused its settings (its schema, or its prepare())."""

class ConfigError(SeamError):
    """A seam's configuration is wrong; the message names the file, line and column."""

class PayloadError(SeamError):
    """A payload or context that is not JSON-serializable, or over a cap."""

class LedgerError(SeamError):
    """The ledger could not be opened or written."""

class ServerError(SeamError):
    """seam serve answered with an error, or could not be reached (status 0)."""
    status: int
    code: str

class Span:
    """A byte range [start, end) of the string a finding points at."""
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...

class Finding:
    """One thing a gate found."""
    @property
    def code(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def path(self) -> str | None:
        """A JSON pointer into the payload, when the finding is about part of it."""
    @property
    def span(self) -> Span | None: ...
    @property
    def severity(self) -> Literal["info", "warning", "error"]: ...

class Verdict:
    """A gate's answer about one handoff."""
    @property
    def passed(self) -> bool: ...
    @property
    def score(self) -> float | None: ...
    @property
    def findings(self) -> list[Finding]: ...
    @property
    def fix(self) -> Json | None:
        """The repaired payload the gate would pass."""

class ErrorCause:
    """Why a gate could not answer."""
    @property
    def kind(self) -> Literal[
        "timeout", "out-of-memory", "out-of-fuel", "stack-overflow", "trap", "exited",
        "resource-limit", "plugin", "payload-too-large", "output-too-large", "malformed",
        "host", "instantiate",
    ]: ...
    @property
    def message(self) -> str: ...

class GateCheck:
    """One gate's check of one handoff: a verdict, or an error."""
    @property
    def gate(self) -> str: ...
    @property
    def plugin(self) -> str: ...
    @property
    def passed(self) -> bool: ...
    @property
    def verdict(self) -> Verdict | None: ...
    @property
    def error(self) -> ErrorCause | None: ...
    @property
    def duration_us(self) -> int: ...
    @property
    def log(self) -> str: ...
    @property
    def policy(self) -> str | None:
        """What the seam does when this gate fails (seam checks only)."""

class CheckResult:
    """The verdicts of ad-hoc gates on one handoff; true when every gate passed."""
    @property
    def passed(self) -> bool: ...
    @property
    def gates(self) -> list[GateCheck]: ...
    def __bool__(self) -> bool: ...

class Decision:
    """What the caller does next with a handoff checked at a seam."""
    @property
    def action(self) -> Literal["next", "retry", "fix", "human", "reject", "route", "error"]: ...
    @property
    def decided_by(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def feedback(self) -> str | None:
        """For retry: the findings as the text the upstream step should be given."""
    @property
    def findings(self) -> list[dict[str, Json]] | None: ...
    @property
    def gate(self) -> str | None:
        """For fix: the gate whose fix was taken."""
    @property
    def payload(self) -> Json | None:
        """For fix: the repaired payload."""
    @property
    def target(self) -> str | None:
        """For route: the step the router chose."""

class RouteResult:
    @property
    def router(self) -> str: ...
    @property
    def target(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def error(self) -> ErrorCause | None: ...
    @property
    def duration_us(self) -> int: ...

class Recorded:
    @property
    def pipeline(self) -> str: ...
    @property
    def run(self) -> str: ...
    @property
    def handoff_id(self) -> int: ...
    @property
    def review_id(self) -> int | None: ...

class SeamResult:
    """A seam's verdicts on one handoff and its decision; true when every gate passed."""
    @property
    def seam(self) -> str: ...
    @property
    def passed(self) -> bool: ...
    @property
    def gates(self) -> list[GateCheck]: ...
    @property
    def decision(self) -> Decision: ...
    @property
    def route(self) -> RouteResult | None: ...
    @property
    def recorded(self) -> Recorded | None: ...
    def __bool__(self) -> bool: ...

class Gates:
    """Ad-hoc gates, loaded once: standard plugins, .wasm files or BUNDLE/PLUGIN."""
    def __init__(
        self,
        gates: Iterable[GateSpec] | Mapping[str, Mapping[str, Json]] | str,
        *,
        bundle_paths: Iterable[str | PathLike[str]] | None = None,
        trusted_keys: Iterable[str] | None = None,
        require_signature: bool = False,
        deadline_ms: int | None = None,
        memory_mib: int | None = None,
    ) -> None: ...
    def check(self, payload: Json, context: Json | None = None) -> CheckResult:
        """Checks one handoff with every gate; the GIL is released while they run."""
    def acheck(self, payload: Json, context: Json | None = None) -> Awaitable[CheckResult]:
        """check() on a thread, for asyncio."""
    @property
    def names(self) -> list[str]: ...
    def __len__(self) -> int: ...

class Seam:
    """A configured seam deciding what happens to each handoff."""
    def __init__(
        self,
        name: str,
        config: Mapping[str, Any],
        *,
        ledger: str | PathLike[str] | None = None,
    ) -> None: ...
    @staticmethod
    def from_file(
        path: str | PathLike[str], name: str, *, ledger: str | PathLike[str] | None = None
    ) -> Seam: ...
    def check(
        self,
        payload: Json,
        context: Json | None = None,
        *,
        attempt: int = 1,
        fixes: int = 0,
        record: Mapping[str, str] | None = None,
    ) -> SeamResult:
        """Checks one handoff and decides; `record` ({"pipeline", "run", "step", "to"})
        writes it to the seam's ledger (a file, or a `postgres://` URL)."""
    def acheck(
        self,
        payload: Json,
        context: Json | None = None,
        *,
        attempt: int = 1,
        fixes: int = 0,
        record: Mapping[str, str] | None = None,
    ) -> Awaitable[SeamResult]: ...
    @property
    def name(self) -> str: ...
    @property
    def gates(self) -> list[str]: ...

def standard_plugins() -> list[str]:
    """The names of the standard plugins embedded in seam."""

def export_feedback(
    ledger: str | PathLike[str],
    *,
    shape: Literal["records", "pairs", "dpo", "kto"] = "records",
    out: str | PathLike[str] | None = None,
    pipeline: str | None = None,
    run: str | None = None,
    since: str | None = None,
    until: str | None = None,
    gate: str | None = None,
    decision: Literal["accepted", "rejected"] | None = None,
) -> Any:
    """The ledger's (a file, or a `postgres://` URL) judged candidates as rows (dicts),
    or with `out` written as JSONL and counted. `dpo` and `kto` are TRL's preference and unpaired preference rows."""

class Client:
    """A client for `seam serve`, answering with the in-process classes."""
    def check(
        self,
        seam: str,
        payload: Json,
        context: Json | None = None,
        *,
        attempt: int = 1,
        fixes: int = 0,
        record: Mapping[str, str] | None = None,
    ) -> SeamResult: ...
    def acheck(
        self,
        seam: str,
        payload: Json,
        context: Json | None = None,
        *,
        attempt: int = 1,
        fixes: int = 0,
        record: Mapping[str, str] | None = None,
    ) -> Awaitable[SeamResult]: ...
    def check_gates(
        self,
        gates: Iterable[GateSpec] | Mapping[str, Mapping[str, Json]] | str,
        payload: Json,
        context: Json | None = None,
    ) -> CheckResult: ...
    def acheck_gates(
        self,
        gates: Iterable[GateSpec] | Mapping[str, Mapping[str, Json]] | str,
        payload: Json,
        context: Json | None = None,
    ) -> Awaitable[CheckResult]: ...
    def batch(self, seam: str, payloads: Iterable[Json]) -> list[SeamResult | ServerError]: ...
    def seams(self) -> list[dict[str, Any]]: ...
    def ready(self) -> bool: ...
    @property
    def url(self) -> str: ...

def connect(url: str, *, token: str | None = None, timeout: float = 30.0) -> Client:
    """A client for the seam serve at `url`, e.g. http://127.0.0.1:7878."""
