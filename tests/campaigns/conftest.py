import pytest

from tests.campaigns.dsp_standin import API_KEY, DspStandIn


@pytest.fixture
def dsp(settings):
    """The DSP stand-in, with the http provider pointed at it."""
    standin = DspStandIn().start()
    settings.DELIVR_DSP_PROVIDER = "http"
    settings.DELIVR_DSP_BASE_URL = standin.url
    settings.DELIVR_DSP_API_KEY = API_KEY
    yield standin
    standin.stop()
