"""The mesh control plane: hellos, the gateway advert, and AODV route discovery (sans-IO).

Rules:
- Hellos every `hello_interval` (seeded jitter of +-10 % so neighbours do not transmit in
  step) carry our sequence number, the neighbours we hear and how well, and our best
  route to the gateway (`neighbors.py` turns them into link costs).
- The ground station is the gateway: its hellos advertise itself with a sequence number
  it raises every hello. Every node adopts, by the rules of `routes.py`, the freshest and
  then cheapest advert it hears and repeats it in its own hellos, with its next hop
  (DSDV-style, loop free by sequence numbers; split horizon: never an advert whose next
  hop is us), so the common path, UAV to ground, needs no discovery. When the gateway
  route breaks, the best advert heard lately from another neighbour replaces it at once.
- Other destinations are found on demand (RFC 3561): a route request floods with a hop
  limit and is answered only by the destination; the reply travels back along the
  reverse routes the request laid. A node originates at most `RREQ_RATE` requests a
  second and forwards at most `RREQ_FORWARD_RATE` (section 6.3); duplicates of one
  (origin, request id) are dropped.
- A lost neighbour (hellos missing, or `link_failed` from the data plane) invalidates
  the routes through it and a route error tells the neighbours (section 6.11); a node
  that receives one drops its routes through the sender and passes it on.
- Only what arrives over our own radio enters the tables. Hop counts beyond `MAX_HOPS`,
  sequence numbers that jump absurdly far, and our own requests coming back are refused
  and counted; nothing raises.
"""

from __future__ import annotations

import random
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any

from dialects import event

from .neighbors import MAX_COST, NeighborTable
from .routes import MAX_HOPS, Route, RouteTable, seq_newer

HELLO_INTERVAL = 4.0
ROUTE_LIFETIME = 3 * HELLO_INTERVAL
DISCOVERED_LIFETIME = 60.0
RREQ_RATE = 2.0
RREQ_FORWARD_RATE = 10.0
RREQ_RETRIES = 2
RREQ_TIMEOUT = 2.0
SEEN_REQUESTS = 256
MAX_SEQ_JUMP = 1 << 20
UNKNOWN_SEQ = 0x01


@dataclass(slots=True)
class _Discovery:
    tries: int
    retry_at: float


class _RateLimit:
    """At most `rate` events a second, in a token bucket holding one second's worth."""

    def __init__(self, rate: float) -> None:
        self._rate, self._tokens, self._at = rate, rate, 0.0

    def allow(self, now: float) -> bool:
        self._tokens = min(self._rate, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class Router:
    """Routing state of one node. Feed it control messages and time; take messages out."""

    def __init__(
        self, node_id: int, *, gateway: bool = False, hello_interval: float = HELLO_INTERVAL,
        seed: int = 0,
    ) -> None:  # fmt: skip
        self.node_id = node_id
        self.is_gateway = gateway
        self.hello_interval = hello_interval
        self.neighbors = NeighborTable(node_id)
        self.routes = RouteTable()
        self.counters: Counter[str] = Counter()
        self.gateway_id = node_id if gateway else 0
        self._rng = random.Random(f"{seed}/router/{node_id}")
        """Jitter for hellos and request retries, so neighbours never stay in lockstep."""
        self._seq = 1
        self._hello_seq = 0
        self._request_id = 0
        self._next_hello = 0.0
        self._seen: OrderedDict[tuple[int, int], None] = OrderedDict()
        self._discoveries: dict[int, _Discovery] = {}
        self._originate = _RateLimit(RREQ_RATE)
        self._forward = _RateLimit(RREQ_FORWARD_RATE)
        self._outgoing: list[Any] = []
        self._adverts: dict[int, tuple[Any, float]] = {}
        """The last gateway advert of each neighbour, and when it came."""
        self.routes_changed = False
        """Set when a route appeared; the data plane clears it after releasing its buffer."""

    # -- queries ---------------------------------------------------------------------

    def next_hop(self, dest: int, now: float) -> int | None:
        """The neighbour to hand a frame for `dest` to, or None (then call `discover`)."""
        route = self.routes.lookup(dest, now)
        direct = self.neighbors.cost(dest)
        # A lossy direct link loses to a clean relay: compare expected transmissions.
        if direct < MAX_COST and (route is None or direct <= route.cost):
            return dest
        return None if route is None else route.next_hop

    def learn_reverse(self, dest: int, via: int, hops: int, now: float) -> None:
        """A frame from `dest` reached us through neighbour `via`: the way back is known.

        Installed only where no valid route exists, and without a sequence number, so any
        route that has one replaces it (`routes.py`): the answer to a UAV that just spoke
        needs no route request flooding the swarm.
        """
        if dest == self.node_id or not self.neighbors.usable(via):
            return
        cost = min(MAX_COST, self.neighbors.cost(via) * hops)
        if self.routes.offer(Route(dest, via, hops, cost, None, now + ROUTE_LIFETIME), now):
            self.counters["reverse_route_learned"] += 1
            self.routes_changed = True

    def frames_to_send(self) -> list[Any]:
        frames, self._outgoing = self._outgoing, []
        return frames

    def next_deadline(self) -> float:
        retries = [d.retry_at for d in self._discoveries.values()]
        return min([self._next_hello, *retries])

    # -- timers ----------------------------------------------------------------------

    def on_timer(self, now: float) -> None:
        for lost in self.neighbors.expire(now):
            self.link_failed(lost, now)
        if now >= self._next_hello:
            self._outgoing.append(self._hello(now))
            jitter = self._rng.uniform(-0.1, 0.1) * self.hello_interval
            self._next_hello = now + self.hello_interval + jitter
        for dest, discovery in list(self._discoveries.items()):
            if discovery.retry_at > now:
                continue
            if self.routes.lookup(dest, now) is not None or discovery.tries > RREQ_RETRIES:
                del self._discoveries[dest]
                continue
            self._send_request(dest, now, discovery.tries + 1)

    def _hello(self, now: float) -> Any:
        self._hello_seq = (self._hello_seq + 1) % (1 << 16)
        if self.is_gateway:
            self._seq = (self._seq + 1) % (1 << 32)
            gateway, gw_seq, gw_cost, gw_hops, gw_via = self.node_id, self._seq, 0, 0, 0
        else:
            gateway, gw_seq, gw_cost, gw_hops, gw_via = self._gateway_advert(now)
        report = self.neighbors.report()
        links = [value for pair in report for value in pair] + [0] * (64 - 2 * len(report))
        interval = max(1, min(255, round(self.hello_interval * 10)))
        self.counters["hello_sent"] += 1
        return event.MAVLink_event_hello_message(
            self._seq, gw_seq, self._hello_seq, gw_cost, interval, gateway, gw_hops, gw_via,
            len(report), links,
        )  # fmt: skip

    def _gateway_advert(self, now: float) -> tuple[int, int, int, int, int]:
        route = self.routes.lookup(self.gateway_id, now) if self.gateway_id else None
        if route is None or route.dest_seq is None:
            return 0, 0, 0xFFFF, 255, 0
        cost = min(route.cost, 0xFFFE)
        return self.gateway_id, route.dest_seq, cost, route.hops, route.next_hop

    # -- control messages in -----------------------------------------------------------

    def receive(self, message: Any, src: int, now: float) -> None:
        """A mesh control message heard from neighbour `src` (the frame's system id)."""
        handler = {
            event.MAVLINK_MSG_ID_EVENT_HELLO: self._on_hello,
            event.MAVLINK_MSG_ID_EVENT_ROUTE_REQUEST: self._on_request,
            event.MAVLINK_MSG_ID_EVENT_ROUTE_REPLY: self._on_reply,
            event.MAVLINK_MSG_ID_EVENT_ROUTE_ERROR: self._on_error,
        }.get(message.get_msgId())
        if handler is None or src == self.node_id:
            self.counters["not_mesh_control"] += 1
            return
        handler(message, src, now)

    def _on_hello(self, hello: Any, src: int, now: float) -> None:
        if self.neighbors.on_hello(src, hello, now):
            self.counters["neighbor_added"] += 1
            self.routes_changed = True
        if hello.gateway and hello.gateway != self.node_id and hello.gateway_hops < MAX_HOPS:
            self._adverts[src] = (hello, now)
            self._adopt_gateway(hello, src, now)

    def _adopt_gateway(self, hello: Any, src: int, now: float) -> None:
        link = self.neighbors.cost(src)
        if hello.gateway_via == self.node_id:
            self.counters["split_horizon"] += 1  # its route runs through us: not a way out
            return
        if link >= MAX_COST or not self._plausible(hello.gateway, hello.gateway_seq):
            return
        route = Route(
            hello.gateway, src, hello.gateway_hops + 1,
            min(MAX_COST, hello.gateway_metric + link), hello.gateway_seq, now + ROUTE_LIFETIME,
        )  # fmt: skip
        if self.routes.offer(route, now):
            self.gateway_id = hello.gateway
            self.routes_changed = True

    def _plausible(self, dest: int, seq: int) -> bool:
        known = self.routes.known_seq(dest)
        if known is not None and seq_newer(seq, known) and (seq - known) % (1 << 32) > MAX_SEQ_JUMP:
            self.counters["seq_jump"] += 1
            return False
        return True

    def _bad_hops(self, hop_count: int, hops_left: int) -> bool:
        if hop_count >= MAX_HOPS or hops_left > MAX_HOPS:
            self.counters["bad_hop_count"] += 1
            return True
        return False

    def _on_request(self, rreq: Any, src: int, now: float) -> None:
        if rreq.origin == self.node_id:
            self.counters["own_request_returned"] += 1
            return
        key = (rreq.origin, rreq.request_id)
        if key in self._seen:
            self.counters["duplicate_request"] += 1
            return
        if self._bad_hops(rreq.hop_count, rreq.hops_left) or not self._plausible(
            rreq.origin, rreq.origin_seq
        ):
            return
        self._remember(key)
        cost = min(MAX_COST, rreq.metric + self.neighbors.cost(src))
        reverse = Route(rreq.origin, src, rreq.hop_count + 1, cost, rreq.origin_seq,
                        now + DISCOVERED_LIFETIME)  # fmt: skip
        self.routes.offer(reverse, now)
        if rreq.dest == self.node_id:
            self._reply(rreq, src)
        elif rreq.hops_left > 1:
            self._forward_request(rreq, cost, now)

    def _reply(self, rreq: Any, src: int) -> None:
        if not rreq.flags & UNKNOWN_SEQ and seq_newer(rreq.dest_seq, self._seq):
            self._seq = rreq.dest_seq
        self._seq = (self._seq + 1) % (1 << 32)
        lifetime = int(DISCOVERED_LIFETIME)
        self._outgoing.append(
            event.MAVLink_event_route_reply_message(
                self._seq, lifetime, 0, rreq.origin, self.node_id, 0, src
            )
        )
        self.counters["reply_sent"] += 1

    def _forward_request(self, rreq: Any, cost: int, now: float) -> None:
        if not self._forward.allow(now):
            self.counters["request_rate_limited"] += 1
            return
        self._outgoing.append(
            event.MAVLink_event_route_request_message(
                rreq.request_id,
                rreq.origin_seq,
                rreq.dest_seq,
                cost,
                rreq.origin,
                rreq.dest,
                rreq.hop_count + 1,
                rreq.hops_left - 1,
                rreq.flags,
            )
        )
        self.counters["request_forwarded"] += 1

    def _on_reply(self, rrep: Any, src: int, now: float) -> None:
        if rrep.next_hop != self.node_id:
            self.counters["reply_overheard"] += 1
            return
        if self._bad_hops(rrep.hop_count, 0) or not self._plausible(rrep.dest, rrep.dest_seq):
            return
        cost = min(MAX_COST, rrep.metric + self.neighbors.cost(src))
        forward = Route(rrep.dest, src, rrep.hop_count + 1, cost, rrep.dest_seq,
                        now + rrep.lifetime)  # fmt: skip
        if self.routes.offer(forward, now):
            self.routes_changed = True
        if rrep.origin == self.node_id:
            self._discoveries.pop(rrep.dest, None)
            self.counters["route_discovered"] += 1
            return
        back = self.routes.lookup(rrep.origin, now)
        if back is None or back.next_hop == src:
            self.counters["reply_undeliverable"] += 1
            return
        self._outgoing.append(
            event.MAVLink_event_route_reply_message(
                rrep.dest_seq,
                rrep.lifetime,
                cost,
                rrep.origin,
                rrep.dest,
                rrep.hop_count + 1,
                back.next_hop,
            )
        )

    def _on_error(self, rerr: Any, src: int, now: float) -> None:
        count = min(rerr.count, len(rerr.dests))
        lost = [
            (dest, seq)
            for dest, seq in zip(rerr.dests[:count], rerr.dest_seq[:count], strict=True)
            if self.routes.invalidate(dest, seq, via=src)
        ]
        if lost:
            self._error(lost)

    # -- discovery and breaks ----------------------------------------------------------

    def discover(self, dest: int, now: float) -> None:
        """Find a route to `dest` unless a search is already running."""
        if dest in self._discoveries or dest == self.node_id:
            return
        self._send_request(dest, now, 1)

    def _send_request(self, dest: int, now: float, tries: int) -> None:
        timeout = RREQ_TIMEOUT * 2 ** (tries - 1) * self._rng.uniform(0.75, 1.25)
        self._discoveries[dest] = _Discovery(tries, now + timeout)
        if not self._originate.allow(now):
            self.counters["request_rate_limited"] += 1
            return
        self._seq = (self._seq + 1) % (1 << 32)
        self._request_id = (self._request_id + 1) % (1 << 32)
        self._remember((self.node_id, self._request_id))
        known = self.routes.known_seq(dest)
        self._outgoing.append(
            event.MAVLink_event_route_request_message(
                self._request_id,
                self._seq,
                known or 0,
                0,
                self.node_id,
                dest,
                0,
                MAX_HOPS,
                UNKNOWN_SEQ if known is None else 0,
            )
        )
        self.counters["request_sent"] += 1

    def link_failed(self, neighbor: int, now: float) -> None:
        """The link to `neighbor` is gone: drop it, tell whoever routed through us, and
        take the best gateway advert another neighbour sent lately (no waiting for a hello)."""
        self.neighbors.remove(neighbor)
        self._adverts.pop(neighbor, None)
        self.counters["link_broken"] += 1
        broken = self.routes.break_link(neighbor)
        if broken:
            self._error(broken)
        if self.gateway_id and self.routes.lookup(self.gateway_id, now) is None:
            recent = [
                (hello, src)
                for src, (hello, heard) in self._adverts.items()
                if now - heard < ROUTE_LIFETIME
            ]
            recent.sort(key=lambda a: a[0].gateway_metric + self.neighbors.cost(a[1]))
            for hello, src in recent:
                self._adopt_gateway(hello, src, now)
            if self.routes.lookup(self.gateway_id, now) is not None:
                self.counters["gateway_rerouted"] += 1

    def _error(self, lost: list[tuple[int, int]]) -> None:
        for start in range(0, len(lost), 16):
            chunk = lost[start : start + 16]
            dests = [d for d, _ in chunk] + [0] * (16 - len(chunk))
            seqs = [s for _, s in chunk] + [0] * (16 - len(chunk))
            self._outgoing.append(event.MAVLink_event_route_error_message(seqs, len(chunk), dests))
            self.counters["error_sent"] += 1

    def _remember(self, key: tuple[int, int]) -> None:
        self._seen[key] = None
        if len(self._seen) > SEEN_REQUESTS:
            self._seen.popitem(last=False)
