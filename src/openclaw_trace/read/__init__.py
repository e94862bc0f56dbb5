"""The read layer: every query the CLI, the JSON read API and the MCP server answer, over read-only connections."""
