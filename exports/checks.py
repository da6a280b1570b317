"""Deployment checks of the exports app (`manage.py check --deploy`)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks


@checks.register(deploy=True)
def hubspot_timeline_app_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """HubSpot timeline events need Delivr's HubSpot app: without it every event is skipped."""
    if settings.DELIVR_HUBSPOT_APP_ID and settings.DELIVR_HUBSPOT_DEVELOPER_API_KEY:
        return []
    return [
        checks.Warning(
            "HubSpot exports will skip their timeline events: DELIVR_HUBSPOT_APP_ID and "
            "DELIVR_HUBSPOT_DEVELOPER_API_KEY are not both set.",
            hint="Set them to Delivr's HubSpot app id and its developer API key (README, Destinations).",
            id="exports.W001",
        )
    ]
