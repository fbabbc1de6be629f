"""Time per verify-node call: seam in-process, seam through `seam serve`, a `seam
check` process per call, and Guardrails AI's Guard.validate with equivalent validators
(words ≤ 40, contains "$89"), on the example's two drafts. Prints medians and ratios.

    pip install ./host/python langgraph guardrails-ai   # once, in a venv
    python examples/langgraph/bench.py [--calls 2000]

Starts `seam serve` itself (target/debug/seam, or $SEAM_BIN) on a free port.
"""

import argparse
import os

# Guardrails AI sends OpenTelemetry metrics to its own servers unless told not to;
# nothing here should leave the machine (and the retries would be timed).
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import seam
from seam.langgraph import verify_node

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SEAM_BIN = os.environ.get("SEAM_BIN", str(REPO / "target/release/seam"))
DRAFTS = [(REPO / "examples/headphones" / n).read_text().strip()
          for n in ("draft-1.txt", "draft-2.txt")]


def timed(call, calls):
    """Median and p99 microseconds of `call(i)` over `calls` calls (after a warm-up)."""
    for i in range(min(50, calls)):
        call(i)
    samples = []
    for i in range(calls):
        t = time.perf_counter_ns()
        call(i)
        samples.append((time.perf_counter_ns() - t) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def guardrails_guard():
    try:
        from guardrails import Guard, OnFailAction
        from guardrails.validator_base import (FailResult, PassResult, Validator,
                                               register_validator)
    except ImportError:
        return None

    @register_validator(name="bench/max-words", data_type="string")
    class MaxWords(Validator):
        def __init__(self, max_words: int, on_fail=OnFailAction.NOOP):
            super().__init__(on_fail=on_fail, max_words=max_words)
            self.max_words = max_words

        def _validate(self, value, metadata):
            n = len(value.split())
            if n <= self.max_words:
                return PassResult()
            return FailResult(error_message=f"{n} words, at most {self.max_words} allowed")

    @register_validator(name="bench/contains", data_type="string")
    class Contains(Validator):
        def __init__(self, required: str, on_fail=OnFailAction.NOOP):
            super().__init__(on_fail=on_fail, required=required)
            self.required = required

        def _validate(self, value, metadata):
            if self.required in value:
                return PassResult()
            return FailResult(error_message=f"required text {self.required!r} not found")

    return Guard().use(MaxWords(40)).use(Contains("$89"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--process-calls", type=int, default=50)
    args = parser.parse_args()
    results = {}

    local = verify_node(seam.Seam.from_file(HERE / "seam.toml", "draft"))
    results["seam in-process (verify_node)"] = timed(
        lambda i: local({"draft": DRAFTS[i % 2], "attempt": 1}), args.calls)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = HERE / ".bench-server.toml"
    config.write_text((HERE / "seam.toml").read_text().replace(
        'listen = "127.0.0.1:7878"', f'listen = "127.0.0.1:{port}"'))
    server = subprocess.Popen([SEAM_BIN, "serve", "--config", str(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        server.stdout.readline()
        remote = verify_node(seam.connect(f"http://127.0.0.1:{port}"), seam_name="draft")
        results["seam serve (verify_node, HTTP)"] = timed(
            lambda i: remote({"draft": DRAFTS[i % 2], "attempt": 1}), args.calls)
    finally:
        server.terminate()
        server.wait()
        config.unlink()

    def process(i):
        subprocess.run([SEAM_BIN, "check", "--gate", "max-words", "--settings",
                        '{"max_words": 40}', "--gate", "contains", "--settings",
                        '{"required": ["$89"]}', "--payload", "-"],
                       input=DRAFTS[i % 2], capture_output=True, text=True)
    results["`seam check` process per call"] = timed(process, args.process_calls)

    guard = guardrails_guard()
    if guard is not None:
        results["Guardrails AI Guard.validate"] = timed(
            lambda i: guard.validate(DRAFTS[i % 2]), args.calls)
    else:
        print("(Guardrails AI is not installed: pip install guardrails-ai)", file=sys.stderr)

    base = results["seam in-process (verify_node)"][0]
    print(f"{'verify node':36} {'median µs':>10} {'p99 µs':>10} {'× in-process':>13}")
    for name, (median, p99) in results.items():
        print(f"{name:36} {median:10.1f} {p99:10.1f} {median / base:13.1f}")


if __name__ == "__main__":
    main()
