"""Failed records in words: the record as a person knows it, the reason as a phrase, the code for support."""

import uuid

import pytest
from django.test import Client

from exports import wording
from exports.models import ExportRun
from exports.services.exports import export_create
from exports.validation import CODES
from tests.exports.conftest import MAPPING
from tests.factories import MembershipFactory

RUN = "6f1c1a52-3c1e-4a8e-9d7e-0d6b2f1e9a10"


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        (f"{RUN}:p-123", "p-123"),
        (f"{RUN}:ann@example.com", "ann@example.com"),
        (f"{RUN}:p-123:removed", "p-123 (removal)"),
        ("optout-42:ann@example.com:removed", "ann@example.com (removal)"),
        ("", "No person id or email"),
        (None, "No person id or email"),
        ("example.com", "example.com"),  # a company, keyed by its domain
    ],
)
def test_record_label_when_key_carries_the_run_id_shows_only_the_person(key, shown):
    assert wording.record_label(key) == shown


def test_record_error_reason_when_code_is_the_mappings_own_has_a_phrase_for_every_code():
    assert all(wording.record_error_reason(code) for code in CODES)


@pytest.mark.parametrize(
    ("code", "message", "words"),
    [
        ("REQUIRED_FIELD_MISSING", "Email is required", "Required field empty: Email is required"),
        ("DESTINATION_ERROR", "", "Refused by the destination"),
        ("SOMETHING_NEW", "the CRM said no.", "The CRM said no"),
        ("SOMETHING_NEW", "", "Refused by the destination"),
    ],
)
def test_record_error_words_when_code_known_or_not_reads_as_words(code, message, words):
    assert wording.record_error_words(code, message) == words


def test_last_error_words_when_stored_as_code_and_message_drops_the_code():
    stored = "INVALID_EMAIL_FORMAT: Email is not a valid email address (missing @ or .)"
    assert wording.last_error_words(stored) == (
        "Not a valid email address: Email is not a valid email address (missing @ or .)"
    )
    assert wording.last_error_code(stored) == "INVALID_EMAIL_FORMAT"
    assert (
        wording.last_error_words("the webhook did not accept the batch")
        == "The webhook did not accept the batch"
    )
    assert wording.last_error_code("the webhook did not accept the batch") == ""


def _failed_run(tenant, audience) -> ExportRun:
    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=audience.id,
        name="e",
        destination_type="file",
        destination_config={"format": "csv"},
        field_mapping=MAPPING,
    )
    run_id = uuid.uuid4()
    return ExportRun.objects.create(
        id=run_id,
        export=export,
        organization=tenant.org,
        status="completed_with_errors",
        records_total=2,
        records_exported=1,
        records_failed=1,
        object_type_results={
            "Contact": {
                "object_type": "Contact",
                "operation": "upsert",
                "records_failed": 1,
                "error_message": "REQUIRED_FIELD_MISSING: Email is required",
                "errors": [
                    {"key": f"{run_id}:p-7", "code": "REQUIRED_FIELD_MISSING", "message": "Email is required"}
                ],
            }
        },
    )


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["marketer", "support", "admin"])
def test_export_detail_when_records_failed_shows_words_and_the_code_only_to_support(role, tenant, audience):
    run = _failed_run(tenant, audience)
    member = MembershipFactory(organization=tenant.org, role=role)
    client = Client()
    client.force_login(member.user)
    body = client.get(f"/exports/{run.export_id}/").content.decode()
    errors = body.split('class="small record-errors"')[1].split("</table>")[0]
    assert "<td>p-7</td><td>Required field empty</td><td>Email is required</td>" in errors
    assert "Required field empty: Email is required" in body  # the last error, in words
    assert "Create or update" in body  # the operation, in words
    for_support = role in ("support", "admin")
    assert ("REQUIRED_FIELD_MISSING" in body) is for_support
    assert (str(run.id) in errors) is for_support


@pytest.mark.django_db
def test_dry_run_when_records_fail_shows_the_reason_in_words_and_counts_with_separators(tenant, audience):
    from tests.exports.test_views import HX, form_data

    member = MembershipFactory(organization=tenant.org, role="marketer")
    client = Client()
    client.force_login(member.user)
    body = client.post("/exports/form/dry-run/", form_data(audience), **HX).content.decode()
    table = body.split('id="dry-run-errors"')[1].split("</table>")[0]
    assert "Value too long" in table and "STRING_TOO_LONG" not in body


def test_dry_run_partial_when_counts_are_large_shows_thousands_separators():
    from django.template.loader import render_to_string

    dry_run = {
        "records_checked": 12000,
        "limit": 50000,
        "audience_records": 1234567,
        "suppressed_count": 1500,
        "records_valid": 9500,
        "records_invalid": 2500,
        "records_duplicated": 0,
        "record_limit": None,
        "errors": [
            {
                "code": "REQUIRED_FIELD_MISSING",
                "count": 2500,
                "fields": {"Email": 1500, "LastName": 1000},
                "examples": [
                    {"record_key": "p-1", "field": "Email", "value": None, "message": "Email is required"}
                ],
            }
        ],
    }
    body = render_to_string("exports/export_form.html#dry-run-result", {"dry_run": dry_run})
    assert "Email: 1,500, LastName: 1,000" in body
    assert "2,500" in body and "1,234,567" in body
    assert "Required field empty" in body and "REQUIRED_FIELD_MISSING" not in body
