import io

import pytest

pytestmark = pytest.mark.django_db


def test_privacy_and_pixels_demo_seed_is_idempotent_and_deterministic():
    from delivr_admin.management.commands.seed_demo import DemoContext, ensure_demo_accounts
    from pixels import demo as pixels_demo
    from pixels.models import Pixel, PixelEvent
    from privacy import demo as privacy_demo
    from privacy.models import AuditEvent, OptOut

    org, project, admin = ensure_demo_accounts()
    context = DemoContext(organization=org, project=project, admin=admin, stdout=io.StringIO())
    for _ in range(2):
        privacy_demo.seed(context)
        pixels_demo.seed(context)
    assert OptOut.objects.filter(organization=None, source="uid2_webhook").count() == 8
    assert OptOut.objects.filter(organization=org, source="support").count() == 1
    assert AuditEvent.objects.count() == 10  # 8 UID2 + one repeat delivery + the support opt-out
    assert Pixel.objects.filter(organization=org).count() == 2
    assert PixelEvent.objects.count() == 360
    first = list(
        PixelEvent.objects.order_by("received_at", "pixel__name").values_list("event_data", flat=True)[:5]
    )
    PixelEvent.objects.all().delete()
    pixels_demo.seed(context)
    again = list(
        PixelEvent.objects.order_by("received_at", "pixel__name").values_list("event_data", flat=True)[:5]
    )
    assert first == again
