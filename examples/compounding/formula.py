#!/usr/bin/env python3
"""Prints each pipeline's measured end-to-end reliability beside the formula.

Usage: formula.py EXAMPLE_DIR REPORT_JSON (the output of `seam report --format json`).

The formula, for N identical steps that succeed with probability p: without gates the
run succeeds when every step does, p^N. With a gate and up to R retries at every seam,
whose detector flags a bad output with probability s and a good one with probability
f, one attempt is flagged with probability q = p*f + (1-p)*s and sent back; a seam hands
on a good output with probability G = p*(1-f) * (1 + q + ... + q^R). A bad output the
detector missed spoils the run, as does a seam that runs out of retries, so the run
succeeds with probability G^N. Assumed: attempts are independent (a retry is the same
step rolled again), and the detector's errors are independent of each other."""

import json
import re
import sys
from pathlib import Path


def parameters(toml):
    steps = re.findall(r'command = \["sh", "step.sh", "(\d+)"(?:, "(\d+)", "(\d+)")?\]', toml)
    work = [s for s in steps if s[0] != "10000"]
    p = int(work[0][0]) / 10000
    gated = bool(work[0][1])
    s = int(work[0][1]) / 10000 if gated else None
    f = int(work[0][2]) / 10000 if gated else None
    retries = int(re.search(r"max_retries = (\d+)", toml).group(1))
    return len(work), p, s, f, retries


def formula(n, p, s, f, retries):
    if s is None:
        return p ** n
    q = p * f + (1 - p) * s
    good = p * (1 - f) * sum(q ** k for k in range(retries + 1))
    return good ** n


def main():
    here, report = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
    print(f"\n{'pipeline':<24} {'steps':>5} {'p':>5} {'sens.':>6} {'f.p.':>5} "
          f"{'runs':>6} {'measured':>9} {'formula':>8}")
    for row in report["pipelines"]:
        name = row["pipeline"]
        path = here / f"{name}.toml"
        if not path.exists():
            continue
        n, p, s, f, retries = parameters(path.read_text())
        measured = row["completed"] / row["runs"] if row["runs"] else float("nan")
        sens = f"{s:.0%}" if s is not None else "—"
        fp = f"{f:.0%}" if f is not None else "—"
        print(f"{name:<24} {n:>5} {p:>5.0%} {sens:>6} {fp:>5} {row['runs']:>6} "
              f"{measured:>9.1%} {formula(n, p, s, f, retries):>8.1%}")


if __name__ == "__main__":
    main()
