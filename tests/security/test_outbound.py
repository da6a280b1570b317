"""The outbound guard, attacked the way a tenant would: internal addresses by literal, by name, by redirect
and by DNS rebinding; the allow-list lets through exactly what it lists; retries stay within their budget."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from delivr_admin import outbound
from tests.security.outbound_standins import HangingServer, ScriptedServer, closed_port

INTERNAL = "is an internal address; outbound requests to internal addresses are not allowed."
FAST = outbound.RetryPolicy(attempts=3, backoff_base=0.01, total_seconds=10)
# The budget tests: without the budget, a call of this session would wait at least 60 s, so a bound of the
# budget plus a generous slack (for a loaded machine) tells "budget kept" from "budget ignored" on any machine.
PATIENT = outbound.RetryPolicy(attempts=3, backoff_base=0.01, total_seconds=180)
SLACK = 10.0


@pytest.fixture
def no_allow_list(settings):
    settings.DELIVR_OUTBOUND_ALLOWED_HOSTS = []


@pytest.fixture
def server():
    s = ScriptedServer()
    yield s
    s.stop()


def _get(url: str, **kwargs) -> requests.Response:
    with outbound.session(policy=FAST, timeout=10) as s:  # a stand-in on a loaded machine may be slow
        return s.get(url, **kwargs)


def _get_patiently(url: str) -> requests.Response:
    with outbound.session(policy=PATIENT, timeout=60) as s:
        return s.get(url)


def test_guard_when_loopback_literal_refuses_without_connecting(no_allow_list, server):
    with pytest.raises(outbound.AddressRefused) as err:
        _get(server.url("/admin"))
    assert err.value.message == f"127.0.0.1 {INTERNAL}"
    assert err.value.kind == outbound.Kind.USER
    assert server.hits == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        ("http://[::1]:9/", f"::1 {INTERNAL}"),
        ("http://[::ffff:127.0.0.1]:9/", f"::ffff:127.0.0.1 {INTERNAL}"),
        ("http://0.0.0.0:9/", f"0.0.0.0 {INTERNAL}"),
        ("http://10.1.2.3/", f"10.1.2.3 {INTERNAL}"),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
        ("http://[64:ff9b::a9fe:a9fe]/", "is a cloud metadata address"),
        ("http://2130706433:9/", "resolves to 127.0.0.1, an internal address"),
    ],
)
def test_guard_when_internal_address_refuses_with_words(no_allow_list, url, message):
    with pytest.raises(outbound.AddressRefused) as err:
        _get(url)
    assert message in err.value.message


def test_guard_when_name_resolves_to_loopback_refuses(no_allow_list, server):
    with pytest.raises(outbound.AddressRefused) as err:
        _get(f"http://localhost:{server.port}/")
    assert "localhost resolves to" in err.value.message
    with (
        outbound.resolver(lambda host, port: ["127.0.0.1"]),
        pytest.raises(outbound.AddressRefused) as err,
    ):
        _get(f"http://crm.customer-a.example:{server.port}/")
    assert err.value.message == (
        "crm.customer-a.example resolves to 127.0.0.1, an internal address; "
        "outbound requests to internal addresses are not allowed."
    )
    assert server.hits == []


def test_guard_when_allowed_host_redirects_to_internal_refuses_the_hop(settings, server):
    internal = ScriptedServer()
    try:
        settings.DELIVR_OUTBOUND_ALLOWED_HOSTS = [f"127.0.0.1:{server.port}"]
        server.script = [(302, {"Location": internal.url("/secret")}, b"")]
        with pytest.raises(outbound.AddressRefused) as err:
            _get(server.url("/start"))
        assert err.value.message == f"127.0.0.1 {INTERNAL}"
        assert [hit[1] for hit in server.hits] == ["/start"]
        assert internal.hits == []
    finally:
        internal.stop()


def test_guard_when_dns_rebinds_connects_only_to_the_checked_address(settings):
    """The resolver answers an allowed address first, then loopback: the first connection goes where the
    check said (the allowed server, never the internal one on the same port); the next one is refused."""
    internal = ScriptedServer("127.0.0.1", default=(200, {}, b"internal secret"))
    public = ScriptedServer("127.0.0.2", internal.port, default=(200, {}, b"public"))
    answers = [["127.0.0.2"], ["127.0.0.1"]]
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers[min(len(calls), len(answers)) - 1]

    try:
        settings.DELIVR_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.2/32"]
        url = f"http://rebind.example:{internal.port}/"
        with outbound.resolver(rebinding):
            assert _get(url).content == b"public"
            assert len(calls) == 1  # one resolution per connection: checked and used are the same answer
            with pytest.raises(outbound.AddressRefused):
                _get(url)
        assert internal.hits == []
        assert public.hits[0][2]["Host"] == f"rebind.example:{internal.port}"  # the name stays in Host
    finally:
        public.stop()
        internal.stop()


def test_allow_list_when_host_port_listed_lets_exactly_that_through(settings, server):
    other = ScriptedServer()
    try:
        settings.DELIVR_OUTBOUND_ALLOWED_HOSTS = [f"127.0.0.1:{server.port}"]
        assert _get(server.url()).status_code == 200
        with pytest.raises(outbound.AddressRefused):
            _get(other.url())
        with pytest.raises(outbound.AddressRefused):
            _get(f"http://127.0.0.2:{server.port}/")
        assert other.hits == []
    finally:
        other.stop()


def test_allow_list_when_name_listed_lets_that_name_through(settings, server):
    settings.DELIVR_OUTBOUND_ALLOWED_HOSTS = ["crm.internal"]
    with outbound.resolver(lambda host, port: ["127.0.0.1"]):
        assert _get(f"http://crm.internal:{server.port}/").status_code == 200
        with pytest.raises(outbound.AddressRefused):
            _get(f"http://other.internal:{server.port}/")


def test_check_url_when_saving_internal_url_refuses_in_words(no_allow_list):
    with pytest.raises(outbound.AddressRefused) as err:
        outbound.check_url("http://169.254.169.254/hook", what="The webhook URL")
    assert err.value.message.startswith("The webhook URL is not allowed: 169.254.169.254 is a cloud metadata")
    with pytest.raises(outbound.OutboundError, match="must be an http"):
        outbound.check_url("gopher://example.com/", what="The webhook URL")
    with outbound.resolver(lambda host, port: ["93.184.215.14"]):
        outbound.check_url("https://hooks.example.com/x")  # a public address passes


def test_session_when_503_then_200_retries_and_honours_retry_after(server):
    server.script = [(503, {"Retry-After": "1"}, b"busy"), (429, {}, b"slow down")]
    started = time.monotonic()
    response = _get(server.url())
    assert response.status_code == 200
    assert len(server.hits) == 3
    assert time.monotonic() - started >= 0.95


def test_session_when_retries_run_out_returns_last_status_and_error_hides_body(server):
    server.default = (502, {}, b"<html>internal stack trace of the remote</html>")
    response = _get(server.url())
    assert response.status_code == 502
    assert len(server.hits) == FAST.attempts
    error = outbound.status_error(response.status_code, "The webhook")
    assert error.message == "The webhook answered HTTP 502 (Bad Gateway)."
    assert error.retryable


def test_session_when_destination_hangs_ends_within_budget():
    hanging = HangingServer()
    try:
        started = time.monotonic()
        with outbound.time_budget(1.0), pytest.raises(outbound.OutboundError) as err:
            _get_patiently(hanging.url())
        assert time.monotonic() - started < 1.0 + SLACK  # not the session's 60 s per try
        assert err.value.message == "127.0.0.1 could not be reached."
        assert err.value.retryable
    finally:
        hanging.stop()


def test_session_when_port_closed_says_the_same_as_a_hanging_port():
    with outbound.time_budget(0.5), pytest.raises(outbound.OutboundError) as err:
        _get(f"http://127.0.0.1:{closed_port()}/")
    assert err.value.message == "127.0.0.1 could not be reached."


def test_retry_policy_delay_backs_off_with_jitter_and_caps_retry_after():
    policy = outbound.RetryPolicy(backoff_base=1.0, backoff_max=8.0, retry_after_max=60.0)
    assert 1.0 <= policy.delay(1) <= 1.25
    assert 4.0 <= policy.delay(3) <= 5.0
    assert 8.0 <= policy.delay(10) <= 10.0
    assert policy.delay(1, "3600") == 60.0
    assert policy.delay(1, "2") == 2.0


def test_guard_when_dns_is_slow_gives_up_within_the_budget(no_allow_list):
    answer = threading.Event()  # the resolver answers only when the test is over

    def slow(host, port):
        answer.wait(120)
        return ["93.184.215.14"]

    started = time.monotonic()
    try:
        with outbound.resolver(slow), outbound.time_budget(0.5), pytest.raises(outbound.OutboundError) as err:
            _get_patiently("http://slow-dns.example/")
    finally:
        answer.set()
    assert time.monotonic() - started < 0.5 + SLACK  # not the session's 60 s
    assert err.value.message in (
        "slow-dns.example could not be resolved in time.",
        "slow-dns.example did not answer in time.",
    )


def test_session_when_reply_is_too_large_refuses_to_read_it(server, monkeypatch):
    monkeypatch.setattr(outbound, "MAX_RESPONSE_BYTES", 1000)
    server.default = (200, {}, b"x" * 5000)
    with pytest.raises(outbound.OutboundError, match="answered with more than"):
        _get(server.url())
    server.default = (200, {}, b"y" * 1000)
    assert _get(server.url()).content == b"y" * 1000
