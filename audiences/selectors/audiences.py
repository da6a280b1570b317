"""Reads of audiences and their data, scoped to the caller's organization (and its sub-organizations)."""

from __future__ import annotations

import hashlib
import logging
import posixpath
import uuid

from django.core.cache import cache
from django.db.models import OuterRef, QuerySet, Subquery

from accounts.selectors import Principal
from audiences import datasets, definitions, engine
from audiences.models import Audience, AudienceBuild, AudienceType, ContactList
from delivr_admin import storage
from delivr_admin.errors import ApplicationError
from delivr_admin.selectors import one_or_404


def audience_list(principal: Principal, *, project_id: uuid.UUID | None = None) -> QuerySet[Audience]:
    qs = Audience.objects.filter(organization_id__in=principal.organization_ids).select_related("project")
    if project_id is not None:
        qs = qs.filter(project_id=project_id)
    return qs.order_by("name", "id")


def audience_get(principal: Principal, audience_id: uuid.UUID | str) -> Audience:
    return one_or_404(audience_list(principal), "Audience not found.", pk=audience_id)


def audience_input_path(audience: Audience) -> tuple[str, bool]:
    """(path the audience reads, whether it is a hive intent tree)."""
    if audience.type == AudienceType.LIST and audience.contact_list_id:
        return contact_list_data_path(audience.contact_list), False
    return audience.input_path or datasets.default_input_path(), True


def contact_list_data_path(contact_list: ContactList) -> str:
    """Folder (local or remote) holding the list's Parquet rows, as the engine reads it.

    The engine reads a folder, not a file: handing it the Parquet file itself made every list audience
    (export-generated ones included) fail to build and download. The folder's only Parquet file is the
    list's rows (its CSV upload and reports sit beside it and are ignored).
    """
    if not contact_list.file_name:
        raise engine.EngineError("the list has no rows yet")
    # a local folder, or the object's folder read in place (the engine has the store's credentials)
    return storage.engine_path(posixpath.dirname(contact_list.file_name))


def definition_selection(
    *,
    definition: dict,
    input_path: str,
    organization_ids,
    hive: bool = True,
    columns: tuple[str, ...] = (),
    suppress: bool = True,
) -> engine.Selection:
    """The engine selection of a definition (normalized here), with the organizations' opt-outs subtracted."""
    dataset_columns = datasets.dataset_columns(input_path)
    normalized = definitions.definition_normalize(definition, dataset_columns)
    compiled = definitions.definition_compile(
        normalized, input_path=input_path, columns=dataset_columns, hive=hive
    )
    return datasets.selection(
        input_path=input_path,
        organization_ids=organization_ids,
        days=compiled.days,
        prefixes=compiled.prefixes,
        scores=compiled.scores,
        where_sql=compiled.where_sql,
        columns=columns,
        suppress=suppress,
    )


def audience_selection(
    audience: Audience, *, columns: tuple[str, ...] = (), suppress: bool = True
) -> engine.Selection:
    """What the audience contains, as an engine selection; every output of it must use this (suppress=True)."""
    input_path, hive = audience_input_path(audience)
    return definition_selection(
        definition=audience.definition,
        input_path=input_path,
        organization_ids=[audience.organization_id],
        hive=hive,
        columns=columns,
        suppress=suppress,
    )


def audience_preview(audience: Audience, limit: int) -> tuple[list[str], list[dict]]:
    """(the dataset's columns, the audience's first ``limit`` rows), opt-outs removed; EngineError when the
    data cannot be read."""
    sel = audience_selection(audience)
    reader = engine.engine_for(sel.input_path)
    return list(reader.dataset_columns(sel.input_path)), reader.preview(sel, limit)


def audience_sample(audience: Audience, limit: int) -> list[dict]:
    """Up to ``limit`` of the audience's people, one row each, opt-outs removed; EngineError when the data
    cannot be read."""
    sel = audience_selection(audience)
    return engine.engine_for(sel.input_path).sample(sel, limit)


def definition_estimate(*, definition: dict, input_path: str | None, organization_ids) -> engine.Summary:
    """Records, distinct profiles and suppressed rows of an unsaved definition (the builder's live estimate)."""
    path = datasets.input_path_resolve(input_path) if input_path else datasets.default_input_path()
    sel = definition_selection(definition=definition, input_path=path, organization_ids=organization_ids)
    return engine.engine_for(sel.input_path).count_summary(sel)


def definition_preview(
    *, definition: dict, input_path: str | None, organization_ids, limit: int
) -> list[dict]:
    """The first rows of an unsaved definition, opt-outs removed."""
    path = datasets.input_path_resolve(input_path) if input_path else datasets.default_input_path()
    sel = definition_selection(definition=definition, input_path=path, organization_ids=organization_ids)
    return engine.engine_for(sel.input_path).preview(sel, limit)


# Listing the demo's 900 partition folders costs ~170 ms, paid by every builder and Tasks page view before;
# a day that lands shows on those pages within this many seconds.
OVERVIEW_CACHE_SECONDS = 60


def _partition_keys(path: str) -> list[str]:
    cache_key = "dataset-partitions:" + hashlib.sha1(path.encode()).hexdigest()
    keys = cache.get(cache_key)
    if keys is None:
        sel = datasets.selection(input_path=path, organization_ids=(), suppress=False)
        keys = engine.engine_for(path).list_partitions(sel)
        cache.set(cache_key, keys, OVERVIEW_CACHE_SECONDS)
    return keys


def dataset_overview(input_path: str | None = None) -> dict:
    """Days, topic prefixes and columns of a dataset, for the builder's choices (empty when unreadable;
    ``unreadable`` then names a file the reader could not parse, for the notice admins and support see)."""
    try:
        path = datasets.input_path_resolve(input_path)
        columns = datasets.dataset_columns(path)
        keys = _partition_keys(str(path))
    except engine.UnreadableFileError as exc:
        logging.getLogger(__name__).warning("dataset overview: %s", exc)
        return {"days": [], "prefixes": [], "columns": {}, "unreadable": exc.file}
    except (engine.EngineError, ApplicationError):
        return {"days": [], "prefixes": [], "columns": {}}
    except Exception:  # noqa: BLE001 - a corrupt file must not take the builder page down; it is logged
        logging.getLogger(__name__).exception("dataset overview unavailable")
        return {"days": [], "prefixes": [], "columns": {}}
    parts = [dict(item.split("=", 1) for item in key.split("/")) for key in keys]
    return {
        "days": sorted({p["day"] for p in parts if "day" in p}),
        "prefixes": sorted({p["prefix"] for p in parts if "prefix" in p}),
        "columns": columns,
    }


MAX_BUILDS_CHARTED = 120


def audience_build_history(audience: Audience, *, limit: int = MAX_BUILDS_CHARTED) -> list[AudienceBuild]:
    """The audience's latest builds, oldest first (at most ``limit``); the caller already scoped the audience."""
    recent = list(AudienceBuild.objects.filter(audience=audience).order_by("-built_at", "-id")[:limit])
    return recent[::-1]


def _delta(new: int | None, old: int | None) -> dict | None:
    if new is None or old is None:
        return None
    percent = None if old == 0 else (new - old) * 100.0 / old
    return {
        "diff": new - old,
        "abs": abs(new - old),
        "percent": percent,
        "abs_percent": None if percent is None else abs(percent),
    }


def audience_build_change(builds: list[AudienceBuild]) -> dict | None:
    """Change of records and distinct profiles between the last two builds (None with fewer than two)."""
    if len(builds) < 2:
        return None
    before, last = builds[-2], builds[-1]
    return {
        "since": before.built_at,
        "records": _delta(last.record_count, before.record_count),
        "profiles": _delta(last.distinct_profile_count, before.distinct_profile_count),
    }


def audience_recent_with_change(principal: Principal, *, limit: int) -> list[Audience]:
    """The most recently updated audiences, each with ``.change`` as audience_build_change gives it, in ONE
    query: the last two builds' counts are correlated subqueries on the (audience, -built_at) index."""
    builds = AudienceBuild.objects.filter(audience=OuterRef("pk")).order_by("-built_at", "-id")

    def nth(n: int, column: str) -> Subquery:
        return Subquery(builds.values(column)[n : n + 1])

    audiences = list(
        audience_list(principal)
        .annotate(
            last_build_records=nth(0, "record_count"),
            last_build_profiles=nth(0, "distinct_profile_count"),
            before_built_at=nth(1, "built_at"),
            before_records=nth(1, "record_count"),
            before_profiles=nth(1, "distinct_profile_count"),
        )
        .order_by("-updated_at", "id")[:limit]
    )
    for audience in audiences:
        audience.change = (
            None
            if audience.before_built_at is None
            else {
                "since": audience.before_built_at,
                "records": _delta(audience.last_build_records, audience.before_records),
                "profiles": _delta(audience.last_build_profiles, audience.before_profiles),
            }
        )
    return audiences
