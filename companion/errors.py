"""Errors of the node stack, split by blame as in h11 (`h11/_util.py`).

`LocalProtocolError` means this process misused a core object: a bug to fix here.
`RemoteProtocolError` means a peer sent something invalid. Cores never raise it out of
their receive paths: bad input from the radio is counted and dropped there. It exists
for the few APIs that parse one untrusted item on request (a file, a CLI argument).
"""


class ProtocolError(Exception):
    """Base of every error the node stack raises on purpose."""


class LocalProtocolError(ProtocolError):
    """This side asked for something impossible (encoding an out-of-range field, ...)."""


class RemoteProtocolError(ProtocolError):
    """The other side (or the medium) produced invalid input."""
