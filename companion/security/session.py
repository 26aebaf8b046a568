"""End-to-end sessions between this node and its peers (sans-IO): the receiving half.

`SessionManager` is the whole: `SessionSender` (`session_sender.py`, whose rules cover
sealing, the queue, handshakes and rekeying) plus what arrives.

Rules:
- Receiving: the replay window is consulted before decryption (cheap refusal) and
  updated only after the tag verified. The sender's certificate is checked against the
  clock and the revocation list on every envelope.
- The first envelope under a responder's new session confirms it: it becomes current and
  the old one is kept for `PREVIOUS_GRACE` seconds.
- An envelope for which no session matches (this node or the peer restarted) makes this
  node start a handshake with the sender: both recover without anyone's help.
- Group envelopes (meta group bit) are opened with the sender's group key (`group.py`);
  an EVENT_GROUP_KEY is taken from pairwise sessions only, and consumed here.
- A revocation list arriving in any bundle is offered to the node's `RevocationState`,
  which keeps it only if the authority signed it and it is newer: every node honours it.
- Every refusal is counted in `counters` under its own name; nothing raises on input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dialects import event

from ..errors import RemoteProtocolError
from .certificate import Certificate
from .envelope import TAG_LEN, Header, decode_bundle, open_sealed
from .peer_state import Peer, SessionState
from .replay_window import Verdict
from .session_sender import SessionSender

GROUP_BIT = 0x04


@dataclass(frozen=True, slots=True)
class Delivered:
    """Inner messages that arrived sealed from an authenticated peer."""

    src: int
    certificate: Certificate
    messages: list[Any]
    priority: int
    refusal: int | None = None
    """EVENT_OUTCOME if the sender's certificate has expired or was revoked since the
    session began: the messages are authentic but must not be acted upon."""


class SessionManager(SessionSender):
    """All of one node's end-to-end sessions. Feed it frames and time; take frames out."""

    # -- receiving -------------------------------------------------------------------

    def receive(self, message: Any, now: float, wall: float) -> list[Delivered]:
        """Take an EVENT_ENVELOPE, EVENT_FRAGMENT or EVENT_HANDSHAKE from the link."""
        msgid = message.get_msgId()
        delivered = None
        if msgid == event.MAVLINK_MSG_ID_EVENT_ENVELOPE and message.meta & GROUP_BIT:
            delivered = self._on_group_envelope(message, wall)
        elif message.dst != self.node_id:
            self.counters["not_for_me"] += 1
        elif msgid == event.MAVLINK_MSG_ID_EVENT_HANDSHAKE:
            self._on_handshake(message, now, wall)
        elif msgid == event.MAVLINK_MSG_ID_EVENT_ENVELOPE:
            data = bytes(message.data).rstrip(b"\x00")  # never ends on a zero byte
            delivered = self._on_envelope(Header.of(message), data, now, wall)
        elif msgid == event.MAVLINK_MSG_ID_EVENT_FRAGMENT:
            delivered = self._on_fragment(message, now, wall)
        else:
            self.counters["not_sealed"] += 1
        return [] if delivered is None else [delivered]

    def _on_fragment(self, message: Any, now: float, wall: float) -> Delivered | None:
        whole = self.reassembler.accept(message, now)
        if whole is None:
            return None
        header = Header.from_fields(whole.counter, whole.src, whole.dst, whole.meta)
        return self._on_envelope(header, whole.data, now, wall)

    def _on_envelope(
        self, header: Header, data: bytes, now: float, wall: float
    ) -> Delivered | None:
        if len(data) < TAG_LEN:
            self.counters["truncated_envelope"] += 1  # not even room for a tag
            return None
        peer = self._peer(header.src)
        candidates = self._candidates(peer, header.key_phase, now)
        if not candidates:
            self.counters["no_session"] += 1
            if peer.pending is None:
                self._initiate(header.src, peer, now, wall)
            return None
        for session in candidates:
            verdict = session.window.check(header.counter)
            if verdict is not Verdict.NEW:
                self.counters[verdict] += 1
                return None
            plaintext = open_sealed(session.receiver, header, data)
            if plaintext is not None:
                session.window.accept(header.counter)
                self._confirm(peer, session, now)
                return self._deliver(header, session.certificate, plaintext, wall)
        self.counters["bad_tag"] += 1
        return None

    def _on_group_envelope(self, message: Any, wall: float) -> Delivered | None:
        header = Header.of(message)
        opened = self.groups.open(header, bytes(message.data).rstrip(b"\x00"), wall)
        if opened is None:
            return None
        return self._deliver(header, opened.certificate, opened.plaintext, wall)

    def _candidates(self, peer: Peer, phase: int, now: float) -> list[SessionState]:
        previous = peer.previous if peer.previous_until > now else None
        sessions = (peer.unconfirmed, self._usable(peer.current, now), previous)
        return [s for s in sessions if s is not None and s.phase == phase]

    def _confirm(self, peer: Peer, session: SessionState, now: float) -> None:
        session.confirmed = True
        if session is peer.unconfirmed:
            self._retire_current(peer, now)
            peer.current, peer.unconfirmed = session, None
            self.counters["session_confirmed"] += 1

    def _deliver(
        self, header: Header, certificate: Certificate, plaintext: bytes, wall: float
    ) -> Delivered | None:
        if not plaintext:
            self.counters["keepalive"] += 1
            return None
        try:
            messages = decode_bundle(plaintext)
        except RemoteProtocolError:
            self.counters["malformed_bundle"] += 1
            return None
        for message in messages:
            if message.get_msgId() == event.MAVLINK_MSG_ID_EVENT_REVOCATION:
                self._offer_revocations(bytes(message.data[: message.length]))
        group_key_id = event.MAVLINK_MSG_ID_EVENT_GROUP_KEY
        for key_message in (m for m in messages if m.get_msgId() == group_key_id):
            if not header.group:  # a key only counts when it came over a pairwise session
                self.groups.learn(header.src, key_message, certificate)
        messages = [m for m in messages if m.get_msgId() != group_key_id]
        if not messages:
            return None
        refusal = None
        # The authority's signature was verified at the handshake; only time moves on.
        if not certificate.not_before <= wall < certificate.expires:
            self.counters["expired_sender"] += 1
            refusal = event.EVENT_OUTCOME_CERT_EXPIRED
        elif self.revocations.is_revoked(certificate):
            self.counters["revoked_sender"] += 1
            refusal = event.EVENT_OUTCOME_CERT_REVOKED
        return Delivered(header.src, certificate, messages, header.priority, refusal)

    def _offer_revocations(self, encoded: bytes) -> None:
        """A revocation list signs itself: whoever carried it, keep it if newer and genuine."""
        if self.revocations.offer(encoded, self.identity.authority_key):
            self.counters["revocation_list_updated"] += 1
