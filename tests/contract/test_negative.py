"""Contract fuzzing with negative data: schemathesis generates requests that break the OpenAPI schema (wrong
types, out-of-range numbers, missing required fields, malformed ids) for every operation. None may answer a
5xx, and every 4xx is in the error format `{"error": {"code", "message"}}`.

The fixtures (seeded organization, tiny intent tree, the WSGI connection handling) are the positive suite's;
a few examples per operation keep the run short (the positive suite explores the valid space).
"""

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from delivr_admin.wsgi import application
from tests.contract.test_schema import (  # noqa: F401 - fixtures used by name
    AUTH_HEADERS,
    _keep_test_connection,
    auth_headers,
    intent_tree,
    seeded,
    use_seeded_ids,
)

MAX_EXAMPLES = 6

negative_schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
negative_schema.config.generation.update(modes=[GenerationMode.NEGATIVE])


def error_format(ctx, response, case) -> bool | None:  # noqa: ARG001 - schemathesis check signature
    """A 4xx answer carries {"error": {"code", "message"}} with words in both."""
    if 400 <= response.status_code < 500 and response.status_code != 405:
        body = json.loads(response.content)
        error = body["error"]
        assert isinstance(error["code"], str) and error["code"], body
        assert isinstance(error["message"], str) and error["message"], body
    return None


@pytest.mark.django_db
@negative_schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_when_fuzzed_with_invalid_data_answers_4xx_in_error_format(case, seeded):  # noqa: F811
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in AUTH_HEADERS}
    case.cookies = {}
    use_seeded_ids(case, seeded.ids)
    case.call_and_validate(
        headers=auth_headers(seeded, case.method, case.path), checks=[not_a_server_error, error_format]
    )
