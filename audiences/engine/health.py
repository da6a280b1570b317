"""Readiness of the engine: DuckDB answers and every configured local data root is readable.

Remote roots (s3://, gs://) are not listed here: a readiness probe runs every few seconds and a bucket
listing costs a round trip and money; their failures surface per task as EngineError instead.
"""

import os
from collections.abc import Sequence

import duckdb

from audiences.engine.paths import is_remote


def engine_ready(data_roots: Sequence[str]) -> str | None:
    """None when the engine can work, else what is wrong, in words."""
    with duckdb.connect() as con:
        if con.execute("SELECT 42").fetchone() != (42,):
            return "the columnar engine (DuckDB) did not answer a trivial query"
    for root in data_roots:
        if is_remote(root):
            continue
        if not os.path.isdir(root) or not os.access(root, os.R_OK | os.X_OK):
            return f"the data root {root} is missing or not readable"
    return None
