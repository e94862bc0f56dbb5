"""openclaw-trace: a local-first observability sidecar for OpenClaw agent hosts."""

__version__ = "0.1.0"
