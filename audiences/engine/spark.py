"""Spark engine: the same reads as the DuckDB engine, run by a Spark cluster through Spark Connect.

For data that outgrows one worker. The product holds only the thin client (``pyspark-client``: gRPC and
Arrow, no JVM); the cluster reads the Parquet tree itself, so the root must be a path the cluster can read
(a shared folder, or ``s3a://``/``gs://`` with the cluster's own credentials).

What stays with the product: listing the partitions of a selection (the same listing the DuckDB engine
uses, so both read exactly the same folders) and validating the WHERE with the allow-list
(:func:`audiences.engine.sqlsafety.validate_where`); the validated DuckDB SQL is transpiled by sqlglot to
Spark SQL. Partition type inference is off: ``prefix`` and ``score`` stay strings and ``day`` is cast to a
DATE, as DuckDB's ``hive_types`` give them. Opt-outs are removed with left anti-joins against the
registry's identifiers (sent once per query as a local relation), exactly the matches the DuckDB engine
makes. Rows come back as Arrow batches streamed from the server: unloads and CSV downloads hold one batch
at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sqlglot

from audiences.engine import (
    IDENTITY_COLUMNS,
    EngineError,
    Selection,
    Summary,
    Suppression,
    UnreadableFileError,
)
from audiences.engine.connection import report_timing
from audiences.engine.contract import DuckDBEngine
from audiences.engine.partitioned import OnFile, partition_file, unload_each
from audiences.engine.paths import is_remote
from audiences.engine.reads import json_rows, spread
from audiences.engine.selection import Listing, layout, selected_keys
from audiences.engine.sql import profile_key_sql, quote
from audiences.engine.sqlsafety import validate_where
from audiences.engine.suppression import identifier_keys
from delivr_admin import csvsafe
from delivr_admin.storage import written_file

if TYPE_CHECKING:  # the thin client is imported when a SparkEngine is first used, not at Django start
    from pyspark.sql import DataFrame, SparkSession

HIVE_GLOB = "day=*/prefix=*/score=*"
# Rows that come back to this process (downloads, export reads, streamed unloads) are fetched in chunks of
# about this many bytes of input Parquet: one query per chunk, one chunk's rows in memory at a time.
CHUNK_BYTES = 32 * 1024 * 1024
_LISTING = DuckDBEngine()  # partition listing is the product's (a directory or bucket listing), not DuckDB's
_SPARK_TO_DUCKDB = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "timestamp_ntz": "TIMESTAMP",
    "binary": "BLOB",
}


def to_spark_sql(duckdb_sql: str) -> str:
    """Spark SQL for an expression written in DuckDB's dialect (validated WHERE, csvsafe, profile key)."""
    return sqlglot.transpile(duckdb_sql, read="duckdb", write="spark")[0]


def _spark_path(path: str) -> str:
    """The path as the cluster's Hadoop filesystems name it (``s3://`` is ``s3a://`` there)."""
    return "s3a://" + path[len("s3://") :] if path.startswith("s3://") else path


def _duckdb_type(spark_type: Any) -> str:
    name = spark_type.simpleString()
    if name.startswith("decimal"):
        return name.upper()
    return _SPARK_TO_DUCKDB.get(name, name.upper())


_UNREADABLE = re.compile(
    r"FAILED_READ_FILE\S*\] Encountered error while reading file (?:file:)?(\S+?\.parquet)"
)


def _engine_error(exc: Exception, args: tuple, kwargs: dict) -> EngineError:
    """The EngineError for a Spark failure: UnreadableFileError (the file's place in the dataset) when the
    cluster could not read a Parquet file, as the DuckDB engine reports it."""
    text = str(exc)
    first = args[0] if args else kwargs.get("sel", kwargs.get("input_path"))
    root = first.input_path if isinstance(first, Selection) else first
    if "S3AFileSystem not found" in text:  # the pip pyspark distribution has no hadoop-aws jar
        return EngineError(
            "spark: the cluster cannot read or write s3a:// (org.apache.hadoop.fs.s3a.S3AFileSystem is not on "
            "its classpath: add the hadoop-aws jar of its Hadoop version and the s3a settings, README 'Scaling')"
        )
    m = _UNREADABLE.search(text)
    if m and isinstance(root, str):
        path, base = os.path.abspath(m.group(1)), os.path.abspath(_spark_path(root))
        inside = os.path.commonpath([path, base]) == base
        return UnreadableFileError(os.path.relpath(path, base) if inside else os.path.basename(path))
    return EngineError(f"spark: {text.splitlines()[0] if text else type(exc).__name__}")


def _spark_errors(func: Callable) -> Callable:
    """Spark's failures (analysis errors, unreadable files, a lost connection) become EngineError, as DuckDB's
    do, for generators too, whose queries fail while they are consumed; the time spent (a generator's
    until it is exhausted or closed) goes to the engine-time observers (the Prometheus metric) under
    engine "spark"."""
    from pyspark.errors import PySparkException

    operation = func.__name__

    @contextlib.contextmanager
    def scope(args: tuple, kwargs: dict) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        except PySparkException as exc:
            raise _engine_error(exc, args, kwargs) from exc
        finally:
            report_timing(operation, time.perf_counter() - started, "spark")

    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def gen_wrapper(self: SparkEngine, *args: Any, **kwargs: Any) -> Any:
            with scope(args, kwargs):
                yield from func(self, *args, **kwargs)

        return gen_wrapper

    @functools.wraps(func)
    def wrapper(self: SparkEngine, *args: Any, **kwargs: Any) -> Any:
        with scope(args, kwargs):
            return func(self, *args, **kwargs)

    return wrapper


@dataclasses.dataclass(frozen=True)
class _Chunk:
    """A share of an output: some of its partitions, or one bucket (index, count) of its people."""

    partitions: list[str] | None = None
    bucket: tuple[int, int] | None = None


class SparkEngine:
    """Reads of hive-partitioned audience Parquet run on a Spark cluster at ``remote`` (``sc://host:port``).

    Same operations, arguments and answers as the DuckDB engine; one Spark Connect session per process.
    """

    name = "spark"

    def __init__(self, remote: str, *, shared_folders: bool = False) -> None:
        """``shared_folders``: the cluster reads and writes this machine's folders at the same paths (one
        machine, or a shared filesystem), so it writes ``unload_partitioned``'s files itself."""
        if not remote.startswith("sc://"):
            raise EngineError(f"Spark Connect address must start with sc:// (got {remote!r})")
        self.remote = remote
        self.shared_folders = shared_folders
        self._session: SparkSession | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SparkEngine({self.remote!r})"

    # -----------------------------------------------------------------------------------------------------
    # session and frames

    def session(self) -> SparkSession:
        """This process's Spark Connect session (a new one after fork: gRPC channels do not survive it)."""
        with self._lock:
            if self._session is None or self._pid != os.getpid():
                from pyspark.sql import SparkSession

                session = SparkSession.builder.remote(self.remote).create()
                session.conf.set("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
                session.conf.set("spark.sql.session.timeZone", "UTC")
                # Parquet instants as the DuckDB engine writes them (Spark's default is the legacy INT96)
                session.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
                self._session, self._pid = session, os.getpid()
            return self._session

    @property
    def connected(self) -> bool:
        """Whether this process has opened its Spark Connect session (the engine has been used here)."""
        return self._session is not None and self._pid == os.getpid()

    def close(self) -> None:
        with self._lock:
            if self._session is not None and self._pid == os.getpid():
                self._session.stop()
            self._session = None

    def _reader(self, hive: bool) -> Any:
        reader = self.session().read.option("pathGlobFilter", "*.parquet")
        return reader if hive else reader.option("recursiveFileLookup", "true")

    def _is_hive(self, root: str) -> bool:
        if is_remote(root):
            return bool(_LISTING.list_partitions(Selection(root)))
        if not os.path.isdir(root):
            raise EngineError(f"input path is not a directory: {root}")
        return any(n.startswith("day=") and os.path.isdir(os.path.join(root, n)) for n in os.listdir(root))

    def _whole(self, root: str, hive: bool) -> DataFrame:
        """Every row of the tree (hive: partition columns typed as the DuckDB engine types them)."""
        from pyspark.sql import functions as F

        path = _spark_path(root)
        if not hive:
            return self._reader(False).parquet(path)
        df = self._reader(True).option("basePath", path).parquet(f"{path.rstrip('/')}/{HIVE_GLOB}")
        return df.withColumn("day", F.to_date("day"))

    def _frame(
        self,
        sel: Selection,
        partitions: Sequence[str] | None = None,
        *,
        suppress: bool | Literal["mark"] = True,
        project: bool = False,
        limit: int | None = None,
    ) -> tuple[DataFrame, dict[str, str], bool]:
        """(frame of the selection after WHERE and suppression, column types, is_hive).

        ``suppress="mark"`` keeps the opted-out rows and adds a boolean ``_suppressed`` column instead, so
        kept and removed rows are counted in one query (each query costs a round of planning on Spark).
        """
        from pyspark.sql import functions as F

        root = sel.input_path
        hive = self._is_hive(root)
        keys = _LISTING.list_partitions(sel) if hive else []
        if partitions is not None and partitions != [""]:
            missing = [p for p in partitions if p not in keys]
            if missing:
                raise EngineError(f"partition {missing[0]!r} is not in the selection")
            keys = list(partitions)
        try:
            if hive and keys:
                path = _spark_path(root)
                dirs = [f"{path.rstrip('/')}/{key}" for key in keys]
                df = self._reader(True).option("basePath", path).parquet(*dirs)
                df = df.withColumn("day", F.to_date("day"))
            else:
                df = self._whole(root, hive)
                if hive:  # nothing of the tree is selected: its schema, no rows
                    df = df.where(F.lit(False))
            columns = {f.name: _duckdb_type(f.dataType) for f in df.schema.fields}
        except Exception as exc:
            if "PATH_NOT_FOUND" in str(exc) or "UNABLE_TO_INFER_SCHEMA" in str(exc):
                raise EngineError(f"no Parquet files under {root}") from exc
            raise
        if suppress == "mark":
            df = self._suppress(df, sel.suppression, columns, mark=True)
        elif suppress and sel.suppression:
            df = self._suppress(df, sel.suppression, columns)
        if sel.where_sql:
            df = df.where(to_spark_sql(validate_where(sel.where_sql, columns)))
        if project and sel.columns:
            df = df.select(*[_resolve(c, columns) for c in sel.columns])
        if limit is not None:
            df = df.limit(max(0, int(limit)))
        return df, columns, hive

    def _suppress(
        self, df: DataFrame, sup: Suppression | None, columns: Mapping[str, str], *, mark: bool = False
    ) -> DataFrame:
        """Left anti-joins against the identifier kinds this dataset can carry (as the DuckDB engine does);
        with ``mark``, left joins that set ``_suppressed`` on the rows the anti-joins would remove."""
        from pyspark.sql import functions as F

        if not sup:
            return df.withColumn("_suppressed", F.lit(False)) if mark else df

        # the DuckDB engine's own identifier expressions, transpiled: one definition of what matches
        specs = [(kind, F.expr(to_spark_sql(sql))) for kind, sql in identifier_keys(columns)]
        hits = []
        for i, (kind, expr) in enumerate(specs):
            source = sup.all_email_hashes_present() if kind == "all_email_hashes" else getattr(sup, kind)
            if not source:
                continue
            key, hit = f"_sup_key_{i}", f"_sup_hit_{i}"
            ids = self.session().createDataFrame(pa.table({key: sup.array(kind)}))  # distinct: no fan-out
            if mark:
                ids = ids.withColumn(hit, F.lit(True))
                df = df.withColumn(key, expr).join(ids, on=key, how="left").drop(key)
                hits.append(F.coalesce(F.col(hit), F.lit(False)))
            else:
                df = df.withColumn(key, expr).join(ids, on=key, how="left_anti").drop(key)
        if mark:
            flag = functools.reduce(lambda a, b: a | b, hits) if hits else F.lit(False)
            df = df.withColumn("_suppressed", flag).drop(*[f"_sup_hit_{i}" for i in range(len(specs))])
        return df

    # -----------------------------------------------------------------------------------------------------
    # the engine's operations (same names, arguments and answers as the DuckDB engine's)

    @_spark_errors
    def dataset_columns(self, input_path: str) -> dict[str, str]:
        """Column name -> DuckDB type name of the dataset, including day/prefix/score."""
        try:
            df = self._whole(input_path, self._is_hive(input_path))
            return {f.name: _duckdb_type(f.dataType) for f in df.schema.fields}
        except Exception as exc:
            if "PATH_NOT_FOUND" in str(exc) or "UNABLE_TO_INFER_SCHEMA" in str(exc):
                raise EngineError(f"no Parquet files under {input_path}") from exc
            raise

    def list_partitions(self, sel: Selection) -> list[str]:
        """Partition keys of the selection: listed by the product, as for the DuckDB engine."""
        return _LISTING.list_partitions(sel)

    @_spark_errors
    def count(self, sel: Selection, partition: str | None = None) -> int:
        parts = [partition] if partition is not None else None
        return int(self._frame(sel, parts)[0].count())

    @_spark_errors
    def count_with_suppressed(self, sel: Selection, partition: str | None = None) -> tuple[int, int]:
        from pyspark.sql import functions as F

        parts = [partition] if partition is not None else None
        if not sel.suppression:
            return int(self._frame(sel, parts)[0].count()), 0
        df = self._frame(sel, parts, suppress="mark")[0]
        row = df.agg(F.count(F.lit(1)).alias("n"), F.count_if(F.col("_suppressed")).alias("s")).collect()[0]
        return int(row["n"]) - int(row["s"]), int(row["s"])

    @_spark_errors
    def count_partitions(
        self, sel: Selection, partitions: Sequence[str], *, listing: Listing | None = None
    ) -> dict[str, tuple[int, int]]:
        """Grouped on the cluster, which reads the partitions' folders (``listing`` is not needed)."""
        from pyspark.sql import functions as F

        partitions = list(partitions)
        if not partitions:
            return {}
        if partitions == [""]:
            return {"": self.count_with_suppressed(sel)}

        df, _, hive = self._frame(sel, partitions, suppress="mark")
        if not hive:
            raise EngineError("grouped counts need a hive-partitioned tree")
        grouped = df.groupBy("day", "prefix", "score").agg(
            F.count(F.lit(1)).alias("n"), F.count_if(F.col("_suppressed")).alias("s")
        )
        found = {
            f"day={r['day'].isoformat()}/prefix={r['prefix']}/score={r['score']}": (r["n"] - r["s"], r["s"])
            for r in grouped.collect()
        }
        return {key: found.get(key, (0, 0)) for key in partitions}

    def partition_files(self, sel: Selection) -> dict[str, list[tuple[str, int]]]:
        """Files per partition of the selection: listed by the product, as for the DuckDB engine."""
        return _LISTING.partition_files(sel)

    def partition_sizes(self, sel: Selection) -> dict[str, int]:
        """Bytes per partition of the selection: listed by the product, as for the DuckDB engine."""
        return _LISTING.partition_sizes(sel)

    def counts_from_footers(self, sel: Selection) -> bool:
        """Never: every count is a job on the cluster, whose cost follows the bytes it reads."""
        return False

    def unload_partitioned(
        self,
        sel: Selection,
        partitions: Sequence[str],
        fmt: Literal["parquet", "csv"],
        dest_dir: str,
        limit: int | None = None,
        *,
        on_file: OnFile | None = None,
        listing: Listing | None = None,
    ) -> dict[str, int]:
        """One file per partition. With ``shared_folders`` the cluster writes them all in one job
        (:meth:`unload_partitioned_folder` into ``dest_dir/.spark``, then renamed to their places); else one
        streamed ``unload`` per partition (the generic form). The cluster reads the partitions' folders, so
        ``listing`` is not needed."""
        if not self.shared_folders or is_remote(dest_dir):
            return unload_each(self.unload, sel, partitions, fmt, dest_dir, limit, on_file=on_file)
        folder = os.path.join(dest_dir, ".spark")
        found = self.unload_partitioned_folder(sel, partitions, fmt, folder, limit)
        for key, (_, sub) in sorted(found.items()):
            path = partition_file(dest_dir, key, fmt)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if sub is None:  # no row left: the empty file (header or schema) unload writes
                self.unload(sel, key or None, fmt, path, limit)
            else:
                where = os.path.join(folder, sub) if sub else folder
                try:
                    os.replace(os.path.join(where, written_file(key, where, os.listdir(where))), path)
                except OSError as exc:  # the cluster wrote somewhere this machine does not see
                    raise EngineError(
                        f"spark: the cluster's file for {key or 'the dataset'} is not in {where}: does it share "
                        "this folder? (else DELIVR_ENGINE_WRITES_OUTPUTS=false, README 'Scaling')"
                    ) from exc
            if on_file is not None:
                on_file(key, path)
        shutil.rmtree(folder, ignore_errors=True)
        return {key: rows for key, (rows, _) in found.items()}

    @_spark_errors
    def count_distinct(self, sel: Selection, column: str = "person_id") -> int:
        from pyspark.sql import functions as F

        df, columns, _ = self._frame(sel)
        name = _resolve(column, columns)
        return int(df.select(F.count_distinct(F.col(_q(name)))).collect()[0][0])

    @_spark_errors
    def count_summary(self, sel: Selection, distinct_column: str = "person_id") -> Summary:
        """Records and distinct profiles after suppression, plus the rows suppression removed."""
        from pyspark.sql import functions as F

        df, columns, hive = self._frame(sel, suppress="mark")  # kept and removed rows in one query
        lookup = {c.lower(): c for c in columns}
        if distinct_column.lower() == "person_id":
            key = profile_key_sql(columns, hive)
        else:
            key = quote(lookup[distinct_column.lower()]) if distinct_column.lower() in lookup else None
        kept = ~F.col("_suppressed")
        aggs = [F.count_if(kept).alias("n"), F.count_if(F.col("_suppressed")).alias("s")]
        if key is not None:
            aggs.append(F.count_distinct(F.when(kept, F.expr(to_spark_sql(key)))).alias("d"))
        row = df.agg(*aggs).collect()[0]
        distinct = int(row["d"]) if key is not None else None
        return Summary(int(row["n"]), distinct, int(row["s"]))

    @_spark_errors
    def value_counts_by_day(
        self, sel: Selection, column: str, per_day: int = 2000
    ) -> dict[str, dict[str, int]]:
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        df, columns, hive = self._frame(sel, suppress=False)
        lookup = {c.lower(): c for c in columns}
        name = lookup.get(column.lower())
        if name is None:
            raise EngineError(f"unknown column {column!r}")
        value = F.col(_q(name))
        day = F.col("day").cast("string") if hive else F.lit("")
        counts = (
            df.where(value.isNotNull() & (value != ""))
            .groupBy(day.alias("d"), value.alias("v"))
            .agg(F.count(F.lit(1)).alias("n"))
        )
        rank = F.row_number().over(Window.partitionBy("d").orderBy(F.desc("n"), F.asc("v")))
        rows = counts.withColumn("r", rank).where(F.col("r") <= int(per_day)).collect()
        out: dict[str, dict[str, int]] = {}
        for r in rows:
            out.setdefault(str(r["d"]), {})[str(r["v"])] = int(r["n"])
        return out

    @_spark_errors
    def value_counts_sample(
        self,
        sel: Selection,
        column: str,
        max_files: int = 24,
        partition_rows: Mapping[str, int] | None = None,
    ) -> dict[str, int] | None:
        """{value: estimated rows} from the same bounded sample the DuckDB engine reads, so both estimate the
        same: with ``partition_rows`` (rows per partition, counted earlier) at most ``max_files`` whole
        partitions spread over the selection, scaled by rows; without, at most ``max_files`` of its files
        spread over the selection, scaled by bytes. None when sampling would not save a read (no more
        partitions or files than ``max_files``) or the tree is in object storage (as the DuckDB engine)."""
        from pyspark.sql import functions as F

        if max_files <= 0 or is_remote(sel.input_path):
            return None
        if partition_rows:
            keys = selected_keys(sel, [k for k, n in partition_rows.items() if n])
            if len(keys) <= max_files:
                return None
            picked = spread(keys, max_files)
            scale = sum(partition_rows[k] for k in keys) / sum(partition_rows[k] for k in picked)
            df, columns, _ = self._frame(Selection(sel.input_path), picked, suppress=False)
        else:
            hive, found = layout(sel)
            files = [f for key in sorted(found) for f in found[key]]
            if len(files) <= max_files:
                return None
            chosen = spread(files, max_files)
            scale = sum(map(os.path.getsize, files)) / max(1, sum(map(os.path.getsize, chosen)))
            df = self._files(sel.input_path, chosen, hive)
            columns = {f.name: _duckdb_type(f.dataType) for f in df.schema.fields}
        value = F.col(_q(_resolve(column, columns)))
        rows = df.where(value.isNotNull() & (value != "")).groupBy(value.alias("v")).count().collect()
        return {str(r["v"]): max(1, round(int(r["count"]) * scale)) for r in rows}

    def _files(self, root: str, files: Sequence[str], hive: bool) -> DataFrame:
        """Exactly these Parquet files of the tree (hive: with the partition columns of their folders)."""
        from pyspark.sql import functions as F

        if not hive:
            return self._reader(False).parquet(*files)
        df = self._reader(True).option("basePath", _spark_path(root)).parquet(*files)
        return df.withColumn("day", F.to_date("day"))

    @_spark_errors
    def values_present(self, sel: Selection, column: str, values: list[str]) -> set[str]:
        """The ``values`` (compared ignoring case, answered lower-cased) that occur in the column over the
        selection, in one query."""
        from pyspark.sql import functions as F

        wanted = sorted({str(v).strip().lower() for v in values if str(v).strip()})
        if not wanted:
            return set()
        df, columns, _ = self._frame(sel, suppress=False)
        value = F.lower(F.col(_q(_resolve(column, columns))))
        return {r["v"] for r in df.where(value.isin(wanted)).select(value.alias("v")).distinct().collect()}

    @_spark_errors
    def preview(self, sel: Selection, limit: int) -> list[dict]:
        df = self._frame(sel, project=True, limit=limit)[0]
        return json_rows(df.toArrow())

    @_spark_errors
    def sample(self, sel: Selection, limit: int) -> list[dict]:
        """One row per contact, ordered by the person key, at most ``limit`` (as the DuckDB engine's)."""
        from pyspark.sql import functions as F

        df, columns, hive = self._frame(sel)
        key = profile_key_sql(columns, hive)
        if key is None:
            raise EngineError("sample needs a person_id, email or uid2 column")
        df = df.withColumn("_profile", F.expr(to_spark_sql(key)))
        picked = (
            df.select("_profile")
            .where(F.col("_profile").isNotNull())
            .distinct()
            .orderBy("_profile")
            .limit(max(0, int(limit)))
        )
        aggs = [F.min(F.col(_q(c))).alias(c) for c in IDENTITY_COLUMNS if c in columns]
        aggs.append(F.count(F.lit(1)).alias("intent_frequency"))
        if "impression_count" in columns:
            aggs.append(
                F.coalesce(F.sum("impression_count"), F.lit(0)).cast("bigint").alias("impression_count")
            )
        person = F.min("person_id") if "person_id" in columns else F.lit(None).cast("string")
        out = (
            df.join(picked, on="_profile", how="left_semi")
            .groupBy("_profile")
            .agg(person.alias("person_id"), *aggs)
            .orderBy("_profile")
            .drop("_profile")
        )
        return json_rows(out.toArrow())

    def _people(
        self, df: DataFrame, columns: Mapping[str, str], hive: bool, bucket: tuple[int, int] | None = None
    ) -> DataFrame:
        """One row per person: the newest record's attributes plus per-person aggregates (see core)."""
        from pyspark.sql import functions as F

        key = profile_key_sql(columns, hive)
        if key is None:
            raise EngineError("one row per person needs a person_id, email or uid2 column")
        lower = {c.lower(): c for c in columns}
        order = next((lower[c] for c in ("seen_at", "day") if c in lower), None)
        skip = {"person_id", "intent_frequency", "impression_count"}
        attrs = [c for c in columns if c.lower() not in skip]

        def pick(c: str) -> Any:
            col = F.col(_q(c))
            return F.max_by(col, F.col(_q(order))) if order else F.any_value(col)

        person = F.min("person_id") if "person_id" in lower else F.lit(None).cast("string")
        aggs = [person.alias("person_id")] + [pick(c).alias(c) for c in attrs]
        aggs.append(F.count(F.lit(1)).alias("intent_frequency"))
        if "impression_count" in lower:
            total = F.coalesce(F.sum(F.col(_q(lower["impression_count"]))), F.lit(0)).cast("bigint")
            aggs.append(total.alias("impression_count"))
        if "seen_at" in lower:
            aggs.append(F.max(F.col(_q(lower["seen_at"]))).alias("last_seen_at"))
        df = df.withColumn("_profile", F.expr(to_spark_sql(key))).where(F.col("_profile").isNotNull())
        if bucket is not None:  # this share of the people: by the person key's hash
            df = df.where(F.pmod(F.xxhash64("_profile"), F.lit(bucket[1])) == bucket[0])
        return df.groupBy("_profile").agg(*aggs).drop("_profile")

    def _output(
        self,
        sel: Selection,
        partition: str | None,
        limit: int | None,
        *,
        csv_safe: bool = False,
        people: bool = False,
        chunk: _Chunk | None = None,
    ) -> DataFrame:
        """The rows an unload, download or export read returns; ``chunk``: only that share of them."""
        from pyspark.sql import functions as F

        parts = [partition] if partition is not None else chunk.partitions if chunk else None
        if people:
            df, columns, hive = self._frame(sel, parts)
            df = self._people(df, columns, hive, chunk.bucket if chunk else None)
            if limit is not None:
                df = df.limit(max(0, int(limit)))
        else:
            df, columns, _ = self._frame(sel, parts, project=True, limit=limit)
        if csv_safe:  # text columns that start like a spreadsheet formula get a leading quote
            for name in [n for n in df.columns if columns.get(n) == "VARCHAR"]:
                df = df.withColumn(name, F.expr(to_spark_sql(csvsafe.sql_text(quote(name)))))
        return df

    def _chunks(self, sel: Selection, partition: str | None, people: bool) -> list[_Chunk]:
        """Shares of an output of about ``CHUNK_BYTES`` of input files each: groups of whole partitions, or
        for one row per person (a person spans partitions) buckets of the person key's hash."""
        sizes = {} if partition is not None else _LISTING.partition_sizes(sel)
        total = sum(sizes.values())
        if total <= CHUNK_BYTES:
            return [_Chunk()]
        if people:
            count = -(-total // CHUNK_BYTES)
            return [_Chunk(bucket=(i, count)) for i in range(count)]
        if "" in sizes:  # no hive folders: nothing to split by
            return [_Chunk()]
        chunks: list[_Chunk] = []
        group: list[str] = []
        size = 0
        for key in sorted(sizes):
            if group and size + sizes[key] > CHUNK_BYTES:
                chunks.append(_Chunk(partitions=group))
                group, size = [], 0
            group.append(key)
            size += sizes[key]
        return [*chunks, _Chunk(partitions=group)]

    def _batches(
        self,
        sel: Selection,
        partition: str | None,
        limit: int | None,
        batch_size: int,
        *,
        csv_safe: bool = False,
        people: bool = False,
    ) -> Iterator[pa.RecordBatch | pa.Schema]:
        """The output's Arrow schema, then its rows as batches of at most ``batch_size`` rows.

        Fetched with the DataFrame's public ``toArrow()`` one chunk at a time (:meth:`_chunks`), so this
        process holds one chunk's rows, never the whole output, and a small output is one query.
        """
        from pyspark.sql.pandas.types import to_arrow_schema

        whole = self._output(sel, partition, limit, csv_safe=csv_safe, people=people)
        spark_schema = to_arrow_schema(whole.schema, timezone=_result_timezone())
        schema = pa.schema([f.with_nullable(True) for f in spark_schema])  # as DuckDB's results are
        yield schema
        chunks = self._chunks(sel, partition, people)
        left = limit
        for chunk in chunks:
            if left is not None and left <= 0:
                return
            df = (
                whole
                if len(chunks) == 1
                else self._output(sel, partition, left, csv_safe=csv_safe, people=people, chunk=chunk)
            )
            table = df.toArrow()
            if left is not None:
                left -= table.num_rows
            for batch in table.cast(schema).to_batches(max_chunksize=batch_size):
                if batch.num_rows:
                    yield batch
            del table

    @_spark_errors
    def iter_batches(
        self,
        sel: Selection,
        batch_size: int = 65536,
        *,
        partition: str | None = None,
        limit: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        for item in self._batches(sel, partition, limit, batch_size):
            if isinstance(item, pa.RecordBatch):
                yield item

    @_spark_errors
    def unload(
        self,
        sel: Selection,
        partition: str | None,
        fmt: Literal["parquet", "csv"],
        out: BinaryIO | str,
        limit: int | None = None,
        *,
        batch_size: int = 65536,
    ) -> int:
        """Write the selection (or one partition) to ``out`` (path or binary file); return rows written."""
        if fmt not in ("parquet", "csv"):
            raise ValueError(f"unsupported format {fmt!r}")
        stream = self._batches(sel, partition, limit, batch_size, csv_safe=fmt == "csv")
        schema = next(stream)
        rows = 0
        writer_class = functools.partial(pq.ParquetWriter, compression="zstd") if fmt == "parquet" else None
        with writer_class(out, schema) if writer_class else pacsv.CSVWriter(out, schema) as writer:
            for batch in stream:
                writer.write_batch(batch)
                rows += batch.num_rows
        return rows

    @_spark_errors
    def unload_folder(
        self,
        sel: Selection,
        partition: str | None,
        fmt: Literal["parquet", "csv"],
        folder: str,
        limit: int | None = None,
    ) -> int:
        """Has the cluster write the selection (or one partition) as one Parquet/CSV file into the new folder
        ``folder`` (a path or ``s3://`` URL the cluster can write; :func:`delivr_admin.storage.write_from_folder`
        puts the file in place); rows written. No row passes through this process. The file holds what
        :meth:`unload` writes: the same Parquet schema, and for CSV the same text (the line is built in Spark
        SQL as the DuckDB engine's CSV writer spells it; floating-point values are spelled as Java does)."""
        from pyspark.sql import Observation
        from pyspark.sql import functions as F

        if fmt not in ("parquet", "csv"):
            raise ValueError(f"unsupported format {fmt!r}")
        df = self._output(sel, partition, limit, csv_safe=fmt == "csv")
        rows = Observation()
        if fmt == "parquet":
            writer = df.observe(rows, F.count(F.lit(1)).alias("n")).coalesce(1).write.format("parquet")
            writer = writer.option("compression", "zstd")
        else:
            header, line = _csv_line(df)
            one = df.select(line.alias(header)).observe(rows, F.count(F.lit(1)).alias("n"))
            # One column and a separator that never occurs: Spark's CSV writer adds nothing to the line.
            writer = one.coalesce(1).write.format("csv").options(**_CSV_AS_IS)
        writer.mode("error").save(_spark_path(folder))
        return int(rows.get["n"])

    @_spark_errors
    def unload_partitioned_folder(
        self,
        sel: Selection,
        partitions: Sequence[str],
        fmt: Literal["parquet", "csv"],
        folder: str,
        limit: int | None = None,
    ) -> dict[str, tuple[int, str | None]]:
        """Has the cluster write each of ``partitions`` as one file (what :meth:`unload` writes for it) in ONE
        job: Spark's ``partitionBy`` on the partition's index puts it in the sub-folder ``_part=<i>`` of
        ``folder``. {partition: (rows, its sub-folder, or None when no row is left: no file was written)};
        the rows are counted from the written files by the cluster. ``limit`` caps rows per partition."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        keys = sorted(set(partitions))
        if not keys or keys == [""]:
            return {"": (self.unload_folder(sel, None, fmt, folder, limit), "")} if keys else {}
        df, columns, _ = self._frame(sel, keys)
        index = self.session().createDataFrame(pa.table({"_key": keys, "_part": list(range(len(keys)))}))
        key = F.concat(
            F.lit("day="),
            F.date_format("day", "yyyy-MM-dd"),
            F.lit("/prefix="),
            F.col("prefix"),
            F.lit("/score="),
            F.col("score"),
        )
        df = df.withColumn("_key", key).join(F.broadcast(index), on="_key").drop("_key")
        if limit is not None:
            nth = F.row_number().over(Window.partitionBy("_part").orderBy(F.monotonically_increasing_id()))
            df = df.withColumn("_nth", nth).where(F.col("_nth") <= max(0, int(limit))).drop("_nth")
        if sel.columns:
            df = df.select(*[_resolve(c, columns) for c in sel.columns], "_part")
        df = df.repartition("_part")  # all rows of a partition in one task: one file per partition
        path = _spark_path(folder)
        if fmt == "parquet":
            writer = df.write.format("parquet").option("compression", "zstd")
        else:
            data = df
            for name in [n for n in data.columns if columns.get(n) == "VARCHAR"]:
                data = data.withColumn(name, F.expr(to_spark_sql(csvsafe.sql_text(quote(name)))))
            header, line = _csv_line(data.drop("_part"))
            writer = data.select(line.alias(header), "_part").write.format("csv").options(**_CSV_AS_IS)
        writer.partitionBy("_part").mode("error").save(path)
        written = self.session().read.format("parquet" if fmt == "parquet" else "text").load(path)
        counts = {int(r["_part"]): int(r["count"]) for r in written.groupBy("_part").count().collect()}
        header_lines = 0 if fmt == "parquet" else 1
        return {
            k: (counts[i] - header_lines, f"_part={i}") if i in counts else (0, None)
            for i, k in enumerate(keys)
        }

    @_spark_errors
    def write_csv_stream(
        self,
        sel: Selection,
        limit: int | None = None,
        *,
        batch_size: int = 65536,
        rows: Literal["records", "people"] = "records",
    ) -> Iterator[bytes]:
        """CSV of the selection in chunks, header first (``rows="people"``: one row per person)."""
        import io

        stream = self._batches(sel, None, limit, batch_size, csv_safe=True, people=rows == "people")
        schema = next(stream)
        buf = io.BytesIO()
        with pacsv.CSVWriter(buf, schema) as writer:
            for batch in stream:
                writer.write_batch(batch)
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        rest = buf.getvalue()
        if rest:
            yield rest

    def ready(self) -> str | None:
        """None when the cluster answers a trivial query, else what is wrong, in words.

        The port is tried first with a 2-second timeout: the client's own retries would keep a readiness
        probe waiting for minutes when the cluster is down.
        """
        import socket
        from urllib.parse import urlsplit

        where = urlsplit(self.remote.replace("sc://", "http://", 1))
        try:
            socket.create_connection((where.hostname or "", where.port or 15002), timeout=2).close()
        except OSError as exc:
            return f"the Spark engine at {self.remote} cannot be reached ({exc.__class__.__name__})"
        try:
            value = self.session().sql("SELECT 42 AS v").collect()[0]["v"]
        except Exception as exc:  # any failure to reach the cluster is "not ready"
            return f"the Spark engine at {self.remote} did not answer: {str(exc).splitlines()[0][:200]}"
        if value != 42:
            return f"the Spark engine at {self.remote} answered a trivial query wrongly"
        return None


@functools.cache
def _result_timezone() -> str:
    """The zone instants are labelled with in results: the DuckDB engine's (its TimeZone setting), so both
    engines write the same text for a timestamp in CSV files ("UTC" and "Etc/UTC" print differently)."""
    import duckdb

    with duckdb.connect() as con:
        return str(con.execute("SELECT current_setting('TimeZone')").fetchone()[0])


_CSV_AS_IS = {
    "header": "true",
    "sep": "\u0001",
    "quote": "",
    "escapeQuotes": "false",
    "quoteAll": "false",
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
    "nullValue": "",
    "emptyValue": "",
    "lineSep": "\n",
}
_UTC = {"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu"}


def _csv_line(df: DataFrame) -> tuple[str, Any]:
    """(header line, column expression of each row's CSV line) as pyarrow's CSV writer spells them for the
    DuckDB engine: text quoted with doubled quotes, NULL as nothing, instants with six decimals and their
    offset, days ISO."""
    from pyspark.sql import functions as F

    def text(value: Any) -> Any:
        return F.concat(F.lit('"'), F.replace(value, F.lit('"'), F.lit('""')), F.lit('"'))

    zone = _result_timezone()
    cells, names = [], []
    for field in df.schema.fields:
        col, kind = F.col(_q(field.name)), field.dataType.simpleString()
        if kind == "string":
            cell = text(col)
        elif kind == "timestamp":  # shown in the zone the DuckDB engine labels results with
            cell = _instant_text(col, zone)
        elif kind == "timestamp_ntz":
            cell = F.date_format(col, "yyyy-MM-dd HH:mm:ss.SSSSSS")
        else:
            cell = col.cast("string")
        cells.append(F.coalesce(cell, F.lit("")))
        names.append('"' + field.name.replace('"', '""') + '"')
    return ",".join(names), F.concat_ws(",", *cells) if cells else F.lit("")


def _instant_text(col: Any, zone: str) -> Any:
    """An instant as Arrow's CSV writer spells it in ``zone``: ``2024-05-01 07:57:18.011000+0000`` (local time
    and offset), ``...Z`` in the zone named "UTC"."""
    from pyspark.sql import functions as F

    if zone in _UTC:  # Arrow writes "Z" for the zone named "UTC", an offset for every other name
        return F.concat(
            F.date_format(col, "yyyy-MM-dd HH:mm:ss.SSSSSS"), F.lit("Z" if zone == "UTC" else "+0000")
        )
    local = F.from_utc_timestamp(col, zone)
    shift = local.cast("long") - col.cast("long")
    offset = F.format_string(
        "%s%02d%02d",
        F.when(shift < 0, F.lit("-")).otherwise(F.lit("+")),
        (F.abs(shift) / 3600).cast("int"),
        (F.abs(shift) % 3600 / 60).cast("int"),
    )
    return F.concat(F.date_format(local, "yyyy-MM-dd HH:mm:ss.SSSSSS"), offset)


def _q(name: str) -> str:
    """A column name as Spark's col() reads it (backticks around names with dots or spaces)."""
    return "`" + name.replace("`", "``") + "`"


def _resolve(name: str, columns: Mapping[str, str]) -> str:
    lookup = {c.lower(): c for c in columns}
    try:
        return lookup[name.lower()]
    except KeyError:
        raise EngineError(f"unknown column {name!r}") from None
