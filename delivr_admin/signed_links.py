"""Download links signed by Delivr (outputs in a local folder; the object store presigns its own): a token
naming one object and its organization, readable for DELIVR_SIGNED_LINK_TTL_SECONDS (15 minutes)."""

from django.conf import settings
from django.core import signing
from django.http import Http404

INVALID = "Invalid download link."


def signed_link_token(*, salt: str, object_id: object, organization_id: object) -> str:
    """The token of a link to `object_id` of `organization_id` (`salt` keeps each kind of link apart)."""
    return signing.TimestampSigner(salt=salt).sign(f"{object_id}:{organization_id}")


def signed_link_read(token: str, *, salt: str, expired: str) -> tuple[str, str]:
    """(object id, organization id) the token signs; Http404 with `expired` when it is older than the TTL,
    "Invalid download link." when it is forged, truncated or another kind's."""
    try:
        value = signing.TimestampSigner(salt=salt).unsign(
            token or "", max_age=settings.DELIVR_SIGNED_LINK_TTL_SECONDS
        )
    except signing.SignatureExpired as exc:
        raise Http404(expired) from exc
    except signing.BadSignature as exc:
        raise Http404(INVALID) from exc
    object_id, _, organization_id = value.partition(":")
    return object_id, organization_id
