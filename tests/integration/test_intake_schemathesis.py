"""Schemathesis against intake's own OpenAPI on the real stack: generated requests to the
corporation endpoints never get a 5xx. Bounded (few examples per operation, no deadline,
derandomised) to keep the suite fast and repeatable."""

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from samenwijk_dev import demo
from tests.integration.conftest import auth

EXAMPLES = 15


def test_generated_requests_get_no_server_error(stack, tokens):
    schema = schemathesis.openapi.from_url(stack.url("intake") + "/openapi.json")
    operations = [r.ok() for r in schema.include(path_regex=r"^/v1/(cases|observations)").get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/cases", "/v1/cases/{case_id}", "/v1/observations"}
    headers = auth(tokens[demo.CORPORATIONS[1]])
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def no_server_error(case) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        no_server_error()
