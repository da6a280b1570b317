"""The rows of a test tree that a definition should select, read with pyarrow (not the engine under test)."""

import pyarrow.dataset as ds

# company_employee_count >= '201-500', by bucket order
BIG = ("201-500", "501-1000", "1001-5000", "5001-10000", "10001+")


def rows_where(root, *, countries: tuple[str, ...] | None = None) -> list[dict]:
    """Rows of topics 4eyes_101/102, high or medium intent, 3-4 May 2024, at companies of 201+ employees (the
    tests' shared selection), in ``countries`` when given."""
    table = ds.dataset(
        str(root), format="parquet", partitioning="hive", ignore_prefixes=["_", "."]
    ).to_table()
    return [
        r
        for r in table.to_pylist()
        if r["prefix"] in ("4eyes_101", "4eyes_102")
        and r["score"] in ("high", "medium")
        and str(r["day"]) in ("2024-05-03", "2024-05-04")
        and r["company_employee_count"] in BIG
        and (countries is None or r["country"] in countries)
    ]
