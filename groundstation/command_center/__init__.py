"""The reference command center: a stand-in for the user's cloud, for tests and demos.

It implements the cloud API the ground station's HTTP uplink speaks
(docs/api.openapi.yaml): records in, commands out, bearer tokens with roles, and fault
injection so tests can make the "cloud" fail on purpose. It is named a reference
everywhere because it is not the cloud: a real deployment replaces it.

`store.py` keeps records and commands in SQLite, `auth.py` maps tokens to identities and
roles, `faults.py` holds injected faults, `server.py` is the HTTP service and
`__main__.py` the command line (`python -m groundstation.command_center serve|queue|list`).
"""

from .auth import Identity, TokenFileError, Tokens
from .faults import Fault, Faults
from .server import CommandCenterServer, serving
from .store import CommandCenterStore, CommandConflict, StoreError

__all__ = [
    "CommandCenterServer",
    "CommandCenterStore",
    "CommandConflict",
    "Fault",
    "Faults",
    "Identity",
    "StoreError",
    "TokenFileError",
    "Tokens",
    "serving",
]
