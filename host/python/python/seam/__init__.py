"""seam in-process: sandboxed WebAssembly gates and seams at every handoff of an AI
pipeline. See docs/python.md.

>>> import seam
>>> gates = seam.Gates([("max-words", {"max_words": 40})])
>>> gates.check("short and sweet").passed
True
"""

from ._seam import (
    CheckResult,
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
    SettingsError,
    Span,
    Verdict,
    __version__,
    standard_plugins,
)

__all__ = [
    "CheckResult",
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
    "SettingsError",
    "Span",
    "Verdict",
    "__version__",
    "standard_plugins",
]
