"""Reads of the topic catalogue and of each topic's size in the data (for the builder's topic picker)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, timedelta

from django.core.cache import cache
from django.db.models import Q
from django.http import Http404

from audiences import datasets, engine
from audiences.models import Topic
from delivr_admin.errors import ApplicationError

SIZE_CACHE_SECONDS = 120
COUNTS_CACHE_SECONDS = 24 * 3600
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicInfo:
    code: str
    name: str
    category: str = ""
    description: str = ""
    known: bool = True  # False: a prefix of the data with no catalogue entry (shown by its code)
    rows: int | None = None  # rows over the chosen window (None: unknown)

    @property
    def label(self) -> str:
        return self.name if self.known else self.code


def topic_catalogue(organization_id=None) -> dict[str, TopicInfo]:
    """{code: TopicInfo} of the global catalogue, with the organization's own entries taking precedence."""
    rows = Topic.objects.filter(Q(organization__isnull=True) | Q(organization_id=organization_id))
    out: dict[str, TopicInfo] = {}
    for t in sorted(rows, key=lambda t: t.organization_id is not None):  # the org's rows win
        out[t.code] = TopicInfo(code=t.code, name=t.name, category=t.category, description=t.description)
    return out


@dataclass(frozen=True)
class TopicRow:
    """One code of the catalogue as an organization sees it: the global entry, its own entry, or both."""

    code: str
    global_topic: Topic | None
    override: Topic | None

    @property
    def effective(self) -> Topic:
        return self.override or self.global_topic

    @property
    def source(self) -> str:
        if self.override is None:
            return "global"
        return "override" if self.global_topic is not None else "own"


def topic_catalogue_rows(organization_id) -> list[TopicRow]:
    """Every code of the global catalogue and of the organization's own entries, sorted by code, in one
    query; other organizations' entries never appear."""
    rows = Topic.objects.filter(Q(organization__isnull=True) | Q(organization_id=organization_id))
    by_code: dict[str, dict] = {}
    for topic in rows:
        slot = by_code.setdefault(topic.code, {"global_topic": None, "override": None})
        slot["override" if topic.organization_id else "global_topic"] = topic
    return [TopicRow(code=code, **by_code[code]) for code in sorted(by_code)]


def topic_row_get(organization_id, code: str) -> TopicRow:
    """The catalogue row of one code (Http404 when neither the global catalogue nor the organization has it)."""
    rows = Topic.objects.filter(Q(organization__isnull=True) | Q(organization_id=organization_id), code=code)
    slot: dict = {"global_topic": None, "override": None}
    for topic in rows:
        slot["override" if topic.organization_id else "global_topic"] = topic
    if slot["global_topic"] is None and slot["override"] is None:
        raise Http404("No such topic in the catalogue.")
    return TopicRow(code=code, **slot)


def topic_label(code: str, catalogue: dict[str, TopicInfo]) -> str:
    info = catalogue.get(code)
    return info.name if info else code


def _partition_rows(input_path: str) -> dict[str, int]:
    """{partition key: rows} of every partition, from Parquet footers alone (no row is read).

    Two cache entries: the tree's listing digest for SIZE_CACHE_SECONDS (listing 900 partitions costs ~75 ms,
    too much for every live estimate; a day that lands shows within minutes), and the footer counts per
    digest for a day (reading 900 footers costs ~0.6 s, paid once per change of the data, not per visit).
    """
    path_key = "topic-sizes-listing:" + hashlib.sha1(input_path.encode()).hexdigest()
    digest = cache.get(path_key)
    counts = cache.get(f"topic-sizes:{digest}") if digest else None
    if counts is None:
        sel = datasets.selection(input_path=input_path, organization_ids=(), suppress=False)
        reader = engine.engine_for(input_path)
        keys = reader.list_partitions(sel)
        digest = hashlib.sha1("\n".join([input_path, *keys]).encode()).hexdigest()
        counts = cache.get(f"topic-sizes:{digest}")
        if counts is None:
            counts = {key: rows for key, (rows, _removed) in reader.count_partitions(sel, keys).items()}
            cache.set(f"topic-sizes:{digest}", counts, COUNTS_CACHE_SECONDS)
        cache.set(path_key, digest, SIZE_CACHE_SECONDS)
    return counts


def partition_rows_cached(input_path: str) -> dict[str, int] | None:
    """_partition_rows from the cache alone (the builder page counted them), None when not cached."""
    digest = cache.get("topic-sizes-listing:" + hashlib.sha1(input_path.encode()).hexdigest())
    return cache.get(f"topic-sizes:{digest}") if digest else None


def window_days(definition: dict, available: list[date]) -> tuple[date, date] | None:
    """First and last day of a definition's time window (None: the whole dataset)."""
    if definition.get("lookback_days") and available:
        newest = available[-1]
        return newest - timedelta(days=int(definition["lookback_days"]) - 1), newest
    try:
        return date.fromisoformat(definition["date_from"]), date.fromisoformat(definition["date_to"])
    except (KeyError, TypeError, ValueError):
        return None


def topic_sizes(definition: dict, input_path: str | None = None) -> dict[str, int]:
    """{topic prefix: rows in the definition's time window}, before any other filter (empty when unreadable)."""
    try:
        path = datasets.input_path_resolve(input_path)
        counts = _partition_rows(path)
    except (engine.EngineError, ApplicationError):
        return {}
    except Exception:  # noqa: BLE001 - sizes are a hint: an unreadable file must not break the builder
        logger.exception("topic sizes unavailable")
        return {}
    parsed = []
    for key, rows in counts.items():
        parts = dict(item.split("=", 1) for item in key.split("/") if "=" in item)
        if "day" in parts and "prefix" in parts:
            parsed.append((date.fromisoformat(parts["day"]), parts["prefix"], rows))
    window = window_days(definition, sorted({d for d, _p, _n in parsed}))
    sizes: dict[str, int] = {}
    for day, prefix, rows in parsed:
        if window is None or window[0] <= day <= window[1]:
            sizes[prefix] = sizes.get(prefix, 0) + rows
        else:
            sizes.setdefault(prefix, 0)
    return sizes


def topic_options(*, organization_id, prefixes: list[str], sizes: dict[str, int]) -> list[TopicInfo]:
    """Every topic of the data (catalogued or by code) with its size, ordered by category then name."""
    catalogue = topic_catalogue(organization_id)
    out = []
    for code in prefixes:
        info = catalogue.get(code) or TopicInfo(code=code, name=code, known=False)
        out.append(
            TopicInfo(
                code=code,
                name=info.name,
                category=info.category,
                description=info.description,
                known=info.known,
                rows=sizes.get(code),
            )
        )
    return sorted(out, key=lambda t: (not t.known, t.category.lower(), t.name.lower(), t.code))
