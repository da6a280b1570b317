from decimal import Decimal

import pytest

from campaigns.models import CampaignDailyPerformance
from campaigns.services import campaign_daily_cumulate
from tests.campaigns.factories import make_campaign

pytestmark = pytest.mark.django_db


def test_campaign_list_returns_campaigns_with_totals_as_strings(tenant):
    campaign = make_campaign(tenant.org, days=3)
    r = tenant.key().get("/api/v1/campaigns")
    assert r.status_code == 200
    [item] = r.json()
    assert item["id"] == str(campaign.id)
    assert item["budget"] == "5000.00" and item["cpm"] == "10.0000" and item["currency"] == "USD"
    assert item["account"]["external_id"] == campaign.account.external_id
    assert item["start_date"] == "2026-01-01" and item["end_date"] == "2026-01-03"
    assert item["totals"] == {
        "impressions": 6000,
        "clicks": 3,
        "spend": "74.0736",
        "effective_cpm": "12.3456",
    }


def test_campaign_retrieve_totals_equal_sum_of_daily_rows(tenant):
    campaign = make_campaign(tenant.org, days=12)
    body = tenant.jwt().get(f"/api/v1/campaigns/{campaign.id}?from=2026-01-03&to=2026-01-08").json()
    assert body["period"] == {"from": "2026-01-03", "to": "2026-01-08"}
    daily = body["daily"]
    assert [d["date"] for d in daily] == [f"2026-01-{d:02d}" for d in range(3, 9)]
    totals = body["totals"]
    assert totals["impressions"] == sum(d["impressions"] for d in daily)
    assert totals["clicks"] == sum(d["clicks"] for d in daily)
    assert Decimal(totals["spend"]) == sum(Decimal(d["spend"]) for d in daily)
    expected = (Decimal(totals["spend"]) * 1000 / totals["impressions"]).quantize(Decimal("0.0001"))
    assert Decimal(totals["effective_cpm"]) == expected
    full = tenant.jwt().get(f"/api/v1/campaigns/{campaign.id}").json()
    assert len(full["daily"]) == 12 and full["period"] == {"from": None, "to": None}


def test_campaign_retrieve_when_no_impressions_effective_cpm_is_null(tenant):
    campaign = make_campaign(tenant.org, days=2)
    CampaignDailyPerformance.objects.filter(campaign=campaign).update(impressions=0, spend=0, cpm=None)
    campaign_daily_cumulate(campaign_id=campaign.id)
    body = tenant.jwt().get(f"/api/v1/campaigns/{campaign.id}").json()
    assert body["totals"]["effective_cpm"] is None and body["totals"]["impressions"] == 0
    assert body["daily"][0]["cpm"] is None
    empty = tenant.jwt().get(f"/api/v1/campaigns/{campaign.id}?from=2030-01-01").json()
    assert empty["daily"] == [] and empty["totals"]["spend"] == "0.0000"


@pytest.mark.parametrize(
    "query", ["from=2026-13-01", "to=yesterday", "from=2026-01-05&to=2026-01-01", "from=1%27%20or%201=1"]
)
def test_campaign_endpoints_when_dates_are_bad_answer_400_error_format(tenant, query):
    campaign = make_campaign(tenant.org, days=2)
    for url in (f"/api/v1/campaigns/{campaign.id}?{query}", f"/api/v1/campaigns?{query}"):
        r = tenant.jwt().get(url)
        assert r.status_code == 400, url
        assert r.json()["error"]["code"] == "invalid_request"
        assert r.json()["error"]["message"]


def test_match_rates_arithmetic_including_zero_identifiers(tenant):
    campaign = make_campaign(tenant.org, days=1)
    body = tenant.key().get(f"/api/v1/campaigns/{campaign.id}/match-rates").json()
    assert body["identifiers_count"] == 1000 and body["matched_count"] == 850
    assert body["match_rate"] == 0.85 and body["contacts_total"] == 900
    by_name = {item["list_name"]: item for item in body["lists"]}
    assert by_name["High intent"]["match_rate"] == 0.85
    assert by_name["Visitors"] == {
        "list_id": "l2",
        "list_name": "Visitors",
        "identifiers_count": 0,
        "matched_count": 0,
        "match_rate": 0.0,
    }
    campaign.lists.all().delete()
    body = tenant.key().get(f"/api/v1/campaigns/{campaign.id}/match-rates").json()
    assert body["match_rate"] == 0.0 and body["identifiers_count"] == 0 and body["lists"] == []


def test_campaign_endpoints_for_other_org_answer_404(tenant, other_tenant):
    campaign = make_campaign(tenant.org, days=1)
    for url in (f"/api/v1/campaigns/{campaign.id}", f"/api/v1/campaigns/{campaign.id}/match-rates"):
        r = other_tenant.key().get(url)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert other_tenant.jwt().get("/api/v1/campaigns").json() == []
    assert tenant.jwt().get("/api/v1/campaigns/not-a-uuid").status_code == 404


def test_campaign_list_without_credentials_answers_401(api):
    r = api.get("/api/v1/campaigns")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_openapi_schema_documents_campaign_endpoints(tenant):
    r = tenant.jwt().get("/api/schema/?format=json")
    assert r.status_code == 200
    text = r.content.decode()
    assert "/api/v1/campaigns/{campaign_id}/match-rates" in text
    assert "0.0 when no identifiers were sent" in text


def test_campaign_list_range_totals_equal_sum_of_daily_rows_in_range(tenant):
    first = make_campaign(tenant.org, days=12)
    make_campaign(tenant.org, days=5, name="Other")
    for query in (
        "",
        "?from=2026-01-03",
        "?to=2026-01-04",
        "?from=2026-01-03&to=2026-01-08",
        "?from=2027-01-01",
    ):
        listed = {c["id"]: c["totals"] for c in tenant.jwt().get(f"/api/v1/campaigns{query}").json()}
        detail = tenant.jwt().get(f"/api/v1/campaigns/{first.id}{query}").json()
        assert listed[str(first.id)] == detail["totals"], query
        assert detail["totals"]["impressions"] == sum(d["impressions"] for d in detail["daily"])
