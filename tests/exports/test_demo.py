import io

import pytest

from exports.models import Export, ExportRun

pytestmark = pytest.mark.django_db


def test_demo_seed_is_idempotent_and_runs_file_export(tenant):
    from delivr_admin.management.commands.seed_demo import DemoContext
    from exports import demo

    context = DemoContext(
        organization=tenant.org, project=tenant.project, admin=tenant.user, stdout=io.StringIO()
    )
    demo.seed(context)
    demo.seed(context)
    names = set(Export.objects.values_list("name", flat=True))
    assert {"Weekly CRM file (CSV)", "Partner webhook", "DSP retargeting list"} <= names
    assert Export.objects.count() == len(names)
    assert ExportRun.objects.count() == 1
    assert ExportRun.objects.get().export.name == "Weekly CRM file (CSV)"
