"""Opt-out suppression: the identifiers that must never leave the system, anti-joined inside DuckDB.

Emails are compared and hashed the one way :mod:`delivr_admin.emails` defines (trimmed, lower-cased, SHA-256
hex), on both sides: the registry's values here and the dataset's rows in SQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

import duckdb
import pyarrow as pa

from audiences.engine.sql import quote
from delivr_admin.emails import email_normalize, email_normalize_sql, email_sha256, email_sha256_sql

HASHED_EMAIL_COLUMNS = ("email_sha256", "sha256_email", "hashed_email", "email_hash")


class Suppression:
    """Identifiers that must never leave the system; rows matching any of them are removed from every output.

    Emails are compared lower-cased and trimmed; ``email_sha256`` holds hex SHA-256 digests of such emails
    (opt-outs that arrived hashed). Built once per export or request; its Arrow arrays are built once too and
    anti-joined inside DuckDB, so a million-entry registry costs its hash probes, not Python work per query.
    """

    def __init__(
        self,
        person_ids: Iterable[str] = (),
        uid2s: Iterable[str] = (),
        emails: Iterable[str] = (),
        email_sha256: Iterable[str] = (),
    ) -> None:
        self.person_ids = frozenset(p for p in person_ids if p)
        self.uid2s = frozenset(u for u in uid2s if u)
        self.emails = frozenset(email_normalize(e) for e in emails if e and e.strip())
        self.email_sha256 = frozenset(h.strip().lower() for h in email_sha256 if h and h.strip())
        self._arrays: dict[str, pa.Array] = {}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.person_ids or self.uid2s or self.emails or self.email_sha256)

    def __repr__(self) -> str:
        return (
            f"Suppression(person_ids={len(self.person_ids)}, uid2s={len(self.uid2s)}, "
            f"emails={len(self.emails)}, email_sha256={len(self.email_sha256)})"
        )

    def all_email_hashes_present(self) -> bool:
        """True when there are email opt-outs, plain or hashed (the ``all_email_hashes`` kind has values)."""
        return bool(self.email_sha256 or self.emails)

    def array(self, kind: str) -> pa.Array:
        """The identifiers of `kind` as an Arrow string array, built on first use and kept.

        Kinds: person_ids, uid2s, emails, email_sha256, and all_email_hashes (the hashed opt-outs plus the
        hashes of the plain ones, for datasets that carry hashed emails only).
        """
        with self._lock:
            if kind not in self._arrays:
                if kind == "all_email_hashes":
                    values = self.email_sha256 | {email_sha256(e) for e in self.emails}
                else:
                    values = getattr(self, kind)
                self._arrays[kind] = pa.array(list(values), pa.string())
            return self._arrays[kind]


def identifier_keys(columns: Mapping[str, str], alias: str = "") -> list[tuple[str, str]]:
    """(identifier kind, DuckDB SQL of a row's identifier of that kind) for each kind the dataset's columns can
    carry: what both engines match against the opt-out sets (the Spark engine transpiles these)."""
    lookup = {c.lower(): c for c in columns}
    keys = []
    if "person_id" in lookup:
        keys.append(("person_ids", f"{alias}{quote(lookup['person_id'])}"))
    if "uid2" in lookup:
        keys.append(("uid2s", f"{alias}{quote(lookup['uid2'])}"))
    if "email" in lookup:
        email = f"{alias}{quote(lookup['email'])}"
        keys.append(("emails", email_normalize_sql(email)))
        keys.append(("email_sha256", email_sha256_sql(email)))
    hashed = next((lookup[c] for c in HASHED_EMAIL_COLUMNS if c in lookup), None)
    if hashed is not None:
        keys.append(("all_email_hashes", email_normalize_sql(f"{alias}{quote(hashed)}")))
    return keys


def anti_joins(
    con: duckdb.DuckDBPyConnection, sup: Suppression | None, columns: Mapping[str, str]
) -> list[str]:
    """Register on ``con`` the identifier sets that can match the dataset's columns; their ANTI JOIN clauses.

    The clauses join the row alias ``t``. Kinds the dataset has no column for are skipped: no row can carry
    them. Rows are hashed (sha256 per row) only for opt-outs that arrived hashed against plain emails.
    """
    if not sup:
        return []
    joins = []
    for kind, expr in identifier_keys(columns, alias="t."):
        source = sup.all_email_hashes_present() if kind == "all_email_hashes" else getattr(sup, kind)
        if not source:
            continue
        table = f"_sup_{kind}"
        con.register(table, pa.table({"v": sup.array(kind)}))
        joins.append(f"ANTI JOIN {table} ON {expr} = {table}.v")
    return joins
