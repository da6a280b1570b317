"""Opt-outs taken back from every destination that received them, with a ledger support can read.

Every scheduling cycle, for each export that has a snapshot (what its destination holds), the opt-outs
received since its watermark are matched against the snapshot by the engine (person_id, email, the email's
SHA-256, UID2), removed at the destination in batches (`remove_batch`, idempotency keys
`optout:<export>:<record_key>:removed`), dropped from the snapshot, and written to the ledger (OptOutRemoval:
one row per opt-out identifier and export, bulk-inserted, holding the identifier as the registry holds it;
for a removal done, its message says what else the destination did, e.g. HubSpot's opt-out property set).

Safe to run twice: the watermark only moves after the snapshot and the ledger are written (and stays when
the destination refused a removal, so it is tried again); a second pass finds the removed records gone from
the snapshot, and a ledger row is one per identifier and export (an upsert). An
export with a run in progress is skipped until the next cycle (the run rewrites the snapshot).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.db import transaction
from django.utils import timezone

from delivr_admin import storage
from delivr_admin.emails import email_sha256_sql
from exports.crypto import CredentialError, credentials_decrypt
from exports.destinations.base import BatchContext, DestinationError, get_destination
from exports.models import ACTIVE_RUN_STATUSES, Export, OptOutRemoval
from exports.services.runs.snapshot import (
    snapshot_holds,
    snapshot_name,
    snapshot_replace,
    stored_schema,
)
from exports.services.runs.spool import local_temp_path

logger = logging.getLogger(__name__)

BATCH = 500
_MATCH = f"""
SELECT s.*, o.identifier_type, o.value AS identifier_value FROM read_parquet($snapshot) s JOIN optouts o ON
    (o.identifier_type = 'person_id' AND s.person_id = o.value)
 OR (o.identifier_type = 'email' AND lower(trim(s.email)) = o.value)
 OR (o.identifier_type = 'hashed_email' AND {email_sha256_sql("s.email")} = o.value)
 OR (o.identifier_type = 'uid2' AND s.uid2 = o.value)
"""


def export_optouts_propagate(*, now: datetime | None = None) -> dict:
    """Takes opted-out identities back from every export's destination; returns counts per outcome."""
    now = now or timezone.now()
    out = {"exports": 0, "removed": 0, "failed": 0, "skipped": 0}
    for export in Export.objects.select_related("organization"):
        if export.runs.filter(status__in=ACTIVE_RUN_STATUSES).exists():
            out["skipped"] += 1
            continue
        removed, failed = export_optouts_propagate_one(export=export, until=now)
        out["exports"] += 1
        out["removed"] += removed
        out["failed"] += failed
    return out


def export_optouts_propagate_one(*, export: Export, until: datetime) -> tuple[int, int]:
    """(removed, failed) for one export; moves its watermark to `until`."""
    from privacy.selectors import optouts_received_since

    name = snapshot_name(export)  # none: the destination holds nothing of this export (no registry read)
    removed = failed = 0
    if name is not None:
        optouts = optouts_received_since(export.organization_id, export.optouts_propagated_at, until)
        if optouts:
            removed, failed = _propagate(export, optouts, name, until)
    cls = get_destination(export.destination_type)
    if not failed or not getattr(cls, "supports_removal", False):  # a refused removal is tried again
        Export.objects.filter(pk=export.pk).update(optouts_propagated_at=until)
    return removed, failed


def _propagate(export: Export, optouts: list, name: str, now: datetime) -> tuple[int, int]:
    path = local_temp_path(f"export-optouts-{export.pk}-")
    try:
        storage.read_to(name, path)
        table = pq.read_table(path)
        if not snapshot_holds(export, table.schema.metadata):
            return 0, 0  # made for another destination or list: it says nothing of where records are now
        matched = _match(path, optouts)
        if not matched.num_rows:
            return 0, 0
        ok, message = _remove(export, matched)
        _ledger(export, matched, ok, message, now)
        if ok:
            kept = table.filter(pc.invert(pc.is_in(table.column("record_key"), matched.column("record_key"))))
            kept = kept.cast(stored_schema(kept.schema.names)).replace_schema_metadata(table.schema.metadata)
            pq.write_table(kept, path, compression="lz4")
            snapshot_replace(name, path)
            return matched.num_rows, 0
        return 0, matched.num_rows
    finally:
        if os.path.exists(path):
            os.unlink(path)


def _match(path: str, optouts: list) -> pa.Table:
    optout_table = pa.table(
        {
            "identifier_type": [o.identifier_type for o in optouts],
            "value": [o.value for o in optouts],
        }
    )
    con = duckdb.connect()
    try:
        con.register("optouts", optout_table)
        return con.sql(_MATCH, params={"snapshot": path}).to_arrow_table()
    finally:
        con.close()


def _remove(export: Export, matched: pa.Table) -> tuple[bool, str]:
    """Removes the matched records at the destination: (all taken back, the reason in words when not)."""
    try:
        cls = get_destination(export.destination_type)
        if not getattr(cls, "supports_removal", False):
            return False, f"{cls.label} cannot remove records: remove this person there by hand."
        destination = cls(dict(export.destination_config), credentials_decrypt(export.credentials_encrypted))
        context = BatchContext(
            run_id=f"optout-{export.pk}",
            export_id=str(export.pk),
            batch_index=0,
            list_name=export.effective_list_name,
            organization_id=str(export.organization_id),
            optout=True,
        )
        destination.open(context)
        records = matched.select(["record_key", "person_id", "email"]).combine_chunks()
        failed = 0
        for offset in range(0, records.num_rows, BATCH):
            chunk = records.slice(offset, BATCH)
            context.idempotency_keys = pc.binary_join_element_wise(
                f"optout-{export.pk}:", chunk.column("record_key"), ":removed", ""
            ).to_pylist()
            result = destination.remove_batch(chunk.to_batches()[0], context)
            failed += sum(o.records_failed for o in result.objects.values())
        destination.close(context, success=failed == 0)
    except (DestinationError, CredentialError) as exc:
        return False, getattr(exc, "message", str(exc))[:500]
    if failed:
        return False, f"{cls.label} refused {failed:,} of the removals; they are tried again next time."
    return True, ""


@transaction.atomic
def _ledger(export: Export, matched: pa.Table, ok: bool, message: str, now: datetime) -> None:
    """One bulk insert: a row per opt-out identifier at this export (the first outcome stays)."""
    cls = get_destination(export.destination_type)
    list_name = export.effective_list_name if getattr(cls, "has_lists", False) else ""
    if ok:  # what the removal did besides taking the record back (a property set, an unsubscription)
        message = "; ".join(cls.optout_actions(dict(export.destination_config)))[:500]
    rows = [
        OptOutRemoval(
            organization_id=export.organization_id,
            export=export,
            export_name=export.name,
            destination_label=cls.label,
            list_name=list_name,
            identifier_type=kind,
            identifier_value=value,
            sent_at=sent_at,
            removed_at=now if ok else None,
            status=OptOutRemoval.Status.REMOVED if ok else OptOutRemoval.Status.FAILED,
            message=message,
        )
        for kind, value, sent_at in zip(
            matched.column("identifier_type").to_pylist(),
            matched.column("identifier_value").to_pylist(),
            matched.column("sent_at").to_pylist(),
            strict=True,
        )
    ]
    OptOutRemoval.objects.bulk_create(
        rows,
        update_conflicts=True,  # a removal that failed before and succeeds now says so
        unique_fields=["export", "identifier_type", "identifier_value"],
        update_fields=["removed_at", "status", "message"],
    )
