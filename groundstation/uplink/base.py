"""What every cloud uplink shares: its face to the ground station, and its outbox rows.

Rules:
- An uplink takes Records (`publish`) and returns once the record is committed to the
  uplink's own durable outbox, never before: "durable before acknowledged". A full outbox
  raises OutboxFull to the caller (backpressure); nothing waits in memory.
- Commands from the cloud reach the ground station through a `CommandHandler`
  (`async def on_command(command)`); what becomes of them goes back as "ack" Records.
- Outbox rows for the cloud: destination CLOUD, key = msg_id (enqueueing an id the
  outbox still holds is a no-op), payload = the record's compact JSON, expiry = created
  + retention (the radio's per-priority TTLs do not apply: a detection the cloud has not
  confirmed is kept, not dropped after 30 s).
- Command intake (`CommandIntake`), whatever the transport: a command that does not
  parse (or, `refuse`, could not even be read as JSON), or is older than `max_age`
  seconds (by the cloud's `age` of it, else its `queued_at`), is counted and answered
  with an "ack" record from the gateway (INVALID / EXPIRED, `gateway_outcome_record`)
  and never handed on; malformed ones are counted by reason too (`malformed_<reason>`,
  command_payload.REASONS) and logged at most once a minute per reason. A valid
  one goes to the handler once, with that age as `Command.waited` so the radio outbox
  counts it in the command's age (a command_id seen among the last 4096 is skipped:
  at-least-once transports deliver again); a
  handler that raises is counted, logged with its traceback and answered FAILED, and
  intake goes on. An answer the outbox cannot take (full) is counted as
  `unreported_outcomes`, never raised. Counters: commands (handed on),
  malformed_commands, expired_commands, duplicate_commands, command_errors,
  unreported_outcomes.
- A cursor file (`read_cursor`/`write_cursor`) holds one integer, replaced atomically
  and durably (write, fsync, rename, fsync the directory).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeGuard

import trio

from companion.durable_file import replace_durably
from companion.log_limit import LogLimiter
from companion.outbox import OutboxError, OutboxItem, OutboxStats
from companion.reliability.priority import Priority
from dialects import event

from ..commands import COMMAND_ID, Command, CommandError, parse_command
from ..records import OUTCOME_NAMES, Record, RecordError, decode_record, encode_record

CLOUD = 0
"""Outbox destination of cloud-bound rows (node ids are 1-255)."""
RETENTION = 7 * 24 * 3600.0
"""Default seconds a record waits for the cloud before the outbox lets it expire."""

CommandHandler = Callable[[Command], Awaitable[None]]
"""Called once per valid command from the cloud; it should not raise."""

_REMEMBERED = 4096


class Uplink(Protocol):
    """The ground station's view of any cloud uplink (HTTP, MQTT)."""

    async def publish(self, record: Record) -> None:
        """Return once `record` is committed to the uplink's outbox; OutboxFull if full."""

    async def backlog(self) -> OutboxStats:
        """The uplink outbox's depth and lifetime counters."""

    def stats(self) -> dict[str, int]:
        """The uplink's counters."""


def outbox_item(record: Record, now: float, retention: float = RETENTION) -> OutboxItem:
    """The outbox row for `record`, created at wall time `now`."""
    return OutboxItem(
        key=record.msg_id,
        destination=CLOUD,
        priority=Priority(record.priority),
        payload=encode_record(record),
        created=now,
        expires=now + retention,
    )


def gateway_outcome_record(
    raw: Any, outcome: int, reason: str, *, gateway: int, cursor: int | None, now: float
) -> Record:
    """An "ack" record from the gateway about a command it will not pass on.

    `raw` is the command as received (possibly malformed): its command_id is used if it
    has a usable one, else its cursor, else a digest of its JSON, so the record's id is
    stable and a replayed refusal is stored once.
    """
    name = OUTCOME_NAMES[outcome]
    command_id = raw.get("command_id") if isinstance(raw, dict) else None
    if isinstance(command_id, str) and COMMAND_ID.fullmatch(command_id):
        subject = command_id
    elif cursor is not None:
        command_id, subject = None, f"cursor{cursor}"
    else:
        text = json.dumps(raw, sort_keys=True, default=repr)
        command_id, subject = None, hashlib.sha256(text.encode()).hexdigest()[:16]
    return Record(
        msg_id=f"cmd-{subject}-{name}",
        msg_type="ack",
        source=f"gateway-{gateway}",
        destination="command",
        priority=int(Priority.HIGH),
        timestamp=now,
        payload={
            "command_id": command_id,
            "cursor": cursor,
            "outcome": outcome,
            "outcome_name": name,
            "reason": reason[:200],
        },
    )


class Refusals:
    """Record ids the cloud refused for good; `valid` is the outbox's validate callback,
    which moves their rows (and any row that is not a record) to the quarantine.

    `valid` runs on the outbox's worker thread: the id set is replaced, never mutated,
    so that thread always reads a whole one. At most 4096 ids are kept; a forgotten one
    that is still pending is sent once more and refused again.
    """

    def __init__(self) -> None:
        self._ids: frozenset[str] = frozenset()
        self._order: OrderedDict[str, None] = OrderedDict()
        self.quarantined = 0
        """Rows this callback rejected: a fetch that lost rows to it may come back short."""

    def add(self, ids: Sequence[str]) -> None:
        """Quarantine the rows of `ids` when the outbox next reads them."""
        for msg_id in ids:
            self._order[msg_id] = None
        while len(self._order) > _REMEMBERED:
            self._order.popitem(last=False)
        self._ids = frozenset(self._order)

    def valid(self, payload: bytes) -> bool:
        """False for a stored row that must not be sent."""
        try:
            valid = decode_record(payload).msg_id not in self._ids
        except RecordError:
            valid = False
        self.quarantined += not valid
        return valid


class FailureStreak:
    """One task's failures in a row. The first of a streak, and a new kind of failure
    within it, are logged at their level, repeats at DEBUG: a cloud that is down for hours
    writes a handful of lines, and a token refused amid 503s is still reported."""

    def __init__(self, what: str, logger: logging.Logger) -> None:
        self.what, self._log = what, logger
        self.count = 0
        self._kind: str | None = None

    def failed(self, kind: str, why: str, level: int) -> None:
        """One more failure of `kind`, explained by `why`."""
        self.count += 1
        loud = self.count == 1 or kind != self._kind
        self._kind = kind
        self._log.log(level if loud else logging.DEBUG, "%s failed: %s", self.what, why)

    def ended(self) -> None:
        """A success: the streak (if any) is over, and that is worth a line."""
        if self.count:
            self._log.info("%s works again after %d failed attempts", self.what, self.count)
        self.count, self._kind = 0, None


def _finite(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class CommandIntake:
    """Refuse, skip or hand on each command as received (module rules)."""

    def __init__(
        self,
        on_command: CommandHandler,
        publish: Callable[[Record], Awaitable[None]],
        counters: Counter[str],
        *,
        gateway: int,
        max_age: float | None,
        clock: Callable[[], float],
        origin: str,
        logger: logging.Logger,
    ) -> None:
        self._on_command, self._publish, self._counters = on_command, publish, counters
        self._gateway, self._max_age, self._clock = gateway, max_age, clock
        self._origin, self._log = origin, logger
        self._limiter = LogLimiter(logger)
        self._seen: OrderedDict[str, None] = OrderedDict()

    async def take(self, raw: object, cursor: int | None = None) -> None:
        """One command as the cloud sent it (parsed JSON), with the `cursor` the transport
        numbers it by, if any; a `queued_at` in it gives its age."""
        try:
            command = parse_command(raw)
        except CommandError as exc:
            await self.refuse(raw, exc, cursor)
            return
        age = self._age(raw)
        if self._max_age is not None and age > self._max_age:
            self._counters["expired_commands"] += 1
            self._log.warning("command %s is %.0f s old: not passed on", command.command_id, age)
            await self._answer(raw, event.EVENT_OUTCOME_EXPIRED, f"queued {age:.0f} s ago", cursor)
            return
        if command.command_id in self._seen:
            self._counters["duplicate_commands"] += 1
            return
        self._remember(command.command_id)
        command = dataclasses.replace(command, waited=age)
        self._counters["commands"] += 1
        try:
            await self._on_command(command)
        except Exception as exc:  # a handler bug must not stop the uplink; it is reported
            self._counters["command_errors"] += 1
            self._log.exception("on_command failed for %s", command.command_id)
            await self._answer(raw, event.EVENT_OUTCOME_FAILED, f"gateway: {exc!r}", cursor)

    def _age(self, raw: object) -> float:
        """How long the cloud held the command: its `age` if it says (its own clock's
        measure, the only sound one); else now minus its `queued_at`, which compares two
        clocks and is only as good as their agreement (NTP on both ends); else 0."""
        fields = raw if isinstance(raw, dict) else {}
        age, queued = fields.get("age"), fields.get("queued_at")
        if _finite(age):
            return max(0.0, float(age))
        if _finite(queued):
            return max(0.0, self._clock() - float(queued))
        return 0.0

    async def refuse(self, raw: object, error: CommandError, cursor: int | None = None) -> None:
        """A malformed command, `raw` as received (the text of one that is not even JSON):
        counted (and by its reason), logged at most once a minute per reason, answered
        INVALID."""
        self._counters["malformed_commands"] += 1
        self._counters[f"malformed_{error.reason}"] += 1
        count = self._counters["malformed_commands"]
        at = "" if cursor is None else f" at cursor {cursor}"
        self._limiter.log(
            logging.WARNING,
            trio.current_time(),
            "command_refused",
            "malformed command on %s%s refused (%d so far, reason %s): %s",
            self._origin,
            at,
            count,
            error.reason,
            error,
            key=error.reason,
        )
        await self._answer(raw, event.EVENT_OUTCOME_INVALID, str(error), cursor)

    async def _answer(self, raw: object, outcome: int, reason: str, cursor: int | None) -> None:
        record = gateway_outcome_record(
            raw, outcome, reason, gateway=self._gateway, cursor=cursor, now=self._clock()
        )
        try:
            await self._publish(record)
        except OutboxError as exc:  # full or closing: the refusal stands, its report is lost
            lost = exc
        else:
            return
        self._counters["unreported_outcomes"] += 1
        self._log.error("outcome %s not recorded: %s", record.msg_id, lost)

    def _remember(self, command_id: str) -> None:
        self._seen[command_id] = None
        while len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)


def read_cursor(path: Path) -> int | None:
    """The cursor in `path`, None if there is no file; OSError if it is unusable."""
    try:
        value = json.loads(path.read_text())["cursor"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OSError(f"cursor file {path} is unusable: {exc}") from exc
    if type(value) is not int:
        raise OSError(f"cursor file {path} holds {value!r}, not an integer")
    return value


def write_cursor(path: Path, cursor: int) -> None:
    """Replace the cursor file atomically and durably (write, fsync, rename, fsync dir)."""
    replace_durably(path, json.dumps({"cursor": cursor}))
