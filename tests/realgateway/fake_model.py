"""A stand-in for a model provider, speaking OpenAI's chat-completions API on loopback.

The real-gateway tests point an OpenClaw gateway at it. It answers every
chat completion with a fixed reply and fixed token counts, streamed (SSE)
or not, as the request asks. While the file named by its second argument
exists, every completion answers the HTTP status written in it instead, so
one gateway run can see a good turn and a failing one (the test, outside the
network namespace, switches by writing or removing the file).

Run as a script (``python fake_model.py PORT FAIL_FLAG_FILE``) inside the
test's network namespace; it serves until killed.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPLY = "Hello from the fake model."
PROMPT_TOKENS = 321
COMPLETION_TOKENS = 12


class ModelState:
    """What the server answers; shared by the handler threads."""

    def __init__(self, fail_flag: Path) -> None:
        self.fail_flag = fail_flag

    def fail_status(self) -> int | None:
        """The HTTP status to fail a completion with, or None to answer it."""
        try:
            return int(self.fail_flag.read_text().strip() or 500)
        except FileNotFoundError:
            return None


class FakeModelHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeModelServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the test reads the counters, not a log

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "test"}]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = {}
        if not self.path.endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        status = self.server.state.fail_status()
        if status is not None:
            error = {"message": "the fake model was told to fail", "type": "server_error", "code": "fake_failure"}
            self._json(status, {"error": error})
        elif request.get("stream"):
            self._stream(str(request.get("model", "fake-model")))
        else:
            self._json(200, self._completion(str(request.get("model", "fake-model"))))

    def _completion(self, model: str) -> dict[str, Any]:
        message = {"role": "assistant", "content": REPLY}
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": _usage(),
        }

    def _stream(self, model: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        head = {"id": f"chatcmpl-{uuid.uuid4().hex[:16]}", "object": "chat.completion.chunk", "model": model}
        head["created"] = int(time.time())
        chunks = [{"role": "assistant", "content": ""}, *({"content": word} for word in _words(REPLY))]
        for delta in chunks:
            self._event({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        self._event({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        self._event({**head, "choices": [], "usage": _usage()})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _event(self, payload: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
        self.wfile.flush()

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FakeModelServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, fail_flag: Path) -> None:
        super().__init__(("127.0.0.1", port), FakeModelHandler)
        self.state = ModelState(fail_flag)


def _usage() -> dict[str, int]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    }


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [word + " " for word in words[:-1]] + words[-1:]


if __name__ == "__main__":
    FakeModelServer(int(sys.argv[1]), Path(sys.argv[2])).serve_forever()
