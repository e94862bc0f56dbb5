"""What one push cycle did (one ``push_log`` row)."""

from __future__ import annotations

import dataclasses

MAX_ERROR_CHARS = 500


@dataclasses.dataclass
class CycleReport:
    """What one cycle did; one ``push_log`` row."""

    started_at_ms: int
    status: str = "ok"  # ok | partial | rejected | failed | circuit_open | waiting | error
    events: int = 0  # rows acknowledged and marked
    batches: int = 0  # requests acknowledged
    bytes: int = 0  # bytes put on the wire, acknowledged or not
    http_status: int | None = None
    error: str | None = None
    duration_ms: int = 0
    rejected: int = 0  # rows refused for good this cycle
    failed: bool = False  # a retryable failure ended the cycle
    interrupted: bool = False
    ledger_sent: bool = False

    def note_error(self, error: str | None) -> None:
        if error and self.error is None:
            self.error = error[:MAX_ERROR_CHARS]

    def final_status(self) -> str:
        """The cycle's ``status`` once it ended: what was acknowledged, refused or cut."""
        if self.interrupted and not self.failed:
            return "interrupted"
        if self.failed:
            return "partial" if self.events else "failed"
        if self.rejected:
            return "partial" if self.events else "rejected"
        return "ok"
