"""Demo campaigns: a DelivrDSP account for the demo organization, synced from the built-in simulator.

Deterministic for a given day (the simulator anchors its flights to today, so the demo always shows the
last ~60 days) and idempotent: the sync upserts on natural keys, so seeding again adds no rows.
"""

from .dsp.simulator import SimulatorDspClient
from .models import DspAccount
from .services import campaign_sync_now

DEMO_ACCOUNT_ID = "acme-demo-dsp-001"


def seed(context) -> None:
    account, _ = DspAccount.objects.get_or_create(
        organization=context.organization,
        external_id=DEMO_ACCOUNT_ID,
        defaults={"name": "Acme DelivrDSP"},
    )
    sync = campaign_sync_now(account=account, client=SimulatorDspClient(), triggered_by="demo seed")
    context.stdout.write(
        f"Campaigns: {sync.campaigns_count} campaigns, {sync.rows} daily rows synced ({sync.status})."
    )
