"""Reliability: priorities, retransmission, duplicate suppression, fragments, airtime."""
