"""Audience builder and download benchmark on the 20M-row intent dataset.

    .venv/bin/python -m bench.audiences

Targets (issue 4): the builder's estimate endpoint answers within 1.5 x the best bare engine count + distinct
of the same selection plus 150 ms; a 100-row preview under 500 ms; the CSV download streams at >= 70% of the
bare engine's CSV write rate with the server process under 500 MiB peak RSS (each measured in a child
process, through Django's test client, reading resource.getrusage).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(os.environ.get("BENCH_INTENT_DATA", "/tmp/bench_intent_20m"))
WORK = Path(tempfile.gettempdir()) / "bench_audiences"
ESTIMATE_FORM = {
    "topic_id_prefixes": ["4eyes_100", "4eyes_101", "4eyes_102"],
    "scores": ["high", "medium"],
    "window": "lookback",
    "lookback_days": "7",
    "preview_limit": "100",
}
DOWNLOAD_DEFINITION = {
    "topic_id_prefixes": [f"4eyes_{100 + i}" for i in range(10)],
    "scores": ["high", "medium"],
    "lookback_days": 7,
}


def _env() -> dict:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "delivr_admin.settings",
            "DATABASE_URL": f"sqlite:///{WORK / 'db.sqlite3'}",
            "DELIVR_VAR_DIR": str(WORK / "var"),
            "DELIVR_MEDIA_ROOT": str(WORK / "media"),
            "CELERY_FS_ROOT": str(WORK / "broker"),
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "DELIVR_DEMO_DATA": str(DATA),
            "DELIVR_DATA_ROOTS": str(DATA.parent),
            "DELIVR_RATE_LIMIT_PER_SECOND": "100000",
            "DELIVR_RATE_LIMIT_BURST": "100000",
        }
    )
    return env


def _setup_django() -> None:
    os.environ.update(_env())
    import django

    django.setup()


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _best(fn, n: int = 3) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _child(kind: str, audience_id: str) -> None:
    """Runs in a fresh process: one streamed CSV, bare engine or through Django; prints JSON."""
    _setup_django()
    from audiences import engine
    from audiences.models import Audience
    from audiences.selectors.audiences import audience_selection

    audience = Audience.objects.get(pk=audience_id)
    t0 = time.perf_counter()
    size = 0
    if kind == "bare":
        sel = audience_selection(audience)
        for chunk in engine.engine_for(sel.input_path).write_csv_stream(sel):
            size += len(chunk)
    else:
        from django.test import Client

        from accounts.models import User

        client = Client()
        client.force_login(User.objects.get(email="bench@example.com"))
        response = client.get(f"/audiences/{audience.pk}/download?project_id={audience.project_id}")
        assert response.status_code == 200, response.status_code
        for chunk in response.streaming_content:
            size += len(chunk)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "bytes": size, "peak_rss_mib": _peak_rss_mib()}))


def _run_child(kind: str, audience_id: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.audiences", "--child", kind, audience_id],
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if not (DATA / "_SUCCESS").exists():
        print(
            f"{DATA} is missing: .venv/bin/python manage.py generate_intent_data --out {DATA} "
            "--rows 20000000 --days 30 --prefixes 20 --seed 7"
        )
        sys.exit(1)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "db.sqlite3").unlink(missing_ok=True)
    os.environ.update(_env())
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=_env(), check=True)
    _setup_django()
    from django.test import Client

    from accounts.models import Membership, Organization, Project, Role, User
    from accounts.selectors import principal_for_user
    from audiences import engine
    from audiences.selectors.audiences import definition_selection
    from audiences.services.audiences import audience_create

    org = Organization.objects.create(name="Bench")
    project = Project.objects.create(organization=org, name="Bench")
    user = User.objects.create_user(email="bench@example.com", password="bench-password")
    Membership.objects.create(user=user, organization=org, role=Role.ADMIN)
    principal = principal_for_user(user, org.id)
    client = Client()
    client.force_login(user)

    definition = {k: ESTIMATE_FORM[k] for k in ("topic_id_prefixes", "scores")} | {"lookback_days": 7}
    sel = definition_selection(definition=definition, input_path=str(DATA), organization_ids=[org.id])
    bare = _best(
        lambda: (
            engine.engine_for(sel.input_path).count(sel),
            engine.engine_for(sel.input_path).count_distinct(sel),
        )
    )
    records = engine.engine_for(sel.input_path).count(sel)

    def estimate():
        r = client.post("/audiences/builder/estimate/", ESTIMATE_FORM, HTTP_HX_REQUEST="true")
        assert r.status_code == 200 and b"estimate-records" in r.content, r.content[:300]

    estimate()  # first request pays URL/template loading
    est = _best(estimate)
    budget = 1.5 * bare + 0.150

    def preview():
        r = client.post("/audiences/builder/preview/", ESTIMATE_FORM, HTTP_HX_REQUEST="true")
        assert r.status_code == 200 and r.content.count(b"<tr>") == 101

    preview()
    prev = _best(preview)

    audience = audience_create(
        principal=principal, project_id=project.id, name="Download", definition=DOWNLOAD_DEFINITION
    )
    audience.refresh_from_db()
    assert audience.build_status == "ready", audience.build_error
    bare_dl = _run_child("bare", str(audience.pk))
    web_dl = _run_child("django", str(audience.pk))
    bare_rate = audience.record_count / bare_dl["seconds"]
    web_rate = audience.record_count / web_dl["seconds"]

    print(f"estimate selection: 7 days x 3 prefixes x high+medium = {records:,} records")
    print(f"bare engine count + distinct (best of 3): {bare * 1000:.0f} ms")
    print(
        f"builder estimate endpoint (best of 3): {est * 1000:.0f} ms; budget 1.5x + 150 ms = {budget * 1000:.0f} ms;"
        f" ratio to bare {est / bare:.2f}x -> {'OK' if est <= budget else 'MISSED'}"
    )
    print(
        f"builder preview, 100 rows (best of 3): {prev * 1000:.0f} ms -> {'OK' if prev < 0.5 else 'MISSED'}"
    )
    print(
        f"download: {audience.record_count:,} rows, {web_dl['bytes'] / 2**20:.0f} MiB CSV; bare engine "
        f"{bare_rate:,.0f} rows/s ({bare_dl['seconds']:.1f} s, peak RSS {bare_dl['peak_rss_mib']:.0f} MiB); "
        f"Django download {web_rate:,.0f} rows/s ({web_dl['seconds']:.1f} s, peak RSS {web_dl['peak_rss_mib']:.0f} MiB)"
    )
    ratio = web_rate / bare_rate
    ok = ratio >= 0.7 and web_dl["peak_rss_mib"] < 500
    print(
        f"download rate ratio {ratio:.2f} (target >= 0.70), peak RSS < 500 MiB -> {'OK' if ok else 'MISSED'}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
    else:
        main()
