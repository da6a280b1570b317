"""delivr_admin.signed_links: a token reads back its object and organization until it expires; a forged,
truncated or other kind's token is 'Invalid download link.'."""

import time

import pytest
from django.http import Http404

from delivr_admin.signed_links import signed_link_read, signed_link_token


def test_signed_link_when_fresh_reads_back_object_and_organization():
    token = signed_link_token(salt="kind-a", object_id="run-1", organization_id="org-9")
    assert signed_link_read(token, salt="kind-a", expired="gone") == ("run-1", "org-9")


@pytest.mark.parametrize("change", ["forged", "truncated", "other kind", "blank"])
def test_signed_link_when_not_intact_is_invalid(change):
    token = signed_link_token(salt="kind-a", object_id="run-1", organization_id="org-9")
    token, salt = {
        "forged": (token[:-3] + ("abc" if not token.endswith("abc") else "xyz"), "kind-a"),
        "truncated": (token[:10], "kind-a"),
        "other kind": (token, "kind-b"),
        "blank": ("", "kind-a"),
    }[change]
    with pytest.raises(Http404, match="Invalid download link."):
        signed_link_read(token, salt=salt, expired="gone")


def test_signed_link_when_older_than_ttl_says_it_expired(settings, monkeypatch):
    token = signed_link_token(salt="kind-a", object_id="run-1", organization_id="org-9")
    real_time = time.time
    monkeypatch.setattr(
        "django.core.signing.time.time", lambda: real_time() + settings.DELIVR_SIGNED_LINK_TTL_SECONDS + 5
    )
    with pytest.raises(Http404, match="open the page again"):
        signed_link_read(token, salt="kind-a", expired="This link expired; open the page again.")
