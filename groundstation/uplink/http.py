"""The HTTP cloud uplink: records out through a durable outbox, commands in by long polling.

API: docs/api.openapi.yaml (`POST {base_url}/api/messages`, `GET {base_url}/api/commands`),
`Authorization: Bearer <token>`, TLS verified (system trust store, or `ca_file`).

Rules:
- `publish` commits the record to the uplink's own outbox (base.py) and returns; the
  sender task alone talks to the cloud. A row leaves the outbox only when the cloud's
  answer names its id as `accepted` or `duplicates` (the cloud already had it); so a
  lost answer or a restart sends it again, and the cloud's dedupe by msg_id makes that
  harmless: exactly once by id at the cloud, at least once on the wire.
- Batching: a batch holds up to `batch_size` records in priority order. If any is HIGH or
  CRITICAL (detections, acks, command outcomes) it goes at once; MEDIUM and LOW ones
  (telemetry, status, heartbeat) wait up to `batch_wait` seconds for company.
- Failures: 5xx, 429, timeouts, connection errors, a 2xx without a usable answer, and
  other 4xx are retried after an exponential backoff with jitter (x0.5-1.0), honouring a
  Retry-After up to the backoff ceiling; the records stay. 401/403 are counted as
  `auth_failures` and logged at ERROR (a renewed token heals it). Logs: the first
  failure of a streak and each change of kind are loud, repeats DEBUG (FailureStreak).
- Answers are hostile until read within bounds (http_answers.py: a poll's body streamed
  and cut at 8 MiB, then size, nesting and digit runs before parsing); one that fails is
  counted as `bad_responses` and its reason logged.
- Refusals: 422 (or a 400 that names records) sets aside the records the answer names
  (`rejected`) and sends the rest again; a 422 that names none is bisected until the bad
  record is alone. A 400 that names none is a protocol mismatch, not a bad record: kept
  and retried. 413 splits the batch in halves, and later batches stay at the smaller
  size; a single record too large is set aside. "Set aside" means the outbox's
  quarantine (kept for an operator, see `event-outbox`), counted as `rejected` or
  `too_large`.
- Commands: `GET /api/commands?after=<cursor>&wait=<s>` in a loop. Each one goes
  through `CommandIntake` (base.py): a malformed one, or one queued longer than
  `max_command_age` ago, is counted and answered with an "ack" record (INVALID /
  EXPIRED) and never handed on; a valid one goes to `on_command` once (a recently seen
  command_id is skipped). The cursor is written to `cursor_path` (atomically, fsync)
  after each command, so a restart does not replay: at most the command in hand when the
  process died comes again.
  Without a cursor file the uplink starts at the newest command (`first_cursor` None):
  commands queued before this gateway ever ran are history, not orders. An empty page
  that comes back sooner than `MIN_POLL_GAP` (a cloud or proxy that does not hold the
  long poll) waits out the rest, so the poll never spins.
- Counters (`stats()`; `backlog()` has the outbox's own: depth, quarantined, evictions,
  expiries): published, batches, sent, confirmed, duplicates, retries (POSTs that failed),
  http_4xx, http_5xx, auth_failures, rejected, too_large, splits, timeouts,
  connection_errors, bad_responses, command_polls, commands, malformed_commands,
  expired_commands, duplicate_commands, command_errors, unreported_outcomes,
  cursor_resets.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from enum import Enum

import httpx
import trio

from companion.outbox import Outbox, OutboxStats, StoredMessage, open_outbox
from companion.reliability.priority import Priority

from ..records import Record, encode_batch
from . import http_answers as answers
from .base import (
    CLOUD,
    CommandHandler,
    CommandIntake,
    FailureStreak,
    Refusals,
    read_cursor,
    write_cursor,
)
from .base import outbox_item as make_item
from .http_config import HttpUplinkConfig

log = logging.getLogger("groundstation.uplink.http")

EXPIRY_INTERVAL = 3600.0
MIN_POLL_GAP = 1.0
"""Seconds from one command poll to the next at least, when a page brings nothing."""
"""Seconds between sweeps of expired rows, done when the outbox is drained."""


class _Result(Enum):
    DONE = "done"
    """Every record settled: confirmed or set aside."""
    AGAIN = "again"
    """Some set aside, the rest back to pending: send again now, no backoff."""
    RETRY = "retry"
    """Nothing settled through the cloud's fault or the network's: back off."""
    SPLIT = "split"
    """Send the batch in two halves."""


class HttpUplink:
    """The uplink; build it with `open_http_uplink`."""

    def __init__(
        self,
        config: HttpUplinkConfig,
        outbox: Outbox,
        client: httpx.AsyncClient,
        refusals: Refusals,
        *,
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self.config = config
        self._outbox, self._client, self._refusals = outbox, client, refusals
        self._clock, self._rng = clock, rng
        self._counters: Counter[str] = Counter()
        self._wake = trio.Event()
        self._limit = config.batch_size
        self._posting = FailureStreak("uplink POST", log)
        self._polling = FailureStreak("command poll", log)
        self._retry_after: float | None = None

    # -- the ground station's side -------------------------------------------------------

    async def publish(self, record: Record) -> None:
        """Commit `record` to the outbox; OutboxFull (backpressure) if it cannot be,
        RecordError (nothing stored) if it is not plain JSON."""
        await self._outbox.enqueue(make_item(record, self._clock(), self.config.retention))
        self._counters["published"] += 1
        self._wake.set()

    def stats(self) -> dict[str, int]:
        """Every counter (module docstring), zero if it never moved."""
        return {name: self._counters[name] for name in COUNTERS}

    async def backlog(self) -> OutboxStats:
        """The outbox's depth and its lifetime counters (quarantined, expiries, ...)."""
        return await self._outbox.stats()

    # -- records out ---------------------------------------------------------------------

    async def _send_loop(self) -> None:
        window: float | None = None
        failures = 0
        next_expiry = trio.current_time()
        while True:
            self._wake = trio.Event()
            quarantined = self._refusals.quarantined
            rows = await self._outbox.next_for(CLOUD, self._limit)
            if not rows:
                window = None
                if trio.current_time() >= next_expiry:  # rows past `retention` leave, counted
                    await self._outbox.expire()
                    next_expiry = trio.current_time() + EXPIRY_INTERVAL
                if self._refusals.quarantined == quarantined:
                    await self._wake.wait()
                continue  # rows were quarantined out of this fetch: others may wait behind
            urgent = any(row.priority <= Priority.HIGH for row in rows)
            if not urgent and len(rows) < self._limit and self.config.batch_wait > 0:
                window = trio.current_time() if window is None else window
                with trio.move_on_at(window + self.config.batch_wait) as waited:
                    await self._wake.wait()
                if not waited.cancelled_caught:
                    continue  # newcomers: look again (an urgent one goes at once)
            window = None
            if await self._deliver(rows):
                failures = 0
                continue
            self._counters["retries"] += 1
            await trio.sleep(self._delay(failures, self._retry_after))
            self._retry_after = None
            failures += 1

    def _delay(self, failures: int, retry_after: float | None = None) -> float:
        """Exponential backoff with jitter (x0.5-1.0), at least a Retry-After (capped)."""
        delay = self.config.backoff.delay(failures) * self._rng.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.config.backoff.maximum))
        return delay

    async def _deliver(self, rows: Sequence[StoredMessage]) -> bool:
        """POST `rows`, splitting as the cloud asks; False if it is time to back off."""
        result = await self._post(rows)
        if result is _Result.SPLIT:
            self._counters["splits"] += 1
            half = len(rows) // 2
            return await self._deliver(rows[:half]) and await self._deliver(rows[half:])
        return result is not _Result.RETRY

    async def _post(self, rows: Sequence[StoredMessage]) -> _Result:
        ids = [row.id for row in rows]
        await self._outbox.mark_in_flight(ids)
        body = encode_batch(row.payload for row in rows)
        self._counters["batches"] += 1
        self._counters["sent"] += len(rows)
        try:
            response = await self._client.post(
                f"{self.config.base_url}/api/messages",
                content=body,
                headers={"Content-Type": "application/json"},
            )
        except httpx.TimeoutException as exc:
            return await self._failed(ids, "timeouts", f"timed out: {exc!r}")
        except httpx.TransportError as exc:
            return await self._failed(ids, "connection_errors", f"cannot reach the cloud: {exc!r}")
        if response.is_success:
            return await self._confirm(rows, response)
        return await self._refused(rows, response)

    async def _failed(
        self,
        ids: Sequence[int],
        counter: str | None,
        why: str,
        level: int = logging.WARNING,
        kind: str | None = None,
    ) -> _Result:
        """Put `ids` back to pending; count and log the failure (`FailureStreak`)."""
        if counter is not None:
            self._counters[counter] += 1
        self._posting.failed(kind or counter or why, why, level)
        await self._outbox.release(ids)
        return _Result.RETRY

    async def _refused(self, rows: Sequence[StoredMessage], response: httpx.Response) -> _Result:
        ids = [row.id for row in rows]
        status = response.status_code
        self._counters["http_5xx" if status >= 500 else "http_4xx"] += 1
        named = answers.rejected(response) if status in (400, 422) else {}
        if status == 422 or named:
            await self._outbox.release(ids)
            return self._set_aside(rows, named, "rejected")
        if status == 413:
            await self._outbox.release(ids)
            if len(rows) > 1:
                self._limit = min(self._limit, max(1, len(rows) // 2))
            return self._set_aside(rows, {}, "too_large")
        if status in (401, 403):
            self._counters["auth_failures"] += 1
            why = f"HTTP {status}: the cloud refused our token; records kept, check the token"
            return await self._failed(ids, None, why, logging.ERROR, "auth")
        self._retry_after = answers.retry_after(response)
        return await self._failed(ids, None, f"HTTP {status}; records kept", kind=str(status))

    def _set_aside(
        self, rows: Sequence[StoredMessage], named: dict[str, str], counter: str
    ) -> _Result:
        """Quarantine what the cloud named; if it named nothing, split down to one record."""
        keys = {row.key for row in rows}
        refused = {key: why for key, why in named.items() if key in keys}
        if not refused:
            if len(rows) > 1:
                return _Result.SPLIT
            refused = {rows[0].key: counter.replace("_", " ")}
        for key, why in refused.items():
            log.error("cloud refused record %s (%s): moved to the outbox quarantine", key, why)
        self._counters[counter] += len(refused)
        self._refusals.add(list(refused))
        return _Result.DONE if len(refused) == len(rows) else _Result.AGAIN

    async def _confirm(self, rows: Sequence[StoredMessage], response: httpx.Response) -> _Result:
        """Delete what the answer names as accepted or already held; the rest goes back."""
        try:
            answer = answers.read(response.content)
            accepted = set(answers.ids(answer, "accepted"))
            duplicates = set(answers.ids(answer, "duplicates")) - accepted
        except answers.AnswerError as exc:
            why = f"answer refused ({exc.reason}): {exc}"
            return await self._failed([r.id for r in rows], "bad_responses", why)
        settled = [row for row in rows if row.key in accepted or row.key in duplicates]
        # Counted as the cloud's answer says, before the rows are deleted: whoever sees
        # them gone sees them counted.
        self._counters["confirmed"] += sum(row.key in accepted for row in rows)
        self._counters["duplicates"] += sum(row.key in duplicates for row in rows)
        settled_rows = {row.id for row in settled}
        await self._outbox.confirm(list(settled_rows))
        if len(settled) < len(rows):
            rest = [row.id for row in rows if row.id not in settled_rows]
            return await self._failed(rest, "bad_responses", f"{len(rest)} records unconfirmed")
        self._posting.ended()
        return _Result.DONE

    # -- commands in ---------------------------------------------------------------------

    async def _command_loop(self, on_command: CommandHandler, saved: int | None) -> None:
        """Poll, take each command, persist the cursor; `saved` is the cursor on disk."""
        intake = CommandIntake(
            on_command,
            self.publish,
            self._counters,
            gateway=self.config.gateway,
            max_age=self.config.max_command_age,
            clock=self._clock,
            origin=f"{self.config.base_url}/api/commands",
            logger=log,
        )
        cursor = self.config.first_cursor if saved is None else saved
        failures = 0
        while True:
            asked = trio.current_time()
            page = await self._poll(cursor)
            if page is None:
                await trio.sleep(self._delay(failures))
                failures += 1
                continue
            failures = 0
            commands, next_cursor = page
            if cursor is not None and next_cursor < cursor:
                self._counters["cursor_resets"] += 1
                log.warning("cloud's command cursor went back (%d < %d)", next_cursor, cursor)
            for raw in commands:
                at = raw.get("cursor") if type(raw.get("cursor")) is int else None
                await intake.take(raw, at)
                if at is not None:
                    saved = await self._save_cursor(at, saved)
            cursor = next_cursor
            saved = await self._save_cursor(cursor, saved)
            if not commands:  # a cloud that answers at once, not holding the poll
                await trio.sleep_until(asked + MIN_POLL_GAP)

    async def _poll(self, cursor: int | None) -> answers.Page | None:
        """One long poll: (commands, next cursor), or None after a counted failure.

        With no cursor yet it asks past the end, which answers the newest cursor.
        """
        wait = self.config.command_wait if cursor is not None else 0
        params = {"after": 2**62 if cursor is None else cursor, "wait": wait}
        timeout = httpx.Timeout(self.config.timeout, read=wait + self.config.timeout)
        self._counters["command_polls"] += 1
        url = f"{self.config.base_url}/api/commands"
        try:
            async with self._client.stream("GET", url, params=params, timeout=timeout) as response:
                status = response.status_code
                if status in (401, 403):
                    self._counters["auth_failures"] += 1
                    why = f"HTTP {status}: the cloud refused our token; check the token"
                    return self._poll_failed("http_4xx", why, logging.ERROR)
                if not response.is_success:
                    counter = "http_5xx" if status >= 500 else "http_4xx"
                    return self._poll_failed(counter, f"HTTP {status}")
                page = answers.command_page(await answers.read_streamed(response))
        except httpx.TimeoutException as exc:
            return self._poll_failed("timeouts", f"timed out: {exc!r}")
        except httpx.TransportError as exc:
            return self._poll_failed("connection_errors", f"cannot reach the cloud: {exc!r}")
        except answers.AnswerError as exc:
            why = f"answer refused ({exc.reason}): {exc}"
            return self._poll_failed("bad_responses", why, kind=f"bad_responses {exc.reason}")
        self._polling.ended()
        return page

    def _poll_failed(
        self, counter: str, why: str, level: int = logging.WARNING, kind: str | None = None
    ) -> answers.Page | None:
        """Count and log a failed poll (loud when its `kind`, the counter by default,
        changes); None, the page it did not get."""
        self._counters[counter] += 1
        self._polling.failed(kind or counter, why, level)
        return None

    async def _save_cursor(self, cursor: int, saved: int | None) -> int:
        """Persist `cursor` unless it is the one `saved` already; the cursor on disk."""
        if cursor != saved:
            await trio.to_thread.run_sync(write_cursor, self.config.cursor_file, cursor)
        return cursor


COUNTERS = (
    "published", "batches", "sent", "confirmed", "duplicates", "retries", "http_4xx",
    "http_5xx", "auth_failures", "rejected", "too_large", "splits", "timeouts",
    "connection_errors", "bad_responses", "command_polls", "commands", "malformed_commands",
    "expired_commands", "duplicate_commands", "command_errors", "unreported_outcomes",
    "cursor_resets",
)  # fmt: skip


def _verify(config: HttpUplinkConfig) -> ssl.SSLContext:
    """TLS verification is always on: the given CA bundle, or the system's."""
    return ssl.create_default_context(cafile=config.ca_file)


@asynccontextmanager
async def open_http_uplink(
    config: HttpUplinkConfig,
    on_command: CommandHandler | None = None,
    *,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[HttpUplink]:
    """Open the outbox and the HTTP client, run the sender (and, with `on_command`, the
    command poller) until the block ends. `transport` replaces the network in unit tests.

    Raises at open: the outbox's errors (OutboxCorrupt, OutboxSchemaError, ...), OSError
    for an unusable cursor file or CA file, ssl.SSLError for a bad CA bundle."""
    refusals = Refusals()
    # A damaged cursor file is an OSError here, at open, not a dead task later.
    cursor = await trio.to_thread.run_sync(read_cursor, config.cursor_file)
    headers = {"Authorization": f"Bearer {config.token}", "User-Agent": "event-groundstation"}
    async with (
        open_outbox(
            config.outbox_path,
            max_messages=config.capacity,
            max_bytes=config.max_bytes,
            validate=refusals.valid,
            clock=clock,
        ) as outbox,
        httpx.AsyncClient(
            verify=_verify(config), timeout=config.timeout, headers=headers, transport=transport
        ) as client,
        trio.open_nursery() as nursery,
    ):
        uplink = HttpUplink(
            config, outbox, client, refusals, clock=clock, rng=rng or random.Random()
        )
        nursery.start_soon(uplink._send_loop)
        if on_command is not None:
            nursery.start_soon(uplink._command_loop, on_command, cursor)
        try:
            yield uplink
        finally:
            nursery.cancel_scope.cancel()
