"""Demo exports: a CSV file export with a record limit (run once on the worker), a webhook and a DelivrDSP
export configured but not run, and a HubSpot export with a placeholder token when that destination exists.
Idempotent: exports are found by name in the demo project and never duplicated.
"""

from accounts.selectors import principal_for_user
from audiences.models import Audience
from delivr_admin.errors import ApplicationError
from exports.models import Export

FILE_EXPORT = "Weekly CRM file (CSV)"
MAPPING = [
    {"source": "email", "target": "Email", "type": "email", "required": True},
    {"source": "first_name", "target": "FirstName", "max_length": 40},
    {"source": "last_name", "target": "LastName", "max_length": 80},
    {"source": "job_title", "target": "JobTitle", "max_length": 64, "truncate": True},
    {"source": "company_name", "target": "Company", "max_length": 255},
    {"source": "company_domain", "target": "CompanyDomain"},
    {"source": "country", "target": "Country", "picklist": ["US", "CA", "GB", "DE", "FR", "AU", "IN", "BR"]},
]


def _audience(context, principal) -> Audience:
    audience = Audience.objects.filter(project=context.project).order_by("created_at", "name").first()
    if audience is not None:
        return audience
    from audiences.services.audiences import audience_create

    return audience_create(
        principal=principal,
        project_id=context.project.id,
        name="Demo: high-intent decision makers",
        definition={"scores": ["high"]},
    )


def seed(context) -> None:
    from exports.destinations.base import DestinationError, get_destination
    from exports.services.exports import export_create
    from exports.services.runs import export_run_start

    principal = principal_for_user(context.admin, context.organization.id)
    audience = _audience(context, principal)
    existing = set(Export.objects.filter(project=context.project).values_list("name", flat=True))
    common = {"principal": principal, "project_id": context.project.id, "audience_id": audience.id}
    if FILE_EXPORT not in existing:
        export = export_create(
            **common,
            name=FILE_EXPORT,
            destination_type="file",
            destination_config={"format": "csv", "path_prefix": "exports/demo"},
            field_mapping=MAPPING,
            record_limit={"maxRecords": 5000, "failMode": "truncate"},
            schedule="weekly",
        )
        export_run_start(export=export, trigger="demo", actor=principal.actor)  # runs on the worker
    if "Partner webhook" not in existing:
        export_create(
            **common,
            name="Partner webhook",
            destination_type="webhook",
            # a reserved name (RFC 2606): no receiver answers, and the outbound guard allows it
            destination_config={"url": "https://partner-webhook.example.com/delivr"},
            credentials={"secret": "demo-webhook-secret"},
            field_mapping=MAPPING[:3],
        )
    if "DSP retargeting list" not in existing:
        export_create(
            **common,
            name="DSP retargeting list",
            destination_type="delivr_dsp",
            destination_config={"account_id": "acc_demo"},
            field_mapping=[{"source": "email", "target": "email", "type": "email", "required": True}],
            record_limit={"maxRecords": 100000, "failMode": "fail"},
        )
    if "HubSpot contacts" not in existing:
        try:
            get_destination("hubspot")
            export_create(
                **common,
                name="HubSpot contacts",
                destination_type="hubspot",
                credentials={"access_token": "placeholder-token-replace-me"},
                field_mapping=[
                    {"source": "email", "target": "email", "type": "email", "required": True},
                    {"source": "first_name", "target": "firstname", "max_length": 100},
                    {"source": "company_domain", "target": "company_domain"},
                ],
            )
        except (DestinationError, ApplicationError) as exc:
            context.stdout.write(f"Demo HubSpot export skipped: {getattr(exc, 'message', exc)}")
