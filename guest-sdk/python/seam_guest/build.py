"""`seam-guest-py build gate.py [-o gate.wasm]`: builds a Python gate or router into
the WebAssembly component the seam host runs, with componentize-py (the pinned
version this package depends on).

The module is imported natively first, to find its one Gate or Router subclass and
fail early with a plain Python error; then componentize-py runs it at build time
(its top level runs once, then, and is snapshotted) and links it with CPython into
one component.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import Gate, plugin_of

WIT = Path(__file__).parent / "wit"


def _componentize_py() -> list[str]:
    beside = Path(sys.executable).parent / "componentize-py"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("componentize-py")
    if found:
        return [found]
    raise SystemExit(
        "seam-guest-py: componentize-py is not installed; pip install seam-guest installs it "
        "(or pip install componentize-py==0.25.1)"
    )


def build(source: Path, out: Path | None = None, extra_paths: list[Path] | None = None, quiet: bool = False) -> Path:
    """Builds `source` (a .py file) into a component; returns its path."""
    source = source.resolve()
    if source.suffix != ".py" or not source.is_file():
        raise SystemExit(f"seam-guest-py: {source}: not a Python file; give the module that defines your gate")
    name = source.stem
    if not name.isidentifier():
        raise SystemExit(f"seam-guest-py: {source.name}: the file name must be a Python module name (letters, digits, _)")
    sys.path.insert(0, str(source.parent))
    try:
        spec = importlib.util.spec_from_file_location(name, source)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        plugin = plugin_of(module)
        info = plugin.info()
    finally:
        sys.path.pop(0)
    world = "gate" if issubclass(plugin, Gate) else "router"
    out = (out or Path(f"{info['name']}.wasm")).resolve()
    sdk = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="seam-guest-py-") as tmp:
        entry = Path(tmp) / "seam_guest_entry.py"
        entry.write_text(
            "# Written by seam-guest-py build: the component's exports.\n"
            f"import {name} as _module\n"
            "from seam_guest import plugin_of\n"
            "from seam_guest._component import world\n"
            "WitWorld = world(plugin_of(_module))\n"
        )
        cmd = [*_componentize_py(), "-d", str(WIT), "-w", world, "componentize", "seam_guest_entry",
               "-p", tmp, "-p", str(source.parent), "-p", str(sdk)]
        for p in extra_paths or []:
            cmd += ["-p", str(p)]
        cmd += ["-o", str(out)]
        started = time.monotonic()
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            sys.stderr.write(result.stdout + result.stderr)
            raise SystemExit(f"seam-guest-py: componentize-py failed building {source.name} (exit {result.returncode}); its output is above")
    if not quiet:
        size = out.stat().st_size / 1e6
        print(f"built {info['kind']} `{info['name']}` {info['version']} into {out} ({size:.1f} MB, {time.monotonic() - started:.1f} s)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seam-guest-py", description="Build a Python seam gate or router into a WebAssembly component.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build MODULE.py into a component")
    b.add_argument("module", type=Path, help="the .py file that defines one Gate or Router subclass")
    b.add_argument("-o", "--out", type=Path, help="the component to write (default: NAME.wasm, NAME the plugin's)")
    b.add_argument("-p", "--path", type=Path, action="append", default=[], help="another folder of modules the plugin imports")
    w = sub.add_parser("wit", help="print the contract (WIT) the SDK builds against")
    del w
    args = parser.parse_args(argv)
    if args.command == "wit":
        sys.stdout.write((WIT / "seam.wit").read_text())
        return 0
    try:
        build(args.module, args.out, args.path)
    except SystemExit:
        raise
    except Exception as e:
        raise SystemExit(f"seam-guest-py: {args.module}: {type(e).__name__}: {e}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
