"""Loss events on the sans-IO channel: swarm-wide and per node, replacing what they name."""

from __future__ import annotations

from sitl.accounting import Outcome
from sitl.channel import Channel, RadioConfig
from sitl.faults import Loss
from sitl.motion import Stationary


def channel_of_three() -> Channel:
    channel = Channel(seed=1, config=RadioConfig(extra_loss=0.25))
    for node in (1, 2, 3):
        channel.attach(node, Stationary((10.0 * node, 0, 0)))
    return channel


def outcomes(channel: Channel, src: int, now: float) -> dict[int, Outcome]:
    tx = channel.begin(src, 20, "data", now)
    channel.finish(tx, tx.end)
    return tx.record.outcomes


def test_node_loss_applies_to_its_frames_both_ways_only() -> None:
    channel = channel_of_three()
    channel.schedule(1.0, Loss(0.0))
    channel.schedule(1.0, Loss(1.0, node=2))
    assert channel.in_force(0.0).loss == 0.25
    for k in range(20):
        assert outcomes(channel, 1, 2.0 + k) == {2: Outcome.RANDOM, 3: Outcome.DELIVERED}
        assert outcomes(channel, 2, 2.5 + k) == {1: Outcome.RANDOM, 3: Outcome.RANDOM}
    in_force = channel.in_force(30.0)
    assert (in_force.loss, in_force.node_loss) == (0.0, {2: 1.0})


def test_a_later_loss_replaces_the_earlier() -> None:
    channel = channel_of_three()
    channel.schedule(1.0, Loss(1.0))
    channel.schedule(2.0, Loss(1.0, node=3))
    channel.schedule(3.0, Loss(0.0))
    channel.schedule(3.0, Loss(0.0, node=3))
    assert outcomes(channel, 1, 1.5) == {2: Outcome.RANDOM, 3: Outcome.RANDOM}
    assert all(
        outcomes(channel, 1, 4.0 + k) == {2: Outcome.DELIVERED, 3: Outcome.DELIVERED}
        for k in range(20)
    )
