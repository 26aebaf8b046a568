"""The reference command center against docs/api.openapi.yaml, by property-based requests.

Schemathesis makes requests from the document (schema-valid ones, and invalid ones that
must be refused) and sends them to a real command center on loopback, each with the
token of the role its operation names. Every answer must be no server error, a status
the operation documents, with the documented content type and body schema; a request the
document forbids must be refused; a method a path does not list must be 405 with
`Allow`. Fuzzing is bounded (EXAMPLES per operation), with Schemathesis's coverage cases
besides, so the run stays well under two minutes on two cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from groundstation.command_center import CommandCenterServer
from tests.groundstation import (
    ADMIN_TOKEN,
    GATEWAY_TOKEN,
    OPERATOR_TOKEN,
    bearer,
    running_center,
)

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "api.openapi.yaml"
EXAMPLES = 25
TOKENS = {
    "postMessages": GATEWAY_TOKEN,
    "pullCommands": GATEWAY_TOKEN,
    "getMessages": OPERATOR_TOKEN,
    "queueCommand": OPERATOR_TOKEN,
    "getCommand": OPERATOR_TOKEN,
    "getFaults": ADMIN_TOKEN,
    "setFault": ADMIN_TOKEN,
    "clearFault": ADMIN_TOKEN,
}
"""Each operation's caller: the role its summary names (health needs none)."""
SHORT_WAIT = 0.01
"""A long poll's `wait` is cut to this: the document allows 60 s, the run cannot."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
    allow_header_conformance,
]

CONFIG = schemathesis.Config.from_dict(
    {
        # Query parameters the document does not name are ignored (its rules say so), so
        # adding one does not make a request invalid; the test sends each role's token
        # itself, so Schemathesis makes no Authorization header of its own.
        "generation": {
            "mode": "all",
            "max-examples": EXAMPLES,
            "database": "none",
            "allow-extra-parameters": False,
            "with-security-parameters": False,
        },
        # 411 and 413 are the documented refusals of a body without a length or too large.
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 409, 411, 413, 422]
            }
        },
    }
)
schema = schemathesis.openapi.from_path(DOCUMENT, config=CONFIG)


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommandCenterServer]:
    db = tmp_path_factory.mktemp("conformance") / "cc.db"
    with running_center(db) as server:
        yield server


@schema.parametrize()
@settings(max_examples=EXAMPLES)
def test_the_command_center_answers_as_documented(
    case: schemathesis.Case[Any], center: CommandCenterServer
) -> None:
    # A fault set by the previous example (POST /admin/faults) would make /api/ answer
    # what the fault says, not what the operation does.
    center.faults.clear()
    if case.query and _seconds(case.query.get("wait")) > SHORT_WAIT:
        case.query["wait"] = SHORT_WAIT
    token = TOKENS.get(str(case.operation.definition.raw.get("operationId")))
    headers = {} if token is None else bearer(token)
    case.call_and_validate(base_url=center.url, headers=headers, checks=CHECKS, timeout=30)


def _seconds(wait: object) -> float:
    """A valid `wait` as sent (a number, or its text), else 0: invalid ones stay as made."""
    try:
        seconds = float(str(wait))
    except ValueError:
        return 0.0
    return seconds if 0 <= seconds <= 60 else 0.0
