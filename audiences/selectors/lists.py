"""Reads of contact lists (uploads and export-generated lists), scoped to the caller's organizations."""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.http import Http404

from accounts.selectors import Principal
from audiences.models import ContactList
from delivr_admin import csvsafe, storage
from delivr_admin.selectors import one_or_404


def contact_list_list(
    principal: Principal, *, type: str | None = None, source: str | None = None
) -> QuerySet[ContactList]:
    qs = ContactList.objects.filter(organization_id__in=principal.organization_ids).select_related("project")
    if type:
        qs = qs.filter(type=type)
    if source:
        qs = qs.filter(source=source)
    return qs.order_by("-created_at", "id")


def contact_list_get(principal: Principal, list_id: uuid.UUID | str) -> ContactList:
    return one_or_404(contact_list_list(principal), "List not found.", pk=list_id)


def contact_list_report_name(contact_list: ContactList, kind: str) -> str:
    """The stored report file of kind ``invalid`` or ``duplicates`` ("" when the import found none)."""
    if kind == "invalid":
        return contact_list.invalid_report_name
    if kind == "duplicates":
        return contact_list.duplicate_report_name
    raise Http404("Unknown report.")


REPORT_ROWS_SHOWN = 100
_IDENTIFIER_NAMES = {"email": "email", "person_id": "person ID", "uid2": "UID2"}


@dataclass(frozen=True)
class ReportRow:
    line: int
    value: str
    reason: str


@dataclass(frozen=True)
class ImportReport:
    """One kind of rejected rows: one page of them, which page it is and how many there are in all."""

    kind: str
    total: int
    rows: list[ReportRow] = field(default_factory=list)
    downloadable: bool = False
    page: int = 1
    per_page: int = REPORT_ROWS_SHOWN
    previous_query: str = ""  # the pager's links (set by the page, which knows the other report's page)
    next_query: str = ""

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        """The position of the page's first row among all of this kind (1-based)."""
        return (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _uploaded(text: str) -> str:
    """A report cell as it was uploaded: reports neutralise formula-leading cells with a quote (csvsafe)."""
    if text[:1] == "'" and text[1:2] in csvsafe.FORMULA_PREFIXES:
        return text[1:]
    return text


def _columns(names: list[str], cells: list[str]) -> dict[str, str]:
    """The row's cells by list column (header aliases resolved the way the import resolved them)."""
    from audiences.services.lists import list_header_columns

    return {c: v for c, v in zip(list_header_columns(names), cells, strict=False) if c}


def _invalid_row(header: list[str], cells: list[str]) -> ReportRow:
    if cells[1] == "invalid email":
        value = _columns(header[2:], cells[2:]).get("email", "")
        reason = "Not a valid email address"
    else:
        value = ", ".join(_uploaded(v) for v in cells[2:] if v.strip())
        reason = "No email, person ID or UID2 in the row"
    return ReportRow(line=int(cells[0]), value=value and _uploaded(value) or "(empty)", reason=reason)


def _duplicate_row(header: list[str], cells: list[str]) -> ReportRow:
    field_name = cells[2]
    value = _columns(header[3:], cells[3:]).get(field_name, "")
    label = _IDENTIFIER_NAMES.get(field_name, field_name)
    return ReportRow(
        line=int(cells[0]),
        value=_uploaded(value.strip()) or "(empty)",
        reason=f"Same {label} as line {cells[1]}, which was imported",
    )


def contact_list_import_report(
    contact_list: ContactList, kind: str, *, page: int = 1, limit: int = REPORT_ROWS_SHOWN
) -> ImportReport:
    """Page ``page`` (``limit`` rows each; past the end: the last page) of the list's invalid or duplicates
    report, in words (line, value, reason); an empty report when the import found none or the file is gone.
    The rows come from the stored report file, so paging costs no database query."""
    name = contact_list_report_name(contact_list, kind)
    total = (contact_list.invalid_count if kind == "invalid" else contact_list.duplicate_count) or 0
    if not name:
        return ImportReport(kind=kind, total=total, per_page=limit)
    page = min(max(1, page), max(1, -(-total // limit)))
    to_row = _invalid_row if kind == "invalid" else _duplicate_row
    rows: list[ReportRow] = []
    try:
        with storage.open_read(name) as raw:
            reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
            header = next(reader, [])
            for cells in itertools.islice(reader, (page - 1) * limit, page * limit):
                rows.append(to_row(header, cells))
    except FileNotFoundError:
        return ImportReport(kind=kind, total=total, per_page=limit)
    return ImportReport(
        kind=kind, total=total or len(rows), rows=rows, downloadable=True, page=page, per_page=limit
    )
