"""Campaign reporting API (March 2026 update: DSP Reporting — daily performance and match rates).

Money is always a decimal string in the account currency (USD), exactly as stored: budget with 2 decimal
places; spend, cpm and effective_cpm with 4. Counts are integers; match rates are 0..1 floats.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import ERROR
from delivr_admin.permissions import principal_of
from delivr_admin.query import QueryDateField, query_parse

from . import selectors
from .selectors import DateRange


class PeriodQuery(serializers.Serializer):
    """`from` and `to`: ISO dates, both optional (no bound), `from` not after `to`."""

    def get_fields(self) -> dict:  # `from` is a keyword: the fields cannot be class attributes
        return {
            "from": QueryDateField(
                required=False, default=None, help_text="First day included. Default: no bound."
            ),
            "to": QueryDateField(
                required=False, default=None, help_text="Last day included. Default: no bound."
            ),
        }

    def validate(self, attrs: dict) -> dict:
        if attrs["from"] and attrs["to"] and attrs["from"] > attrs["to"]:
            raise serializers.ValidationError({"from": "Must not be after to."})
        return attrs

    @staticmethod
    def period(attrs: dict) -> DateRange:
        return DateRange(attrs["from"], attrs["to"])


class CampaignListQuery(PeriodQuery):
    def get_fields(self) -> dict:
        return {
            **super().get_fields(),
            "status": serializers.CharField(
                required=False, default=None, help_text="Only campaigns with this status."
            ),
        }


def _money(places: int, help_text: str, **kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=20, decimal_places=places, coerce_to_string=True, help_text=help_text, **kwargs
    )


class AccountOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    external_id = serializers.CharField(help_text="The account id at DelivrDSP.")


class TotalsOutputSerializer(serializers.Serializer):
    impressions = serializers.IntegerField()
    clicks = serializers.IntegerField()
    spend = _money(4, "Spend in USD, decimal string.")
    effective_cpm = _money(
        4,
        "spend / impressions x 1000 in USD, decimal string; null when there were no impressions.",
        allow_null=True,
    )


class CampaignOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    external_id = serializers.CharField(help_text="The campaign id at DelivrDSP.")
    name = serializers.CharField()
    status = serializers.CharField()
    account = AccountOutputSerializer()
    currency = serializers.CharField(source="account.currency")
    budget = _money(2, "Budget in USD, decimal string; null only if the DSP never sent one.", allow_null=True)
    cpm = _money(
        4, "Target CPM in USD, decimal string; null only if the DSP never sent one.", allow_null=True
    )
    start_date = serializers.DateField(allow_null=True)
    end_date = serializers.DateField(allow_null=True)
    synced_at = serializers.DateTimeField(allow_null=True)


class DailyOutputSerializer(serializers.Serializer):
    date = serializers.DateField()
    impressions = serializers.IntegerField(help_text="Impressions delivered that day.")
    clicks = serializers.IntegerField()
    spend = _money(4, "Spend that day in USD, decimal string.")
    cpm = _money(4, "CPM that day in USD, decimal string; null when nothing was delivered.", allow_null=True)


class MatchSummarySerializer(serializers.Serializer):
    """The campaign's overall match rate, as GET /api/v1/campaigns/{id}/match-rates reports it."""

    match_rate = serializers.FloatField(
        help_text="matched_count / identifiers_count over all lists, 0..1 (4 places); 0.0 when no identifiers "
        "were sent (see identifiers_count)."
    )
    identifiers_count = serializers.IntegerField(help_text="Identifiers sent to the DSP over all lists.")
    matched_count = serializers.IntegerField(help_text="Identifiers the DSP matched over all lists.")


class CampaignListItemSerializer(CampaignOutputSerializer):
    totals = TotalsOutputSerializer(help_text="Cumulative totals over from..to (all days by default).")
    match = MatchSummarySerializer(help_text="Overall match rate of the campaign's lists (all time).")


class PeriodSerializer(serializers.Serializer):
    """{"from": date | null, "to": date | null}: "from" is a Python keyword, so it is declared below."""


PeriodSerializer._declared_fields = {
    "from": serializers.DateField(allow_null=True, help_text="First day included; null: unbounded."),
    "to": serializers.DateField(allow_null=True, help_text="Last day included; null: unbounded."),
}


class MatchRateListSerializer(serializers.Serializer):
    list_id = serializers.CharField(help_text="The list id at DelivrDSP.")
    list_name = serializers.CharField()
    identifiers_count = serializers.IntegerField(help_text="Identifiers sent to the DSP in this list.")
    matched_count = serializers.IntegerField(help_text="Identifiers of this list the DSP matched.")
    match_rate = serializers.FloatField(
        help_text="matched_count / identifiers_count, 0..1 (4 places); 0.0 when identifiers_count is 0."
    )


class CampaignListApi(APIView):
    @extend_schema(
        parameters=[
            CampaignListQuery,
        ],
        responses={200: CampaignListItemSerializer(many=True), 400: ERROR, 401: ERROR},
        description="The organization's DSP campaigns with cumulative totals over from..to.",
    )
    def get(self, request):
        query = query_parse(CampaignListQuery, request)
        period, status = PeriodQuery.period(query), query["status"]
        campaigns = selectors.campaign_list_with_totals(principal_of(request), period=period, status=status)
        out = []
        for c in campaigns:
            c.totals = {
                "impressions": c.total_impressions,
                "clicks": c.total_clicks,
                "spend": c.total_spend,
                "effective_cpm": selectors.effective_cpm(c.total_spend, c.total_impressions),
            }
            c.match = {
                "match_rate": selectors.match_rate(c.match_identifiers, c.match_matched),
                "identifiers_count": c.match_identifiers,
                "matched_count": c.match_matched,
            }
            out.append(c)
        return Response(CampaignListItemSerializer(out, many=True).data)


class CampaignDetailSerializer(CampaignOutputSerializer):
    period = PeriodSerializer()
    totals = TotalsOutputSerializer(help_text="Cumulative totals: the sums of the daily rows below.")
    daily = DailyOutputSerializer(many=True, source="daily_rows")
    match = MatchSummarySerializer(help_text="Overall match rate of the campaign's lists (all time).")


class CampaignRetrieveApi(APIView):
    OutputSerializer = CampaignDetailSerializer

    @extend_schema(
        parameters=[PeriodQuery],
        responses={200: OutputSerializer, 400: ERROR, 401: ERROR, 404: ERROR},
        description="One campaign with its daily performance rows over from..to and their cumulative totals.",
    )
    def get(self, request, campaign_id):
        period = PeriodQuery.period(query_parse(PeriodQuery, request))
        campaign = selectors.campaign_get(principal_of(request), campaign_id)
        rows = selectors.campaign_daily(campaign, period)
        campaign.period = {"from": period.date_from, "to": period.date_to}
        campaign.totals = selectors.campaign_totals(rows)
        campaign.daily_rows = rows
        campaign.match = selectors.campaign_match_rates(campaign)
        return Response(self.OutputSerializer(campaign).data)


class CampaignMatchRatesSerializer(serializers.Serializer):
    campaign_id = serializers.UUIDField()
    match_rate = serializers.FloatField(
        help_text="Overall match rate as a decimal 0..1 (e.g. 0.85 for 85%): matched_count / "
        "identifiers_count over all lists; 0.0 when no identifiers were sent."
    )
    identifiers_count = serializers.IntegerField(help_text="Total identifiers sent.")
    matched_count = serializers.IntegerField(help_text="Identifiers successfully matched.")
    contacts_total = serializers.IntegerField(help_text="Distinct contacts in the campaign.")
    lists = MatchRateListSerializer(many=True, help_text="Per-list breakdown.")


class CampaignMatchRatesApi(APIView):
    OutputSerializer = CampaignMatchRatesSerializer

    @extend_schema(responses={200: OutputSerializer, 401: ERROR, 404: ERROR})
    def get(self, request, campaign_id):
        campaign = selectors.campaign_get(principal_of(request), campaign_id)
        return Response(self.OutputSerializer(selectors.campaign_match_rates(campaign)).data)
