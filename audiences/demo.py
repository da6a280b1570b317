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
    """Generates the demo dataset unless the same parameters were generated there before."""
    root = Path(settings.DELIVR_DEMO_DATA)
    manifest = root / "_manifest.json"
    if manifest.exists() and (root / "_SUCCESS").exists():
        params = json.loads(manifest.read_text()).get("params", {})
        if params.get("rows") == DEMO_PARAMS.rows and params.get("seed") == DEMO_PARAMS.seed:
            return root
    root.parent.mkdir(parents=True, exist_ok=True)
    result = generate(str(root), DEMO_PARAMS)
    if stdout is not None:
        stdout.write(
            f"Demo intent data: {result.total_rows:,} rows, {result.partitions} partitions in {root}"
        )
    return root


def seed(context) -> None:
    from datetime import date

    from audiences.services.tasks import task_create

    demo_dataset_ensure(context.stdout)
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
