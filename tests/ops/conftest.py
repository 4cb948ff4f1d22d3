"""Receivers for operator alerts (a local SMTP server and a local webhook), both on 127.0.0.1."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from local_servers import MailSink, free_port


@pytest.fixture
def smtp_sink():
    """(sink, port): a real SMTP server on 127.0.0.1 (aiosmtpd)."""
    from aiosmtpd.controller import Controller

    sink = MailSink()
    ctl = Controller(sink, hostname="127.0.0.1", port=free_port())
    ctl.start()
    yield sink, ctl.port
    ctl.stop()


class Webhook:
    """The JSON bodies POSTed to a local HTTP server."""

    def __init__(self, url: str):
        self.url = url
        self.posts: list[dict] = []

    def wait_for(self, n: int, timeout_s: float) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while len(self.posts) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.posts


@pytest.fixture
def webhook():
    """A :class:`Webhook` receiver on 127.0.0.1 answering 204."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append({"path": self.path, "content_type": self.headers.get("Content-Type"), **json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = Webhook(f"http://127.0.0.1:{server.server_address[1]}/hooks/T0KEN")
    hook.posts = received
    yield hook
    server.shutdown()
    server.server_close()
