"""A real Mosquitto broker on loopback for tests and demos: start, stop, restart, clean up.

Rules:
- One broker process per `MosquittoBroker`, listening on 127.0.0.1 only, on free ports
  picked once and kept across restarts, so clients reconnect to the same address.
- Everything it writes (config, password and ACL files, TLS material, persistence
  database, log) lives in one directory; `close()` stops the process and removes the
  directory if the harness made it.
- Persistence is on. `stop()` sends SIGTERM and Mosquitto saves its in-memory database
  (persistent sessions with their queued QoS 1 messages, subscriptions, retained
  messages) before it exits; `start()` loads it again. A SIGKILL would lose what arrived
  since the last autosave: that is the broker's own durability, not the clients'.
- `start()` returns once every listener accepts TCP connections (polled, within
  `start_timeout`); a process that exits first raises `MosquittoError` with its log.
- `pause()`/`resume()` (SIGSTOP/SIGCONT) freeze the broker with its sockets open:
  clients stay connected and get no answers, which is how tests keep publishes in flight.
- Users get a password file in Mosquitto's PBKDF2-SHA512 format (`$7$`, what
  `mosquitto_passwd` writes), made here so no other binary is needed. Without users,
  anonymous clients are allowed (Mosquitto 2 refuses them by default).
- TLS: a throwaway CA signs a server certificate for 127.0.0.1 and localhost and one
  client certificate; with `require_certificate` the TLS listener demands the client's.
- Synchronous (subprocess, blocking sockets): trio code calls `start`/`stop` through
  `trio.to_thread.run_sync` so the event loop keeps running.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"
PBKDF2_ITERATIONS = 101
"""mosquitto_passwd's default iteration count for `$7$` hashes."""


class MosquittoError(Exception):
    """The broker could not be started (its log says why)."""


def find_mosquitto() -> str | None:
    """Path of the mosquitto binary (PATH, then Debian's /usr/sbin), or None."""
    found = shutil.which("mosquitto")
    if found is None and os.access("/usr/sbin/mosquitto", os.X_OK):
        found = "/usr/sbin/mosquitto"
    return found


def password_line(user: str, password: str) -> str:
    """One password-file line in Mosquitto 2's PBKDF2-SHA512 format."""
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    encode = base64.b64encode
    return f"{user}:$7${PBKDF2_ITERATIONS}${encode(salt).decode()}${encode(digest).decode()}"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files of a throwaway CA, the broker's certificate and one client certificate."""

    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """Write a CA, a server certificate (127.0.0.1, localhost) and a client certificate."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "EVENT test CA")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(*(directory / name for name in _TLS_NAMES))
    _write_pem(files.ca_file, ca_cert.public_bytes(serialization.Encoding.PEM))
    for cert_path, key_path, common_name in (
        (files.server_cert, files.server_key, "localhost"),
        (files.client_cert, files.client_key, "event-client"),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
        cert = (
            _builder(subject, ca_name, key.public_key())
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write_pem(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        _write_pem(key_path, _private_pem(key))
    return files


_TLS_NAMES = ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
    )


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_pem(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class MosquittoBroker:
    """One Mosquitto process on loopback; see the module rules. Use as a context manager."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        users: Mapping[str, str] | None = None,
        acl: str | None = None,
        tls: bool = False,
        require_certificate: bool = False,
        binary: str | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        found = binary or find_mosquitto()
        if found is None:
            raise MosquittoError("mosquitto is not installed (apt-get install mosquitto)")
        self._binary = found
        self._owns_directory = directory is None
        self.directory = (
            Path(tempfile.mkdtemp(prefix="mosquitto-")) if directory is None else directory
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.tls_port = _free_port() if tls else None
        self.tls = make_tls_files(self.directory) if tls else None
        self.start_timeout = start_timeout
        self.log_path = self.directory / "mosquitto.log"
        self._config = self.directory / "mosquitto.conf"
        self._config.write_text(self._config_text(users, acl, require_certificate))
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def _config_text(
        self, users: Mapping[str, str] | None, acl: str | None, require_certificate: bool
    ) -> str:
        lines = [
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",  # root stays root, others no-op
            "persistence true",
            f"persistence_location {self.directory}/",
            "persistence_file mosquitto.db",
            "log_dest stderr",
            f"listener {self.port} {HOST}",
        ]
        if users:
            passwords = self.directory / "passwords"
            passwords.write_text("".join(f"{password_line(u, p)}\n" for u, p in users.items()))
            passwords.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        if acl is not None:
            (self.directory / "acl").write_text(acl)
            lines.append(f"acl_file {self.directory / 'acl'}")
        if self.tls is not None:
            lines += [
                f"listener {self.tls_port} {HOST}",
                f"cafile {self.tls.ca_file}",
                f"certfile {self.tls.server_cert}",
                f"keyfile {self.tls.server_key}",
                f"require_certificate {'true' if require_certificate else 'false'}",
            ]
        return "\n".join(lines) + "\n"

    @property
    def running(self) -> bool:
        """True while the broker process is alive (paused counts as alive)."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the broker (again, after `stop`) and wait until its listeners accept."""
        if self.running:
            return
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [self._binary, "-c", str(self._config)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_listening()
        except BaseException:
            self.stop()
            raise

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        for port in (self.port, self.tls_port):
            while port is not None:
                if self._process is None or self._process.poll() is not None:
                    raise MosquittoError(f"mosquitto exited at start:\n{self.log_text()}")
                try:
                    socket.create_connection((HOST, port), timeout=1.0).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise MosquittoError(
                            f"mosquitto not listening on {port} after {self.start_timeout} s:"
                            f"\n{self.log_text()}"
                        ) from None
                    time.sleep(0.02)  # poll interval while the process starts up

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open, nothing is answered."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused broker run again (SIGCONT)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker (SIGTERM: it saves its database); SIGKILL after `timeout`."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            process.send_signal(signal.SIGCONT)  # a paused broker acts on SIGTERM only now
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        """Stop the broker and remove its directory if the harness created it."""
        self.stop()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def log_text(self) -> str:
        """What the broker has logged so far (all runs)."""
        if self._log is not None:
            self._log.flush()
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> MosquittoBroker:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
