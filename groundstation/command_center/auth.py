"""Who may call the reference command center: bearer tokens, each an identity with a role.

Rules:
- The token file is TOML, one table per identity:
      [tokens.gs-alpha]
      role = "gateway"
      token = "..."          # or: sha256 = "<hex digest of the token>"
  `sha256` keeps the secret itself out of the file. The service keeps only digests and
  compares digests in constant time; a token is never logged.
- Roles and what they may do (ROLE_RIGHTS): a gateway posts records and pulls commands,
  an operator queues commands and reads records and command status, an admin may do
  both and inject faults.
  A gateway token cannot queue commands: a compromised ground station cannot command
  the fleet through the cloud.
- A file that is not valid (unknown role, no secret, two identities with one token)
  raises TokenFileError naming the identity; the service does not start on a bad file.
"""

from __future__ import annotations

import hashlib
import hmac
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

POST_MESSAGES = "post_messages"
READ_MESSAGES = "read_messages"
PULL_COMMANDS = "pull_commands"
QUEUE_COMMANDS = "queue_commands"
READ_COMMANDS = "read_commands"
INJECT_FAULTS = "inject_faults"

ROLE_RIGHTS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "gateway": frozenset({POST_MESSAGES, PULL_COMMANDS}),
        "operator": frozenset({QUEUE_COMMANDS, READ_COMMANDS, READ_MESSAGES}),
        "admin": frozenset(
            {
                POST_MESSAGES,
                PULL_COMMANDS,
                QUEUE_COMMANDS,
                READ_COMMANDS,
                READ_MESSAGES,
                INJECT_FAULTS,
            }
        ),
    }
)


class TokenFileError(ValueError):
    """The token file cannot be used; the message names the identity and the problem."""


@dataclass(frozen=True, slots=True)
class Identity:
    """A caller: its name (recorded with what it posts) and its role."""

    name: str
    role: str

    def may(self, right: str) -> bool:
        """Whether this identity's role grants `right`."""
        return right in ROLE_RIGHTS[self.role]


def digest(token: str) -> str:
    """The SHA-256 hex digest of a token, as the file's `sha256` holds it."""
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    """Token digests -> identities."""

    def __init__(self, identities: Mapping[str, Identity]) -> None:
        self._by_digest = dict(identities)

    @classmethod
    def load(cls, path: str | Path) -> Tokens:
        """Read a token file; TokenFileError if it is not valid."""
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise TokenFileError(f"cannot read token file {path}: {exc}") from exc
        return cls.from_mapping(data.get("tokens", {}))

    @classmethod
    def from_mapping(cls, tables: Any) -> Tokens:
        """Build from `{identity: {"role": ..., "token" | "sha256": ...}}`."""
        if not isinstance(tables, dict) or not tables:
            raise TokenFileError("no [tokens.<identity>] tables")
        by_digest: dict[str, Identity] = {}
        for name, table in tables.items():
            key = _digest_of(name, table)
            if key in by_digest:
                raise TokenFileError(f"{name} and {by_digest[key].name} share a token")
            by_digest[key] = Identity(name, table["role"])
        return cls(by_digest)

    def identify(self, authorization: str | None) -> Identity | None:
        """The identity an `Authorization: Bearer <token>` header proves, or None."""
        if authorization is None:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        wanted = digest(token.strip())
        for key, identity in self._by_digest.items():
            if hmac.compare_digest(key, wanted):
                return identity
        return None


def _digest_of(name: str, table: Any) -> str:
    if not isinstance(table, dict) or table.get("role") not in ROLE_RIGHTS:
        raise TokenFileError(f"{name}: role must be one of {', '.join(ROLE_RIGHTS)}")
    token, hashed = table.get("token"), table.get("sha256")
    if isinstance(token, str) and token and hashed is None:
        return digest(token)
    if isinstance(hashed, str) and len(hashed) == 64 and token is None:
        try:
            return bytes.fromhex(hashed).hex()
        except ValueError:
            pass
    raise TokenFileError(f"{name}: give exactly one of token (non-empty) or sha256 (64 hex)")
