"""Detector intake: JSON lines from the onboard detector, checked before anything is queued.

The detector needs none of our code: it sends one JSON object per line, in UDP datagrams
to the agent's intake port (127.0.0.1:14600 by default; see examples/detector_client.py):

    {"class_id": 3, "confidence": 0.91, "bbox": [120, 88, 64, 40], "track_id": 12,
     "time": 1750000000.25, "chip": "<base64 JPEG, optional>", "priority": "high"}

and the agent answers the datagram's sender, one JSON line per line it took or refused:

    {"stored":true,"time":1750000000250,"track_id":12}
    {"stored":false,"error":"'confidence' 1.5 outside 0.0..1.0"}

Rules:
- Everything that arrives is hostile until checked (`detection.py` has the order of the
  checks and their limits): each line is a detection or is refused with a named reason
  (`REASONS`), and nothing a datagram holds can raise out of `Intake.lines`; the process
  and the other lines of the datagram go on. A datagram over MAX_DATAGRAM bytes is
  refused whole (`oversize`), one with no line at all as `empty`, so every datagram
  counts at least once: `accepted` + `refused` is the number of lines, `refused_by` says
  why, by reason.
- `class_id` 0-255, `confidence` 0.0-1.0, `bbox` four integers 0-65535 (pixels: x, y,
  width, height), `track_id` 0-65535 (optional, 0), `priority` one of critical, high,
  medium, low (optional: detections default to HIGH), `chip` base64 of at most
  MAX_CHIP bytes (optional), `time` Unix seconds when the frame was taken, below
  MAX_TIME (optional: the agent's clock when the line arrived).
- Unknown keys are ignored, so detectors can carry their own metadata (nested at most
  MAX_DEPTH deep, numbers of at most MAX_DIGITS digits).
- "stored" is said only once the detection (and its chip) is committed to the agent's
  durable outbox: from then on a power cut loses nothing (the architecture's rule: a
  producer hears "accepted" only after the message is committed). It names the
  detection by `track_id` and, if the line gave one, `time` in ms as EVENT_DETECTION
  carries it. A detection the outbox has no room for is refused as `outbox_full`.
- A detector may ignore the answers. One that must lose nothing across an agent restart
  keeps each line until it hears "stored" and sends the very same line again meanwhile
  (say once a second): with the same `time` and `track_id` a detection stored twice is
  still one record at the command center, whose id is built from them
  (groundstation/records.py). A line without `time` is stamped anew on each arrival, so
  resending it makes another detection.
- No amplification toward a forged source address: the answers to one datagram go back
  in one datagram never larger than it (a refusal's reason is cut to fit its line; a line
  too short for any answer gets none), and refusals are answered at most
  REFUSALS_PER_SECOND (burst REFUSAL_BURST); the others are only counted.
- No log flood: a refusal is logged at most once a minute per reason (the lines held back
  are counted in the next, `companion.log_limit`), and while anything is refused one
  summary line a minute gives the counts by reason.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass

from ..log_limit import LogLimiter
from .detection import DetectionReport, IntakeError, parse_report

log = logging.getLogger("event.agent.intake")
MAX_DATAGRAM = 65535
"""The largest datagram the intake takes whole (the most UDP can carry)."""
REFUSALS_PER_SECOND = 5.0
REFUSAL_BURST = 10
LOG_INTERVAL = 60.0
"""Seconds between log lines of one refusal reason, and between summaries."""


@dataclass(frozen=True, slots=True)
class Refused:
    """A line that is not a detection: the reason's name, what was wrong, and how many
    bytes the line had (its answer is never longer)."""

    reason: str
    detail: str
    size: int


class Intake:
    """Splits datagrams into lines and checks each; keeps the counters, the refusal log's
    rate limit and the refusal answers' rate limit."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        """Lines accepted and refused."""
        self.refused_by: Counter[str] = Counter()
        """Refused lines by reason (REASONS)."""
        self.answered: Counter[str] = Counter()
        """Answers sent (stored, refused) and not sent (refusals_not_answered over the
        rate limit, left_out for want of room)."""
        self._refusals = TokenBucket(REFUSALS_PER_SECOND, REFUSAL_BURST)
        self._logs = LogLimiter(log, LOG_INTERVAL)
        self._unsummarised: Counter[str] = Counter()
        self._summary_at: float | None = None

    def lines(self, data: bytes, now: float) -> list[DetectionReport | Refused]:
        """Each non-blank line of one datagram, checked: a report, or why it was refused."""
        if len(data) > MAX_DATAGRAM:
            detail = f"datagram of {len(data)} bytes exceeds {MAX_DATAGRAM}"
            return [self._refuse(IntakeError("oversize", detail), len(data), now)]
        lines = [line for line in data.split(b"\n") if line.strip()]
        if not lines:
            return [self._refuse(IntakeError("empty", "no line"), len(data), now)]
        return [self._check(line, now) for line in lines]

    def _check(self, line: bytes, now: float) -> DetectionReport | Refused:
        try:
            report = parse_report(line)
        except IntakeError as exc:
            return self._refuse(exc, len(line), now)
        except Exception as exc:  # a bug in a check is counted: it must not end the agent
            unforeseen = IntakeError("unexpected", f"{type(exc).__name__}: {exc}")
            return self._refuse(unforeseen, len(line), now)
        self.counters["accepted"] += 1
        return report

    def not_stored(self, why: str, size: int, now: float) -> Refused:
        """A line accepted but not stored (the outbox had no room): it counts as refused
        instead; its answer is no longer than `size`, the datagram it came in."""
        self.counters["accepted"] -= 1
        return self._refuse(IntakeError("outbox_full", why), size, now)

    def _refuse(self, error: IntakeError, size: int, now: float) -> Refused:
        self.counters["refused"] += 1
        self.refused_by[error.reason] += 1
        self._unsummarised[error.reason] += 1
        if self._summary_at is None:
            self._summary_at = now + LOG_INTERVAL
        # Limited per reason: a flood of one kind never holds back another's first line.
        self._logs.log(
            logging.WARNING,
            now,
            "detection_refused",
            "reason=%s detail=%r",
            error.reason,
            str(error),
            key=error.reason,
        )
        return Refused(error.reason, str(error), size)

    def log_summary(self, now: float) -> None:
        """Once a minute while lines are refused: one line with the counts by reason."""
        if self._summary_at is None or now < self._summary_at:
            return
        counts = " ".join(f"{reason}={n}" for reason, n in sorted(self._unsummarised.items()))
        log.warning(
            "event=detections_refused refused=%d %s",
            self._unsummarised.total(),
            counts,
        )
        self._unsummarised.clear()
        self._summary_at = None

    def answers(self, size: int) -> Answers:
        """Answers to a datagram of `size` bytes, under this intake's refusal limit."""
        return Answers(size, self._refusals, self.answered)


class Answers:
    """The answers to one datagram, in one reply datagram never larger than it."""

    def __init__(self, budget: int, refusals: TokenBucket, counters: Counter[str]) -> None:
        self._budget = budget
        self._refusals = refusals
        self._counters = counters
        self._lines: list[bytes] = []

    def add(self, line: DetectionReport | Refused, now: float) -> None:
        """Answer `line`: "stored" (call once it is committed), or why it was refused."""
        if isinstance(line, DetectionReport):
            kind, answer = "stored", stored_answer(line)
        elif self._refusals.take(now):
            kind, answer = "refused", refusal(line)
        else:
            self._counters["refusals_not_answered"] += 1
            return
        if not answer or len(answer) + 1 > self._budget:
            self._counters["left_out"] += 1
            return
        self._budget -= len(answer) + 1
        self._lines.append(answer)
        self._counters[kind] += 1

    @property
    def data(self) -> bytes:
        """The reply datagram: one JSON line per answer (empty: send nothing)."""
        return b"".join(answer + b"\n" for answer in self._lines)


def stored_answer(report: DetectionReport) -> bytes:
    """`{"stored":true,"time":MS,"track_id":N}` (no time if the line gave none)."""
    answer: dict[str, object] = {"stored": True}
    if report.time_ms is not None:
        answer["time"] = report.time_ms
    answer["track_id"] = report.track_id
    return _compact(answer)


def refusal(refused: Refused) -> bytes:
    """`{"stored":false,"error":DETAIL}`, the detail cut so the answer and its newline are
    no longer than the refused line; empty if even an empty detail does not fit."""
    reason = refused.detail
    while True:
        answer = _compact({"stored": False, "error": reason})
        excess = len(answer) + 1 - refused.size
        if excess <= 0:
            return answer
        if not reason:
            return b""
        reason = reason[: max(0, len(reason) - excess)]


def _compact(obj: dict[str, object]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class TokenBucket:
    """At most `rate` a second on average, `burst` at once; time is passed in."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at: float | None = None

    def take(self, now: float) -> bool:
        """Spend a token if there is one."""
        if self._at is not None:
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
