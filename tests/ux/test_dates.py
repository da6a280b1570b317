"""One date-time format everywhere: data values in tables (the builder's preview) and words built in Python
(the opt-out ledger, export-generated list names) use it too, never ISO text."""

import datetime

import pytest

from audiences.templatetags.audience_summary import cell


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2024-05-01T12:26:03.123456", "1 May 2024, 12:26 UTC"),
        ("2024-05-01 12:26:03+00:00", "1 May 2024, 12:26 UTC"),
        ("2024-05-01T12:26:03Z", "1 May 2024, 12:26 UTC"),
        (datetime.datetime(2024, 5, 1, 12, 26, tzinfo=datetime.UTC), "1 May 2024, 12:26 UTC"),
        ("2024-05-01", "1 May 2024"),
        (datetime.date(2024, 5, 1), "1 May 2024"),
        ("2024-05-01 and more", "2024-05-01 and more"),
        ("9999-99-99T99:99", "9999-99-99T99:99"),
        ("US", "US"),
        (42, 42),
        (None, ""),
    ],
)
def test_cell_when_value_is_a_time_or_day_shows_the_one_format(value, shown):
    assert cell(value) == shown


@pytest.mark.django_db
def test_optout_ledger_when_sent_and_removed_says_when_in_the_one_format(tenant):
    from exports.models import OptOutRemoval
    from exports.selectors import optout_ledger

    OptOutRemoval.objects.create(
        organization=tenant.org,
        export_name="CRM hook",
        destination_label="HTTP webhook",
        identifier_type="email",
        identifier_value="ann@example.com",
        sent_at=datetime.datetime(2026, 3, 1, 9, 5, tzinfo=datetime.UTC),
        removed_at=datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC),
    )
    (entry,) = optout_ledger(
        organization_ids=[tenant.org.id], identifier_type="email", identifier_value="ann@example.com"
    )
    assert entry["summary"] == (
        "Sent to HTTP webhook (export “CRM hook”) on 1 Mar 2026, 09:05 UTC, removed on 2 Mar 2026, 10:00 UTC."
    )
