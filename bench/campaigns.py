"""Campaign dashboard at scale: 1,000 campaigns x 365 days of daily rows (365,000 rows, bulk_create).

    python -m bench.campaigns [--campaigns 1000] [--days 365] [--repeat 5]

Runs on PostgreSQL when DATABASE_URL points at one, else SQLite (it says which), in a throwaway test
database (never the dev database). Times, in-process through Django's test client (server time: URL
routing, middleware, auth, queries, figures, templates), the campaign overview (default 60-day range and a
full-year range), a campaign page over a year, the HTMX chart fragment and GET /api/v1/campaigns; prints
the median and best of --repeat runs and each page's query count. The target is under 300 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "delivr_admin.settings")
os.environ.setdefault("DELIVR_TEST_RUN", "_bench_campaigns")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

TARGET_MS = 300.0


def _seed(campaigns: int, days: int):
    from accounts.models import Membership, Organization, Role, User
    from campaigns.models import Campaign, CampaignDailyPerformance, CampaignList, DspAccount

    org = Organization.objects.create(name="Bench Co")
    user = User.objects.create_user(email="bench@example.com", password="bench-password")
    Membership.objects.create(user=user, organization=org, role=Role.ADMIN)
    account = DspAccount.objects.create(organization=org, name="Bench DSP", external_id="bench-acc")
    today = timezone.now().date()
    start = today - timedelta(days=days - 1)
    objs = [
        Campaign(
            organization=org,
            account=account,
            external_id=f"c{i}",
            name=f"Campaign {i:04d}",
            status="active" if i % 5 else "paused",
            budget=Decimal(10_000 + i * 7),
            cpm=Decimal("8.5000"),
            start_date=start,
            end_date=today,
            contacts_total=5000,
        )
        for i in range(campaigns)
    ]
    Campaign.objects.bulk_create(objs, batch_size=1000)
    ids = list(Campaign.objects.filter(organization=org).order_by("external_id").values_list("id", flat=True))
    t0 = time.perf_counter()
    batch: list = []
    for n, cid in enumerate(ids):
        # Running totals as services.campaign_daily_cumulate stores them (computed inline: same values,
        # without a second pass over 365,000 rows).
        cum_imps, cum_clicks, cum_spend = 0, 0, Decimal(0)
        for d in range(days):
            imps = 10_000 + (n * 37 + d * 101) % 5000
            spend = Decimal(imps) * Decimal("0.0085")
            cum_imps, cum_clicks, cum_spend = cum_imps + imps, cum_clicks + imps // 400, cum_spend + spend
            batch.append(
                CampaignDailyPerformance(
                    campaign_id=cid,
                    date=start + timedelta(days=d),
                    impressions=imps,
                    clicks=imps // 400,
                    spend=spend,
                    cpm=Decimal("8.5000"),
                    cum_impressions=cum_imps,
                    cum_clicks=cum_clicks,
                    cum_spend=cum_spend,
                )
            )
        if len(batch) >= 20_000:
            CampaignDailyPerformance.objects.bulk_create(batch, batch_size=5000)
            batch = []
    CampaignDailyPerformance.objects.bulk_create(batch, batch_size=5000)
    CampaignList.objects.bulk_create(
        [
            CampaignList(
                campaign_id=cid,
                external_id=f"l{j}",
                list_name=f"List {j}",
                identifiers_count=1000 * (j + 1),
                matched_count=700 * (j + 1),
            )
            for cid in ids
            for j in range(2)
        ],
        batch_size=5000,
    )
    load_s = time.perf_counter() - t0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return user, ids, today, load_s


def _seed_or_reuse(campaigns: int, days: int):
    from accounts.models import User
    from campaigns.models import Campaign

    user = User.objects.filter(email="bench@example.com").first()
    if user is None:
        return _seed(campaigns, days)
    ids = list(Campaign.objects.order_by("external_id").values_list("id", flat=True))
    return user, ids, timezone.now().date(), 0.0


def _time(client: Client, url: str, repeat: int, **headers) -> tuple[float, float, int]:
    client.get(url, **headers)  # warm caches (templates, plans)
    samples = []
    queries = 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = client.get(url, **headers)
            samples.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(ctx.captured_queries)
    return statistics.median(samples), min(samples), queries


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the seeded database for the next run")
    args = parser.parse_args(argv)

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    if connection.vendor != "sqlite":  # a database of its own: never clobber a concurrent test run's
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_{old_name}_bench_campaigns"
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=args.keep)
    engine = (
        f"{connection.vendor} {connection.Database.sqlite_version if connection.vendor == 'sqlite' else ''}"
    )
    print(f"database: {engine.strip()} ({test_name})")
    try:
        user, ids, today, load_s = _seed_or_reuse(args.campaigns, args.days)
        from campaigns.models import CampaignDailyPerformance

        rows = CampaignDailyPerformance.objects.count()
        print(
            f"seeded {len(ids):,} campaigns x {args.days} days = {rows:,} daily rows in {load_s:.1f} s (bulk_create)"
        )
        from campaigns.services import campaign_daily_cumulate

        assert campaign_daily_cumulate(campaign_id=ids[7]) == 0, (
            "inline running totals differ from the service"
        )
        client = Client()
        client.force_login(user)
        year = f"from={(today - timedelta(days=args.days - 1)).isoformat()}&to={today.isoformat()}"
        middle = ids[len(ids) // 2]
        cases = [
            ("overview, default 60 days, top 25", "/campaigns/", {}),
            ("overview, 365 days, top 100", f"/campaigns/?{year}&top=100", {}),
            (
                "overview chart fragment (HTMX), 365 days",
                f"/campaigns/?{year}",
                {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "charts"},
            ),
            ("campaign page, 365 days", f"/campaigns/{middle}/?{year}", {}),
            (
                "campaign chart fragment (HTMX), 365 days",
                f"/campaigns/{middle}/?{year}",
                {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "charts"},
            ),
            ("GET /api/v1/campaigns/{id}, all days", f"/api/v1/campaigns/{middle}", {}),
            ("GET /api/v1/campaigns (1,000 with totals)", "/api/v1/campaigns", {}),
        ]
        failed = False
        print(f"{'page':46} {'median ms':>10} {'best ms':>9} {'queries':>8}")
        for label, url, headers in cases:
            median, best, queries = _time(client, url, args.repeat, **headers)
            page = not url.startswith("/api/")
            mark = "" if not page or median < TARGET_MS else "  OVER TARGET"
            failed |= bool(mark)
            print(f"{label:46} {median:10.1f} {best:9.1f} {queries:8d}{mark}")
        print(f"target: pages under {TARGET_MS:.0f} ms server time -> {'FAIL' if failed else 'PASS'}")
        return 1 if failed else 0
    finally:
        if not args.keep:
            connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
