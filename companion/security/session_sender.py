"""The sending half of the end-to-end sessions (sans-IO): sealing, handshakes, timers.

Rules:
- One session per peer and direction pair, from a handshake (`handshake.py`). A message
  for a peer without a session waits in a small queue while this node sends an INIT,
  no longer than its priority's time to live. What waits is the messages, not their
  plaintext: the head's `age` is written when the bundle is finally sealed, and a
  retransmission of a message already waiting is not queued twice.
- INIT is retransmitted unchanged with backoff (so a responder that already answered
  answers again with the same RESPONSE); after `FRESH_INIT_AFTER` tries a new INIT with a
  new time and ephemeral key replaces it.
- Both sides may initiate at once: the INIT of the lower node id wins; the higher one
  drops its own and answers.
- Rekey by time (`REKEY_AFTER`, under the seed's one hour) and by messages sent
  (`REKEY_AFTER_MESSAGES`); a session is never used past `REJECT_AFTER` or
  `REJECT_AFTER_MESSAGES`. The new session flips the key phase bit, and the old one stays
  readable for `PREVIOUS_GRACE` seconds, so frames in flight are not lost.
- A responder keeps sending with the old session until the initiator's first envelope
  under the new one arrives (key confirmation, as WireGuard; `session.py` confirms), so a
  lost RESPONSE costs nothing. With no old session it uses the new one at once. An
  initiator with nothing queued confirms with a keepalive: an envelope whose plaintext is
  empty.
- Every refusal is counted in `counters` under its own name; nothing raises on input.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from dialects import event

from ..errors import LocalProtocolError
from ..link.signing import SigningClock
from ..message_age import set_age
from ..reliability import fragment
from ..reliability.priority import TTL, Priority
from . import handshake
from .authority import NodeKeys
from .envelope import (
    COUNTER_LIMIT,
    ENVELOPE_DATA_MAX,
    TAG_LEN,
    Header,
    encode_bundle,
    envelope_message,
    seal,
    sealed_frames,
)
from .group import SIGNATURE_LEN, GroupKeys
from .handshake import Checked, Kind, Refusal
from .peer_state import Peer, Pending, SessionState, Waiting
from .revocation import RevocationState

REKEY_AFTER = 50 * 60.0
REJECT_AFTER = 60 * 60.0
REKEY_AFTER_MESSAGES = 1 << 20
REJECT_AFTER_MESSAGES = COUNTER_LIMIT - (1 << 16)
HANDSHAKE_RETRY = 2.0
HANDSHAKE_BACKOFF_MAX = 4.0
"""Handshakes are rare and everything waits for them: retry often, within a HIGH
message's 30 s time to live."""
FRESH_INIT_AFTER = 4
PREVIOUS_GRACE = 60.0
QUEUE_LIMIT = 32
MAX_SEALED = fragment.MAX_COUNT * fragment.DATA_LEN
HOP_LIMIT = 15
KEEPALIVE_PRIORITY = 2


class SessionSender:
    """The sending half of one node's sessions: sealing, handshakes, timers. `SessionManager`
    (session.py) adds the receiving half."""

    def __init__(
        self,
        identity: NodeKeys,
        revocations: RevocationState,
        clock: SigningClock,
        random_key: Callable[[], X25519PrivateKey] = X25519PrivateKey.generate,
    ) -> None:
        self.identity = identity
        self.node_id = identity.certificate.node_id
        self.revocations = revocations
        self.clock = clock
        self.counters: Counter[str] = Counter()
        self.rejections: dict[int, int] = {}
        """Peer node id -> EVENT_OUTCOME of the REJECT it answered our INIT with."""
        self._random_key = random_key
        # Retries at fixed intervals keep two hidden terminals colliding at the relay
        # between them forever; a seeded jitter breaks the lockstep, reproducibly.
        self._jitter = random.Random(f"session/{self.node_id}")
        self._peers: dict[int, Peer] = {}
        self._outgoing: list[Any] = []
        self.groups = GroupKeys(identity, self.counters)
        self.reassembler = fragment.Reassembler()

    # -- sending ---------------------------------------------------------------------

    def send(
        self,
        dst: int,
        messages: list[Any],
        priority: int,
        now: float,
        wall: float,
        *,
        born: float | None = None,
        deadline: float | None = None,
    ) -> None:
        """Seal `messages` for `dst` (now, or once a session exists, but not after
        `deadline`, by default its priority's time to live from now). Given `born`, the
        head message's `age` is set when it is sealed (`message_age.py`)."""
        plaintext = self._plaintext(messages, born, now)
        peer = self._peer(dst)
        session = self._usable(peer.current, now)
        if session is None:
            if any(w.messages[0] is messages[0] or w.plaintext == plaintext for w in peer.queue):
                self.counters["queue_duplicate"] += 1  # a retransmission of what waits
                return
            if len(peer.queue) == QUEUE_LIMIT:
                peer.queue.popleft()
                self.counters["queue_overflow"] += 1
            expires = now + TTL[Priority(priority)] if deadline is None else deadline
            peer.queue.append(Waiting(messages, plaintext, priority, expires, born))
            if peer.pending is None:
                self._initiate(dst, peer, now, wall)
            return
        self._emit(dst, session, plaintext, priority)
        rekey_due = now - session.established >= REKEY_AFTER
        if (rekey_due or session.counter >= REKEY_AFTER_MESSAGES) and peer.pending is None:
            self._initiate(dst, peer, now, wall)

    def send_group(
        self, group: int, members: list[int], messages: list[Any], priority: int,
        now: float, wall: float,
    ) -> None:  # fmt: skip
        """Seal `messages` once for every member of `group`, signed as ours."""
        plaintext = encode_bundle(messages)
        if len(plaintext) + 16 + SIGNATURE_LEN > ENVELOPE_DATA_MAX:
            raise LocalProtocolError("group bundle larger than one envelope")
        for member, key_message in self.groups.key_messages(group, members, wall).items():
            self.send(member, [key_message], priority, now, wall)
        header, data = self.groups.seal(group, plaintext, priority, HOP_LIMIT)
        self._outgoing.append(envelope_message(header, data))

    def frames_to_send(self) -> list[Any]:
        """EVENT_ENVELOPE and EVENT_HANDSHAKE messages to hand to the link, oldest first."""
        frames, self._outgoing = self._outgoing, []
        return frames

    def established(self, peer: int) -> bool:
        state = self._peers.get(peer)
        return state is not None and state.current is not None

    def _emit(self, dst: int, session: SessionState, plaintext: bytes, priority: int) -> None:
        while True:
            header = Header(
                counter=session.counter, src=self.node_id, dst=dst, priority=priority,
                key_phase=session.phase, hops_left=HOP_LIMIT,
            )  # fmt: skip
            session.counter += 1
            data = seal(session.sender, header, plaintext)
            if data is not None:
                break
            self.counters["reseal_zero_tail"] += 1
        self._outgoing.extend(sealed_frames(header, data))

    def _usable(self, session: SessionState | None, now: float) -> SessionState | None:
        if session is None:
            return None
        too_old = now - session.established >= REJECT_AFTER
        return None if too_old or session.counter >= REJECT_AFTER_MESSAGES else session

    # -- handshakes ------------------------------------------------------------------

    def _initiate(self, dst: int, peer: Peer, now: float, wall: float) -> None:
        phase = 0 if peer.current is None else peer.current.phase ^ 1
        ephemeral = self._random_key()
        init = handshake.build_init(self.identity, dst, self.clock.next(wall), phase, ephemeral)
        peer.pending = Pending(init, ephemeral, phase, now + HANDSHAKE_RETRY)
        self._outgoing.append(init)
        self.counters["handshake_initiated"] += 1

    def _on_handshake(self, message: Any, now: float, wall: float) -> None:
        kind = message.kind & handshake.KIND_MASK
        if kind == Kind.INIT:
            self._on_init(message, now, wall)
        elif kind in (Kind.RESPONSE, Kind.REJECT):
            self._on_answer(message, now, wall)
        else:
            self.counters[Refusal.MALFORMED] += 1

    def _on_init(self, init: Any, now: float, wall: float) -> None:
        peer = self._peer(init.src)
        if init.time == peer.last_init_time and peer.last_response is not None:
            self._outgoing.append(peer.last_response)  # our RESPONSE was lost: same again
            self.counters["handshake_duplicate"] += 1
            return
        checked = handshake.check(init, self.identity, self.revocations, wall)
        if isinstance(checked, Refusal):
            self._refuse_init(init, checked)
            return
        if init.time <= peer.last_init_time:
            self.counters[Refusal.REPLAY] += 1
            return
        if peer.pending is not None and self.node_id < init.src:
            self.counters["handshake_collision"] += 1  # ours wins; theirs is dropped
            return
        peer.pending = None
        ephemeral = self._random_key()
        response = handshake.build_response(self.identity, init, checked.phase, ephemeral)
        keys = handshake.derive_keys(self.identity, ephemeral, checked, init, response, False)
        session = self._new_session(checked, keys, now, confirmed=False)
        if peer.current is None or not peer.current.confirmed:
            peer.current = session  # nothing proven to work would be lost
        else:
            peer.unconfirmed = session
        peer.last_init_time, peer.last_response = init.time, response
        self._outgoing.append(response)
        self.counters["handshake_responded"] += 1
        self._flush(init.src, peer, now)

    def _refuse_init(self, init: Any, refusal: Refusal) -> None:
        self.counters[refusal] += 1
        outcome = {
            Refusal.EXPIRED_CERTIFICATE: event.EVENT_OUTCOME_CERT_EXPIRED,
            Refusal.REVOKED_CERTIFICATE: event.EVENT_OUTCOME_CERT_REVOKED,
        }.get(refusal)
        if outcome is not None:  # the sender is authentic: tell it why
            self._outgoing.append(handshake.build_reject(self.identity, init, outcome))

    def _on_answer(self, answer: Any, now: float, wall: float) -> None:
        peer = self._peer(answer.src)
        pending = peer.pending
        if pending is None or pending.init.time != answer.time:
            self.counters[Refusal.UNEXPECTED] += 1
            return
        checked = handshake.check(answer, self.identity, self.revocations, wall, pending.init)
        if isinstance(checked, Refusal):
            self.counters[checked] += 1
            return
        peer.pending = None
        if checked.kind is Kind.REJECT:
            self.rejections[answer.src] = answer.outcome
            self.counters["handshake_rejected"] += 1
            self.counters["queue_dropped"] += len(peer.queue)
            peer.queue.clear()
            return
        keys = handshake.derive_keys(
            self.identity, pending.ephemeral, checked, pending.init, answer, True
        )
        self._retire_current(peer, now)
        peer.current = self._new_session(checked, keys, now, confirmed=True)
        peer.unconfirmed = None
        self.counters["handshake_completed"] += 1
        if not peer.queue:
            self._emit(answer.src, peer.current, b"", KEEPALIVE_PRIORITY)
        self._flush(answer.src, peer, now)

    def _new_session(
        self, peer: Checked, keys: tuple[bytes, bytes], now: float, *, confirmed: bool
    ) -> SessionState:
        send_key, receive_key = keys
        return SessionState(
            peer.phase,
            ChaCha20Poly1305(send_key),
            ChaCha20Poly1305(receive_key),
            peer.certificate,
            now,
            confirmed,
        )

    def _retire_current(self, peer: Peer, now: float) -> None:
        if peer.current is not None:
            peer.previous, peer.previous_until = peer.current, now + PREVIOUS_GRACE

    def _flush(self, dst: int, peer: Peer, now: float) -> None:
        session = self._usable(peer.current, now)
        while session is not None and peer.queue:
            waiting = peer.queue.popleft()
            if waiting.expires <= now:
                self.counters["queue_expired"] += 1  # outlived its time to live waiting
                continue
            plaintext = self._plaintext(waiting.messages, waiting.born, now)
            self._emit(dst, session, plaintext, waiting.priority)

    @staticmethod
    def _plaintext(messages: list[Any], born: float | None, now: float) -> bytes:
        """The bundle as sealed now: with the head's age then, if it has a birth."""
        if born is not None:
            set_age(messages[0], now - born)
        plaintext = encode_bundle(messages)
        if len(plaintext) + TAG_LEN > MAX_SEALED:
            raise LocalProtocolError(f"bundle of {len(plaintext)} bytes exceeds 255 fragments")
        return plaintext

    # -- timers ----------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When `on_timer` next has work (a handshake to retransmit, a bundle to expire)."""
        times = [p.pending.retry_at for p in self._peers.values() if p.pending is not None]
        reassembly = self.reassembler.next_deadline()
        return min([*times, *([] if reassembly is None else [reassembly])], default=None)

    def on_timer(self, now: float, wall: float) -> None:
        """Retransmit or renew handshakes that went unanswered; expire stale bundles."""
        self.reassembler.on_timer(now)
        for dst, peer in self._peers.items():
            pending = peer.pending
            if pending is None or pending.retry_at > now:
                continue
            if pending.tries >= FRESH_INIT_AFTER:
                self._initiate(dst, peer, now, wall)
                continue
            pending.tries += 1
            backoff = min(HANDSHAKE_RETRY * 2 ** (pending.tries - 1), HANDSHAKE_BACKOFF_MAX)
            pending.retry_at = now + backoff * self._jitter.uniform(0.75, 1.25)
            self._outgoing.append(pending.init)
            self.counters["handshake_retransmitted"] += 1

    def _peer(self, node_id: int) -> Peer:
        peer = self._peers.get(node_id)
        if peer is None:
            peer = self._peers[node_id] = Peer()
        return peer
