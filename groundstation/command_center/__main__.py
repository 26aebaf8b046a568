"""`python -m groundstation.command_center`: run the reference command center, queue, list.

    serve --db cc.db --port 8080 --token-file tokens.toml [--host H] [--tls-cert C --tls-key K]
    queue --db cc.db --uav 3 --type mission_abort --params '{"action": "rtl"}' [--command-id ID]
    list  --db cc.db [--commands] [--limit N]
    token --identity gs-alpha --role gateway

Rules:
- `serve` prints one line, "reference command center listening on <url>", once it
  accepts connections (port 0 picks a free port: the line tells which), and stops
  cleanly on SIGINT or SIGTERM.
- `queue` and `list` work on the file directly, beside a running `serve` (SQLite WAL);
  `queue` validates the command exactly as POST /api/commands does.
- `list` prints one JSON object per line (records, or commands with their status).
- `token` prints a fresh random token and the TOML table to add to the token file.
- Bad input (a bad command, an unusable file) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from ..commands import COMMAND_TYPES, CommandError, parse_command
from .auth import ROLE_RIGHTS, TokenFileError, Tokens, digest
from .server import CommandCenterServer, serving
from .store import CommandCenterStore, CommandConflict, StoreError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m groundstation.command_center",
        description="The reference command center: a stand-in for the cloud API.",
    )
    commands = parser.add_subparsers(dest="action", required=True)
    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--db", required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--token-file", required=True)
    serve.add_argument("--tls-cert", help="PEM certificate chain: serve HTTPS")
    serve.add_argument("--tls-key", help="PEM private key of --tls-cert")
    serve.add_argument("--max-body", type=int, default=4 * 1024 * 1024)
    serve.add_argument("--max-batch", type=int, default=1000)
    queue = commands.add_parser("queue", help="queue a command for a UAV")
    queue.add_argument("--db", required=True)
    queue.add_argument("--uav", type=int, required=True)
    queue.add_argument("--type", required=True, choices=COMMAND_TYPES)
    queue.add_argument("--params", default="{}", help="JSON object")
    queue.add_argument("--command-id")
    listing = commands.add_parser("list", help="show what arrived (or the commands)")
    listing.add_argument("--db", required=True)
    listing.add_argument("--commands", action="store_true")
    listing.add_argument("--limit", type=int, default=100)
    token = commands.add_parser("token", help="make a token and its token-file entry")
    token.add_argument("--identity", required=True)
    token.add_argument("--role", required=True, choices=sorted(ROLE_RIGHTS))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.action == "serve":
            return _serve(args)
        if args.action == "queue":
            return _queue(args)
        if args.action == "list":
            return _list(args)
        return _token(args)
    except (StoreError, TokenFileError, CommandError, OSError, ssl.SSLError) as exc:
        print(f"command center: {exc}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    tokens = Tokens.load(args.token_file)
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    with CommandCenterStore(args.db) as store:
        server = CommandCenterServer(
            (args.host, args.port),
            store,
            tokens,
            tls=tls,
            max_body=args.max_body,
            max_batch=args.max_batch,
        )
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        with serving(server):
            print(f"reference command center listening on {server.url}", flush=True)
            while not stop.wait(0.5):
                pass
    return 0


def _queue(args: argparse.Namespace) -> int:
    try:
        params = json.loads(args.params)
    except ValueError as exc:
        raise CommandError(f"--params is not JSON: {exc}") from None
    command_id = args.command_id or f"cc-{uuid.uuid4().hex[:16]}"
    command = parse_command(
        {"command_id": command_id, "uav": args.uav, "type": args.type, "params": params}
    )
    with CommandCenterStore(args.db) as store:
        try:
            cursor = store.queue(command.to_json(), time.time(), "cli")
        except CommandConflict as exc:
            raise CommandError(str(exc)) from None
    _print({"command_id": command.command_id, "cursor": cursor})
    return 0


def _list(args: argparse.Namespace) -> int:
    with CommandCenterStore(args.db) as store:
        if args.commands:
            for command in store.commands(args.limit):
                _print({**command.to_json(), "reason": command.reason})
        else:
            after = max(0, store.newest_row() - args.limit)
            for row, record, received in store.records(after=after, limit=args.limit):
                _print({"row": row, "received_at": received, **record.to_json()})
    return 0


def _token(args: argparse.Namespace) -> int:
    token = secrets.token_urlsafe(32)
    print(f"token: {token}")
    print(f'[tokens.{args.identity}]\nrole = "{args.role}"\nsha256 = "{digest(token)}"')
    return 0


def _print(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
