"""Passive acknowledgement: a relay that stops passing frames on is found within seconds."""

from __future__ import annotations

from companion.mesh.passive_ack import MISSES_TO_BREAK, TIMEOUT, PassiveAcks


def test_overheard_copy_acknowledges() -> None:
    acks = PassiveAcks()
    acks.expect((1,), relay=6, now=0.0)
    acks.heard((1,), transmitter=6)
    assert acks.broken(TIMEOUT + 1) == []
    assert acks.next_deadline() is None


def test_a_copy_from_someone_else_does_not_count() -> None:
    acks = PassiveAcks()
    acks.expect((1,), relay=6, now=0.0)
    acks.heard((1,), transmitter=7)
    assert acks.next_deadline() == TIMEOUT


def test_misses_in_a_row_break_the_link_once() -> None:
    acks = PassiveAcks()
    for i in range(MISSES_TO_BREAK + 1):
        acks.expect((i,), relay=6, now=0.0)
    assert acks.broken(TIMEOUT) == [6]
    assert acks.broken(TIMEOUT * 3) == []  # the rest were forgotten with the link


def test_a_success_in_between_forgives_a_miss() -> None:
    acks = PassiveAcks()
    acks.expect((1,), relay=6, now=0.0)
    assert acks.broken(TIMEOUT) == []
    acks.expect((2,), relay=6, now=TIMEOUT)
    acks.heard((2,), transmitter=6)
    acks.expect((3,), relay=6, now=TIMEOUT)
    assert acks.broken(3 * TIMEOUT) == []


def test_bounded() -> None:
    acks = PassiveAcks()
    for i in range(10_000):
        acks.expect((i,), relay=i % 7, now=0.0)
    assert len(acks._waiting) <= 512
