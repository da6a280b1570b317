"""Campaign pages a marketer can read: match rates in the API and one rounding rule on the page, money with
two decimals in CSV, an overview of daily spend across the selected campaigns, empty states instead of empty
axes, and axis labels that are never clipped."""

import csv
import io
import json
import re
from datetime import date

import pytest

from campaigns import charts
from campaigns.models import CampaignList
from tests.campaigns.factories import make_account, make_campaign

pytestmark = pytest.mark.django_db
RANGE = "from=2026-01-01&to=2026-01-10"


def _figure(html: str, script_id: str) -> dict:
    match = re.search(rf'<script id="{script_id}" type="application/json">(.*?)</script>', html, re.S)
    assert match, f"no figure {script_id}"
    return json.loads(match.group(1))


def test_campaign_list_and_detail_api_when_lists_exist_carry_the_match_rate(tenant):
    campaign = make_campaign(tenant.org)  # lists: 850 of 1,000 and 0 of 0
    bare = make_campaign(tenant.org, name="No lists yet")
    CampaignList.objects.filter(campaign=bare).delete()
    listed = {c["name"]: c for c in tenant.key().get("/api/v1/campaigns").json()}
    assert listed["Launch"]["match"] == {"match_rate": 0.85, "identifiers_count": 1000, "matched_count": 850}
    assert listed["No lists yet"]["match"] == {"match_rate": 0.0, "identifiers_count": 0, "matched_count": 0}
    detail = tenant.key().get(f"/api/v1/campaigns/{campaign.id}").json()
    rates = tenant.key().get(f"/api/v1/campaigns/{campaign.id}/match-rates").json()
    assert detail["match"]["match_rate"] == rates["match_rate"] == 0.85


def test_campaign_page_when_rate_has_many_decimals_shows_one_rounding_everywhere(client, tenant):
    campaign = make_campaign(tenant.org)
    CampaignList.objects.filter(campaign=campaign, external_id="l1").update(
        identifiers_count=3, matched_count=2
    )
    client.force_login(tenant.user)
    html = client.get(f"/campaigns/{campaign.id}/?{RANGE}").content.decode()
    header = re.search(r'id="campaign-match-rate">([^<]+)<', html).group(1)
    assert header == "66.7%"
    assert '<td class="num">66.7%</td>' in html  # the list table
    figure = _figure(html, "fig-match")
    assert "66.7%" in figure["layout"]["title"]["text"]
    assert figure["data"][0]["text"][0].startswith("66.7% of 3")
    assert figure["data"][0]["customdata"][0][1] == "66.7% of 3"  # the hover
    # the factory's second list sent no identifiers: no rate, said in words (not "0.0%")
    assert figure["data"][0]["text"][1] == "no identifiers sent"
    assert '<td>Visitors</td><td class="num">0</td><td class="num">0</td><td class="num">—</td>' in html


def test_csv_downloads_when_amounts_have_four_places_write_two_decimals(client, tenant):
    campaign = make_campaign(tenant.org, days=3)  # spend 12.3456 per day x day number
    client.force_login(tenant.user)
    detail = list(
        csv.reader(io.StringIO(client.get(f"/campaigns/{campaign.id}/daily.csv?{RANGE}").content.decode()))
    )
    assert detail[0] == ["date", "impressions", "clicks", "spend_usd", "cpm_usd"]
    assert detail[1][3:] == ["12.35", "12.35"] and detail[2][3] == "24.69"
    overview = list(csv.reader(io.StringIO(client.get(f"/campaigns/overview.csv?{RANGE}").content.decode())))
    assert overview[0][-3:] == ["spend_usd", "effective_cpm_usd", "match_rate"]
    assert overview[1][-3:] == ["74.07", "12.35", "0.85"]


def test_overview_when_campaigns_are_selected_charts_their_daily_spend_and_impressions(client, tenant):
    account = make_account(tenant.org, "acc-sel")
    first = make_campaign(tenant.org, days=2, account=account, name="First")
    make_campaign(tenant.org, days=2, account=account, name="Second")
    client.force_login(tenant.user)
    everything = _figure(client.get(f"/campaigns/?{RANGE}").content.decode(), "fig-daily")
    assert everything["data"][0]["x"] == ["2026-01-01", "2026-01-02"]
    assert everything["data"][1]["y"] == [2000, 4000]  # impressions of both campaigns per day
    one = _figure(
        client.get(
            f"/campaigns/?{RANGE}&campaign={first.id}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="charts"
        ).content.decode(),
        "fig-daily",
    )
    assert one["data"][1]["y"] == [1000, 2000]
    assert one["data"][0]["y"] == pytest.approx([12.3456, 24.6912])


def test_overview_and_detail_when_range_has_no_delivery_show_an_empty_state_not_empty_axes(client, tenant):
    campaign = make_campaign(tenant.org, days=3)
    client.force_login(tenant.user)
    empty = "from=2025-06-01&to=2025-06-30"
    overview = client.get(f"/campaigns/?{empty}").content.decode()
    assert 'id="charts-empty"' in overview and "No delivery between 1 Jun 2025 and 30 Jun 2025" in overview
    assert 'id="chart-spend"' not in overview and 'id="chart-daily"' not in overview
    detail = client.get(f"/campaigns/{campaign.id}/?{empty}").content.decode()
    assert 'id="charts-empty"' in detail and 'id="chart-delivery"' not in detail
    CampaignList.objects.filter(campaign=campaign).delete()
    assert 'id="match-empty"' in client.get(f"/campaigns/{campaign.id}/?{RANGE}").content.decode()


def test_comparison_charts_when_names_are_long_keep_every_bar_and_show_whole_names_on_hover():
    long_a = "Q3 Enterprise retargeting — North America — CRM software intenders (high)"
    long_b = "Q3 Enterprise retargeting — North America — CRM software intenders (medium)"
    rows = [
        {"id": i, "name": name, "spend": 10, "effective_cpm": 5, "impressions": 100}
        for i, name in enumerate([long_a, long_b, "Short"])
    ]
    spend, impressions = charts.campaign_comparison_figures(rows)
    axis = spend["layout"]["yaxis"]
    assert axis["automargin"] is True and axis["tickvals"] == ["0", "1", "2"]  # two cut names stay two bars
    assert all(len(label) <= charts.LABEL_CHARS for label in axis["ticktext"])
    assert axis["ticktext"][0].endswith("…") and axis["ticktext"][2] == "Short"
    assert (
        spend["data"][0]["customdata"][0] == long_a and "%{customdata}" in spend["data"][0]["hovertemplate"]
    )
    assert impressions["layout"]["height"] >= 240
    assert charts.percent(2 / 3) == "66.7%"


def test_overview_page_offers_a_searchable_campaign_filter(client, tenant):
    make_campaign(tenant.org, start=date(2026, 1, 1))
    client.force_login(tenant.user)
    html = client.get("/campaigns/").content.decode()
    assert 'id="campaign-search"' in html and 'aria-controls="campaign-filter"' in html
    assert "campaigns/filter.js" in html
