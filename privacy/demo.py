"""Demo opt-outs: UID2 webhook deliveries (one delivered twice) and a support-recorded email opt-out.

Deterministic and idempotent: an identifier already in the registry is left alone.
"""

import base64
import hashlib
from datetime import UTC, datetime, timedelta

from .models import OptOut
from .services import RequestMeta, optout_record, suppression_record

OPERATOR = RequestMeta(ip="203.0.113.10", user_agent="uid2-operator/5.0 (demo)", request_id="demo-uid2")
BASE_TIME = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def demo_uid2(i: int) -> str:
    return base64.b64encode(hashlib.sha256(f"delivr-demo-uid2-{i}".encode()).digest()).decode()


def seed(context) -> None:
    created = 0
    for i in range(8):
        value = demo_uid2(i)
        if OptOut.objects.filter(identifier_type="uid2", value=value, organization=None).exists():
            continue
        when = BASE_TIME + timedelta(hours=7 * i)
        for _ in range(2 if i == 0 else 1):  # the operator retried the first one: one entry, two audit events
            optout_record(
                identifier_type="uid2",
                value=value,
                source="uid2_webhook",
                opted_out_at=when,
                actor="uid2_operator",
                request_meta=OPERATOR,
            )
        created += 1
    email = "jordan.doe@example.com"
    if not OptOut.objects.filter(
        identifier_type="email", value=email, organization=context.organization
    ).exists():
        optout_record(
            identifier_type="email",
            value=email,
            source="support",
            opted_out_at=BASE_TIME + timedelta(days=3),
            organization=context.organization,
            actor="user:support@example.com",
            request_meta=RequestMeta(ip="198.51.100.7", user_agent="demo browser", request_id="demo-support"),
        )
        created += 1
    suppression_record(
        organization=context.organization,
        output_kind="export_run",
        output_id="demo-weekly-crm",
        suppressed_count=3,
    )
    context.stdout.write(f"Privacy: {created} demo opt-outs recorded.")
