"""An MCP server for the tool-source tests: ``add`` (read-only) and ``wipe`` (destructive,
always answers an error). Run it as a script: ``python mcp_probe_server.py`` serves stdio,
``python mcp_probe_server.py PORT`` Streamable HTTP at ``http://127.0.0.1:PORT/mcp``."""

from __future__ import annotations

import sys

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

server = MCPServer("probe")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@server.tool(annotations=ToolAnnotations(destructiveHint=True))
def wipe(table: str) -> str:
    """Wipe a table."""
    raise ToolError(f"no table {table}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
    else:
        server.run()
