"""Sealing for a group (a fleet-wide abort): sender keys, each message signed by its sender.

Rules (the "sender keys" of group messengers, with a signature per message):
- A sender makes a random key per group and gives it to each member inside an
  EVENT_GROUP_KEY over their pairwise session, so only members can read its broadcasts.
- A group envelope has the group bit set and the group id as dst. Its plaintext is the
  bundle followed by the sender's Ed25519 signature over the associated data and the
  bundle: a symmetric key shared by the group cannot tell members apart, the signature
  can, so one member cannot forge another's broadcast.
- Receivers keep one key, replay window and certificate per (sender, group, key phase);
  the certificate is the one of the pairwise session the key arrived over.
- The key is replaced (new phase) when it expires or after `REKEY_AFTER_MESSAGES`; a
  member joining later gets the key in force.
Overhead: 24 bytes as any envelope, plus 64 for the signature.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from dialects import event

from .authority import NodeKeys
from .certificate import Certificate
from .envelope import Header, open_sealed, seal
from .replay_window import ReplayWindow, Verdict

SIGNATURE_LEN = 64
KEY_LIFETIME = 3600.0
REKEY_AFTER_MESSAGES = 1 << 20


@dataclass(slots=True)
class _OwnKey:
    key: bytes
    phase: int
    expires: float
    counter: int = 0
    members: set[int] = field(default_factory=set)
    """Who was given this key already."""


@dataclass(slots=True)
class _PeerKey:
    aead: ChaCha20Poly1305
    certificate: Certificate
    expires: float
    window: ReplayWindow = field(default_factory=ReplayWindow)


@dataclass(frozen=True, slots=True)
class Opened:
    """A group envelope that decrypted and whose sender's signature verified."""

    plaintext: bytes
    certificate: Certificate


class GroupKeys:
    """This node's own group keys, and the keys its peers gave it."""

    def __init__(self, keys: NodeKeys, counters: Counter[str]) -> None:
        self._keys = keys
        self._counters = counters
        self._own: dict[int, _OwnKey] = {}
        self._peers: dict[tuple[int, int, int], _PeerKey] = {}

    def key_messages(self, group: int, members: list[int], wall: float) -> dict[int, Any]:
        """EVENT_GROUP_KEY messages still owed to `members`, by member."""
        own = self._own.get(group)
        if own is None or own.expires <= wall or own.counter >= REKEY_AFTER_MESSAGES:
            phase = 0 if own is None else own.phase ^ 1
            own = self._own[group] = _OwnKey(os.urandom(32), phase, wall + KEY_LIFETIME)
        owed = {}
        for member in members:
            if member not in own.members:
                own.members.add(member)
                owed[member] = event.MAVLink_event_group_key_message(
                    int(own.expires), group, own.phase, list(own.key)
                )
        return owed

    def seal(self, group: int, plaintext: bytes, priority: int, hops: int) -> tuple[Header, bytes]:
        """Header and data of a group envelope (call `key_messages` first)."""
        own = self._own[group]
        while True:
            header = Header(
                counter=own.counter, src=self._keys.certificate.node_id, dst=group,
                priority=priority, group=True, key_phase=own.phase, hops_left=hops,
            )  # fmt: skip
            own.counter += 1
            signature = self._keys.signing_key.sign(header.associated_data() + plaintext)
            data = seal(ChaCha20Poly1305(own.key), header, plaintext + signature)
            if data is not None:
                return header, data
            self._counters["reseal_zero_tail"] += 1

    def learn(self, src: int, message: Any, certificate: Certificate) -> None:
        """Keep a key that `src` sent over its authenticated pairwise session."""
        self._peers[(src, message.group, message.key_phase)] = _PeerKey(
            ChaCha20Poly1305(bytes(message.key)), certificate, float(message.expires)
        )
        self._counters["group_key_learned"] += 1

    def open(self, header: Header, data: bytes, wall: float) -> Opened | None:
        """The plaintext bundle of a group envelope, or None (counted) if refused."""
        peer = self._peers.get((header.src, header.dst, header.key_phase))
        if peer is None or peer.expires <= wall:
            self._counters["no_group_key"] += 1
            return None
        verdict = peer.window.check(header.counter)
        if verdict is not Verdict.NEW:
            self._counters[f"group_{verdict}"] += 1
            return None
        plaintext = open_sealed(peer.aead, header, data)
        if plaintext is None or len(plaintext) <= SIGNATURE_LEN:
            self._counters["group_bad_tag"] += 1
            return None
        bundle, signature = plaintext[:-SIGNATURE_LEN], plaintext[-SIGNATURE_LEN:]
        try:
            Ed25519PublicKey.from_public_bytes(peer.certificate.signing_key).verify(
                signature, header.associated_data() + bundle
            )
        except InvalidSignature:
            self._counters["group_bad_signature"] += 1
            return None
        peer.window.accept(header.counter)
        return Opened(bundle, peer.certificate)
