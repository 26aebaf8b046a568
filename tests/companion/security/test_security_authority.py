"""The fleet authority and the key files: issue, renew, revoke, persist, protect."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from companion.errors import LocalProtocolError, RemoteProtocolError
from companion.security import keystore
from companion.security.authority import CLOCK_SLACK, FleetAuthority, NodeKeys
from companion.security.certificate import (
    DEFAULT_OPERATIONS,
    CertificateStatus,
    Operation,
    Role,
)
from companion.security.keystore import KeystoreError
from companion.security.revocation import MAX_SERIALS

NOW = 1_780_000_000
DAY = 86_400


@pytest.fixture
def authority() -> FleetAuthority:
    return FleetAuthority.create("test-fleet")


def private_forms(key: Any) -> list[str]:
    """Every way a private key's bytes might leak into text."""
    raw = key.private_bytes_raw()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    body = b"".join(pem.splitlines()[1:-1]).decode()
    return [raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode(), body, repr(raw)[2:-1]]


def test_issue_gives_fresh_keys_and_a_valid_certificate(authority: FleetAuthority) -> None:
    cert, keys = authority.issue(3, Role.UAV, valid_for=DAY, now=NOW)
    assert keys.certificate == cert
    assert keys.authority_key == authority.public_key
    assert cert.verify(authority.public_key, NOW) is CertificateStatus.VALID
    assert cert.operations == DEFAULT_OPERATIONS[Role.UAV]
    assert (cert.node_id, cert.role, cert.serial) == (3, Role.UAV, 1)
    assert (cert.not_before, cert.expires) == (NOW - CLOCK_SLACK, NOW + DAY)
    assert keys.signing_key.public_key().public_bytes_raw() == cert.signing_key
    assert keys.agreement_key.public_key().public_bytes_raw() == cert.agreement_key
    other_cert, _ = authority.issue(4, Role.UAV, valid_for=DAY, now=NOW)
    assert other_cert.serial == 2
    assert other_cert.signing_key != cert.signing_key


def test_issue_with_explicit_operations(authority: FleetAuthority) -> None:
    ops = Operation.TELEMETRY | Operation.RELAY
    cert, _ = authority.issue(250, Role.GROUND_STATION, ops, valid_for=DAY, now=NOW)
    assert cert.operations == ops
    assert not cert.permits(Operation.MISSION_ABORT)


def test_issue_refuses_bad_fields(authority: FleetAuthority) -> None:
    with pytest.raises(LocalProtocolError, match="node id"):
        authority.issue(0, Role.UAV, valid_for=DAY, now=NOW)
    with pytest.raises(LocalProtocolError):
        authority.issue(3, Role.UAV, valid_for=0, now=NOW)
    assert authority.next_serial == 1


def test_renew_keeps_keys_and_gives_a_new_serial(authority: FleetAuthority) -> None:
    cert, _ = authority.issue(3, Role.UAV, valid_for=DAY, now=NOW)
    renewed = authority.renew(cert, valid_for=7 * DAY, now=NOW + DAY)
    assert renewed.serial == 2
    assert renewed.expires == NOW + 8 * DAY
    assert (renewed.signing_key, renewed.agreement_key) == (cert.signing_key, cert.agreement_key)
    assert (renewed.node_id, renewed.role, renewed.operations) == (3, Role.UAV, cert.operations)
    assert renewed.verify(authority.public_key, NOW + 2 * DAY) is CertificateStatus.VALID


def test_renew_refuses_foreign_and_revoked_certificates(authority: FleetAuthority) -> None:
    foreign, _ = FleetAuthority.create("other").issue(3, Role.UAV, valid_for=DAY, now=NOW)
    with pytest.raises(LocalProtocolError, match="not issued by this authority"):
        authority.renew(foreign, valid_for=DAY, now=NOW)
    cert, _ = authority.issue(3, Role.UAV, valid_for=DAY, now=NOW)
    authority.revoke(cert.serial, now=NOW)
    with pytest.raises(LocalProtocolError, match="revoked"):
        authority.renew(cert, valid_for=DAY, now=NOW)


def test_revoke_increments_the_version_and_signs(authority: FleetAuthority) -> None:
    a, _ = authority.issue(3, Role.UAV, valid_for=DAY, now=NOW)
    b, _ = authority.issue(4, Role.UAV, valid_for=DAY, now=NOW)
    first = authority.revoke(a.serial, now=NOW)
    second = authority.revoke(b.serial, now=NOW + 1)
    assert (first.version, first.serials) == (1, frozenset({a.serial}))
    assert (second.version, second.serials, second.issued_at) == (
        2,
        frozenset({a.serial, b.serial}),
        NOW + 1,
    )
    assert first.verify(authority.public_key)
    assert second.verify(authority.public_key)


def test_revoking_a_node_revokes_its_earlier_certificates(authority: FleetAuthority) -> None:
    old, _ = authority.issue(3, Role.UAV, valid_for=DAY, now=NOW)
    current = authority.renew(old, valid_for=DAY, now=NOW + 10)
    other, _ = authority.issue(4, Role.UAV, valid_for=DAY, now=NOW)
    # The old certificate is still unexpired: it must not outlive the revocation.
    assert authority.revoke(current.serial, now=NOW + 20).serials == {old.serial, current.serial}
    assert other.serial not in authority.revoked


def test_expired_certificates_drop_off_the_list(authority: FleetAuthority) -> None:
    short, _ = authority.issue(3, Role.UAV, valid_for=60, now=NOW)
    long, _ = authority.issue(4, Role.UAV, valid_for=DAY, now=NOW)
    assert authority.revoke(short.serial, long.serial, now=NOW).serials == {1, 2}
    assert authority.revoke(now=NOW + 60).serials == {long.serial}
    assert authority.revoked == {short.serial, long.serial}


def test_revoke_refuses_unknown_serials_and_overflow(authority: FleetAuthority) -> None:
    with pytest.raises(LocalProtocolError, match="not issued"):
        authority.revoke(1, now=NOW)
    serials = [authority.issue(3, Role.UAV, valid_for=DAY, now=NOW)[0].serial for _ in range(38)]
    authority.revoke(*serials[:MAX_SERIALS], now=NOW)
    with pytest.raises(LocalProtocolError, match="exceed"):
        authority.revoke(serials[-1], now=NOW)
    assert (authority.crl_version, len(authority.revoked)) == (1, MAX_SERIALS)


def test_state_round_trips_through_json(authority: FleetAuthority) -> None:
    cert, _ = authority.issue(3, Role.UAV, valid_for=DAY, now=NOW)
    authority.revoke(cert.serial, now=NOW)
    state = json.loads(json.dumps(authority.public_state()))
    restored = FleetAuthority.restore(authority.private_key, state)
    assert restored.public_state() == authority.public_state()
    assert restored.issue(4, Role.UAV, valid_for=DAY, now=NOW)[0].serial == 2
    assert restored.revoke(now=NOW).version == 2


@pytest.mark.parametrize(
    "change",
    [
        {"public_key": "00" * 32},
        {"format": 2},
        {"next_serial": "x"},
        {"issued": []},
        {"issued": {"1": {"expires": 5}}},
        {"revoked": None},
    ],
)
def test_restore_refuses_a_malformed_state(
    authority: FleetAuthority, change: dict[str, Any]
) -> None:
    authority.issue(3, Role.UAV, valid_for=DAY, now=NOW)
    with pytest.raises(RemoteProtocolError):
        FleetAuthority.restore(authority.private_key, authority.public_state() | change)


def test_state_and_repr_hold_no_private_key(authority: FleetAuthority) -> None:
    _, keys = authority.issue(3, Role.UAV, valid_for=DAY, now=NOW)
    texts = [repr(keys), str(keys), repr(authority), str(authority)]
    texts.append(json.dumps(authority.public_state()))
    secrets = private_forms(authority.private_key)
    secrets += private_forms(keys.signing_key) + private_forms(keys.agreement_key)
    for text in texts:
        assert not any(secret in text for secret in secrets)
    assert repr(keys) == "NodeKeys(node 3, UAV, serial 1)"


# Keystore


@pytest.fixture
def issued(authority: FleetAuthority) -> NodeKeys:
    return authority.issue(3, Role.UAV, valid_for=DAY, now=NOW)[1]


@pytest.fixture
def umask_zero() -> Iterator[None]:
    """The most permissive umask: file modes must not depend on the umask."""
    old = os.umask(0)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.usefixtures("umask_zero")
def test_bundle_round_trip_and_modes(tmp_path: Path, issued: NodeKeys) -> None:
    bundle = tmp_path / "bundle" / "uav3"
    keystore.save_node_keys(bundle, issued)
    loaded = keystore.load_node_keys(bundle)
    assert (loaded.certificate, loaded.authority_key) == (issued.certificate, issued.authority_key)
    assert loaded.signing_key.private_bytes_raw() == issued.signing_key.private_bytes_raw()
    assert loaded.agreement_key.private_bytes_raw() == issued.agreement_key.private_bytes_raw()
    assert mode(bundle) == 0o700
    assert mode(bundle / "signing.key") == mode(bundle / "agreement.key") == 0o600
    assert mode(bundle / "node.cert") == mode(bundle / "authority.pub") == 0o644
    assert sorted(p.name for p in bundle.iterdir()) == sorted(keystore.BUNDLE_FILES)
    assert (bundle / "node.cert").read_bytes() == issued.certificate.encode()


def test_private_keys_are_created_0600_exclusively(
    tmp_path: Path, issued: NodeKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[tuple[int, int]] = []
    real_open = os.open

    def spy(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        if flags & os.O_CREAT:
            created.append((flags, mode))
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    keystore.save_node_keys(tmp_path / "b", issued)
    assert len(created) == 4
    assert all(flags & os.O_EXCL and mode == 0o600 for flags, mode in created)


@pytest.mark.parametrize("bad_mode", [0o644, 0o640, 0o604, 0o660])
def test_loading_an_exposed_private_key_fails(
    tmp_path: Path, issued: NodeKeys, bad_mode: int
) -> None:
    keystore.save_node_keys(tmp_path, issued)
    os.chmod(tmp_path / "signing.key", bad_mode)
    with pytest.raises(KeystoreError, match=r"too open.*chmod 600"):
        keystore.load_node_keys(tmp_path)


def test_an_existing_bundle_is_never_overwritten(tmp_path: Path, issued: NodeKeys) -> None:
    keystore.save_node_keys(tmp_path, issued)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(KeystoreError, match="already holds"):
        keystore.save_node_keys(tmp_path, issued)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_inconsistent_bundles_are_refused(
    tmp_path: Path, authority: FleetAuthority, issued: NodeKeys
) -> None:
    keystore.save_node_keys(tmp_path / "a", issued)
    keystore.save_node_keys(tmp_path / "b", authority.issue(4, Role.UAV, valid_for=DAY, now=NOW)[1])
    os.replace(tmp_path / "b" / "agreement.key", tmp_path / "a" / "agreement.key")
    with pytest.raises(KeystoreError, match=r"agreement\.key does not belong"):
        keystore.load_node_keys(tmp_path / "a")
    os.replace(tmp_path / "b" / "signing.key", tmp_path / "a" / "agreement.key")
    with pytest.raises(KeystoreError, match="not an X25519"):
        keystore.load_node_keys(tmp_path / "a")
    (tmp_path / "b" / "authority.pub").write_bytes(bytes(32))
    keystore.save_node_keys(tmp_path / "c", issued)
    os.replace(tmp_path / "b" / "authority.pub", tmp_path / "c" / "authority.pub")
    with pytest.raises(KeystoreError, match=r"not signed by authority\.pub"):
        keystore.load_node_keys(tmp_path / "c")


def test_missing_and_garbage_files_are_keystore_errors(tmp_path: Path, issued: NodeKeys) -> None:
    with pytest.raises(KeystoreError, match="No such file"):
        keystore.load_node_keys(tmp_path)
    keystore.save_node_keys(tmp_path, issued)
    (tmp_path / "node.cert").write_bytes(b"garbage")
    with pytest.raises(KeystoreError, match=r"node\.cert"):
        keystore.load_node_keys(tmp_path)
    fd = os.open(tmp_path / "x.key", os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    with pytest.raises(KeystoreError, match="not an unencrypted PKCS#8"):
        keystore._read_signing_key(tmp_path / "x.key")


@pytest.mark.usefixtures("umask_zero")
def test_authority_directory_round_trip(tmp_path: Path, authority: FleetAuthority) -> None:
    cert, _ = authority.issue(3, Role.UAV, valid_for=DAY, now=NOW)
    keystore.create_authority_directory(tmp_path / "ca", authority)
    crl = authority.revoke(cert.serial, now=NOW)
    keystore.save_authority_state(tmp_path / "ca", authority)
    keystore.save_crl(tmp_path / "ca" / "crl.bin", crl)
    assert mode(tmp_path / "ca") == 0o700
    assert mode(tmp_path / "ca" / "authority.key") == 0o600
    assert (tmp_path / "ca" / "authority.pub").read_bytes() == authority.public_key
    loaded = keystore.load_authority(tmp_path / "ca")
    assert loaded.public_state() == authority.public_state()
    assert keystore.load_crl(tmp_path / "ca" / "crl.bin") == crl
    assert keystore.load_certificate_or_list(tmp_path / "ca" / "crl.bin") == crl
    assert not list((tmp_path / "ca").glob(".*"))  # no temporary files left behind
    with pytest.raises(KeystoreError, match="already exists"):
        keystore.create_authority_directory(tmp_path / "ca", FleetAuthority.create("x"))
    assert keystore.load_authority(tmp_path / "ca").public_key == authority.public_key
