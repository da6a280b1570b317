from datetime import date, timedelta
from decimal import Decimal

from campaigns.models import Campaign, CampaignDailyPerformance, CampaignList, DspAccount
from campaigns.services import campaign_daily_cumulate


def make_account(org, external_id: str = "acc-1") -> DspAccount:
    return DspAccount.objects.create(organization=org, name=f"DSP {external_id}", external_id=external_id)


def make_campaign(org, *, days: int = 10, start: date = date(2026, 1, 1), account=None, **fields) -> Campaign:
    account = account or make_account(org, f"acc-{Campaign.objects.count() + 1}")
    values = {
        "name": "Launch",
        "status": "active",
        "budget": Decimal("5000.00"),
        "cpm": Decimal("10.0000"),
        "start_date": start,
        "end_date": start + timedelta(days=days - 1),
        "contacts_total": 900,
    }
    values.update(fields)
    campaign = Campaign.objects.create(
        organization=org, account=account, external_id=f"cmp-{Campaign.objects.count() + 1}", **values
    )
    CampaignDailyPerformance.objects.bulk_create(
        CampaignDailyPerformance(
            campaign=campaign,
            date=start + timedelta(days=i),
            impressions=1000 * (i + 1),
            clicks=i,
            spend=Decimal("12.3456") * (i + 1),
            cpm=Decimal("12.3456"),
        )
        for i in range(days)
    )
    campaign_daily_cumulate(campaign_id=campaign.id)
    CampaignList.objects.create(
        campaign=campaign,
        external_id="l1",
        list_name="High intent",
        identifiers_count=1000,
        matched_count=850,
    )
    CampaignList.objects.create(
        campaign=campaign, external_id="l2", list_name="Visitors", identifiers_count=0, matched_count=0
    )
    return campaign
