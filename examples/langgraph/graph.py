"""seam's seed loop in LangGraph: write → verify → publish, or back to the writer with
seam's feedback, or stop. The verify node asks seam in-process (`seam.Seam`), or a
`seam serve` with --server URL; the conditional edge follows seam's decision.

Offline (the default) a stand-in writer first drafts the 46-word description without
the price, then, given seam's feedback, the passing one. With OPENAI_BASE_URL (and
OPENAI_API_KEY, SEAM_MODEL) set, an OpenAI-compatible endpoint writes instead.

    python examples/langgraph/graph.py [--server http://127.0.0.1:7878]
"""

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import TypedDict

from langgraph.graph import END, START, StateGraph

import seam
from seam.langgraph import route_on, verify_node

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TASK = "Generate a product description for a $89 noise-cancelling headphone, on-brand, under 40 words."


class State(TypedDict, total=False):
    task: str
    draft: str
    feedback: str
    attempt: int
    decision: str
    reason: str
    published: str


def offline_writer(state: State) -> State:
    """The stand-in model: the long draft without the price first, then the good one."""
    name = "draft-1.txt" if state.get("attempt", 1) == 1 else "draft-2.txt"
    return {"draft": (REPO / "examples/headphones" / name).read_text().strip()}


def openai_writer(state: State) -> State:
    """An OpenAI-compatible chat completion, given the task and seam's feedback."""
    prompt = state["task"]
    if state.get("feedback"):
        prompt += "\n\n" + state["feedback"] + "\nWrite the description again."
    body = json.dumps({
        "model": os.environ.get("SEAM_MODEL", "gpt-4o-mini"),
        "messages": [{"role": "user", "content": prompt}],
    }).encode()
    request = urllib.request.Request(
        os.environ["OPENAI_BASE_URL"].rstrip("/") + "/chat/completions",
        data=body,
        headers={"content-type": "application/json",
                 "authorization": "Bearer " + os.environ.get("OPENAI_API_KEY", "")},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        reply = json.load(answer)
    return {"draft": reply["choices"][0]["message"]["content"].strip()}


def build(verify, writer):
    def write(state: State) -> State:
        update = writer(state)
        print(f"write    attempt {state.get('attempt', 1)}: {len(update['draft'].split())} words")
        return update

    def logged_verify(state: State) -> State:
        update = verify(state)
        line = f"verify   {update['decision']}"
        if update["feedback"]:
            line += ": " + update["feedback"].replace("\n", " | ")
        print(line)
        return update

    def publish(state: State) -> State:
        print(f"publish  {state['draft']}")
        return {"published": state["draft"]}

    graph = StateGraph(State)
    graph.add_node("write", write)
    graph.add_node("verify", logged_verify)
    graph.add_node("publish", publish)
    graph.add_edge(START, "write")
    graph.add_edge("write", "verify")
    graph.add_conditional_edges("verify", route_on(), {
        "next": "publish", "retry": "write", "reject": END, "human": END, "error": END,
    })
    graph.add_edge("publish", END)
    return graph.compile()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", help="verify through this seam serve instead of in-process")
    parser.add_argument("--token", default=os.environ.get("SEAM_TOKEN"))
    args = parser.parse_args(argv)
    if args.server:
        verify = verify_node(seam.connect(args.server, token=args.token), seam_name="draft")
    else:
        verify = verify_node(seam.Seam.from_file(HERE / "seam.toml", "draft"))
    writer = openai_writer if os.environ.get("OPENAI_BASE_URL") else offline_writer
    final = build(verify, writer).invoke({"task": TASK, "attempt": 1})
    return 0 if final.get("published") else 1


if __name__ == "__main__":
    sys.exit(main())
