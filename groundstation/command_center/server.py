"""The reference command center's HTTP service: the cloud API (docs/api.openapi.yaml).

It stands in for the user's cloud in tests and demos; it is not that cloud.

Server choice: the standard library's `http.server.ThreadingHTTPServer`, one thread per
connection. It costs no dependency, it is maintained with CPython, it speaks HTTP/1.1
keep-alive, and a thread per connection is the natural shape for long polling with a few
gateways. A production cloud behind a load balancer is another program; this one has to
be correct and easy to read, not fast. (hypercorn with an ASGI app under trio would add
two dependencies for no behaviour the tests need.)

Rules:
- Auth: `Authorization: Bearer <token>` (auth.py). No or unknown token: 401 with
  `WWW-Authenticate: Bearer`; a known token without the right: 403. Only GET /api/health
  is open.
- POST /api/messages is all or nothing and idempotent: a batch with any invalid record
  is answered 422 naming each bad record (`rejected`: index, msg_id, error) and nothing
  is stored; otherwise 200 with `accepted` (new ids) and `duplicates` (ids already held).
  A body that is not a batch at all is 400; over `max_body` bytes or `max_batch` records
  is 413 (the client splits); no Content-Length is 411.
- Every method reaches the routes (routes.py): one no route has is 405 with `Allow` and a
  JSON error body, not http.server's 501 HTML page. HEAD is answered without a body.
- Faults (faults.py) are applied before anything else to /api/ requests.
- Shutdown (`close`): stop accepting, wake long polls and hung requests, shut the open
  connections down, join every request thread. Nothing lingers for a test to trip on.
- Request logs go to the `groundstation.command_center` logger; tokens never do.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .auth import Identity, Tokens
from .faults import Fault, Faults
from .routes import HttpError, find_route
from .store import CommandCenterStore

log = logging.getLogger("groundstation.command_center")

MAX_BODY = 4 * 1024 * 1024
MAX_BATCH = 1000


class CommandCenterServer(ThreadingHTTPServer):
    """The service: build, run `serve_forever` (or use `serving`), then `close`."""

    daemon_threads = False  # joined on close, so no request outlives the server
    block_on_close = True

    def __init__(
        self,
        address: tuple[str, int],
        store: CommandCenterStore,
        tokens: Tokens,
        *,
        tls: ssl.SSLContext | None = None,
        max_body: int = MAX_BODY,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.store, self.tokens, self.tls = store, tokens, tls
        self.max_body, self.max_batch = max_body, max_batch
        self.faults = Faults()
        self.stopping = threading.Event()
        self.queued = threading.Condition()
        self.waiting = 0
        """Long polls waiting right now (guarded by `queued`), shown by /api/health."""
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, RequestHandler)

    @property
    def url(self) -> str:
        """The base URL clients use."""
        host, port = self.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host!s}:{port}"

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Run in the request's thread: TLS handshake here, not in the accept loop."""
        connection = request
        try:
            if self.tls is not None:
                request.settimeout(10)
                connection = self.tls.wrap_socket(request, server_side=True)
            with self._open_lock:
                self._open.add(connection)
            RequestHandler(connection, client_address, self)
        except OSError as exc:  # ssl.SSLError included: a failed handshake, a reset
            log.debug("connection from %s ended: %s", client_address, exc)
        finally:
            with self._open_lock:
                self._open.discard(connection)
            if connection is not request:
                connection.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("request from %s failed", client_address)

    def close(self) -> None:
        """Stop serving and join every request thread (call from another thread)."""
        self.stopping.set()
        with self.queued:
            self.queued.notify_all()
        self.shutdown()
        with self._open_lock:
            for connection in self._open:
                # socket.socket.shutdown even for TLS: the handler's read sees EOF.
                with suppress(OSError):
                    socket.socket.shutdown(connection, socket.SHUT_RDWR)
        self.server_close()

    def notify_queued(self) -> None:
        """Wake the long polls: a command was queued."""
        with self.queued:
            self.queued.notify_all()


@contextmanager
def serving(server: CommandCenterServer) -> Iterator[CommandCenterServer]:
    """Run `server` in a thread for the block's duration, then close it."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="command center"
    )
    thread.start()
    try:
        yield server
    finally:
        server.close()
        thread.join()


class RequestHandler(BaseHTTPRequestHandler):
    """One connection's requests, each dispatched to its route."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle keep-alive connection is closed after a minute
    server: CommandCenterServer
    _body_done = False

    def __getattr__(self, name: str) -> Callable[[], None]:
        # http.server answers a method without a do_<METHOD> with 501 and an HTML page;
        # every method goes to the routes instead, which know which ones a path allows.
        if name.startswith("do_"):
            return lambda: self._dispatch(name.removeprefix("do_"))
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self, method: str) -> None:
        self._body_done = False
        url = urlsplit(self.path)
        fault = self.server.faults.take() if url.path.startswith("/api/") else None
        if fault is not None and fault.mode != "lose":
            self._inject(fault)
            return
        headers: dict[str, str] = {}
        try:
            route, right, params = find_route(method, url.path)
            identity = self._identify(right)
            # A blank value (`limit=`) is a value to refuse, not the parameter's default.
            query = parse_qs(url.query, keep_blank_values=True)
            status, body = route(self, identity, {**query, **params})
        except HttpError as exc:
            status, body, headers = exc.status, exc.body, exc.headers
        if fault is not None:  # "lose": the work is done, the answer never leaves
            self.close_connection = True
            return
        self._discard_body()  # an early refusal leaves the body unread: not the next request
        self._reply(status, body, headers)

    def _identify(self, right: str | None) -> Identity:
        identity = self.server.tokens.identify(self.headers.get("Authorization"))
        if right is None:
            return identity or Identity("anonymous", "none")
        if identity is None:
            raise HttpError(401, "missing or unknown bearer token")
        if not identity.may(right):
            raise HttpError(403, f"role {identity.role} may not {right.replace('_', ' ')}")
        return identity

    def _inject(self, fault: Fault) -> None:
        log.info("injecting %s into %s %s", fault.mode, self.command, self.path)
        if fault.mode == "status":
            self._discard_body()
            self._reply(fault.status, {"error": f"injected fault: {fault.status}"})
            return
        if fault.mode == "hang":
            self.server.stopping.wait(fault.hang)
        self.close_connection = True

    def _discard_body(self) -> None:
        """Read and drop the body unless done; one too large to drain ends the connection."""
        if self._body_done:
            return
        self._body_done = True
        try:
            length = self._length(required=False)
        except HttpError:
            length = -1
        if 0 <= length <= self.server.max_body * 16:
            self.rfile.read(length)
        else:
            self.close_connection = True

    def _length(self, *, required: bool) -> int:
        text = self.headers.get("Content-Length")
        if text is None:
            if required:
                raise HttpError(411, "Content-Length is required")
            return 0
        try:
            length = int(text)
        except ValueError:
            raise HttpError(400, "Content-Length is not a number") from None
        if length < 0:
            raise HttpError(400, "Content-Length is negative")
        return length

    def read_body(self) -> bytes:
        """The request body; HttpError 411 or 413."""
        length = self._length(required=True)
        if length > self.server.max_body:
            self._discard_body()
            raise HttpError(413, f"body of {length} bytes exceeds {self.server.max_body}")
        self._body_done = True
        return bytes(self.rfile.read(length))

    def read_json(self) -> Any:
        """The request body as JSON; HttpError 411/413/400."""
        data = self.read_body()
        try:
            return json.loads(data)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise HttpError(400, f"body is not JSON: {exc}") from None

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="command center"')
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":  # RFC 9110, section 9.3.2: the headers GET would send
            self.wfile.write(data)
