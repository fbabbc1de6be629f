#!/usr/bin/env python3
"""Writes the example's pipeline files (run it after changing a parameter here).

Each pipeline has N steps that succeed with probability P. The ungated ones are checked
only at the end. The gated ones have, at every seam, a gate that sees a detector's
report ("flagged") and sends the step back for up to R retries; the detector catches a
fraction S of bad outputs and wrongly flags a fraction F of good ones. A last step
delivers the payload and the truth ("ok") is checked there, so a bad output the
detector missed counts as a failure of the run, as it would in production."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
RETRIES = 2
GATE = 'plugin = "json-schema"\nsettings = {{ schema = {{ type = "object", required = ["{field}"], properties = {{ {field} = {{ const = {value} }} }} }} }}\n'


def pipeline(name, steps, rate, detector=None):
    what = f"{steps} steps that each succeed {rate / 100:g}% of the time"
    if detector:
        s, f = detector
        what += (f", a gate at every seam that catches {s / 100:g}% of bad outputs and flags "
                 f"{f / 100:g}% of good ones, up to {RETRIES} retries; the truth checked at the end")
    else:
        what += ", checked only at the end"
    out = [f"# {name}: {what}.", "# Written by pipelines.py (see the README).", "[pipeline]",
           f'name = "{name}"', "[defaults]", f"max_retries = {RETRIES}", "concurrency = 4", ""]
    args = f'"{rate}"' + (f', "{detector[0]}", "{detector[1]}"' if detector else "")
    for i in range(1, steps + 1):
        out += ["[[steps]]", f'name = "s{i}"', 'kind = "command"', f'command = ["sh", "step.sh", {args}]', ""]
    if detector:
        out += ["[[steps]]", 'name = "deliver"', 'kind = "command"', 'command = ["sh", "step.sh", "10000"]', ""]
        for i in range(1, steps + 1):
            out += ["[[seams]]", f'from = "s{i}"', "[[seams.gates]]", 'name = "detector"',
                    GATE.format(field="flagged", value="false") + 'on_fail = "retry"', ""]
    last = "deliver" if detector else f"s{steps}"
    out += ["[[seams]]", f'from = "{last}"', "[[seams.gates]]", 'name = "truth"',
            GATE.format(field="ok", value="true") + 'on_fail = "block"', ""]
    (HERE / f"{name}.toml").write_text("\n".join(out).rstrip() + "\n")


# The ungated baselines, and the gated pipelines with a 90%-sensitive detector that
# wrongly flags 2% of good outputs.
pipeline("six-at-97", 6, 9700)
pipeline("six-at-97-gated", 6, 9700, (9000, 200))
pipeline("five-at-95", 5, 9500)
pipeline("five-at-95-gated", 5, 9500, (9000, 200))
# What detection buys: the same 5 steps at 95% with other detectors.
for s in (10000, 7000, 5000):
    pipeline(f"five-at-95-gated-s{s // 100}", 5, 9500, (s, 0 if s == 10000 else 200))
