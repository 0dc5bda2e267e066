"""A webhook receiver that checks signatures and deduplicates on the event id, the way a partner's
should: for the tests, the benchmark and trying webhooks out by hand (``manage.py webhook_receiver``).

It runs an HTTP server in a thread. ``behave(event_id, attempt)`` may return a status to answer (to
make it fail) or sleep (to look slow or hang); by default every valid request gets 200.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from omo.events import signing


class WebhookReceiver:
    def __init__(self, secret: str = "", *, port: int = 0, behave: Callable[[str, int], int | None] | None = None):
        self.secret = secret
        self.behave = behave
        self.lock = threading.Lock()
        self.attempts: Counter[str] = Counter()  # every valid request, by event id
        self.events: dict[str, dict] = {}  # the first body of each event id: deduplicated
        self.received_at: dict[str, float] = {}  # wall time of the first good answer
        self.order: list[str] = []  # event ids in the order they were first accepted
        self.by_aggregate: dict[str, list[int]] = defaultdict(list)
        self.refused: list[str] = []  # why requests were refused (bad signature ...)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.handle(body, self.headers)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def handle(self, body: bytes, headers) -> int:
        if self.secret:
            try:
                signing.verify(
                    self.secret,
                    body,
                    timestamp=headers.get(signing.TIMESTAMP_HEADER),
                    signature_header=headers.get(signing.SIGNATURE_HEADER),
                )
            except signing.BadSignature as error:
                with self.lock:
                    self.refused.append(error.code)
                return 401
        event_id = headers.get(signing.EVENT_ID_HEADER, "")
        with self.lock:
            self.attempts[event_id] += 1
            attempt = self.attempts[event_id]
        if self.behave is not None:
            status = self.behave(event_id, attempt)
            if status and not 200 <= status < 300:
                return status
        data = json.loads(body)
        with self.lock:
            if event_id not in self.events:  # a repeat is acknowledged and ignored
                self.events[event_id] = data
                self.received_at[event_id] = time.time()
                self.order.append(event_id)
                aggregate = data["aggregate"]
                self.by_aggregate[f"{aggregate['type']}:{aggregate['id']}"].append(int(event_id))
        return 200

    def wait_for(self, count: int, *, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.events) >= count:
                return True
            time.sleep(0.02)
        return len(self.events) >= count

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.attempts.values() if n > 1)
