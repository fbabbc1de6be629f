"""seam in-process: sandboxed WebAssembly gates and seams at every handoff of an AI
pipeline. See docs/python.md.

>>> import seam
>>> gates = seam.Gates([("max-words", {"max_words": 40})])
>>> gates.check("short and sweet").passed
True
"""

from ._seam import (
    CheckResult,
    Client,
    ConfigError,
    Decision,
    ErrorCause,
    Finding,
    GateCheck,
    Gates,
    LedgerError,
    LoadError,
    PayloadError,
    Recorded,
    RouteResult,
    Seam,
    SeamError,
    SeamResult,
    ServerError,
    SettingsError,
    Span,
    Verdict,
    __version__,
    connect,
    export_feedback,
    standard_plugins,
)

__all__ = [
    "CheckResult",
    "Client",
    "ConfigError",
    "Decision",
    "ErrorCause",
    "Finding",
    "GateCheck",
    "Gates",
    "LedgerError",
    "LoadError",
    "PayloadError",
    "Recorded",
    "RouteResult",
    "Seam",
    "SeamError",
    "SeamResult",
    "ServerError",
    "SettingsError",
    "Span",
    "Verdict",
    "__version__",
    "connect",
    "export_feedback",
    "standard_plugins",
]
