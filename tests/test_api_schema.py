"""Schemathesis drives every API operation from the OpenAPI schema, with a real token on
the demo book: no answer may be a server error, and every answer must match the schema
(status code, content type, body).

The operations are walked here with each one's Hypothesis strategy, rather than through
Schemathesis' pytest fixture loader, which does not run under pytest 9.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from remit.access import tokens
from remit.testkit.web import api_token
from remit.web.app import create_app

BOOK = "riverside"
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)
EXAMPLES = 40


def test_the_api_answers_every_generated_request_within_its_schema(demo_db):
    token = api_token(demo_db, list(tokens.SCOPES), "schemathesis")
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(demo_db))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    statuses: dict[str, set[int]] = {}

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            if case.path_parameters and "book" in case.path_parameters:
                case.path_parameters["book"] = BOOK  # the token's book: reach past the 403
            headers = {"Authorization": f"Bearer {token}"}
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            # run() is called within this iteration, so the loop variable is the right one.
            statuses.setdefault(operation.label, set()).add(response.status_code)  # noqa: B023

        run()
    # The walk reached real answers, not only refusals.
    assert any(code < 300 for codes in statuses.values() for code in codes), statuses
