"""ReliableSender on virtual time: seqs, retransmission with backoff, give-up, TTL expiry,
in-flight limits with a priority-ordered backlog, ACK bookkeeping."""

from __future__ import annotations

from typing import Any

import pytest

from companion.reliability.events import Acknowledged, Dropped, Event, Expired, GaveUp, Outgoing
from companion.reliability.priority import TTL, Priority
from companion.reliability.sender import ReliableSender
from dialects import event

ACCEPTED, COMPLETED = event.EVENT_OUTCOME_ACCEPTED, event.EVENT_OUTCOME_COMPLETED
GCS, UAV = 255, 7


def detection() -> Any:
    return event.MAVLink_event_detection_message(0, 1, 2, 3, 4, 5, [1, 2, 3, 4], 0, 1, 90)


def telemetry() -> Any:
    return event.MAVLink_event_telemetry_message(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)


def events(sender: ReliableSender) -> list[Event]:
    out = []
    while (item := sender.next_event()) is not None:
        out.append(item)
    return out


def attempts(sender: ReliableSender) -> list[tuple[int, int]]:
    return [(o.seq, o.attempt) for o in sender.messages_to_send()]


def run_until_quiet(sender: ReliableSender) -> list[tuple[float, list[Event]]]:
    """Call on_timer at each deadline; the events of each call, with its time."""
    timeline = []
    while (deadline := sender.next_deadline()) is not None:
        sender.on_timer(deadline)
        timeline.append((deadline, events(sender)))
    return timeline


def test_one_seq_counter_for_every_destination_written_into_the_message() -> None:
    sender = ReliableSender()
    first, second, other = detection(), detection(), detection()
    assert sender.send(UAV, first, Priority.HIGH, 0.0) == 1
    assert sender.send(UAV, second, Priority.HIGH, 0.0) == 2
    assert sender.send(GCS, other, Priority.HIGH, 0.0) == 3
    assert (first.seq, second.seq, other.seq) == (1, 2, 3)
    sent = sender.messages_to_send()
    assert [(o.dst, o.seq, o.deadline) for o in sent] == [
        (UAV, 1, 30.0),
        (UAV, 2, 30.0),
        (GCS, 3, 30.0),
    ]
    assert sender.messages_to_send() == []


def test_messages_without_ack_pass_through_untracked() -> None:
    sender = ReliableSender(max_in_flight=1)
    sender.send(UAV, detection(), Priority.HIGH, 0.0)
    assert sender.send(UAV, telemetry(), Priority.MEDIUM, 0.0) == 0
    assert [(o.seq, o.priority) for o in sender.messages_to_send()] == [
        (1, Priority.HIGH),
        (0, Priority.MEDIUM),
    ]
    assert sender.in_flight(UAV) == 1
    assert sender.counters["sent_unacknowledged"] == 1


def test_attached_messages_travel_in_the_same_bundle() -> None:
    sender = ReliableSender()
    assign = event.MAVLink_event_mission_assign_message(0, 9, 2, 1, 0)
    items = event.MAVLink_event_mission_items_message(9, 0, 2, *[[0] * 16] * 5)
    sender.send(UAV, assign, Priority.HIGH, 0.0, attached=[items])
    (outgoing,) = sender.messages_to_send()
    assert outgoing.messages == (assign, items)
    assert assign.seq == 1


def test_retransmits_at_rto_then_backs_off_until_the_ttl() -> None:
    sender = ReliableSender(max_retries=10)
    sender.send(UAV, detection(), Priority.HIGH, 0.0)
    assert attempts(sender) == [(1, 0)]
    assert sender.next_deadline() == 3.0
    sender.on_timer(2.999)
    assert attempts(sender) == []
    sent_at = []
    while (deadline := sender.next_deadline()) is not None:
        sender.on_timer(deadline)
        sent_at += [(deadline, attempt) for _, attempt in attempts(sender)]
    # RTO 3 s, doubled each time, but never a wait over a fifth of the 30 s TTL.
    assert sent_at == [(3.0, 1), (9.0, 2), (15.0, 3), (21.0, 4), (27.0, 5)]
    assert events(sender) == [Expired(dst=UAV, seq=1, transmissions=6)]  # at 30 s, the TTL
    assert sender.counters["retransmitted"] == 5


def test_gives_up_one_timeout_after_the_last_retransmission() -> None:
    sender = ReliableSender(max_retries=2)
    sender.send(UAV, detection(), Priority.LOW, 0.0)
    timeline = run_until_quiet(sender)
    assert [time for time, _ in timeline] == [3.0, 9.0, 21.0]
    assert attempts(sender) == [(1, 0), (1, 1), (1, 2)]
    assert timeline[-1][1] == [GaveUp(dst=UAV, seq=1, transmissions=3)]
    assert sender.counters["gave_up"] == 1
    sender.on_timer(10_000.0)
    assert sender.messages_to_send() == []


@pytest.mark.parametrize("priority", list(Priority))
def test_expires_exactly_at_the_ttl_and_is_never_sent_again(priority: Priority) -> None:
    sender = ReliableSender(max_retries=1000)
    sender.send(UAV, detection(), priority, 100.0)
    sender.messages_to_send()
    timeline = run_until_quiet(sender)
    expired_at = [time for time, evs in timeline if any(isinstance(e, Expired) for e in evs)]
    assert expired_at == [100.0 + TTL[priority]]
    sender.messages_to_send()
    sender.on_timer(100.0 + 2 * TTL[priority])
    assert sender.messages_to_send() == []
    assert sender.in_flight(UAV) == 0


def test_ack_completes_and_samples_the_round_trip() -> None:
    sender = ReliableSender()
    sender.send(UAV, detection(), Priority.HIGH, 10.0)
    sender.on_ack(UAV, 1, ACCEPTED, 10.75)
    assert events(sender) == [Acknowledged(dst=UAV, seq=1, outcome=ACCEPTED, rtt=0.75)]
    assert sender.rtt(UAV).rto == 0.75 + 4 * 0.375
    assert sender.next_deadline() is None
    sender.send(UAV, detection(), Priority.HIGH, 20.0)
    assert sender.next_deadline() == 22.25  # the measured RTO, not 3 s


def test_karn_no_sample_from_a_retransmitted_message_nor_from_low() -> None:
    sender = ReliableSender()
    sender.send(UAV, detection(), Priority.HIGH, 0.0)
    sender.on_timer(3.0)
    sender.on_ack(UAV, 1, ACCEPTED, 3.2)
    sender.send(UAV, detection(), Priority.LOW, 4.0)
    sender.on_ack(UAV, 2, ACCEPTED, 4.5)
    assert [e.rtt for e in events(sender) if isinstance(e, Acknowledged)] == [None, None]
    assert sender.rtt(UAV).samples == 0
    assert sender.rtt(UAV).rto == 3.0


def test_unknown_duplicate_and_updated_acks() -> None:
    sender = ReliableSender()
    sender.on_ack(UAV, 1, ACCEPTED, 0.0)
    sender.send(UAV, detection(), Priority.HIGH, 0.0)
    sender.on_ack(UAV, 2, ACCEPTED, 0.1)
    sender.on_ack(UAV, 1, ACCEPTED, 0.5)
    sender.on_ack(UAV, 1, ACCEPTED, 0.6)
    sender.on_ack(UAV, 1, COMPLETED, 9.0)
    got = [(e.seq, e.outcome, e.rtt) for e in events(sender)]  # type: ignore[union-attr]
    assert got == [
        (1, ACCEPTED, None),  # unknown (sent before a restart?): reported for the application
        (2, ACCEPTED, None),
        (1, ACCEPTED, 0.5),
        (1, COMPLETED, None),
    ]
    assert sender.counters["ack_unknown"] == 2
    assert sender.counters["ack_duplicate"] == 1
    assert sender.counters["ack_updated"] == 1


def test_in_flight_limit_and_backlog_released_in_priority_order() -> None:
    sender = ReliableSender(max_in_flight=2)
    for priority in (Priority.MEDIUM, Priority.MEDIUM, Priority.LOW, Priority.MEDIUM):
        sender.send(UAV, detection(), priority, 0.0)
    sender.send(UAV, detection(), Priority.HIGH, 0.0)  # seq 5
    sender.send(UAV, detection(), Priority.CRITICAL, 0.0)  # seq 6: never waits
    assert [o.seq for o in sender.messages_to_send()] == [1, 2, 6]
    assert (sender.in_flight(UAV), sender.backlog(UAV)) == (3, 3)
    sender.on_ack(UAV, 6, ACCEPTED, 0.1)
    assert sender.messages_to_send() == []  # still 2 in flight
    released = []
    for seq in (1, 5, 2, 4):
        sender.on_ack(UAV, seq, ACCEPTED, 0.2)
        released += [o.seq for o in sender.messages_to_send()]
    assert released == [5, 4, 3]  # HIGH, then the MEDIUM, then the LOW
    assert sender.backlog(UAV) == 0


def test_backlog_expires_unsent_at_the_ttl() -> None:
    sender = ReliableSender(max_in_flight=1, max_retries=100)
    sender.send(UAV, detection(), Priority.LOW, 0.0)
    sender.send(UAV, detection(), Priority.HIGH, 1.0)
    sender.on_timer(31.0)
    assert Expired(dst=UAV, seq=2, transmissions=0) in events(sender)
    assert sender.backlog(UAV) == 0


def test_full_backlog_drops_the_least_important_oldest_first() -> None:
    sender = ReliableSender(max_in_flight=1, max_backlog=2)
    sender.send(UAV, detection(), Priority.HIGH, 0.0)  # 1 in flight
    sender.send(UAV, detection(), Priority.LOW, 0.0)  # 2
    sender.send(UAV, detection(), Priority.MEDIUM, 0.0)  # 3
    sender.send(UAV, detection(), Priority.HIGH, 0.0)  # 4 pushes out 2
    sender.send(UAV, detection(), Priority.LOW, 0.0)  # 5: nothing less important to drop
    assert events(sender) == [Dropped(dst=UAV, seq=2), Dropped(dst=UAV, seq=5)]
    sender.messages_to_send()
    sender.on_ack(UAV, 1, ACCEPTED, 0.5)
    sender.on_ack(UAV, 4, ACCEPTED, 0.6)
    assert [o.seq for o in sender.messages_to_send()] == [4, 3]
    assert sender.counters["backlog_dropped"] == 2


def test_outgoing_carries_what_the_scheduler_needs() -> None:
    sender = ReliableSender()
    sender.send(UAV, detection(), Priority.CRITICAL, 2.0)
    (outgoing,) = sender.messages_to_send()
    assert isinstance(outgoing, Outgoing)
    assert (outgoing.priority, outgoing.deadline, outgoing.attempt) == (Priority.CRITICAL, 7.0, 0)


def test_a_restored_path_brings_waiting_retransmissions_forward() -> None:
    sender = ReliableSender(max_retries=10)
    sender.send(UAV, detection(), Priority.LOW, 0.0)
    attempts(sender)
    sender.on_timer(3.0)  # first retransmission; the next is backed off to 9 s
    assert attempts(sender) == [(1, 1)]
    sender.path_restored(UAV, 4.0)
    assert sender.next_deadline() == 4.0
    sender.on_timer(4.0)
    assert attempts(sender) == [(1, 2)]
    sender.path_restored(99, 4.0)  # nobody waits on that one: nothing happens
