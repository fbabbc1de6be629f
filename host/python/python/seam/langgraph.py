"""seam in a LangGraph graph: a verify node that asks a seam, and the conditional edge
that follows its decision. Works on plain dict states; it does not import langgraph.

    from seam.langgraph import verify_node, route_on

    graph.add_node("verify", verify_node(reply))
    graph.add_conditional_edges("verify", route_on(reply),
                                {"next": "publish", "retry": "write", "reject": END})

After the node, the state holds `decision` (the seam's action), `feedback` (the text to
give the writer on a retry), `attempt` (the writer's next attempt) and, on `fix`, the
repaired draft in place of the old one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ._seam import Client, Seam, SeamResult

__all__ = ["verify_node", "averify_node", "route_on", "update_from"]


def update_from(result: SeamResult, state: Mapping[str, Any], *, key: str = "draft",
                attempt_key: str = "attempt") -> dict[str, Any]:
    """The state update a seam's result makes: decision, feedback, attempt, and the fix."""
    decision = result.decision
    attempt = int(state.get(attempt_key, 1))
    update: dict[str, Any] = {
        "decision": decision.action,
        "feedback": decision.feedback or "",
        "reason": decision.reason,
        attempt_key: attempt + 1 if decision.action == "retry" else attempt,
    }
    if decision.action == "fix":
        update[key] = decision.payload
    if decision.action == "route":
        update["route"] = decision.target
    return update


def verify_node(seam: Seam | Client, *, key: str = "draft", context_key: str | None = None,
                attempt_key: str = "attempt", seam_name: str | None = None,
                record: Callable[[Mapping[str, Any]], Mapping[str, str]] | None = None,
                ) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A LangGraph node that checks `state[key]` at `seam` (a `seam.Seam`, or a
    `seam.connect(...)` client with `seam_name`) and returns the state update.
    `record(state)` may give `{"pipeline", "run"}` to record the check."""
    def verify(state: Mapping[str, Any]) -> dict[str, Any]:
        context = state.get(context_key) if context_key else None
        attempt = int(state.get(attempt_key, 1))
        rec = record(state) if record else None
        if isinstance(seam, Client):
            if not seam_name:
                raise ValueError("verify_node: a client needs seam_name=, the server's seam")
            result = seam.check(seam_name, state[key], context, attempt=attempt, record=rec)
        else:
            result = seam.check(state[key], context, attempt=attempt, record=rec)
        return update_from(result, state, key=key, attempt_key=attempt_key)

    return verify


def averify_node(seam: Seam | Client, *, key: str = "draft", context_key: str | None = None,
                 attempt_key: str = "attempt", seam_name: str | None = None,
                 ) -> Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]:
    """verify_node for async graphs (`graph.ainvoke`)."""
    async def verify(state: Mapping[str, Any]) -> dict[str, Any]:
        context = state.get(context_key) if context_key else None
        attempt = int(state.get(attempt_key, 1))
        if isinstance(seam, Client):
            if not seam_name:
                raise ValueError("averify_node: a client needs seam_name=, the server's seam")
            result = await seam.acheck(seam_name, state[key], context, attempt=attempt)
        else:
            result = await seam.acheck(state[key], context, attempt=attempt)
        return update_from(result, state, key=key, attempt_key=attempt_key)

    return verify


def route_on(seam: Seam | Client | None = None) -> Callable[[Mapping[str, Any]], str]:
    """The conditional edge after verify_node: the seam's action (`next`, `retry`,
    `fix`, `human`, `reject`, `route`, `error`). A `fix` goes on as `next` (the state
    already holds the repaired draft); a `route` goes to the router's target."""
    del seam  # The decision is in the state; the argument reads well at the call site.

    def route(state: Mapping[str, Any]) -> str:
        action = state["decision"]
        if action == "fix":
            return "next"
        if action == "route":
            return state.get("route") or "route"
        return action

    return route
