"""Server time of every dashboard page, per role, at the demo scale (the seed_demo data: 600,000 intent rows,
the demo audiences, exports, campaigns, opt-outs and pixels).

    python -m bench.ux_pages [--repeat 5]

Runs in a throwaway test database (SQLite unless DATABASE_URL says otherwise), seeds it with each app's demo
module (Celery tasks run in-process), then times each page in-process through Django's test client (routing,
middleware, auth, queries, templates) for admin, marketer and support: median and best of --repeat, and the
query count. Target: 200 ms per page.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from urllib.parse import quote

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "delivr_admin.settings")
os.environ.setdefault("DELIVR_TEST_RUN", "_bench_ux_pages")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

TARGET_MS = 200.0


def _seed() -> dict:
    import importlib

    from django.apps import apps

    from audiences.models import Audience, ContactList, Task
    from campaigns.models import Campaign
    from delivr_admin.celery import app as celery_app
    from delivr_admin.management.commands.seed_demo import DemoContext, ensure_demo_accounts
    from exports.models import Export
    from privacy.models import OptOut

    celery_app.conf.task_always_eager = True
    # the demo's webhook export points at a local receiver, as in the test suite
    settings.DELIVR_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    org, project, admin = ensure_demo_accounts()
    context = DemoContext(organization=org, project=project, admin=admin, stdout=io.StringIO())
    for app_config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{app_config.name}.demo")
        except ModuleNotFoundError:
            continue
        module.seed(context)
    return {
        "audience": Audience.objects.filter(project=project).order_by("name").first().pk,
        "export": Export.objects.filter(project=project).order_by("name").first().pk,
        "campaign": Campaign.objects.filter(organization=org).order_by("name").first().pk,
        "task": Task.objects.filter(organization=org).order_by("created_at").first().pk,
        "list": ContactList.objects.filter(organization=org).order_by("created_at").first().pk,
        "optout": OptOut.objects.filter(organization=org).order_by("value").first(),
    }


def _pages(ids: dict) -> list[tuple[str, str, tuple[str, ...]]]:
    everyone = ("admin", "marketer", "support")
    writers = ("admin", "marketer")
    return [
        ("home", "/", everyone),
        ("audiences", "/audiences/", everyone),
        ("audience builder", "/audiences/new/", writers),
        ("audience detail", f"/audiences/{ids['audience']}/", everyone),
        ("tasks", "/tasks/", everyone),
        ("task detail", f"/tasks/{ids['task']}/", everyone),
        ("lists", "/lists/", writers),
        ("list import report", f"/lists/{ids['list']}/report/", writers),
        ("topic catalogue", "/audiences/topics/", ("admin",)),
        ("topic edit", "/audiences/topics/4eyes_101/", ("admin",)),
        ("exports", "/exports/", everyone),
        ("export form", "/exports/new/", writers),
        ("export detail", f"/exports/{ids['export']}/", everyone),
        ("campaigns", "/campaigns/", everyone),
        ("campaign detail", f"/campaigns/{ids['campaign']}/", everyone),
        ("privacy", "/privacy/", ("admin", "support")),
        (
            "privacy identifier",
            f"/privacy/identifier/?type={ids['optout'].identifier_type}&value={quote(ids['optout'].value)}",
            ("admin", "support"),
        ),
        ("pixels", "/pixels/", writers),
        ("pixel settings", "/pixels/settings/", everyone),
        ("settings", "/settings/", everyone),
    ]


def _time(client: Client, url: str, repeat: int) -> tuple[float, float, int]:
    first = client.get(url)  # warm caches (templates, dataset listings)
    assert first.status_code == 200, (url, first.status_code)
    samples, queries = [], 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = client.get(url)
            samples.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(ctx.captured_queries)
    return statistics.median(samples), min(samples), queries


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    if connection.vendor != "sqlite":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_{old_name}_bench_ux_pages"
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    print(f"database: {connection.vendor} ({test_name}); demo data: {settings.DELIVR_DEMO_DATA}")
    try:
        t0 = time.perf_counter()
        ids = _seed()
        print(f"seeded the demo in {time.perf_counter() - t0:.1f} s")
        from accounts.models import User

        failed = False
        print(f"{'role':9} {'page':18} {'median ms':>10} {'best ms':>9} {'queries':>8}")
        for role, email in (
            ("admin", settings.DEMO_ADMIN_EMAIL),
            ("marketer", "marketer@example.com"),
            ("support", "support@example.com"),
        ):
            client = Client()
            client.force_login(User.objects.get(email=email.lower()))
            for label, url, roles in _pages(ids):
                if role not in roles:
                    continue
                median, best, queries = _time(client, url, args.repeat)
                mark = "" if median <= TARGET_MS else "  OVER TARGET"
                failed |= bool(mark)
                print(f"{role:9} {label:18} {median:10.1f} {best:9.1f} {queries:8d}{mark}")
        print(f"target: every page under {TARGET_MS:.0f} ms server time -> {'FAIL' if failed else 'PASS'}")
        return 1 if failed else 0
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
