"""event-provision: create a fleet authority; issue, renew and revoke node certificates.

    event-provision init DIR --fleet NAME
    event-provision issue DIR --node-id N --role uav --out BUNDLE [--ops a,b] [--days D]
    event-provision renew DIR --cert BUNDLE/node.cert [--days D]
    event-provision revoke DIR SERIAL...
    event-provision show FILE

Rules:
- Exit 0 on success, 2 on a user error (bad argument, unusable or unsafe file) with one
  line on stderr, never a traceback.
- Only public data is printed: certificates, lists, public keys. Private keys go to
  0600 files only (see keystore.py for the layout).
- The authority's state is saved before the bundle or certificate it issued is written,
  so a crash in between wastes a serial but never hands one out twice.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ProtocolError
from . import keystore
from .authority import FleetAuthority
from .certificate import NODE_IDS, Certificate, Operation, Role
from .keystore import KeystoreError
from .revocation import RevocationList

DAY = 86_400
DEFAULT_DAYS = 30
_OPERATIONS = {op.name.lower(): op for op in Operation if op.name is not None}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse has printed usage or help already
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        args.run(args)
    except (KeystoreError, ProtocolError, OSError) as error:
        print(f"event-provision: error: {error}", file=sys.stderr)
        return 2
    return 0


def _init(args: argparse.Namespace) -> None:
    authority = FleetAuthority.create(args.fleet)
    keystore.create_authority_directory(args.dir, authority)
    print(f"fleet authority {args.fleet!r} created in {args.dir}")
    print(f"public key {authority.public_key.hex()}")


def _issue(args: argparse.Namespace) -> None:
    authority = keystore.load_authority(args.dir)
    # Checked before issuing too, so a mistyped --out does not cost a serial.
    if any((args.out / name).exists() for name in keystore.BUNDLE_FILES):
        raise KeystoreError(f"{args.out} already holds a key bundle")
    cert, keys = authority.issue(
        args.node_id, Role[args.role.upper()], args.ops, valid_for=args.days * DAY, now=time.time()
    )
    keystore.save_authority_state(args.dir, authority)
    keystore.save_node_keys(args.out, keys)
    print(f"key bundle written to {args.out}")
    print(_describe_certificate(cert))


def _renew(args: argparse.Namespace) -> None:
    authority = keystore.load_authority(args.dir)
    old = keystore.load_certificate(args.cert)
    cert = authority.renew(old, valid_for=args.days * DAY, now=time.time())
    keystore.save_authority_state(args.dir, authority)
    keystore.save_certificate(args.cert, cert)
    print(f"certificate {old.serial} renewed; {args.cert} replaced")
    print(_describe_certificate(cert))


def _revoke(args: argparse.Namespace) -> None:
    authority = keystore.load_authority(args.dir)
    crl = authority.revoke(*args.serials, now=time.time())
    keystore.save_authority_state(args.dir, authority)
    keystore.save_crl(args.dir / "crl.bin", crl)
    print(f"revocation list written to {args.dir / 'crl.bin'}")
    print(_describe_crl(crl))


def _show(args: argparse.Namespace) -> None:
    item = keystore.load_certificate_or_list(args.file)
    if isinstance(item, Certificate):
        print(_describe_certificate(item))
    else:
        print(_describe_crl(item))


def _describe_certificate(cert: Certificate) -> str:
    operations = ", ".join(name for name, op in _OPERATIONS.items() if op in cert.operations)
    return "\n".join(
        [
            "certificate",
            f"  serial         {cert.serial}",
            f"  node id        {cert.node_id}",
            f"  role           {cert.role.name.lower()}",
            f"  operations     {operations or 'none'}",
            f"  not before     {_timestamp(cert.not_before)}",
            f"  expires        {_timestamp(cert.expires)}",
            f"  signing key    {cert.signing_key.hex()}",
            f"  agreement key  {cert.agreement_key.hex()}",
            f"  signature      {cert.signature.hex()}",
        ]
    )


def _describe_crl(crl: RevocationList) -> str:
    serials = ", ".join(str(serial) for serial in sorted(crl.serials))
    return "\n".join(
        [
            "revocation list",
            f"  version        {crl.version}",
            f"  issued at      {_timestamp(crl.issued_at)}",
            f"  serials        {serials or 'none'}",
            f"  signature      {crl.signature.hex()}",
        ]
    )


def _timestamp(seconds: int) -> str:
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%d %H:%M:%S} UTC ({seconds})"


def _node_id(text: str) -> int:
    value = int(text) if text.isdigit() else -1
    if value not in NODE_IDS:
        raise argparse.ArgumentTypeError(f"node id must be 1-255, not {text!r}")
    return value


def _days(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"days must be a positive whole number, not {text!r}")
    return int(text)


def _operations(text: str) -> Operation:
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in _OPERATIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown operations {unknown}; choose from {', '.join(_OPERATIONS)}"
        )
    result = Operation(0)
    for name in names:
        result |= _OPERATIONS[name]
    return result


def _serial(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"a serial is a whole number, not {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="event-provision", description="Provision EVENT fleet certificates and keys."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="create a fleet authority in DIR")
    init.add_argument("dir", type=Path, metavar="DIR")
    init.add_argument("--fleet", required=True, help="fleet name")
    init.set_defaults(run=_init)
    issue = commands.add_parser("issue", help="issue a certificate and keys for a node")
    issue.add_argument("dir", type=Path, metavar="DIR", help="authority directory")
    issue.add_argument("--node-id", type=_node_id, required=True, help="MAVLink system id")
    issue.add_argument("--role", choices=[role.name.lower() for role in Role], required=True)
    issue.add_argument("--ops", type=_operations, help="comma-separated; default by role")
    issue.add_argument("--days", type=_days, default=DEFAULT_DAYS, help="validity in days")
    issue.add_argument("--out", type=Path, required=True, help="bundle directory to write")
    issue.set_defaults(run=_issue)
    renew = commands.add_parser("renew", help="renew a certificate (same keys, new serial)")
    renew.add_argument("dir", type=Path, metavar="DIR", help="authority directory")
    renew.add_argument("--cert", type=Path, required=True, help="certificate file to replace")
    renew.add_argument("--days", type=_days, default=DEFAULT_DAYS, help="validity in days")
    renew.set_defaults(run=_renew)
    revoke = commands.add_parser("revoke", help="revoke serials; writes DIR/crl.bin")
    revoke.add_argument("dir", type=Path, metavar="DIR", help="authority directory")
    revoke.add_argument("serials", type=_serial, nargs="+", metavar="SERIAL")
    revoke.set_defaults(run=_revoke)
    show = commands.add_parser("show", help="print a certificate or revocation list")
    show.add_argument("file", type=Path, metavar="FILE")
    show.set_defaults(run=_show)
    return parser


if __name__ == "__main__":
    sys.exit(main())
