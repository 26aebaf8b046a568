"""A bounded queue of frames waiting to be written to a byte stream.

Rules (sans-IO; the reconnecting stream drives it):

* Frames leave in the order they were offered, and each one leaves whole: a frame
  is removed only once its last byte was written.
* A stream write may take only part of the head frame; ``advance(n)`` records
  that. If the connection is lost, ``rewind()`` makes the head frame start again
  from its first byte, because the new connection never saw the earlier part.
* The queue holds at most ``max_frames`` frames. When a new frame arrives at a
  full queue the oldest frame not yet started is dropped and counted: on a
  telemetry link the oldest data is the stalest. The head frame is never dropped
  once the writer has started it, since its first bytes may already be on the
  wire; if it is the only frame queued, the new frame is the one dropped.
"""

from __future__ import annotations

from collections import deque


class FrameQueue:
    """FIFO of whole frames with partial-write tracking for the head frame."""

    def __init__(self, max_frames: int) -> None:
        """Create an empty queue holding at most ``max_frames`` frames."""
        if max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, not {max_frames}")
        self._max_frames = max_frames
        self._frames: deque[bytes] = deque()
        self._offset = 0
        self._started = False
        self.frames_dropped = 0
        """Frames discarded because the queue was full."""
        self.frames_written = 0
        """Frames written completely."""

    def __len__(self) -> int:
        """Number of frames queued, including a partly written head frame."""
        return len(self._frames)

    def offer(self, frame: bytes) -> None:
        """Queue one frame, dropping the oldest unstarted frame if full."""
        if not frame:
            return  # nothing to write; an empty frame would never "complete"
        if len(self._frames) >= self._max_frames:
            self.frames_dropped += 1
            if not self._started:
                self._frames.popleft()
            elif len(self._frames) > 1:
                del self._frames[1]
            else:
                return
        self._frames.append(frame)

    def next_chunk(self) -> memoryview | None:
        """The unwritten rest of the head frame, or None if the queue is empty.

        Marks the head frame as started: from now on it is not dropped.
        """
        if not self._frames:
            return None
        self._started = True
        return memoryview(self._frames[0])[self._offset :]

    def advance(self, written: int) -> None:
        """Record that ``written`` bytes of the chunk from ``next_chunk`` went out."""
        if not self._started:
            raise RuntimeError("advance() without a chunk from next_chunk()")
        if self._offset + written > len(self._frames[0]):
            raise ValueError(f"wrote past the end of the head frame ({written} bytes)")
        self._offset += written
        if self._offset == len(self._frames[0]):
            self._frames.popleft()
            self._offset = 0
            self._started = False
            self.frames_written += 1

    def rewind(self) -> None:
        """The connection was lost: the head frame is to be written whole again."""
        self._offset = 0
        self._started = False
