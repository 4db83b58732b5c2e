"""A real HTTP server on loopback that plays Graph, X, Telegram, Slack and a generic callback.

    with FakePlatforms() as fake:
        settings = Settings(_env_file=None, **fake.settings_overrides(), meta_access_token="t")
        fake.script(400, {"error": {"code": 190, "message": "expired"}}, match="/comments")
        ...
        assert fake.calls[0]["path"] == "/v21.0/123/comments"

Routes (under `.url`): Graph at `/v21.0/...` (a comment's hide, unhide or delete answers
`{"success": true}`), X at `/2/...`, Telegram at `/bot<token>/<method>`,
Slack at `/api/<method>`, anything else answers like a generic callback (`/generic/reply` is the
`generic_callback_url` of `settings_overrides()`).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class _Canned:
    status: int
    body: Any
    headers: dict[str, str]
    match: str | None


class FakePlatforms:
    GRAPH_PREFIX = "/v21.0"
    SLACK_PREFIX = "/api"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[dict[str, Any]] = []
        self._script: deque[_Canned] = deque()
        self._delays: deque[tuple[float, str | None]] = deque()
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------ lifecycle
    def start(self) -> FakePlatforms:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self)

            do_GET = do_PUT = do_DELETE = do_POST  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # keep test output clean

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out and left: not the test's business

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="fake-platforms", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wake delayed handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakePlatforms:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------------------------------- helpers
    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def calls(self) -> list[dict[str, Any]]:
        """A snapshot: dicts with method, path, headers (lower-cased), json (or None) and raw bytes."""
        with self._lock:
            return list(self._calls)

    def script(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        match: str | None = None,
    ) -> None:
        """Queue one canned answer (FIFO), for the next call, or the next whose path contains `match`.

        `body`: a dict/list (sent as JSON), str or bytes (sent as is), or None (empty body).
        """
        with self._lock:
            self._script.append(_Canned(status, body, dict(headers or {}), match))

    def delay(self, seconds: float, match: str | None = None) -> None:
        """Make the next (matching) call wait `seconds` before answering."""
        with self._lock:
            self._delays.append((seconds, match))

    def settings_overrides(self) -> dict[str, str]:
        return {
            "meta_graph_url": self.url + self.GRAPH_PREFIX,
            "x_api_url": self.url,
            "telegram_api_url": self.url,
            "slack_api_url": self.url + self.SLACK_PREFIX,
            "generic_callback_url": self.url + "/generic/reply",
        }

    # ------------------------------------------------------------------------------------- handling
    @staticmethod
    def _take(queue: deque[Any], path: str, match_of: Any) -> Any:
        for item in queue:
            match = match_of(item)
            if match is None or match in path:
                queue.remove(item)
                return item
        return None

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("content-length") or 0)
        raw = request.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = request.path
        with self._lock:
            self._calls.append(
                {
                    "method": request.command,
                    "path": path,
                    "headers": {k.lower(): v for k, v in request.headers.items()},
                    "json": body,
                    "raw": raw,
                }
            )
            canned = self._take(self._script, path, lambda c: c.match)
            delay = self._take(self._delays, path, lambda d: d[1])
        if delay is not None:
            self._stopping.wait(delay[0])
        if canned is None:
            status, answer, headers = 200, self._default(path, body, request.command), {}
        else:
            status, answer, headers = canned.status, canned.body, canned.headers
        if isinstance(answer, dict | list):
            data, ctype = json.dumps(answer).encode(), "application/json"
        elif isinstance(answer, str):
            data, ctype = answer.encode(), "text/plain; charset=utf-8"
        else:
            data, ctype = answer or b"", "application/octet-stream"
        try:
            request.send_response(status)
            request.send_header("Content-Type", headers.pop("Content-Type", ctype))
            request.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                request.send_header(name, value)
            request.end_headers()
            request.wfile.write(data)
        except OSError:
            pass  # the client gave up (read timeout): nothing to answer

    def _default(self, path: str, body: Any, method: str = "POST") -> Any:
        n = next(self._ids)
        body = body if isinstance(body, dict) else {}
        if path.startswith(self.GRAPH_PREFIX) and (method == "DELETE" or {"is_hidden", "hide"} & set(body)):
            return {"success": True}  # a moderation of a comment
        if path.startswith(self.GRAPH_PREFIX):
            if path.endswith("/messages") and body.get("messaging_product") == "whatsapp":
                return {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                    "messages": [{"id": f"wamid.FAKE{n}"}],
                }
            if path.endswith("/messages"):
                return {"recipient_id": (body.get("recipient") or {}).get("id"), "message_id": f"m_fake{n}"}
            return {"id": f"{n}_fake"}
        if path.startswith("/2/tweets/") and path.endswith("/hidden"):
            return {"data": {"hidden": body.get("hidden")}}  # X's hide replies
        if path.startswith("/2/dm_conversations/"):
            return {"data": {"dm_conversation_id": f"conv{n}", "dm_event_id": f"{1800000000000000000 + n}"}}
        if path.startswith("/2/"):
            return {
                "data": {
                    "id": f"{1900000000000000000 + n}",
                    "text": body.get("text"),
                    "edit_history_tweet_ids": [f"{1900000000000000000 + n}"],
                }
            }
        if path.startswith("/bot"):
            return {
                "ok": True,
                "result": {
                    "message_id": 1000 + n,
                    "date": int(time.time()),
                    "chat": {"id": body.get("chat_id")},
                    "text": body.get("text"),
                },
            }
        if path.startswith(self.SLACK_PREFIX + "/"):
            return {"ok": True, "channel": body.get("channel"), "ts": f"1700000000.{n:06d}"}
        return {"id": f"generic-{n}"}
