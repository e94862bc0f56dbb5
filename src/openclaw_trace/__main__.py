"""``python -m openclaw_trace`` runs the command line."""

from openclaw_trace.cli import main

raise SystemExit(main())
