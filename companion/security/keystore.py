"""Key files on disk: a node's key bundle and the fleet authority's directory.

Layout:

    node bundle   node.cert       the certificate's 145-byte encoding
                  authority.pub   the authority's raw 32-byte Ed25519 public key
                  signing.key     Ed25519 private key, PKCS#8 PEM, unencrypted, 0600
                  agreement.key   X25519 private key, PKCS#8 PEM, unencrypted, 0600
    authority     authority.key   Ed25519 private key, PKCS#8 PEM, unencrypted, 0600
                  authority.pub   raw 32-byte public key, to copy into every bundle
                  authority.json  serials, revoked set, list version (public data only)
                  crl.bin         the newest revocation list's encoding

Rules:
- Private keys are PKCS#8 PEM so each file says what kind of key it holds (a swapped
  signing.key and agreement.key is caught on load) and `openssl pkey` can read it. They
  are not encrypted: a node must start unattended; protect its disk instead.
- Every file is written to a temporary file in the same directory, created 0600 with
  O_CREAT|O_EXCL, synced, then renamed into place: readers see the old or the new file,
  never half of one, and a private key is not readable by others for an instant.
  Private keys are linked into place rather than renamed, so an existing key is never
  overwritten. Directories are made 0700.
- Loading a private key file that group or others may access fails, as ssh does: the key
  may have leaked, and a node should not quietly keep using it.
- A loaded bundle is consistent: its private keys match its certificate, which the
  authority in authority.pub signed. Every failure is a `KeystoreError`.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ..errors import RemoteProtocolError
from .authority import FleetAuthority, NodeKeys
from .certificate import ENCODED_LEN, KEY_LEN, Certificate, CertificateStatus
from .revocation import RevocationList

PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644
DIRECTORY_MODE = 0o700
BUNDLE_FILES = ("node.cert", "authority.pub", "signing.key", "agreement.key")
PrivateKey = Ed25519PrivateKey | X25519PrivateKey


class KeystoreError(Exception):
    """A key file or directory is missing, malformed, unsafe or inconsistent."""


def save_node_keys(directory: Path, keys: NodeKeys) -> None:
    """Write a node's bundle into `directory` (created 0700); refuses an existing bundle."""
    if any((directory / name).exists() for name in BUNDLE_FILES):
        raise KeystoreError(f"{directory} already holds a key bundle")
    _make_directory(directory)
    _write_private_key(directory / "signing.key", keys.signing_key)
    _write_private_key(directory / "agreement.key", keys.agreement_key)
    _write(directory / "node.cert", keys.certificate.encode(), PUBLIC_MODE)
    _write(directory / "authority.pub", keys.authority_key, PUBLIC_MODE)


def load_node_keys(directory: Path) -> NodeKeys:
    """Read and cross-check a node's bundle."""
    cert = load_certificate(directory / "node.cert")
    authority_key = _read(directory / "authority.pub")
    signing = _read_signing_key(directory / "signing.key")
    agreement = _read_agreement_key(directory / "agreement.key")
    if len(authority_key) != KEY_LEN:
        raise KeystoreError(f"{directory / 'authority.pub'}: not a {KEY_LEN}-byte public key")
    if signing.public_key().public_bytes_raw() != cert.signing_key:
        raise KeystoreError(f"{directory}: signing.key does not belong to node.cert")
    if agreement.public_key().public_bytes_raw() != cert.agreement_key:
        raise KeystoreError(f"{directory}: agreement.key does not belong to node.cert")
    # Any time will do: only the signature matters here; expiry is checked in use.
    if cert.verify(authority_key, cert.not_before) is CertificateStatus.BAD_SIGNATURE:
        raise KeystoreError(f"{directory}: node.cert is not signed by authority.pub")
    return NodeKeys(signing, agreement, cert, authority_key)


def load_own_keys(directory: Path, node_id: int) -> NodeKeys:
    """A node's bundle, checked to be the bundle of `node_id` (a configuration that names
    another node's keys is refused, ValueError)."""
    keys = load_node_keys(directory)
    if keys.certificate.node_id != node_id:
        raise ValueError(
            f"node.id is {node_id} but the key bundle is node {keys.certificate.node_id}'s"
        )
    return keys


def save_certificate(path: Path, cert: Certificate) -> None:
    """Write (or atomically replace) a certificate file."""
    _write(path, cert.encode(), PUBLIC_MODE)


def load_certificate(path: Path) -> Certificate:
    """Read a certificate file."""
    try:
        return Certificate.decode(_read(path))
    except RemoteProtocolError as error:
        raise KeystoreError(f"{path}: {error}") from None


def create_authority_directory(directory: Path, authority: FleetAuthority) -> None:
    """Write a new authority's key, public key and state; refuses an existing authority."""
    _make_directory(directory)
    _write_private_key(directory / "authority.key", authority.private_key)
    _write(directory / "authority.pub", authority.public_key, PUBLIC_MODE)
    save_authority_state(directory, authority)


def save_authority_state(directory: Path, authority: FleetAuthority) -> None:
    """Write authority.json; call it before handing out what the authority issued."""
    text = json.dumps(authority.public_state(), indent=2) + "\n"
    _write(directory / "authority.json", text.encode(), PUBLIC_MODE)


def load_authority(directory: Path) -> FleetAuthority:
    """Read an authority directory."""
    key = _read_signing_key(directory / "authority.key")
    path = directory / "authority.json"
    try:
        return FleetAuthority.restore(key, json.loads(_read(path)))
    except (ValueError, RemoteProtocolError) as error:  # ValueError: not JSON
        raise KeystoreError(f"{path}: {error}") from None


def save_crl(path: Path, crl: RevocationList) -> None:
    """Write (or atomically replace) a revocation list file."""
    _write(path, crl.encode(), PUBLIC_MODE)


def load_crl(path: Path) -> RevocationList:
    """Read a revocation list file (its signature is not checked here)."""
    try:
        return RevocationList.decode(_read(path))
    except RemoteProtocolError as error:
        raise KeystoreError(f"{path}: {error}") from None


def load_certificate_or_list(path: Path) -> Certificate | RevocationList:
    """Read a certificate or a revocation list file, whichever it holds."""
    data = _read(path)
    # A list's length is a multiple of 4, a certificate's is 145: the length says which.
    decode = Certificate.decode if len(data) == ENCODED_LEN else RevocationList.decode
    try:
        return decode(data)
    except RemoteProtocolError as error:
        raise KeystoreError(f"{path}: {error}") from None


def _make_directory(directory: Path) -> None:
    try:
        directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        # mkdir's mode is filtered by the umask and ignored for an existing directory.
        directory.chmod(DIRECTORY_MODE)
    except OSError as error:
        raise KeystoreError(f"{directory}: {error.strerror}") from None


def _write_private_key(path: Path, key: PrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(path, pem, PRIVATE_MODE, overwrite=False)


def _write(path: Path, data: bytes, mode: int, overwrite: bool = True) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
        try:
            os.write(fd, data)
            os.fchmod(fd, mode)  # exact mode, whatever the umask
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # fails if the file exists: keys are never replaced
        _sync_directory(path.parent)
    except FileExistsError:
        raise KeystoreError(f"{path} already exists; refusing to overwrite a key") from None
    except OSError as error:
        raise KeystoreError(f"{path}: {error.strerror}") from None
    finally:
        temporary.unlink(missing_ok=True)


def _sync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk too.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise KeystoreError(f"{path}: {error.strerror}") from None


def _read_private_key(path: Path) -> object:
    try:
        with path.open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode & 0o777
            if mode & 0o077:
                raise KeystoreError(
                    f"{path}: permissions {mode:04o} are too open; a private key must not "
                    f"be accessible by group or others (chmod 600 {path})"
                )
            pem = file.read()
    except OSError as error:
        raise KeystoreError(f"{path}: {error.strerror}") from None
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeystoreError(f"{path}: not an unencrypted PKCS#8 PEM private key") from None


def _read_signing_key(path: Path) -> Ed25519PrivateKey:
    key = _read_private_key(path)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeystoreError(f"{path}: not an Ed25519 private key")
    return key


def _read_agreement_key(path: Path) -> X25519PrivateKey:
    key = _read_private_key(path)
    if not isinstance(key, X25519PrivateKey):
        raise KeystoreError(f"{path}: not an X25519 private key")
    return key
