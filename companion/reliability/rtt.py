"""Round-trip time and retransmission timeout towards one destination (RFC 6298).

Rules:
- Before any sample, RTO is `initial` (RFC 6298 section 2.1). 3 s rather than the RFC's
  1 s: a 64 kbit/s radio spends 35 ms per full frame and hop, a multi-hop round trip
  queues behind other traffic at every hop, and a first guess too short retransmits
  into a link that is already the bottleneck.
- First sample R: SRTT = R, RTTVAR = R / 2 (section 2.2). Later samples (section 2.3):
  RTTVAR = (1 - beta) RTTVAR + beta |SRTT - R|, then SRTT = (1 - alpha) SRTT + alpha R,
  with alpha = 1/8 and beta = 1/4. RTO = SRTT + max(G, K * RTTVAR), K = 4.
- RTO is clamped to [minimum, maximum] (sections 2.4, 2.5). The RFC's 1 s floor guards
  against delayed TCP ACKs; an EVENT_ACK is sent on receipt, so the floor here is 0.5 s.
  The ceiling is the RFC's 60 s.
- Karn's rule (section 3): samples only from messages never retransmitted, since an ACK
  does not say which copy it answers. The caller enforces it (`ReliableSender`).
- Backoff (section 5.5): the n-th retransmission waits RTO * 2**n, clamped to the
  ceiling. It is kept per message, so one lost message does not slow the timers of the
  others in flight; a new sample recomputes RTO (section 5.7's collapse of backoff).
"""

from __future__ import annotations

ALPHA = 1 / 8
BETA = 1 / 4
K = 4


class RttEstimator:
    """SRTT, RTTVAR and RTO for one destination."""

    def __init__(
        self,
        *,
        initial: float = 3.0,
        minimum: float = 0.5,
        maximum: float = 60.0,
        granularity: float = 0.01,
    ) -> None:
        if not 0 < minimum <= initial <= maximum:
            raise ValueError(f"need 0 < minimum <= initial <= maximum, got {minimum}, {initial}")
        self.minimum = minimum
        self.maximum = maximum
        self.granularity = granularity
        self.srtt: float | None = None
        self.rttvar: float | None = None
        self.rto = initial
        self.samples = 0

    def sample(self, rtt: float) -> None:
        """Take one round-trip measurement (seconds) from a message sent exactly once."""
        if self.srtt is None or self.rttvar is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = (1 - BETA) * self.rttvar + BETA * abs(self.srtt - rtt)
            self.srtt = (1 - ALPHA) * self.srtt + ALPHA * rtt
        self.rto = self._clamp(self.srtt + max(self.granularity, K * self.rttvar))
        self.samples += 1

    def timeout(self, retransmissions: int) -> float:
        """How long to wait for an ACK after the `retransmissions`-th retransmission."""
        return self._clamp(self.rto * 2**retransmissions)

    def _clamp(self, value: float) -> float:
        return min(max(value, self.minimum), self.maximum)
