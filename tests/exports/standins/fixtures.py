"""Pytest fixtures for the CRM stand-ins. Registered in tests/conftest.py's
`pytest_plugins`.

Each yields a started stand-in; `.config(**extra)` and `.credentials()` give a destination config pointed at
it (backoff shortened for tests), `.requests` / `.calls(method, path_contains)` the request log,
`.fail_next(n, status=..., retry_after=..., path_contains=...)` injects faults.
"""

import pytest

from tests.exports.standins.brevo_standin import BrevoStandIn
from tests.exports.standins.dsp_standin import DspListStandIn
from tests.exports.standins.hubspot_standin import HubSpotStandIn
from tests.exports.standins.salesforce_standin import SalesforceStandIn

__all__ = ["brevo_standin", "dsp_standin", "hubspot_standin", "salesforce_standin"]


@pytest.fixture
def hubspot_standin():
    standin = HubSpotStandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
def salesforce_standin():
    standin = SalesforceStandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
def brevo_standin():
    standin = BrevoStandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
def dsp_standin():
    standin = DspListStandIn().start()
    yield standin
    standin.stop()
