"""The Python gate in docs/plugin-authoring.md runs as the page says."""

import re
import types
from pathlib import Path

from seam_guest import plugin_of
from seam_guest.testing import check

DOC = Path(__file__).resolve().parents[3] / "docs" / "plugin-authoring.md"


def test_the_documented_gate_finds_shouting_with_its_span():
    section = DOC.read_text().split("## In Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    module = types.ModuleType("no_shouting_gate")
    exec(compile(code, str(DOC), "exec"), module.__dict__)
    gate = plugin_of(module)
    verdict = check(gate, {"max_run": 3}, {"reply": "Hi. PLEASE BUY THIS NOW TODAY"})
    assert verdict.codes == ["style.shouting"]
    assert (verdict.findings[0].path, verdict.findings[0].span) == ("/reply", (4, 29))
    assert check(gate, {}, "PLEASE BUY NOW").passed
    assert check(gate, {"max_run": 2}, "PLEASE BUY NOW").codes == ["style.shouting"]
