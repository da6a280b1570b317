"""Deterministic generator of hive-partitioned intent data (demo, test and benchmark datasets).

Every value is a pure function of ``(seed, global row index)`` or ``(seed, person index)`` computed with a
vectorised splitmix64 in ``pyarrow.compute`` (numpy is not a dependency), so the same parameters always give
the same rows and, with the same pyarrow version, the same file bytes. Partitions are generated in chunks of
at most ``CHUNK_ROWS`` rows and written immediately, so memory stays bounded whatever the total size.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from audiences.engine.buckets import EMPLOYEE_BUCKETS, SCORES
from audiences.engine.reads import IDENTITY_COLUMNS

SCORE_WEIGHTS: tuple[float, ...] = (0.5, 0.3, 0.2)
CHUNK_ROWS = 1_000_000
TOPICS_PER_PREFIX = 10
_MASK64 = (1 << 64) - 1
_U11, _U27, _U30, _U31 = (pa.scalar(n, pa.uint64()) for n in (11, 27, 30, 31))

FIRST_NAMES = (
    "James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard Susan "
    "Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony Betty Mark Margaret Donald "
    "Sandra Steven Ashley Paul Kimberly Andrew Emily Joshua Donna Kenneth Michelle Kevin Dorothy Brian Carol "
    "George Amanda Timothy Melissa Ronald Deborah Edward Stephanie Jason Rebecca Jeffrey Sharon Ryan Laura "
    "Jacob Cynthia Gary Kathleen Nicholas Amy Eric Angela Jonathan Shirley Stephen Anna Larry Brenda Justin "
    "Pamela Scott Emma Brandon Nicole Benjamin Helen Samuel Samantha Gregory Katherine Alexander Christine"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
    "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams "
    "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz "
    "Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson"
).split()
JOB_TITLES = (
    "CEO",
    "CTO",
    "CFO",
    "VP Marketing",
    "VP Sales",
    "Marketing Manager",
    "Sales Manager",
    "Software Engineer",
    "Data Analyst",
    "Product Manager",
    "Account Executive",
    "IT Director",
    "Operations Manager",
    "HR Manager",
    "Growth Lead",
    "Head of Data",
    "Procurement Specialist",
    "Customer Success Manager",
    "Founder",
    "Consultant",
)
_COMPANY_A = (
    "Blue Red Green Bright Swift Prime Nova Apex Silver Golden North Iron Clear Rapid Quantum".split()
)
_COMPANY_B = "Harbor Peak Logic Works Labs Systems Data Cloud Bridge Forge Wave Stone Path Grid Leaf".split()
_COMPANY_C = ("Inc", "LLC", "Group", "Partners", "Technologies", "Solutions")
LOCATIONS = (
    ("US", "CA", "San Francisco"),
    ("US", "CA", "Los Angeles"),
    ("US", "NY", "New York"),
    ("US", "TX", "Austin"),
    ("US", "TX", "Dallas"),
    ("US", "WA", "Seattle"),
    ("US", "MA", "Boston"),
    ("US", "IL", "Chicago"),
    ("US", "FL", "Miami"),
    ("US", "CO", "Denver"),
    ("US", "GA", "Atlanta"),
    ("CA", "ON", "Toronto"),
    ("CA", "BC", "Vancouver"),
    ("GB", "ENG", "London"),
    ("GB", "SCT", "Edinburgh"),
    ("DE", "BE", "Berlin"),
    ("DE", "BY", "Munich"),
    ("FR", "IDF", "Paris"),
    ("NL", "NH", "Amsterdam"),
    ("AU", "NSW", "Sydney"),
)
# Rough shape of real company sizes: many small firms, few giants.
_BUCKET_WEIGHTS = (20, 25, 20, 12, 8, 8, 4, 3)
# Dictionary-encoded: the columns with few distinct values, i.e. the person attributes the reads know as
# identity columns except the per-person ids (uid2, email), and the topic.
_DICT_COLUMNS = [c for c in IDENTITY_COLUMNS if c not in ("uid2", "email")] + ["topic_id"]
_STATS_COLUMNS = [
    "person_id",
    "uid2",
    "email",
    "topic_id",
    "intent_frequency",
    "impression_count",
    "seen_at",
]
_LOWER_FIRST = pa.array([n.lower() for n in FIRST_NAMES], pa.string())
_LOWER_LAST = pa.array([n.lower() for n in LAST_NAMES], pa.string())


@dataclass(frozen=True)
class GenerateParams:
    """Inputs of :func:`generate`; stored verbatim in ``_manifest.json``."""

    rows: int
    days: int
    prefixes: int
    seed: int = 42
    start_day: str = "2024-05-01"
    first_prefix: int = 100


@dataclass(frozen=True)
class GenerateResult:
    """Summary of a generated tree: where it is and the true counts written to its manifest."""

    out: str
    total_rows: int
    distinct_persons: int
    partitions: int
    seconds: float


# ---------------------------------------------------------------------------------------------------------
# vectorised hashing


def _mix(x: pa.Array) -> pa.Array:
    """splitmix64 finaliser over a uint64 array (wrapping arithmetic)."""
    x = pc.bit_wise_xor(x, pc.shift_right(x, _U30))
    x = pc.multiply(x, pa.scalar(0xBF58476D1CE4E5B9, pa.uint64()))
    x = pc.bit_wise_xor(x, pc.shift_right(x, _U27))
    x = pc.multiply(x, pa.scalar(0x94D049BB133111EB, pa.uint64()))
    return pc.bit_wise_xor(x, pc.shift_right(x, _U31))


def _hash(idx: pa.Array, seed: int, stream: int) -> pa.Array:
    """Independent uint64 pseudo-random stream ``stream`` for the indices ``idx``."""
    salt = ((seed * 0x9E3779B97F4A7C15) ^ (stream * 0xD1B54A32D192ED03) ^ 0x632BE59BD9B4E019) & _MASK64
    return _mix(pc.bit_wise_xor(idx, pa.scalar(salt, pa.uint64())))


def _mod(h: pa.Array, n: int) -> pa.Array:
    """``h % n`` as int64 (pyarrow has no modulo kernel; unsigned divide truncates)."""
    m = pa.scalar(n, pa.uint64())
    return pc.cast(pc.subtract(h, pc.multiply(pc.divide(h, m), m)), pa.int64())


def _bits(h: pa.Array, shift: int, n: int) -> pa.Array:
    """``(h >> shift) % n`` as int64: several small draws from one 64-bit hash."""
    return _mod(pc.shift_right(h, pa.scalar(shift, pa.uint64())), n) if shift else _mod(h, n)


# ---------------------------------------------------------------------------------------------------------
# static lookup tables (tiny, derived from the seed)


def _companies(seed: int) -> tuple[pa.Array, pa.Array, pa.Array]:
    rng = random.Random(seed * 7 + 1)
    names, domains, sizes = [], [], []
    seen: set[str] = set()
    while len(names) < 600:
        a, b, c = rng.choice(_COMPANY_A), rng.choice(_COMPANY_B), rng.choice(_COMPANY_C)
        base = f"{a}{b}".lower()
        n = 1
        domain = f"{base}.com"
        while domain in seen:
            n += 1
            domain = f"{base}{n}.com"
        seen.add(domain)
        names.append(f"{a} {b} {c}" if n == 1 else f"{a} {b} {n} {c}")
        domains.append(domain)
        sizes.append(rng.choices(EMPLOYEE_BUCKETS, weights=_BUCKET_WEIGHTS)[0])
    return pa.array(names), pa.array(domains), pa.array(sizes)


def partition_counts(params: GenerateParams) -> dict[str, int]:
    """Rows per partition key ``day=.../prefix=.../score=...``; sums exactly to ``params.rows``."""
    rng = random.Random(params.seed)
    days = [date.fromisoformat(params.start_day) + timedelta(days=i) for i in range(params.days)]
    prefixes = [f"4eyes_{params.first_prefix + i}" for i in range(params.prefixes)]
    prefix_w = [0.3 + rng.random() for _ in prefixes]
    keys, weights = [], []
    for d in days:
        day_w = 0.8 + 0.4 * rng.random()
        for p, pw in zip(prefixes, prefix_w, strict=True):
            for s, sw in zip(SCORES, SCORE_WEIGHTS, strict=True):
                keys.append(f"day={d.isoformat()}/prefix={p}/score={s}")
                weights.append(day_w * pw * sw * (0.9 + 0.2 * rng.random()))
    total_w = sum(weights)
    raw = [params.rows * w / total_w for w in weights]
    counts = [int(r) for r in raw]
    # largest remainder, ties broken by position, so the total is exact and deterministic
    order = sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))
    for i in order[: params.rows - sum(counts)]:
        counts[i] += 1
    return dict(zip(keys, counts, strict=True))


# ---------------------------------------------------------------------------------------------------------
# row generation


def _dict_column(values: Sequence[str] | pa.Array, i: pa.Array) -> pa.Array:
    # Dictionaries must hold unique values: with duplicates the Parquet writer's output is not
    # byte-for-byte reproducible. Map entity -> unique value index in Python (tables are tiny).
    vals = values.to_pylist() if isinstance(values, pa.Array) else list(values)
    uniq = sorted(set(vals))
    pos = {v: k for k, v in enumerate(uniq)}
    mapping = pa.array([pos[v] for v in vals], pa.int32())
    return pa.DictionaryArray.from_arrays(pc.take(mapping, i), pa.array(uniq, pa.string()))


def _person_columns(
    idx: pa.Array, seed: int, pool: int, companies: tuple[pa.Array, pa.Array, pa.Array]
) -> tuple[dict[str, pa.Array], pa.Array]:
    """The person columns of rows ``idx`` (pure functions of the person index) and the person indices."""
    # person: mildly skewed so some people are much more active than others
    h = _hash(idx, seed, 1)
    u = pc.divide(pc.cast(pc.shift_right(h, _U11), pa.float64()), float(1 << 53))
    person = pc.cast(pc.floor(pc.multiply(pc.power(u, 1.3), pool)), pa.int64())
    pu = pc.cast(person, pa.uint64())

    hp = _hash(pu, seed, 10)
    first_i, last_i = _bits(hp, 0, len(FIRST_NAMES)), _bits(hp, 16, len(LAST_NAMES))
    comp_i, loc_i, job_i = _bits(hp, 32, len(companies[0])), _bits(hp, 48, len(LOCATIONS)), _bits(hp, 56, 251)
    bad = _bits(_hash(pu, seed, 11), 0, 200)

    person_str = pc.cast(person, pa.string())
    person_id = pc.binary_join_element_wise("p_", pc.utf8_lpad(person_str, 6, "0"), "")
    email = pc.binary_join_element_wise(
        pc.take(_LOWER_FIRST, first_i),
        ".",
        pc.take(_LOWER_LAST, last_i),
        person_str,
        "@",
        pc.take(companies[1], comp_i),
        "",
    )
    # about 1% of people have an empty or malformed email, on purpose
    empty, malformed = pc.equal(bad, 0), pc.equal(bad, 1)
    email = pc.if_else(empty, "", email)
    nowhere = pc.binary_join_element_wise(pc.filter(person_id, malformed), "-at-nowhere", "")
    email = pc.replace_with_mask(email, malformed, nowhere)
    columns = {
        "person_id": person_id,
        "uid2": _uid2(pu, seed),
        "email": email,
        "first_name": _dict_column(FIRST_NAMES, first_i),
        "last_name": _dict_column(LAST_NAMES, last_i),
        "job_title": _dict_column(JOB_TITLES, _mod(pc.cast(job_i, pa.uint64()), len(JOB_TITLES))),
        "company_name": _dict_column(companies[0], comp_i),
        "company_domain": _dict_column(companies[1], comp_i),
        "company_employee_count": _dict_column(companies[2], comp_i),
        "country": _dict_column([c for c, _, _ in LOCATIONS], loc_i),
        "state": _dict_column([s for _, s, _ in LOCATIONS], loc_i),
        "city": _dict_column([c for _, _, c in LOCATIONS], loc_i),
    }
    return columns, person


def _intent_columns(idx: pa.Array, seed: int, parts: list[tuple[str, str, str, int]]) -> dict[str, pa.Array]:
    """The partition-local columns of rows ``idx``: topic, frequency, impressions and time seen."""
    prefix_idx, day_start = [], []
    prefix_names = sorted({p for _, p, _, _ in parts})
    for day_s, prefix, _score, cnt in parts:
        prefix_idx.append(pa.repeat(pa.scalar(prefix_names.index(prefix), pa.int64()), cnt))
        ts = int(datetime.combine(date.fromisoformat(day_s), datetime.min.time(), UTC).timestamp())
        day_start.append(pa.repeat(pa.scalar(ts * 1_000_000, pa.int64()), cnt))
    topics = [f"{p}_{t}" for p in prefix_names for t in range(TOPICS_PER_PREFIX)]
    hr = _hash(idx, seed, 2)
    topic_i = pc.add(
        pc.multiply(pa.concat_arrays(prefix_idx), TOPICS_PER_PREFIX), _bits(hr, 0, TOPICS_PER_PREFIX)
    )
    micros = pc.add(pa.concat_arrays(day_start), _bits(hr, 24, 86_400_000_000))
    return {
        "topic_id": pa.DictionaryArray.from_arrays(pc.cast(topic_i, pa.int32()), pa.array(topics)),
        "intent_frequency": pc.cast(pc.add(_bits(hr, 8, 20), 1), pa.int32()),
        "impression_count": pc.cast(pc.add(_bits(hr, 16, 50), 1), pa.int32()),
        "seen_at": pc.cast(micros, pa.timestamp("us", tz="UTC")),
    }


def _chunk_table(
    seed: int,
    start: int,
    n: int,
    pool: int,
    parts: list[tuple[str, str, str, int]],
    companies: tuple[pa.Array, pa.Array, pa.Array],
) -> tuple[pa.Table, pa.Array]:
    """Rows ``start .. start+n`` (global indices) for consecutive partitions ``parts``; also person indices.

    Person attributes are pure functions of the person index, computed per row: about 90% of a chunk's rows
    are distinct persons, so de-duplicating first (unique + index_in + takes) cost more than it saved.
    """
    idx = pc.cast(pa.arange(start, start + n), pa.uint64())
    people, person = _person_columns(idx, seed, pool, companies)
    return pa.table({**people, **_intent_columns(idx, seed, parts)}), person


def _uid2(pu: pa.Array, seed: int) -> pa.Array:
    """base64 of 32 bytes (44 chars like real UID2 tokens) from hash streams 20..23 of the person index.

    The first 8 bytes are a bijection of the person index, so tokens are unique per person.
    """
    words = [_hash(pu, seed, 20 + k) for k in range(4)]
    raw = pc.binary_join_element_wise(
        *[
            pa.Array.from_buffers(pa.binary(8), len(w), [None, w.buffers()[1]], offset=w.offset).cast(
                pa.binary()
            )
            for w in words
        ],
        b"",
    )
    return pl.Series(raw).bin.encode("base64").to_arrow().cast(pa.string())


def _write_part(root: str, key: str, table: pa.Table) -> None:
    directory = os.path.join(root, *key.split("/"))
    os.makedirs(directory, exist_ok=True)
    # store_schema=False: readers see plain strings, not the dictionary types used to build the chunk.
    # Per-person columns are written plain: a slice of a dictionary array still carries the whole chunk's
    # dictionary, which Parquet would copy into every file. zstd level 1: ~2x faster than default, ~same size.
    # No min/max statistics on the person attribute columns: every file holds nearly all of their few values,
    # so they could never prune a file, and computing them was ~10% of the write time.
    pq.write_table(
        table,
        os.path.join(directory, "part-0.parquet"),
        compression="zstd",
        compression_level=1,
        row_group_size=256_000,
        store_schema=False,
        use_dictionary=_DICT_COLUMNS,
        write_statistics=_STATS_COLUMNS,
    )


def _run_chunk(
    out: str, seed: int, start: int, pool: int, parts: list[tuple[str, str, str, int]]
) -> pa.Array:
    """Generate and write one chunk; return its rows' person indices (runs in a worker process too)."""
    n = sum(c for *_, c in parts)
    table, person = _chunk_table(seed, start, n, pool, parts, _companies(seed))
    off = 0
    for d, p, s, cnt in parts:
        if cnt:
            _write_part(out, f"day={d}/prefix={p}/score={s}", table.slice(off, cnt))
        off += cnt
    return person


def generate(
    out: str, params: GenerateParams, *, overwrite: bool = True, workers: int | None = None
) -> GenerateResult:
    """Write the tree for ``params`` under ``out`` plus ``_SUCCESS`` and ``_manifest.json``; return counts.

    Empty partitions (possible for tiny ``rows``) get no directory. With ``overwrite`` an existing tree at
    ``out`` is removed first so stale partitions cannot survive. ``workers`` processes share the chunks
    (default: one per core, up to 2, for 1M rows or more; the output is identical whatever the count).
    """
    t0 = datetime.now(UTC)
    if params.rows < 0 or params.days < 1 or params.prefixes < 1:
        raise ValueError("rows must be >= 0, days and prefixes >= 1")
    if overwrite and os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out, exist_ok=True)
    counts = partition_counts(params)
    pool = max(1, params.rows // 4)
    seen = pl.Series("seen", [False], dtype=pl.Boolean).extend_constant(False, pool - 1)

    chunks: list[tuple[int, list[tuple[str, str, str, int]]]] = []
    current: list[tuple[str, str, str, int]] = []
    size = start = 0
    for key, cnt in counts.items():
        if size + cnt > CHUNK_ROWS and size:
            chunks.append((start, current))
            start, current, size = start + size, [], 0
        d, p, s = (kv.split("=", 1)[1] for kv in key.split("/"))
        current.append((d, p, s, cnt))
        size += cnt
    if size:
        chunks.append((start, current))

    if workers is None:
        workers = min(2, os.cpu_count() or 1) if params.rows >= 1_000_000 else 1
    if workers <= 1:
        for start, parts in chunks:
            seen = seen.scatter(pl.Series(_run_chunk(out, params.seed, start, pool, parts)), True)
    else:
        # Processes, not threads: the Parquet writer holds the GIL for much of its per-file work. Each chunk
        # is a pure function of (seed, start), so the split does not change a byte. "spawn" because forking
        # a process that has started polars/pyarrow thread pools can deadlock. Bounded memory: one chunk in
        # flight per worker.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as executor:
            pending = []
            for start, parts in chunks:
                pending.append(executor.submit(_run_chunk, out, params.seed, start, pool, parts))
                if len(pending) >= 2 * workers:
                    seen = seen.scatter(pl.Series(pending.pop(0).result()), True)
            for fut in pending:
                seen = seen.scatter(pl.Series(fut.result()), True)

    distinct = int(seen.sum())
    manifest = {
        "partitions": {k: v for k, v in counts.items() if v},
        "total_rows": params.rows,
        "distinct_persons": distinct,
        "params": asdict(params),
    }
    with open(os.path.join(out, "_manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)
    with open(os.path.join(out, "_SUCCESS"), "w"):
        pass
    seconds = (datetime.now(UTC) - t0).total_seconds()
    return GenerateResult(
        out=out,
        total_rows=params.rows,
        distinct_persons=distinct,
        partitions=len(manifest["partitions"]),
        seconds=seconds,
    )
