"""End to end through the real host: a Python gate made by `seam new --lang python`
passes its own native test as made; then, with a block appended that raises on some
inputs (so one component, whose first load compiles a 19 MB CPython three times,
serves every case), it is built into a component by `seam bundle build`, bundled,
signed, verified and tested, and checked: verdicts, settings errors, and exceptions
answered as the plugin's errors naming their type. Needs the `seam` binary (SEAM_BIN,
set by test.sh) and componentize-py on PATH."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SEAM = os.environ.get("SEAM_BIN", "seam")


def seam(*args, cwd=None):
    r = subprocess.run([SEAM, *map(str, args)], capture_output=True, text=True, cwd=cwd)
    return r.returncode, r.stdout, r.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("python-gate")
    code, out, err = seam("new", "gate", "loud-check", "--lang", "python", "--dir", root)
    assert code == 0, out + err
    return root / "loud-check"


def native_tests(project):
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 passed" in r.stdout


def test_the_new_project_passes_its_own_native_test(project):
    native_tests(project)
    # It pins the componentize-py this package is tested with.
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    pin = (project / "requirements.txt").read_text().splitlines()[0]
    assert f'dependencies = ["{pin}"]' in pyproject, pin


def test_a_new_python_router_passes_its_own_native_test(tmp_path):
    code, out, err = seam("new", "router", "send-back", "--lang", "python", "--dir", tmp_path)
    assert code == 0, out + err
    native_tests(tmp_path / "send-back")
    assert 'build = ["python3", "-m", "seam_guest.build", "build", "send_back_router.py", "-o", "send-back.wasm"]' in (
        tmp_path / "send-back" / "bundle.toml").read_text()


# Appended to the generated module: the template's code is untouched, and the gate
# now raises in `prepare` for a negative limit and in `check` on two payloads.
RAISING = '''

_template_check = LoudCheck.check


def _check(self, settings, handoff):
    if handoff.payload == "boom":
        raise KeyError("boom")
    if handoff.payload == "zero":
        return 1 / 0
    return _template_check(self, settings, handoff)


def _prepare(self, settings):
    if settings.max_chars < 0:
        raise ValueError(f"max_chars must be 0 or more, not {settings.max_chars}")


LoudCheck.check = _check
LoudCheck.prepare = _prepare
'''


def test_it_builds_bundles_signs_verifies_and_tests(project):
    module = project / "loud_check_gate.py"
    module.write_text(module.read_text() + RAISING)
    code, out, err = seam("bundle", "build", ".", cwd=project)
    assert code == 0, out + err
    assert out.startswith(
        "building plugin `loud-check`: python3 -m seam_guest.build build loud_check_gate.py -o loud-check.wasm\n"
    ), out
    assert "built loud-check 0.1.0 → loud-check-0.1.0.seam\n" in out, out
    code, out, err = seam("bundle", "test", "loud-check-0.1.0.seam", cwd=project)
    assert (code, out.splitlines()[-1]) == (0, "2 passed, 0 failed"), out + err
    assert seam("keygen", "--out", "team", cwd=project)[0] == 0
    code, out, err = seam("bundle", "sign", "loud-check-0.1.0.seam", "--key", "team.key", cwd=project)
    assert code == 0, out + err
    code, out, err = seam("bundle", "verify", "loud-check-0.1.0.seam", "--trusted-key", "team.pub", cwd=project)
    assert code == 0, out + err


def test_verdicts_and_settings_errors_through_the_host(project):
    wasm = project / "loud-check.wasm"
    if not wasm.exists():
        pytest.skip("built by the test before")
    payload = project / "payload.json"
    payload.write_text(json.dumps({"reply": "héllo wörld"}))
    # The settings of the bundle's cases: their prepared snapshot is compiled already
    # (a new settings value costs a compile of the snapshot, ~20 s for CPython).
    ten = '{"max_chars": 10}'
    code, out, err = seam("check", "--gate", wasm, "--settings", ten, "--payload", payload, "--format", "json")
    assert code == 1, out + err
    gate = json.loads(out)["gates"][0]
    assert (gate["outcome"], gate["passed"]) == ("verdict", False)
    finding = gate["findings"][0]
    assert (finding["code"], finding["path"], finding["span"], finding["severity"]) == (
        "length.chars", "/reply", {"start": 12, "end": 13}, "error")
    assert finding["message"] == "11 characters, at most 10 allowed"
    payload.write_text(json.dumps({"reply": "héllo"}))
    code, out, err = seam("check", "--gate", wasm, "--settings", ten, "--payload", payload, "--format", "json")
    assert code == 0, out + err
    assert json.loads(out)["gates"][0]["passed"] is True
    code, out, err = seam("check", "--gate", wasm, "--settings", '{"max_chars": "five"}', "--payload", payload)
    assert code == 2
    assert "settings for plugin `loud-check` are invalid" in err and '"five" is not of type "integer"' in err, err
    code, out, err = seam("check", "--gate", wasm, "--settings", '{"max": 5}', "--payload", payload)
    assert code == 2
    assert "settings for plugin `loud-check` are invalid" in err, err



def test_exceptions_are_the_plugins_errors_naming_their_type(project):
    wasm = project / "loud-check.wasm"
    if not wasm.exists():
        pytest.skip("built by the test before")
    zero, boom = project / "zero.json", project / "boom.json"
    zero.write_text('"zero"')
    boom.write_text('"boom"')
    ten = '{"max_chars": 10}'
    code, out, err = seam("check", "--gate", wasm, "--settings", ten, "--payload", zero, "--format", "json")
    assert code == 2, out + err
    gate = json.loads(out)["gates"][0]
    assert (gate["outcome"], gate["cause"]) == ("error", "plugin"), gate
    assert gate["message"] == "check: ZeroDivisionError: division by zero"
    assert gate["log"].startswith("[error] Traceback (most recent call last):\n"), gate
    assert 'loud_check_gate.py", line 41, in _check\nZeroDivisionError: division by zero' in gate["log"], gate
    code, out, err = seam("check", "--gate", wasm, "--settings", ten, "--payload", boom)
    assert code == 2
    assert "check: KeyError: 'boom'" in out + err, out + err
    code, out, err = seam("check", "--gate", wasm, "--settings", '{"max_chars": -1}', "--payload", zero)
    assert code == 2
    assert "prepare: ValueError: max_chars must be 0 or more, not -1" in err, err
