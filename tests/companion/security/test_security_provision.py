"""The event-provision CLI end to end in a temporary directory."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from companion.security import keystore
from companion.security.certificate import CertificateStatus, Operation, Role
from companion.security.provision import main
from companion.security.revocation import RevocationState


class Cli:
    """Runs main() and keeps everything it printed."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.printed: list[str] = []

    def __call__(self, *argv: str | Path | int) -> tuple[int, str, str]:
        status = main([str(arg) for arg in argv])
        out, err = self.capsys.readouterr()
        self.printed += [out, err]
        return status, out, err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


@pytest.fixture
def ca(tmp_path: Path, cli: Cli) -> Path:
    assert cli("init", tmp_path / "ca", "--fleet", "alpha")[0] == 0
    return tmp_path / "ca"


def leaked_forms(path: Path) -> list[str]:
    """Hex, base64 and PEM forms of the private key in `path`."""
    pem = path.read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    body = b"".join(pem.splitlines()[1:-1]).decode()
    return [raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode(), body]


def test_end_to_end(tmp_path: Path, ca: Path, cli: Cli) -> None:
    status, out, _ = cli("issue", ca, "--node-id", 3, "--role", "uav", "--out", tmp_path / "uav3")
    assert status == 0
    assert "serial         1" in out
    assert "mission_abort" not in out
    status, out, _ = cli(
        "issue", ca, "--node-id", 250, "--role", "ground_station", "--days", 2,
        "--out", tmp_path / "gs",
    )  # fmt: skip
    assert status == 0
    assert "mission_abort" in out

    uav = keystore.load_node_keys(tmp_path / "uav3")
    gs = keystore.load_node_keys(tmp_path / "gs")
    authority_key = (ca / "authority.pub").read_bytes()
    assert uav.authority_key == gs.authority_key == authority_key
    assert (uav.certificate.node_id, uav.certificate.role) == (3, Role.UAV)
    assert not uav.certificate.permits(Operation.MISSION_ABORT)
    assert gs.certificate.permits(Operation.MISSION_ABORT)
    assert gs.certificate.expires - gs.certificate.not_before == 2 * 86_400 + 300

    status, out, _ = cli("show", tmp_path / "gs" / "node.cert")
    assert status == 0
    assert "node id        250" in out
    assert "role           ground_station" in out
    assert gs.certificate.signing_key.hex() in out

    status, out, _ = cli("renew", ca, "--cert", tmp_path / "uav3" / "node.cert", "--days", 5)
    assert status == 0
    renewed = keystore.load_node_keys(tmp_path / "uav3").certificate
    assert renewed.serial == 3
    assert renewed.signing_key == uav.certificate.signing_key
    assert renewed.verify(authority_key, renewed.not_before) is CertificateStatus.VALID

    status, out, _ = cli("revoke", ca, 3)
    assert status == 0
    crl_bytes = (ca / "crl.bin").read_bytes()
    state = RevocationState()
    assert state.offer(crl_bytes, authority_key)
    assert state.is_revoked(renewed)
    assert state.is_revoked(uav.certificate)  # the renewed-away serial 1 goes with it
    assert not state.is_revoked(gs.certificate)

    status, out, _ = cli("show", ca / "crl.bin")
    assert status == 0
    assert "revocation list" in out
    assert "serials        1, 3" in out

    secrets = []
    for path in [ca / "authority.key", *(tmp_path / "uav3").glob("*.key")]:
        secrets += leaked_forms(path)
    for path in (tmp_path / "gs").glob("*.key"):
        secrets += leaked_forms(path)
    assert len(secrets) == 20
    printed = "".join(cli.printed)
    assert not any(secret in printed for secret in secrets)


def test_issue_with_explicit_operations(tmp_path: Path, ca: Path, cli: Cli) -> None:
    out_dir = tmp_path / "c"
    argv: list[str | Path | int] = ["issue", ca, "--node-id", 1, "--role", "command"]
    argv += ["--ops", "ACK, retask", "--out"]
    assert cli(*argv, out_dir)[0] == 0
    cert = keystore.load_node_keys(out_dir).certificate
    assert cert.operations == Operation.ACK | Operation.RETASK


def user_error(cli: Cli, *argv: str | Path | int) -> str:
    status, _, err = cli(*argv)
    assert status == 2
    assert "Traceback" not in err
    assert "error:" in err
    return err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--node-id", "0", "--role", "uav"], "node id must be 1-255"),
        (["--node-id", "256", "--role", "uav"], "node id must be 1-255"),
        (["--node-id", "x", "--role", "uav"], "node id must be 1-255"),
        (["--node-id", "3", "--role", "pilot"], "invalid choice"),
        (["--node-id", "3", "--role", "uav", "--ops", "fly"], "unknown operations"),
        (["--node-id", "3", "--role", "uav", "--days", "0"], "positive whole number"),
        (["--role", "uav"], "required: --node-id"),
    ],
)
def test_issue_user_errors(
    tmp_path: Path, ca: Path, cli: Cli, argv: list[str], message: str
) -> None:
    assert message in user_error(cli, "issue", ca, *argv, "--out", tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_file_user_errors(tmp_path: Path, ca: Path, cli: Cli) -> None:
    assert "already exists" in user_error(cli, "init", ca, "--fleet", "again")
    assert "No such file" in user_error(cli, "revoke", tmp_path / "nothing", "1")
    assert "not issued" in user_error(cli, "revoke", ca, "7")
    assert "whole number" in user_error(cli, "revoke", ca, "-1")
    assert "No such file" in user_error(cli, "show", tmp_path / "missing")
    (tmp_path / "garbage").write_bytes(b"x" * 145)
    assert "malformed certificate" in user_error(cli, "show", tmp_path / "garbage")
    (tmp_path / "garbage").write_bytes(b"x" * 10)
    assert "revocation list cannot be" in user_error(cli, "show", tmp_path / "garbage")

    bundle = tmp_path / "bundle"
    assert cli("issue", ca, "--node-id", 3, "--role", "uav", "--out", bundle)[0] == 0
    again: list[str | Path | int] = ["issue", ca, "--node-id", 3, "--role", "uav", "--out", bundle]
    assert "already holds a key bundle" in user_error(cli, *again)
    assert keystore.load_authority(ca).next_serial == 2  # the refusal cost no serial

    other = tmp_path / "other"
    assert cli("init", other, "--fleet", "beta")[0] == 0
    err = user_error(cli, "renew", other, "--cert", bundle / "node.cert")
    assert "not issued by this authority" in err

    os.chmod(ca / "authority.key", 0o644)
    assert "too open" in user_error(cli, "revoke", ca, "1")


def test_usage(cli: Cli) -> None:
    assert cli()[0] == 2
    status, out, _ = cli("--help")
    assert status == 0
    assert "init" in out
    assert "revoke" in out
    status, out, _ = cli("issue", "--help")
    assert status == 0
    assert "--node-id" in out
