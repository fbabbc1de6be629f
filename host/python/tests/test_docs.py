"""Every ```python example of docs/python.md runs, from the repository's root, and
prints what its trailing `# ...` comment lines say."""

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs/python.md"


def examples():
    text = DOC.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "docs/python.md has python examples"
    return blocks


def expected_output(block):
    """The comment lines that end a block: what it prints."""
    lines = block.rstrip("\n").split("\n")
    out = []
    while lines and lines[-1].startswith("# "):
        out.insert(0, lines.pop()[2:])
    return out


@pytest.mark.parametrize("block", examples(), ids=lambda b: b.split("\n")[1][:40])
def test_the_example_runs_and_prints_what_it_says(block, monkeypatch):
    monkeypatch.chdir(REPO)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, str(DOC), "exec"), {"__name__": "__doc_example__"})
    want = expected_output(block)
    got = printed.getvalue().rstrip("\n").split("\n") if want else []
    assert got == want
    assert os.getcwd() == str(REPO)
