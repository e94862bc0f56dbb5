"""Wiring other programs to the daemon: ``openclaw-trace setup openclaw``."""
