"""The queue keeps frames whole and in order across partial writes and lost links."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.transport.frame_queue import FrameQueue


def drain(queue: FrameQueue) -> list[bytes]:
    """Write everything queued, one whole chunk at a time."""
    frames = []
    while (chunk := queue.next_chunk()) is not None:
        frames.append(bytes(chunk))
        queue.advance(len(chunk))
    return frames


def test_frames_leave_in_order() -> None:
    queue = FrameQueue(max_frames=4)
    for frame in (b"a", b"bb", b"ccc"):
        queue.offer(frame)
    assert len(queue) == 3
    assert drain(queue) == [b"a", b"bb", b"ccc"]
    assert queue.frames_written == 3
    assert len(queue) == 0


def test_partial_writes_continue_where_they_stopped() -> None:
    queue = FrameQueue(max_frames=4)
    queue.offer(b"abcdef")
    queue.offer(b"gh")
    chunk = queue.next_chunk()
    assert chunk is not None
    queue.advance(2)
    assert bytes(queue.next_chunk() or b"") == b"cdef"
    queue.advance(4)
    assert queue.frames_written == 1
    assert bytes(queue.next_chunk() or b"") == b"gh"


def test_rewind_restarts_the_head_frame_from_its_first_byte() -> None:
    queue = FrameQueue(max_frames=4)
    queue.offer(b"abcdef")
    queue.next_chunk()
    queue.advance(3)
    queue.rewind()
    assert bytes(queue.next_chunk() or b"") == b"abcdef"
    assert queue.frames_written == 0


def test_full_queue_drops_the_oldest_unstarted_frame() -> None:
    queue = FrameQueue(max_frames=2)
    for frame in (b"a", b"b", b"c"):
        queue.offer(frame)
    assert queue.frames_dropped == 1
    assert drain(queue) == [b"b", b"c"]


def test_started_head_frame_is_never_dropped() -> None:
    queue = FrameQueue(max_frames=2)
    queue.offer(b"head")
    queue.offer(b"b")
    queue.next_chunk()
    queue.offer(b"c")
    assert queue.frames_dropped == 1
    assert drain(queue) == [b"head", b"c"]


def test_new_frame_is_dropped_when_the_only_frame_is_being_written() -> None:
    queue = FrameQueue(max_frames=1)
    queue.offer(b"head")
    queue.next_chunk()
    queue.advance(1)
    queue.offer(b"new")
    assert queue.frames_dropped == 1
    assert bytes(queue.next_chunk() or b"") == b"ead"


def test_empty_frames_are_ignored() -> None:
    queue = FrameQueue(max_frames=1)
    queue.offer(b"")
    assert len(queue) == 0
    assert queue.next_chunk() is None


def test_misuse_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FrameQueue(max_frames=0)
    queue = FrameQueue(max_frames=1)
    queue.offer(b"ab")
    with pytest.raises(RuntimeError, match="next_chunk"):
        queue.advance(1)
    queue.next_chunk()
    with pytest.raises(ValueError, match="past the end"):
        queue.advance(3)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("offer"), st.binary(min_size=1, max_size=8)),
        st.tuples(st.just("write"), st.integers(min_value=1, max_value=8)),
        st.tuples(st.just("lose"), st.just(0)),
    ),
    max_size=60,
)


@settings(derandomize=True, database=None)
@given(operations, st.integers(min_value=1, max_value=4))
def test_every_device_sees_whole_frames_in_order(
    ops: list[tuple[str, bytes | int]], max_frames: int
) -> None:
    """Model: the link is lost at random; each new device starts with a clean slate."""
    queue = FrameQueue(max_frames)
    offered: list[bytes] = []
    devices: list[bytearray] = [bytearray()]
    for op, arg in ops:
        if op == "offer":
            assert isinstance(arg, bytes)
            offered.append(arg)
            queue.offer(arg)
        elif op == "write" and (chunk := queue.next_chunk()) is not None:
            assert isinstance(arg, int)
            written = min(arg, len(chunk))
            devices[-1] += chunk[:written]
            queue.advance(written)
        elif op == "lose":
            queue.rewind()
            devices.append(bytearray())
    devices[-1] += b"".join(drain(queue))

    # Each frame was offered once; every frame either arrived whole or was dropped,
    # except a frame cut off by a lost link, which then arrived whole later.
    assert queue.frames_written + queue.frames_dropped == len(offered)
    delivered = _whole_frames(devices, offered)
    assert len(delivered) == queue.frames_written
    assert delivered == sorted(delivered), "frames arrived out of order"


def _whole_frames(devices: list[bytearray], offered: list[bytes]) -> list[int]:
    """Indices of offered frames found whole, in order, on the devices.

    Every device's bytes must be a sequence of whole offered frames, followed
    only on a lost device by the beginning of the frame that was being written.
    """
    delivered: list[int] = []
    next_index = 0
    for number, device in enumerate(devices):
        position = 0
        while position < len(device):
            index = next(
                (
                    i
                    for i in range(next_index, len(offered))
                    if device.startswith(offered[i], position)
                ),
                None,
            )
            if index is None:
                rest = bytes(device[position:])
                assert number < len(devices) - 1, "a drained device ended mid-frame"
                assert any(f.startswith(rest) for f in offered[next_index:]), rest
                break
            delivered.append(index)
            next_index = index + 1
            position += len(offered[index])
    return delivered
