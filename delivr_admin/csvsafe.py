"""CSV formula injection: the one rule every CSV the product writes goes through.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula (`=HYPERLINK(...)` leaks data
to a remote site), and some also after a leading tab or carriage return. Text cells that start with one of
these get a single quote in front, the OWASP rule: spreadsheets show the text as it was and run nothing.
Only text is neutralised: a negative number in a numeric column stays a number. Stored data stays as it was
uploaded or received; this applies on output only.

Three forms of the same rule: `cell` for rows built in Python, `arrow_batch` for Arrow record batches, and
`sql_text` for a column in a DuckDB projection (the engine's CSV unloads and downloads, where a Python loop
over every cell would cost far more than the scan).
"""

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# the same characters for RE2 (Arrow) and for SQL: every form below is built from FORMULA_PREFIXES
_PATTERN = "^[" + "".join(f"\\x{ord(c):02x}" for c in FORMULA_PREFIXES) + "]"
_SQL_PREFIXES = [f"chr({ord(c)})" for c in FORMULA_PREFIXES]


def cell(value: Any) -> Any:
    """The value as a CSV cell: strings starting with a formula character get a leading quote; numbers,
    dates, booleans and None are returned unchanged (the csv module writes them as they are)."""
    if isinstance(value, str) and value[:1] in FORMULA_PREFIXES:
        return "'" + value
    return value


def row(values: list | tuple) -> list:
    return [cell(v) for v in values]


def arrow_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with its string columns neutralised (vectorised); other columns untouched."""
    columns = []
    for column in batch.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            risky = pc.fill_null(pc.match_substring_regex(column, _PATTERN), False)
            if pc.any(risky).as_py():
                column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def sql_text(quoted_column: str) -> str:
    """A DuckDB expression for a VARCHAR column (already quoted) with formula-leading values neutralised.

    Every formula character sorts before "A", so a plain string comparison (cheap on DuckDB's inlined
    strings) skips the first-character test for most values: ~5x cheaper than testing every row. Values
    that pass it (ids or topics starting with a digit, base64) get one ``starts_with`` per formula
    character, which compares the string's inlined prefix in place: about half the cost of
    ``left(v, 1) IN (...)``, which cuts a one-character string out of each of them first (the cost on a CSV
    unload is in bench/RESULTS.md). ``starts_with`` is ``STARTSWITH`` in Spark SQL (sqlglot transpiles it).
    """
    starts = " OR ".join(f"starts_with({quoted_column}, {prefix})" for prefix in _SQL_PREFIXES)
    return f"CASE WHEN {quoted_column} < 'A' AND ({starts}) THEN '''' || {quoted_column} ELSE {quoted_column} END"
