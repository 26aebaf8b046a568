"""ReliableSender and DuplicateFilter across a seeded lossy, duplicating medium: every
message is acted on at most once and ends acknowledged, given up or expired."""

from __future__ import annotations

import heapq
import random

import pytest

from companion.reliability.dedupe import DuplicateFilter
from companion.reliability.events import Acknowledged, Event
from companion.reliability.priority import Priority
from companion.reliability.sender import ReliableSender
from dialects import event

A, B, DELAY = 1, 2, 0.2


@pytest.mark.parametrize("seed", range(5))
def test_at_most_once_over_a_lossy_duplicating_medium(seed: int) -> None:
    rng = random.Random(seed)
    sender, dedupe = ReliableSender(max_in_flight=3), DuplicateFilter()
    air: list[tuple[float, int, str, int]] = []  # (arrival, tiebreak, "data" | "ack", seq)
    acted_on: list[int] = []
    outcomes: dict[int, Event] = {}

    def transmit(now: float, kind: str, seq: int) -> None:
        for copy in range(1 + (rng.random() < 0.1)):  # relays duplicate sometimes
            if rng.random() >= 0.3:
                heapq.heappush(air, (now + DELAY * (1 + copy), rng.randrange(1 << 30), kind, seq))

    for i in range(40):
        detection = event.MAVLink_event_detection_message(0, i, 2, 3, 4, 5, [1] * 4, 0, 1, 90)
        sender.send(B, detection, Priority.HIGH, i * 0.1)
    now = 0.0
    while True:
        for outgoing in sender.messages_to_send():
            transmit(now, "data", outgoing.seq)
        while (item := sender.next_event()) is not None:
            outcomes.setdefault(item.seq, item)
        deadline = sender.next_deadline()
        if not air and deadline is None:
            break
        if air and (deadline is None or air[0][0] <= deadline):
            now, _, kind, seq = heapq.heappop(air)
            if kind == "ack":
                sender.on_ack(B, seq, event.EVENT_OUTCOME_ACCEPTED, now)
            else:
                if dedupe.first_time(A, seq):
                    acted_on.append(seq)
                transmit(now, "ack", seq)  # a duplicate is acknowledged again
        else:
            now = deadline if deadline is not None else now
            sender.on_timer(now)
    assert len(acted_on) == len(set(acted_on))
    assert sorted(outcomes) == list(range(1, 41))
    acknowledged = {seq for seq, e in outcomes.items() if isinstance(e, Acknowledged)}
    assert acknowledged <= set(acted_on)
    assert len(acknowledged) >= 36
    assert sender.counters["retransmitted"] > 0
