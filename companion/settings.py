"""Checked TOML settings shared by the agent's and the ground station's configurations.

Rules:
- A problem is one `ConfigError` naming the key (`section.key`) and what is wrong.
- Device URLs are `serial:DEVICE:BAUD`, `udp:HOST:PORT` or `tcp:HOST:PORT`.
- A fleet link key file holds 64 hex digits (32 bytes).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
        if kind != "serial" and not 0 < value < 65536:
            raise ConfigError(f"{key}: port {value} outside 1..65535")
        return cls(kind, where, value)


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


def link_key(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except OSError as exc:
        raise ConfigError(f"node.link_key: cannot read {path}: {exc.strerror}") from None
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
