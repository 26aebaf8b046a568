"""What a `SessionManager` keeps about each peer: sessions, a handshake underway, and
the messages waiting for it. Plain state; the rules live in `session_sender.py` and
`session.py`."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .certificate import Certificate
from .replay_window import ReplayWindow


@dataclass(slots=True)
class SessionState:
    phase: int
    sender: ChaCha20Poly1305
    receiver: ChaCha20Poly1305
    certificate: Certificate
    established: float
    confirmed: bool
    """The peer has shown it holds these keys: it answered our INIT, or used them."""
    counter: int = 0
    window: ReplayWindow = field(default_factory=ReplayWindow)


@dataclass(slots=True)
class Pending:
    init: Any
    ephemeral: X25519PrivateKey
    phase: int
    retry_at: float
    tries: int = 1


@dataclass(frozen=True, slots=True)
class Waiting:
    messages: list[Any]
    plaintext: bytes
    """As encoded when queued (to spot a copy); sealed anew with its age then."""
    priority: int
    expires: float
    born: float | None


@dataclass(slots=True)
class Peer:
    current: SessionState | None = None
    unconfirmed: SessionState | None = None
    previous: SessionState | None = None
    previous_until: float = 0.0
    pending: Pending | None = None
    queue: deque[Waiting] = field(default_factory=deque)
    last_init_time: int = -1
    last_response: Any = None
