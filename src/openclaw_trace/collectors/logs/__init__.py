"""The OpenClaw gateway log tailer: follow the log files, parse their lines, turn what matters into events."""
