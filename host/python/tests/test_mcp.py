"""`seam mcp` with a real MCP client (the `mcp` package): over stdio and over
streamable HTTP, list the tools, call `check` on a seam and on ad-hoc gates, and get
the verdicts and the decision as structured content."""

import os
import socket
import subprocess
from pathlib import Path

import anyio
import pytest
from mcp import ClientSession, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parents[3]
SEAM = os.environ.get("SEAM_BIN", str(REPO / "target/debug/seam"))
CONFIG = str(REPO / "examples/server/seam-server.toml")
LONG = " ".join(["word"] * 130)


async def exercise(session):
    init = await session.initialize()
    assert init.server_info.name == "seam"
    tools = await session.list_tools()
    assert [t.name for t in tools.tools] == ["check", "describe", "list_gates"]
    check = tools.tools[0]
    assert check.input_schema["required"] == ["payload"]
    assert check.input_schema["properties"]["seam"]["enum"] == ["reply", "tool-args"]

    result = await session.call_tool("check", {"seam": "reply", "payload": LONG})
    assert result.is_error is False
    doc = result.structured_content
    assert doc["seam"] == "reply" and doc["passed"] is False
    assert doc["decision"]["action"] == "retry"
    assert doc["decision"]["feedback"].startswith("Your previous answer was rejected:")
    assert [g["gate"] for g in doc["gates"]] == ["max-words", "ban-list", "pii"]

    fixed = await session.call_tool(
        "check", {"seam": "reply", "payload": "Write to ana@example.com"}
    )
    assert fixed.structured_content["decision"]["payload"] == "Write to [EMAIL]"

    adhoc = await session.call_tool(
        "check",
        {"gates": [{"gate": "contains", "settings": {"required": ["$89"]}}],
         "payload": "only $89"},
    )
    assert adhoc.structured_content["passed"] is True
    assert adhoc.structured_content["gates"][0]["outcome"] == "verdict"

    described = await session.call_tool("describe", {"plugin": "max-words"})
    assert described.structured_content["name"] == "max-words"
    assert "max_words" in described.structured_content["settings_schema"]["properties"]

    listed = await session.call_tool("list_gates", {})
    assert [s["name"] for s in listed.structured_content["seams"]] == ["reply", "tool-args"]
    assert {"name": "pii"} in listed.structured_content["standard_gates"]

    # A mistake is a tool result the model can read, not a broken session.
    for args, says in [
        ({"seam": "replies", "payload": "x"}, "no seam `replies`"),
        ({"payload": "x"}, "give `seam`"),
        ({"seam": "reply"}, "missing field `payload`"),
        ({"seam": "reply", "gates": [], "payload": "x"}, "not both"),
        ({"gates": [{"gate": "max-word"}], "payload": "x"}, "did you mean `max-words`?"),
        ({"gates": [{"gate": "pii"}], "payload": "x", "attempt": 2}, "goes with `seam`"),
        ({"seam": "reply", "payload": "x", "attempt": 0}, "counts from 1"),
    ]:
        bad = await session.call_tool("check", args)
        assert bad.is_error is True, args
        assert says in bad.content[0].text, (args, bad.content[0].text)
        assert bad.structured_content["error"]["code"] in {"invalid_request", "unknown_seam"}
    bad = await session.call_tool("describe", {"plugin": "/etc/passwd"})
    assert bad.is_error is True
    with pytest.raises(MCPError) as e:
        await session.call_tool("nope", {})
    assert "no tool `nope`" in e.value.message


def test_seam_mcp_over_stdio():
    async def main():
        params = StdioServerParameters(command=SEAM, args=["mcp", "--config", CONFIG])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await exercise(session)

    anyio.run(main)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_seam_mcp_over_streamable_http():
    port = free_port()
    proc = subprocess.Popen(
        [SEAM, "mcp", "--config", CONFIG, "--http", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == f"seam mcp: serving MCP at http://127.0.0.1:{port}/mcp"

        async def main():
            async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write):
                async with ClientSession(read, write) as session:
                    await exercise(session)

        anyio.run(main)
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def test_seam_mcp_refuses_what_it_cannot_serve(tmp_path):
    missing = subprocess.run(
        [SEAM, "mcp", "--config", str(tmp_path / "none.toml")], capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert "no configuration at" in missing.stderr
    open_ = subprocess.run(
        [SEAM, "mcp", "--config", CONFIG, "--http", "0.0.0.0:0"], capture_output=True, text=True
    )
    assert open_.returncode == 2
    assert "refusing to serve MCP on 0.0.0.0:0 without tokens" in open_.stderr
