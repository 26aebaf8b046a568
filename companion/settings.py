"""Checked TOML settings shared by the agent's and the ground station's configurations.

Rules:
- A problem is one `ConfigError` naming the key (`section.key`) and what is wrong.
- Device URLs are `serial:DEVICE:BAUD`, `udp:HOST:PORT` or `tcp:HOST:PORT`; a HOST is an
  IP address or a host name (RFC 1123 labels), checked here for form only.
- A URL has a scheme of the caller's list and a host; nothing is resolved here.
- A secret file (the fleet link key, a token or password) must not be accessible by group
  or others, as private keys must not (`security/keystore.py`): it may have leaked. A
  fleet link key file holds 64 hex digits (32 bytes).
- A CA file named in the config exists and holds PEM certificates (`ssl` loads it).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import ssl
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the key and the problem."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed device URL: serial:DEVICE:BAUD, udp:HOST:PORT or tcp:HOST:PORT."""

    kind: str
    host: str
    port: int

    @classmethod
    def parse(cls, key: str, url: str) -> Endpoint:
        kind, _, rest = url.partition(":")
        where, _, number = rest.rpartition(":")
        if kind not in ("serial", "udp", "tcp") or not where or not number.isdigit():
            raise ConfigError(
                f"{key}: {url!r} is not serial:DEVICE:BAUD, udp:HOST:PORT or tcp:HOST:PORT"
            )
        value = int(number)
        if kind == "serial":
            if value == 0:
                raise ConfigError(f"{key}: baud rate 0 in {url!r}")
            return cls(kind, where, value)
        if not 0 < value < 65536:
            raise ConfigError(f"{key}: port {value} outside 1..65535")
        return cls(kind, host_name(key, where.removeprefix("[").removesuffix("]")), value)


def host_name(key: str, value: str) -> str:
    """`value` if it is an IP address or a well-formed host name (not resolved)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if len(value) > 253 or not _HOST_NAME.fullmatch(value):
            raise ConfigError(f"{key}: {value!r} is not an IP address or a host name") from None
    return value


def url(table: dict[str, Any], key: str, schemes: tuple[str, ...]) -> str:
    """A URL with one of `schemes` and a host name or address (not resolved)."""
    value = text(table, key, None)
    parts = urlsplit(value)
    expected = " or ".join(f"{scheme}://HOST" for scheme in schemes)
    try:
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError as exc:
        raise ConfigError(f"{key}: {value!r} is not a URL: {exc}") from None
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(f"{key}: {value!r} is not a URL of the form {expected}...")
    host_name(key, parts.hostname)
    return value


def setting(table: dict[str, Any], key: str, default: Any) -> Any:
    value = table.get(key.rpartition(".")[2], default)
    if value is None:
        raise ConfigError(f"{key} is required")
    return value


def text(table: dict[str, Any], key: str, default: str | None) -> str:
    value = setting(table, key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} must be a non-empty string")
    return value


def integer(table: dict[str, Any], key: str, default: int | None, low: int, high: int) -> int:
    value = setting(table, key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key} must be an integer in {low}..{high}, not {value!r}")
    return value


def optional_text(table: dict[str, Any], key: str) -> str | None:
    """A string setting that may be left out or empty (None then)."""
    value = setting(table, key, "")
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, not {value!r}")
    return value or None


def number(table: dict[str, Any], key: str, default: float, low: float) -> float:
    value = setting(table, key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not value >= low
    ):
        raise ConfigError(f"{key} must be a finite number of at least {low}, not {value!r}")
    return float(value)


def flag(table: dict[str, Any], key: str, default: bool) -> bool:
    value = setting(table, key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false")
    return value


def secret(key: str, path: Path) -> bytes:
    """The contents of the secret file at `path`, which only its owner may access."""
    try:
        with path.open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode & 0o777
            if mode & 0o077:
                raise ConfigError(
                    f"{key}: {path} permissions {mode:04o} are too open; a secret must not "
                    f"be accessible by group or others (chmod 600 {path})"
                )
            return file.read()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from None


def secret_text(table: dict[str, Any], key: str, base: Path) -> str:
    """The one-line secret (a token, a password) in the file the setting `key` names."""
    path = base / text(table, key, None)
    try:
        value = secret(key, path).decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{key}: {path} is not UTF-8 text") from None
    if not value:
        raise ConfigError(f"{key}: {path} is empty")
    return value


def ca_file(table: dict[str, Any], key: str, base: Path) -> Path | None:
    """The CA bundle the setting `key` names (None if left out), checked to load."""
    name = optional_text(table, key)
    if name is None:
        return None
    path = base / name
    try:
        ssl.create_default_context(cafile=path)
    except OSError as exc:  # ssl.SSLError is one: not PEM, or no certificate in it
        reason = "no PEM certificate in it" if isinstance(exc, ssl.SSLError) else exc.strerror
        raise ConfigError(f"{key}: cannot use {path} as a CA bundle: {reason}") from None
    return path


def link_key(path: Path) -> bytes:
    data = secret("node.link_key", path)
    try:
        key = bytes.fromhex(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise ConfigError(f"node.link_key: {path} must hold 64 hex digits") from None
    if len(key) != 32:
        raise ConfigError(f"node.link_key: {path} holds {len(key)} bytes, not 32")
    return key


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML file at `path`, or a ConfigError saying why not."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def check_keys(raw: dict[str, Any], known: dict[str, set[str]]) -> None:
    """Refuse unknown sections and keys (a typo must not silently take a default)."""
    for section, table in raw.items():
        if section not in known or not isinstance(table, dict):
            raise ConfigError(f"unknown section [{section}]")
        for key in table:
            if key not in known[section]:
                raise ConfigError(f"unknown key {section}.{key}")
