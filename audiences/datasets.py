"""Bridge between Django settings and the columnar engine: allowed roots, remote credentials, suppression.

Everything that turns a stored definition (a task, an audience) into an engine Selection goes through here,
so every output subtracts the opt-out registry the same way.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from audiences import engine
from delivr_admin import storage
from delivr_admin.errors import ApplicationError

if TYPE_CHECKING:  # the Spark client (requirements-spark.txt) is imported only when a cluster is configured
    from audiences.engine.spark import SparkEngine


@lru_cache(maxsize=1)
def _configured() -> bool:
    engine.configure(
        memory_limit=settings.DELIVR_ENGINE_MEMORY_LIMIT,
        threads=settings.DELIVR_ENGINE_THREADS,
        temp_directory=settings.DELIVR_ENGINE_TEMP_DIRECTORY,
        storage_options={k: v for k, v in settings.DELIVR_STORAGE_OPTIONS.items() if v},
    )
    return True


def engines_configure() -> None:
    """Route dataset roots to engines as the settings say (DELIVR_ENGINE, DELIVR_ENGINE_ROOTS; the Spark
    backend exists when DELIVR_SPARK_REMOTE names a cluster). Runs when the app starts, in web and worker."""
    wanted = {settings.DELIVR_ENGINE, *settings.DELIVR_ENGINE_ROOTS.values()}
    if "spark" in wanted and not settings.DELIVR_SPARK_REMOTE:
        raise ImproperlyConfigured("DELIVR_ENGINE / DELIVR_ENGINE_ROOTS name spark: set DELIVR_SPARK_REMOTE")
    if settings.DELIVR_SPARK_REMOTE:
        try:
            from audiences.engine.spark import SparkEngine
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"DELIVR_SPARK_REMOTE is set but the Spark client is not installed ({exc}): "
                "pip install -r requirements-spark.txt"
            ) from exc
        # A local output folder that the cluster may write (the deployment says so): it writes a unit's
        # partition files there itself (README "Scaling").
        shared = settings.DELIVR_ENGINE_WRITES_OUTPUTS and storage.output_url().startswith("file://")
        engine.register_backend(
            "spark", functools.partial(SparkEngine, settings.DELIVR_SPARK_REMOTE, shared_folders=shared)
        )
    try:
        engine.route_engines(default=settings.DELIVR_ENGINE, roots=settings.DELIVR_ENGINE_ROOTS)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DELIVR_ENGINE / DELIVR_ENGINE_ROOTS: {exc}") from exc


def spark_engine() -> SparkEngine | None:
    """The Spark engine when the settings route the deployment or a dataset root to it (readiness checks it)."""
    roots = [r for r, name in settings.DELIVR_ENGINE_ROOTS.items() if name == "spark"]
    if settings.DELIVR_ENGINE == "spark":
        roots.append(default_input_path())
    if not (roots and settings.DELIVR_SPARK_REMOTE):
        return None
    from audiences.engine.spark import SparkEngine  # installed: engines_configure checked it

    chosen = engine.engine_for(roots[0])
    return chosen if isinstance(chosen, SparkEngine) else None


def default_input_path() -> str:
    return str(settings.DELIVR_DEMO_DATA)


def input_path_resolve(path: str | None) -> str:
    """The canonical input path if it lies under an allowed root; a 400 naming the problem otherwise."""
    _configured()
    try:
        return engine.resolve_input_path(path or default_input_path(), settings.DELIVR_DATA_ROOTS)
    except engine.InputPathError as exc:
        raise ApplicationError(str(exc), code="invalid_input_path") from exc


UNREADABLE_WORDS = "Part of the data could not be read, so nothing can be counted right now."
UNREADABLE_ADVICE = "An admin or support can see which file; replacing or removing it fixes this."


def unreadable_error(exc: engine.UnreadableFileError) -> ApplicationError:
    """The API's answer for a dataset with an unreadable file: 503 dataset_unreadable, the file in words
    (its place in the dataset, never a server path) and in ``file``."""
    return ApplicationError(
        f"Part of the data could not be read: {exc.file} is not a readable Parquet file (truncated or "
        "corrupt). Replace or remove it, then try again.",
        code="dataset_unreadable",
        status=503,
        extra={"file": exc.file},
    )


def dataset_columns(input_path: str) -> dict[str, str]:
    _configured()
    try:
        return engine.engine_for(input_path).dataset_columns(input_path)
    except engine.InputPathError as exc:
        raise ApplicationError(str(exc), code="invalid_input_path") from exc


def where_validate(where_expr: str | None, columns: dict[str, str]) -> str:
    if where_expr is None or not where_expr.strip():
        return ""
    try:
        return engine.validate_where(where_expr, columns)
    except engine.UnsafeExpression as exc:
        raise ApplicationError(
            f"where_expr: {exc}", code="invalid_where_expr", extra={"offending": exc.offending}
        ) from exc


def select_validate(select: str | None, columns: dict[str, str]) -> list[str]:
    if select is None or not select.strip():
        return []
    try:
        return list(engine.validate_select(select, columns))
    except engine.UnsafeExpression as exc:
        raise ApplicationError(
            f"select: {exc}", code="invalid_select", extra={"offending": exc.offending}
        ) from exc


def suppression_for(organization_ids: Iterable) -> engine.Suppression | None:
    """The opt-out registry entries that apply to these organizations (global ones included).

    The engine applies each identifier kind only where the dataset has a column for it (no row can carry
    the others), so one Suppression serves every dataset.
    """
    from privacy.selectors import optout_suppression

    suppression = optout_suppression(list(organization_ids))
    return suppression if suppression else None


def selection(
    *,
    input_path: str,
    organization_ids: Iterable,
    days: Iterable = (),
    prefixes: Iterable[str] = (),
    scores: Iterable[str] = (),
    where_sql: str = "",
    columns: Iterable[str] = (),
    suppress: bool = True,
) -> engine.Selection:
    """An engine selection with the organization's opt-outs subtracted (unless suppress=False, for counts)."""
    _configured()
    return engine.Selection(
        input_path=input_path,
        days=tuple(days),
        prefixes=tuple(prefixes),
        scores=tuple(scores),
        where_sql=where_sql or None,
        columns=tuple(columns),
        suppression=suppression_for(organization_ids) if suppress else None,
    )
