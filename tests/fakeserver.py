"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1 for tests.

A *script* maps each request to a :class:`Reply`: status, content, headers, delay,
extra message fields (``tool_calls``, ``refusal``), or a raw body of text or bytes.
Every request is recorded (model, messages, the key's last 4 characters, time,
path with query), and the server can count requests a key sent over a per-window
budget. A reply with
``echo_key`` repeats the request's ``Authorization`` header in its error body and
in a header, as some gateways do.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What the server answers to one request."""

    content: str | None = '{"comments": []}'
    status: int = 200
    finish_reason: str = "stop"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | bytes | None = None
    message: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False
    echo_key: bool = False
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 10, "completion_tokens": 5}
    )


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it."""

    model: str
    messages: list[dict[str, Any]]
    key: str
    at: float
    body: dict[str, Any]
    path: str = ""

    @property
    def prompt(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages)


Script = Callable[[Seen], Reply]


class _Server(ThreadingHTTPServer):
    # a burst of clients must not wait for a second SYN as with the default of 5
    request_queue_size = 128


class FakeServer:
    """Start with ``with FakeServer(script) as server:``; ``server.url`` is the base."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def over_budget(self, limit: int, window: float) -> int:
        """Requests that exceeded ``limit`` per ``window`` seconds for their key."""
        over = 0
        by_key: dict[str, list[float]] = {}
        for seen in sorted(self.seen, key=lambda s: s.at):
            times = by_key.setdefault(seen.key, [])
            if sum(1 for t in times if seen.at - t < window) >= limit:
                over += 1
            times.append(seen.at)
        return over

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                seen = Seen(
                    model=body.get("model", ""),
                    messages=body.get("messages", []),
                    key=key[-4:],
                    at=time.monotonic(),
                    body=body,
                    path=self.path,
                )
                server._record(seen)
                reply = server.script(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.reset:
                    self._reset()
                    return
                auth = self.headers.get("Authorization", "")
                self._send(reply, body.get("model", ""), auth)

            def _reset(self) -> None:
                linger = struct.pack("ii", 1, 0)
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self.connection.close()
                self.close_connection = True

            def _send(self, reply: Reply, model: str, auth: str) -> None:
                if isinstance(reply.body, bytes):
                    payload = reply.body
                elif reply.body is not None:
                    payload = reply.body.encode("utf-8")
                elif reply.status == 200:
                    payload = json.dumps(_completion(reply, model)).encode("utf-8")
                else:
                    error = {"error": {"message": _error_text(reply, auth)}}
                    payload = json.dumps(error).encode("utf-8")
                echoed = {"X-Echo-Authorization": auth} if reply.echo_key else {}
                try:
                    self.send_response(reply.status)
                    headers = {
                        "Content-Type": "application/json",
                        **echoed,
                        **reply.headers,
                    }
                    headers["Content-Length"] = str(len(payload))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


def _error_text(reply: Reply, auth: str) -> str:
    if not reply.echo_key:
        return f"status {reply.status}"
    key = auth.removeprefix("Bearer ")
    return (
        f"status {reply.status}: incorrect API key provided: {key} "
        f"(you sent Authorization: {auth})"
    )


def _completion(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": reply.content,
                    **reply.message,
                },
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": {**reply.usage, "total_tokens": sum(reply.usage.values())},
    }


def comments_reply(*texts: str, valid: list[bool] | None = None) -> Reply:
    """A reply holding these comments (with ``valid`` flags for a review stage)."""
    comments: list[dict[str, Any]] = [{"comment": text} for text in texts]
    if valid is not None:
        for comment, flag in zip(comments, valid, strict=True):
            comment["valid"] = flag
    return Reply(content=json.dumps({"comments": comments}))
