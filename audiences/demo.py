"""Demo data of the audiences app: the intent dataset (deterministic) and a few tasks on it."""

import json
from pathlib import Path

from django.conf import settings

from accounts.selectors import principal_for_user
from audiences.engine.generator import GenerateParams, generate
from audiences.models import Task, TaskKind

# 30 days from 2024-05-01 and prefixes 4eyes_100..4eyes_109, so the reference's own examples
# (days 2024-05-01/20240502, prefixes 4eyes_103 and 4eyes_107) find data.
DEMO_PARAMS = GenerateParams(
    rows=600_000, days=30, prefixes=10, seed=2024, start_day="2024-05-01", first_prefix=100
)


def demo_dataset_ensure(stdout=None) -> Path:
    """Generates the demo dataset unless the same parameters were generated there before, and counts its
    value suggestions (all of them after generating; only days not counted yet otherwise)."""
    from audiences.services.values import field_values_warm_quietly

    root = Path(settings.DELIVR_DEMO_DATA)
    manifest = root / "_manifest.json"
    if manifest.exists() and (root / "_SUCCESS").exists():
        params = json.loads(manifest.read_text()).get("params", {})
        if params.get("rows") == DEMO_PARAMS.rows and params.get("seed") == DEMO_PARAMS.seed:
            field_values_warm_quietly()
            return root
    root.parent.mkdir(parents=True, exist_ok=True)
    result = generate(str(root), DEMO_PARAMS)
    field_values_warm_quietly(refresh=True)
    if stdout is not None:
        stdout.write(
            f"Demo intent data: {result.total_rows:,} rows, {result.partitions} partitions in {root}"
        )
    return root


def seed(context) -> None:
    from datetime import date

    from audiences.services.tasks import task_create

    demo_dataset_ensure(context.stdout)
    seed_topics()
    seed_audiences(context)
    if Task.objects.filter(organization=context.organization).exists():
        return
    principal = principal_for_user(context.admin, context.organization.id)
    task_create(
        principal=principal,
        kind=TaskKind.INTENT_HIVE,
        input_path=None,
        days=[date(2024, 5, 1), date(2024, 5, 2)],
        topic_id_prefixes=["4eyes_103", "4eyes_107"],
        scores=["high", "medium"],
        perform_unload=True,
        project=context.project,
        request_data={
            "days": ["2024-05-01", "20240502"],
            "topic_id_prefixes": ["4eyes_103", "4eyes_107"],
            "scores": ["high", "medium"],
            "perform_unload": True,
        },
    )
    task_create(
        principal=principal,
        kind=TaskKind.INTENT_HIVE,
        input_path=None,
        days=[date(2024, 5, d) for d in range(1, 8)],
        topic_id_prefixes=["4eyes_101"],
        scores=["high"],
        perform_unload=False,
        where_expr="country = 'US' AND company_employee_count >= '51-200'",
        project=context.project,
        request_data={
            "days": [f"2024-05-0{d}" for d in range(1, 8)],
            "topic_id_prefixes": ["4eyes_101"],
            "scores": ["high"],
            "perform_unload": False,
            "where_expr": "country = 'US' AND company_employee_count >= '51-200'",
        },
    )


def seed_topics() -> None:
    """The global topic catalogue for the demo prefixes (idempotent: unchanged rows stay as they are)."""
    from audiences.services.topics import topic_import

    topic_import(content=(Path(__file__).parent / "demo_topics.csv").read_bytes())


DEMO_AUDIENCES = [
    {
        "name": "North American marketing leaders at mid-size firms",
        "definition": {
            "topic_id_prefixes": ["4eyes_100", "4eyes_101"],
            "scores": ["high", "medium"],
            "lookback_days": 14,
            "filters": {
                "op": "and",
                "groups": [
                    {
                        "op": "or",
                        "conditions": [
                            {"field": "country", "op": "=", "value": "US"},
                            {"field": "country", "op": "=", "value": "CA"},
                        ],
                    },
                    {
                        "op": "and",
                        "conditions": [
                            {
                                "field": "company_employee_count",
                                "op": "between",
                                "value": ["51-200", "501-1000"],
                            }
                        ],
                    },
                ],
            },
        },
    },
    {
        "name": "High-intent US SaaS buyers",
        "definition": {
            "topic_id_prefixes": ["4eyes_101", "4eyes_102", "4eyes_103"],
            "scores": ["high"],
            "lookback_days": 14,
            "filters": [
                {"field": "country", "op": "=", "value": "US"},
                {"field": "company_employee_count", "op": "between", "value": ["51-200", "1001-5000"]},
            ],
        },
    },
    {
        "name": "EMEA evaluators (paused)",
        "definition": {
            "topic_id_prefixes": ["4eyes_104", "4eyes_105"],
            "scores": ["high", "medium"],
            "lookback_days": 30,
            "filters": [{"field": "country", "op": "in", "value": ["GB", "DE", "FR"]}],
        },
        "paused": True,
    },
    {
        "name": "Enterprise leaders, mid-May",
        "definition": {
            "topic_id_prefixes": ["4eyes_107"],
            "scores": ["high", "medium"],
            "date_from": "2024-05-10",
            "date_to": "2024-05-20",
            "filters": [{"field": "company_employee_count", "op": ">=", "value": "1001-5000"}],
        },
    },
]
DEMO_LIST_NAME = "Demo contacts (upload)"


def _demo_contacts_csv(principal) -> bytes:
    """A small contacts CSV from the demo data, with a few invalid and duplicate rows so reports show them."""
    import csv
    import io

    from audiences.selectors.audiences import definition_preview

    rows = definition_preview(
        definition={"topic_id_prefixes": ["4eyes_101"], "scores": ["high"], "lookback_days": 1},
        input_path=None,
        organization_ids=principal.organization_ids,
        limit=500,
    )
    people = sorted(
        {r["person_id"]: r for r in rows if r.get("email")}.values(), key=lambda r: r["person_id"]
    )[:40]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Email", "First Name", "Last Name", "Person_ID", "Company_Domain", "Country"])
    for r in people:
        writer.writerow(
            [r["email"], r["first_name"], r["last_name"], r["person_id"], r["company_domain"], r["country"]]
        )
    writer.writerow(["not-an-email", "Bad", "Row", "", "example.com", "US"])
    writer.writerow(["", "No", "Identifier", "", "example.com", "US"])
    writer.writerow(["someone@@example", "Broken", "Email", "", "example.com", "GB"])
    for r in people[:3]:  # the same people again
        writer.writerow(
            [r["email"].upper(), r["first_name"], r["last_name"], r["person_id"], r["company_domain"], ""]
        )
    return out.getvalue().encode()


def seed_audiences(context) -> None:
    """Saved audiences and a list upload in the demo project (skips what exists; builds run on the worker)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from audiences.models import Audience, AudienceType, ContactList, ListSource, ListStatus
    from audiences.services import audiences as audience_services
    from audiences.services import lists as list_services

    principal = principal_for_user(context.admin, context.organization.id)
    existing = set(Audience.objects.filter(project=context.project).values_list("name", flat=True))
    for spec in DEMO_AUDIENCES:
        if spec["name"] in existing:
            continue
        audience = audience_services.audience_create(
            principal=principal,
            project_id=context.project.id,
            name=spec["name"],
            definition=spec["definition"],
        )
        if spec.get("paused"):
            audience_services.audience_pause(audience=audience)
    seed_build_history(context)
    contact_list = ContactList.objects.filter(project=context.project, name=DEMO_LIST_NAME).first()
    if contact_list is None:
        upload = SimpleUploadedFile("demo-contacts.csv", _demo_contacts_csv(principal), "text/csv")
        contact_list = list_services.contact_list_upload(
            principal=principal,
            project_id=context.project.id,
            name=DEMO_LIST_NAME,
            type="contacts",
            upload=upload,
            source=ListSource.UPLOAD,
        )
    if contact_list.status == ListStatus.PROCESSING:
        # imported here (the queued import then finds it done) so the list audience below can be saved now
        contact_list = list_services.contact_list_import(list_id=contact_list.pk)
    name = "Demo contacts (list audience)"
    if contact_list.status == ListStatus.READY and name not in existing:
        audience_services.audience_create(
            principal=principal,
            project_id=context.project.id,
            name=name,
            type=AudienceType.LIST,
            contact_list=contact_list,
        )


HISTORY_BUILDS = 5


def _shifted(definition: dict, newest, back: int) -> dict:
    """The definition with its window moved ``back`` days earlier (a lookback becomes a date range)."""
    from datetime import date, timedelta

    out = dict(definition)
    if out.get("lookback_days"):
        end = newest - timedelta(days=back)
        start = end - timedelta(days=out.pop("lookback_days") - 1)
    else:
        start = date.fromisoformat(out["date_from"]) - timedelta(days=back)
        end = date.fromisoformat(out["date_to"]) - timedelta(days=back)
    out["lookback_days"], out["date_from"], out["date_to"] = None, start.isoformat(), end.isoformat()
    return out


def seed_build_history(context) -> None:
    """A few earlier builds per demo intent audience (skipped when it has some), one a day before today.

    Their counts are real: the audience counted over its window moved back one day per build, so the size
    chart shows how the audience grew or shrank as days of data came in. Same data, same figures.
    """
    from datetime import timedelta

    from django.utils import timezone

    from audiences import definitions, engine
    from audiences.models import Audience, AudienceBuild, AudienceType
    from audiences.selectors.audiences import audience_input_path, definition_selection

    today = timezone.now().replace(hour=6, minute=0, second=0, microsecond=0)
    audiences = Audience.objects.filter(project=context.project, type=AudienceType.INTENT)
    for audience in audiences:
        # the build queued at creation may already be recorded (today); only earlier ones mean "seeded"
        if AudienceBuild.objects.filter(audience=audience, built_at__lt=today - timedelta(hours=12)).exists():
            continue
        path, hive = audience_input_path(audience)
        days = definitions.available_days(path)
        if not days:
            continue
        history = []
        for back in range(HISTORY_BUILDS, 0, -1):
            sel = definition_selection(
                definition=_shifted(audience.definition, days[-1], back),
                input_path=path,
                organization_ids=[audience.organization_id],
                hive=hive,
            )
            summary = engine.engine_for(sel.input_path).count_summary(sel)
            history.append(
                AudienceBuild(
                    audience=audience,
                    built_at=today - timedelta(days=back),
                    record_count=summary.records,
                    distinct_profile_count=summary.distinct_profiles,
                    suppressed_count=summary.suppressed,
                )
            )
        AudienceBuild.objects.bulk_create(history)
