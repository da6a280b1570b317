"""Field mapping: parse it, then validate and normalize Arrow record batches with it (vectorised).

A mapping is a list of fields {source, target, required, max_length (or maxLength, the March document's
spelling), picklist, multi_value, default, type, truncate}. Per field and record, in this order (the first failing check is the field's error):

1. normalize: strings are trimmed of ASCII whitespace; a multi-value field takes a list, or splits a string on
   ",", trims each value, drops empty ones, and joins them with ";" (picklist values are checked per value);
2. an empty value (null, "" or no values) takes the field's default;
3. still empty: REQUIRED_FIELD_MISSING when required, else null (no further checks);
4. type email: ASCII-lower-cased, and INVALID_EMAIL_FORMAT unless it looks like x@y.z (missing @ or .);
   type number: INVALID_NUMBER_FORMAT unless a decimal number (numeric columns pass), output as float64;
5. picklist: INVALID_PICKLIST_VALUE unless one of the allowed values (case-insensitive); the picklist's own
   spelling is written;
6. max_length, in Unicode code points: MULTI_VALUE_TOO_LONG for joined multi-value fields (never cut),
   else cut to max_length when `truncate` is set, else STRING_TOO_LONG.

`validate_batch` does this with pyarrow.compute over whole columns; `validate_records_reference` is the same
rules as a plain per-record loop, kept as the specification the tests compare the fast path against.
INVALID_NUMBER_FORMAT is ours (the March codes have no number check); the five March codes are exact.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from rest_framework import serializers

from delivr_admin.emails import EMAIL_PATTERN, email_valid
from delivr_admin.errors import validation_message
from delivr_admin.fields import StrictBooleanField, StrictCharField, StrictIntegerField

REQUIRED_FIELD_MISSING = "REQUIRED_FIELD_MISSING"
STRING_TOO_LONG = "STRING_TOO_LONG"
MULTI_VALUE_TOO_LONG = "MULTI_VALUE_TOO_LONG"
INVALID_PICKLIST_VALUE = "INVALID_PICKLIST_VALUE"
INVALID_EMAIL_FORMAT = "INVALID_EMAIL_FORMAT"
INVALID_NUMBER_FORMAT = "INVALID_NUMBER_FORMAT"
CODES = (
    REQUIRED_FIELD_MISSING,
    STRING_TOO_LONG,
    MULTI_VALUE_TOO_LONG,
    INVALID_PICKLIST_VALUE,
    INVALID_EMAIL_FORMAT,
    INVALID_NUMBER_FORMAT,
)
FIELD_TYPES = ("string", "email", "number")
MAX_FIELDS = 200
MAX_LENGTH_LIMIT = 1_000_000
MAX_PICKLIST = 1000
MAX_LENGTH_MESSAGE = f"Must be an integer from 1 to {MAX_LENGTH_LIMIT:,}."

WHITESPACE = " \t\n\r\x0b\x0c"
NUMBER_RE = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_NUMBER = re.compile(NUMBER_RE)
_ASCII_LOWER = {i: i + 32 for i in range(ord("A"), ord("Z") + 1)}


class MappingError(ValueError):
    """The mapping itself is invalid (shape, unknown column, bad default); the message names the field."""


@dataclass(frozen=True)
class FieldSpec:
    source: str
    target: str
    required: bool = False
    max_length: int | None = None
    picklist: tuple[str, ...] = ()
    multi_value: bool = False
    default: str | None = None
    type: str = "string"
    truncate: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "required": self.required,
            "max_length": self.max_length,
            "picklist": list(self.picklist),
            "multi_value": self.multi_value,
            "default": self.default,
            "type": self.type,
            "truncate": self.truncate,
        }

    def message(self, code: str) -> str:
        return {
            REQUIRED_FIELD_MISSING: f"{self.target} is required",
            STRING_TOO_LONG: f"{self.target} is longer than {self.max_length} characters",
            MULTI_VALUE_TOO_LONG: (
                f"{self.target} is longer than {self.max_length} characters once its values are joined"
            ),
            INVALID_PICKLIST_VALUE: f"{self.target} is not one of the allowed values",
            INVALID_EMAIL_FORMAT: f"{self.target} is not a valid email address (missing @ or .)",
            INVALID_NUMBER_FORMAT: f"{self.target} is not a number",
        }[code]


def _norm_text(value: str) -> str:
    return value.strip(WHITESPACE)


def _norm_multi(value: str) -> str:
    parts = [_norm_text(p) for p in re.split(r"[,;]", value)]
    return ";".join(p for p in parts if p)


def _messages(text: str, *keys: str) -> dict[str, str]:
    return dict.fromkeys(keys, text)


class FieldMappingListSerializer(serializers.ListSerializer):
    """The whole mapping: 1..MAX_FIELDS entries, each target once (case-insensitively)."""

    def to_internal_value(self, data: Any) -> list[dict]:
        entries = super().to_internal_value(data)
        seen: set[str] = set()
        errors: dict[int, dict] = {}  # by index, as the project's LIST_SERIALIZER_ERRORS_AS_DICT has them
        for index, entry in enumerate(entries):
            target = entry["target"]
            if target.lower() in seen:
                errors[index] = {"target": [f"{target!r} is mapped twice."]}
            seen.add(target.lower())
        if errors:
            raise serializers.ValidationError(errors)
        return entries


class FieldMappingEntrySerializer(serializers.Serializer):
    """One field of a mapping, validated (the API's `field_mapping` items and what the service stores).

    With `context={"columns": {column: type}}` the source must be a column of the audience (any case; the
    column's own spelling is kept) and a list column needs multi_value.
    """

    default_error_messages = {"invalid": "Must be an object."}

    source = StrictCharField(
        error_messages=_messages("Must be a dataset column name.", "invalid", "blank", "required", "null"),
        help_text="A column of the audience's data (any case).",
    )
    target = StrictCharField(
        max_length=200,
        error_messages=_messages(
            "Must be a destination field name (1-200 characters).",
            "invalid",
            "blank",
            "required",
            "null",
            "max_length",
        ),
    )
    type = serializers.ChoiceField(
        choices=list(FIELD_TYPES),
        required=False,
        allow_null=True,
        allow_blank=True,
        default="string",
        error_messages=_messages(f"Must be one of {', '.join(FIELD_TYPES)}.", "invalid_choice"),
    )
    required = StrictBooleanField(required=False, allow_null=True, default=False)
    max_length = StrictIntegerField(
        min_value=1,
        max_value=MAX_LENGTH_LIMIT,
        required=False,
        allow_null=True,
        default=None,
        error_messages=_messages(
            MAX_LENGTH_MESSAGE,
            "invalid",
            "min_value",
            "max_value",
            "max_string_length",
        ),
        help_text=(
            "The field's maximum length in Unicode characters (runes), not bytes; `maxLength` is accepted as "
            "the same key. A longer value is cut to max_length characters when `truncate` is true (never in "
            "the middle of a character), else the record fails with STRING_TOO_LONG. A multi-value field "
            "longer than max_length once joined always fails with MULTI_VALUE_TOO_LONG (never cut)."
        ),
    )
    truncate = StrictBooleanField(
        required=False,
        allow_null=True,
        default=False,
        help_text="Cut values longer than max_length instead of failing the record with STRING_TOO_LONG.",
    )
    picklist = serializers.ListField(
        child=StrictCharField(
            trim_whitespace=False,
            error_messages=_messages("Must be a list of non-empty strings.", "invalid", "blank", "null"),
        ),
        required=False,
        allow_null=True,
        default=list,
        max_length=MAX_PICKLIST,
        error_messages={
            "not_a_list": "Must be a list of non-empty strings.",
            "max_length": f"Has more than {MAX_PICKLIST} values.",
        },
    )
    multi_value = StrictBooleanField(required=False, allow_null=True, default=False)
    default = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        default=None,
        error_messages=_messages("Must be a string or null.", "invalid"),
    )

    class Meta:
        list_serializer_class = FieldMappingListSerializer

    @classmethod
    def many_init(cls, *args: Any, **kwargs: Any) -> FieldMappingListSerializer:
        kwargs.setdefault("max_length", MAX_FIELDS)
        kwargs.setdefault("allow_empty", False)
        kwargs.setdefault(
            "error_messages",
            {
                "not_a_list": "Must be a non-empty list of fields.",
                "empty": "Must be a non-empty list of fields.",
                "max_length": f"Has more than {MAX_FIELDS} fields.",
            },
        )
        return super().many_init(*args, **kwargs)

    def to_internal_value(self, data: Any) -> dict:
        if isinstance(data, dict) and "maxLength" in data:  # the March 2026 document's spelling of max_length
            if data.get("max_length") is not None and data["max_length"] != data["maxLength"]:
                raise serializers.ValidationError("maxLength and max_length disagree; give one of them.")
            data = {k: v for k, v in data.items() if k != "maxLength"} | {"max_length": data["maxLength"]}
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError(f"unknown key(s) {', '.join(sorted(unknown))}.")
        return super().to_internal_value(data)

    def validate_picklist(self, value: list[str] | None) -> list[str]:
        if not all(p.strip() for p in value or []):
            raise serializers.ValidationError("Must be a list of non-empty strings.")
        picklist = [_norm_text(p) for p in value or []]
        if len({p.lower() for p in picklist}) != len(picklist):
            raise serializers.ValidationError("repeats a value (values compare case-insensitively).")
        return picklist

    def validate(self, attrs: dict) -> dict:
        attrs = {**attrs, "type": attrs.get("type") or "string"}
        for flag in ("required", "truncate", "multi_value"):
            attrs[flag] = bool(attrs.get(flag))
        attrs["source"] = self._source(attrs)
        self._check_combination(attrs)
        if attrs["default"] is not None:
            attrs["default"] = self._default(attrs)
        return {name: attrs[name] for name in FieldSpec.__dataclass_fields__}

    def _source(self, attrs: dict) -> str:
        columns = self.context.get("columns")
        source = attrs["source"]
        if columns is None:
            return source
        known = {c.lower(): c for c in columns}
        if source.lower() not in known:
            raise serializers.ValidationError({"source": f"the audience has no column {source!r}."})
        source = known[source.lower()]
        if columns[source].endswith("[]") and not attrs["multi_value"]:
            raise serializers.ValidationError(f"{source!r} holds a list of values: set multi_value.")
        return source

    @staticmethod
    def _check_combination(attrs: dict) -> None:
        multi, picklist = attrs["multi_value"], attrs["picklist"]
        if attrs["type"] == "number" and (
            multi or picklist or attrs["max_length"] is not None or attrs["truncate"]
        ):
            raise serializers.ValidationError(
                "a number field takes no picklist, max_length, multi_value or truncate."
            )
        if attrs["type"] == "email" and multi:
            raise serializers.ValidationError("an email field cannot be multi-value.")
        if multi and ";" in "".join(picklist):
            raise serializers.ValidationError(
                {"picklist": "values of a multi-value field cannot contain ';'."}
            )

    @staticmethod
    def _default(attrs: dict) -> str | None:
        default = _norm_multi(attrs["default"]) if attrs["multi_value"] else _norm_text(attrs["default"])
        if not default:
            return None
        spec = FieldSpec(**{**attrs, "default": default, "picklist": tuple(attrs["picklist"])})
        _, errors = validate_records_reference([{spec.source: default}], [spec])
        if errors:
            raise serializers.ValidationError({"default": f"{errors[0][3]} ({errors[0][2]})."})
        return default


def mapping_parse(raw: Any, columns: dict[str, str] | None = None) -> list[FieldSpec]:
    """The validated mapping; MappingError naming the entry otherwise. `columns`: dataset column -> type."""
    mapping = FieldMappingEntrySerializer(data=raw, many=True, context={"columns": columns})
    if not mapping.is_valid():
        raise MappingError(validation_message(mapping.errors, "field_mapping"))
    return [FieldSpec(**{**entry, "picklist": tuple(entry["picklist"])}) for entry in mapping.validated_data]


def mapping_sources(specs: Iterable[FieldSpec]) -> list[str]:
    seen: list[str] = []
    for spec in specs:
        if spec.source not in seen:
            seen.append(spec.source)
    return seen


# ---------------------------------------------------------------------------------------------------------
# reference: one record at a time


def _lower(text: str) -> str:
    # Arrow's utf8_lower uses simple case mapping; Python's str.lower full mapping differs for U+0130 only.
    return "".join("i" if ch == "\u0130" else ch.lower() for ch in text)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _reference_field(spec: FieldSpec, value: Any) -> tuple[Any, str | None]:
    """(normalized value, error code or None) of one field of one record."""
    picklist_bad = False
    numeric_source = False
    if spec.multi_value:
        text, picklist_bad = _reference_multi_value(spec, value)
    elif spec.type == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        numeric_source = True
        text = float(value)
    elif spec.type == "number" and value is None:
        if spec.default is None:
            return None, REQUIRED_FIELD_MISSING if spec.required else None
        return float(spec.default), None
    else:
        text = None if value is None else _norm_text(_scalar_text(value))
    if text is None or text == "":
        text = spec.default
    if text is None or text == "":
        return None, REQUIRED_FIELD_MISSING if spec.required else None
    if spec.type == "number":
        if numeric_source:
            return text, None
        if not _NUMBER.match(text):
            return None, INVALID_NUMBER_FORMAT
        return float(text), None
    return _reference_text_check(spec, text, picklist_bad)


def _reference_multi_value(spec: FieldSpec, value: Any) -> tuple[str, bool]:
    """(the items joined with ';', whether an item is not in the picklist) of a multi-value field."""
    if value is None:
        items: list[str] = []
    elif isinstance(value, list):
        items = [_norm_text(_scalar_text(v)) for v in value if v is not None]
    else:
        items = [_norm_text(p) for p in _scalar_text(value).split(",")]
    items = [v for v in items if v]
    picklist_bad = False
    if spec.picklist:
        lookup = {_lower(p): p for p in spec.picklist}
        canon = []
        for item in items:
            hit = lookup.get(_lower(item))
            picklist_bad = picklist_bad or hit is None
            canon.append(hit if hit is not None else item)
        items = canon
    return ";".join(items), picklist_bad


def _reference_text_check(spec: FieldSpec, text: str, picklist_bad: bool) -> tuple[Any, str | None]:
    """(normalized value, error code or None) of a non-empty text value: email, picklist, length checks."""
    if spec.type == "email":
        text = text.translate(_ASCII_LOWER)
        if not email_valid(text):
            return None, INVALID_EMAIL_FORMAT
    if spec.picklist and not spec.multi_value:
        hit = {_lower(p): p for p in spec.picklist}.get(_lower(text))
        if hit is None:
            return None, INVALID_PICKLIST_VALUE
        text = hit
    if picklist_bad:
        return None, INVALID_PICKLIST_VALUE
    if spec.max_length is not None and len(text) > spec.max_length:
        if spec.multi_value:
            return None, MULTI_VALUE_TOO_LONG
        if not spec.truncate:
            return None, STRING_TOO_LONG
        text = text[: spec.max_length]
    return text, None


def validate_records_reference(
    records: list[dict], mapping: list[FieldSpec]
) -> tuple[list[dict], list[tuple[int, str, str, str]]]:
    """(valid records keyed by target, errors as (row index, target, code, message)), one record at a time."""
    valid: list[dict] = []
    errors: list[tuple[int, str, str, str]] = []
    for i, record in enumerate(records):
        out = {}
        failed = False
        for spec in mapping:
            value, code = _reference_field(spec, record.get(spec.source))
            if code is not None:
                failed = True
                errors.append((i, spec.target, code, spec.message(code)))
            out[spec.target] = value
        if not failed:
            valid.append(out)
    return valid, errors


# ---------------------------------------------------------------------------------------------------------
# vectorised: whole columns with pyarrow.compute


@dataclass
class BatchValidation:
    """Normalized valid rows, which input rows passed, and the errors (row order, then field order).

    `errors` is built on first use (a Python tuple per error); `failing()` gives a run what it reports
    without building them all.
    """

    table: pa.Table  # valid rows only, target names
    valid: pa.BooleanArray  # one per input row
    error_counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (code, target) -> count
    found: pa.Table | None = None  # (row, key = field * len(CODES) + code), sorted
    lookup: list[tuple[str, str, str]] = field(default_factory=list)  # key -> (target, code, message)
    _errors: list[tuple[int, str, str, str]] | None = None

    @property
    def errors(self) -> list[tuple[int, str, str, str]]:
        """(row index, target, code, message) of every error."""
        if self._errors is None:
            if self.found is None:
                self._errors = []
            else:
                lookup = self.lookup
                self._errors = [
                    (r,) + lookup[k]
                    for r, k in zip(
                        self.found.column("row").to_pylist(),
                        self.found.column("key").to_pylist(),
                        strict=True,
                    )
                ]
        return self._errors

    def failing(self, limit: int) -> tuple[int, list[tuple[int, str, str]]]:
        """(how many rows failed, (row, code, message) of the first error of the first `limit` failing rows,
        followed by the last failing row's when there are more)."""
        if self.found is None or not self.found.num_rows:
            return 0, []
        rows = self.found.column("row").combine_chunks()
        # a row's first error is where the (sorted) row number changes
        changes = pc.indices_nonzero(pc.not_equal(rows.slice(1), rows.slice(0, len(rows) - 1)))
        starts = pa.concat_arrays([pa.array([0], pa.uint64()), pc.add(changes, pa.scalar(1, pa.uint64()))])
        count = len(starts)
        picked = starts.slice(0, limit)
        if count > limit:
            picked = pa.concat_arrays([picked, starts.slice(count - 1)])
        keys = self.found.column("key").combine_chunks().take(picked).to_pylist()
        return count, [
            (row, self.lookup[k][1], self.lookup[k][2])
            for row, k in zip(rows.take(picked).to_pylist(), keys, strict=True)
        ]


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _as_text(col: pa.Array) -> pa.Array:
    if not _is_text(col.type):
        col = pc.cast(col, pa.string())
    # ASCII trim is byte-wise: safe on UTF-8 (no multi-byte sequence contains an ASCII byte) and faster.
    return pc.ascii_trim(col, characters=WHITESPACE)


def _lower_fast(values: pa.Array) -> pa.Array:
    """Lower-cased for case-insensitive comparison; the ASCII kernel when every value is ASCII."""
    if pc.all(pc.string_is_ascii(values)).as_py() is not False:
        return pc.ascii_lower(values)
    return pc.utf8_lower(values)


def _nn(arr: pa.Array) -> pa.Array:
    return arr if arr.null_count == 0 else arr.fill_null(False)


def _any(mask: pa.Array) -> bool:
    return bool(pc.any(mask).as_py())


def _empty(values: pa.Array) -> pa.Array | None:
    """Rows that are null or "" (no nulls in the mask); None when no row is (the common case, one min())."""
    lengths = pc.binary_length(values)
    if values.null_count == 0:
        if not len(values) or pc.min(lengths).as_py() > 0:
            return None
        return pc.equal(lengths, 0)
    return pc.equal(lengths, 0).fill_null(True)


def _too_long(values: pa.Array, max_length: int) -> pa.Array:
    """Rows longer than max_length code points; only values with more bytes than that are measured."""
    candidates = _nn(pc.greater(pc.binary_length(values), max_length))
    if not _any(candidates):
        return candidates
    measured = _nn(pc.greater(pc.utf8_length(values.filter(candidates)), max_length))
    return pc.replace_with_mask(candidates, candidates, measured)


@dataclass(frozen=True)
class _Picklist:
    values: pa.Array  # the picklist's own spelling
    lowered: pa.Array  # the same, lower-cased as the reference compares them

    @classmethod
    def of(cls, spec: FieldSpec) -> _Picklist:
        return _picklist(spec.picklist)


@lru_cache(maxsize=256)
def _picklist(picklist: tuple[str, ...]) -> _Picklist:
    return _Picklist(
        pa.array(list(picklist), pa.string()), pa.array([_lower(p) for p in picklist], pa.string())
    )


def _picklist_match(picklist: _Picklist, values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(values in the picklist's spelling where they match, mask of the values matching none; nulls miss).

    An exact match is already the picklist's spelling (its values differ case-insensitively), so only the
    values that match nothing exactly are lower-cased and looked up again.
    """
    if values.type != picklist.values.type:
        picklist = _Picklist(picklist.values.cast(values.type), picklist.lowered.cast(values.type))
    exact = pc.index_in(values, value_set=picklist.values)
    miss = pc.is_null(exact)
    if not _any(miss):
        return values, miss
    rest = values.filter(miss)
    idx = pc.index_in(_lower_fast(rest), value_set=picklist.lowered)
    if idx.null_count == len(idx):
        return values, miss
    hit = pc.is_valid(idx)
    values = pc.replace_with_mask(values, miss, pc.if_else(hit, pc.take(picklist.values, idx), rest))
    return values, pc.replace_with_mask(miss, miss, pc.invert(hit))


def _per_row_sum(flags: pa.Array, offsets: pa.Array) -> pa.Array:
    """Sum of int flags per list row, given the rows' offsets into the flags (prefix sums, no loop)."""
    prefix = pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(pc.cast(flags, pa.int64()))])
    ends = pc.take(prefix, offsets[1:])
    starts = pc.take(prefix, offsets[:-1])
    return pc.subtract(ends, starts)


def _multi_value(spec: FieldSpec, col: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """(values joined with ";", rows holding a value outside the picklist or None)."""
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        lists = col
    else:
        lists = pc.split_pattern(col if _is_text(col.type) else pc.cast(col, pa.string()), ",")
    null_rows = lists.null_count
    if null_rows:
        lists = lists.fill_null(pa.scalar([], lists.type))
    offsets = pc.subtract(lists.offsets, lists.offsets[0])
    flat = pc.list_flatten(lists)
    if not _is_text(flat.type):
        flat = pc.cast(flat, pa.string())
    if flat.null_count and not null_rows and len(flat) == len(col):
        flat = flat.fill_null("")  # a null inside a list is dropped like an empty value
    if not null_rows and len(flat) == len(col):
        # Exactly one value per row (no row split into two, none empty or null): the joined value is that
        # value trimmed, or "" when nothing is left, so nothing needs to be split, filtered or joined.
        values = pc.ascii_trim(flat, characters=WHITESPACE)
        if not spec.picklist:
            return values, None
        values, miss = _picklist_match(_Picklist.of(spec), values)
        return values, pc.and_(miss, pc.greater(pc.binary_length(values), 0))
    flat = pc.ascii_trim(flat, characters=WHITESPACE)
    keep = _nn(pc.greater(pc.binary_length(flat), 0))
    bad = None
    if spec.picklist:
        flat, miss = _picklist_match(_Picklist.of(spec), flat)
        bad = pc.greater(_per_row_sum(pc.and_(keep, miss), offsets), 0)
    new_offsets = pc.cast(
        pc.take(
            pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(pc.cast(keep, pa.int64()))]),
            offsets,
        ),
        pa.int32(),
    )
    rebuilt = pa.ListArray.from_arrays(new_offsets, flat.filter(keep))
    return pc.binary_join(rebuilt, ";"), bad


def _field(spec: FieldSpec, col: pa.Array) -> tuple[pa.Array, dict[str, pa.Array]]:
    """(normalized column, code -> boolean mask of the rows failing with it) for one field.

    Each check runs once over the column and only while some row can still fail it; masks are computed only
    for codes some row has (a row's first failing check is its error, later checks skip it).
    """
    failures: dict[str, pa.Array] = {}
    done: pa.Array | None = None

    def fail(code: str, mask: pa.Array) -> None:
        nonlocal done
        if done is not None:
            mask = pc.and_not(mask, done)
        if _any(mask):
            failures[code] = mask
            done = mask if done is None else pc.or_(done, mask)

    values, numeric, picklist_bad, empty = _field_values(spec, col)
    any_empty = empty is not None and _any(empty)
    if spec.default is not None and any_empty:
        default = float(spec.default) if numeric else spec.default
        values = pc.if_else(empty, pa.scalar(default, values.type), values)
        any_empty = False
    if any_empty and spec.required:
        fail(REQUIRED_FIELD_MISSING, empty)
    filled = pc.invert(empty) if any_empty and not spec.required else None

    def present(mask: pa.Array) -> pa.Array:
        # Required empty rows have failed already (`fail` skips them); optional ones pass every check.
        mask = _nn(mask)
        return mask if filled is None else pc.and_(mask, filled)

    if spec.type == "number":
        if not numeric:
            ok = _nn(pc.match_substring_regex(values, NUMBER_RE))
            fail(INVALID_NUMBER_FORMAT, present(pc.invert(ok)))
            values = pc.cast(pc.if_else(ok, values, pa.scalar(None, values.type)), pa.float64())
        return values, failures
    if spec.type == "email":
        values = pc.ascii_lower(values)
        fail(INVALID_EMAIL_FORMAT, present(pc.invert(_nn(pc.match_substring_regex(values, EMAIL_PATTERN)))))
    if spec.picklist and not spec.multi_value:
        values, miss = _picklist_match(_Picklist.of(spec), values)
        fail(INVALID_PICKLIST_VALUE, present(miss))
    if picklist_bad is not None:
        fail(INVALID_PICKLIST_VALUE, present(picklist_bad))
    if spec.max_length is not None:
        values = _length_check(spec, values, present(_too_long(values, spec.max_length)), fail)
    if any_empty and not spec.required and (pc.sum(empty).as_py() or 0) > values.null_count:
        # Optional empty values are written as null (a required one failed: its row is not written at all).
        values = pc.if_else(empty, pa.scalar(None, values.type), values)
    return values, failures


def _field_values(spec: FieldSpec, col: pa.Array) -> tuple[pa.Array, bool, pa.Array | None, pa.Array | None]:
    """(values as text or float, whether the source is numeric, multi-value picklist misses, empty mask)."""
    picklist_bad = None
    numeric = spec.type == "number" and (pa.types.is_integer(col.type) or pa.types.is_floating(col.type))
    if spec.multi_value:
        values, picklist_bad = _multi_value(spec, col)
    elif numeric:
        values = pc.cast(col, pa.float64())
    else:
        values = _as_text(col)
    if numeric:
        empty = pc.is_null(values) if values.null_count else None
    else:
        empty = _empty(values)
    return values, numeric, picklist_bad, empty


def _length_check(spec: FieldSpec, values: pa.Array, too_long: pa.Array, fail) -> pa.Array:
    """The values after the max_length rule: too long fails, or is cut when the field truncates."""
    if spec.multi_value:
        fail(MULTI_VALUE_TOO_LONG, too_long)
    elif spec.truncate:
        if _any(too_long):
            values = pc.if_else(too_long, pc.utf8_slice_codeunits(values, 0, spec.max_length), values)
    else:
        fail(STRING_TOO_LONG, too_long)
    return values


@lru_cache(maxsize=64)
def _error_lookup(mapping: tuple[FieldSpec, ...]) -> list[tuple[str, str, str]]:
    """(target, code, message) by field index * len(CODES) + code index."""
    return [(spec.target, code, spec.message(code)) for spec in mapping for code in CODES]


PARALLEL_MIN_ROWS = 16_384  # smaller batches validate their fields one after the other
_pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid, pool): a forked child makes its own


def _map(func, items: list, rows: int) -> list:
    """func over items, on two threads for big batches (Arrow's kernels release the GIL)."""
    global _pool
    workers = min(2, os.cpu_count() or 1)
    if rows < PARALLEL_MIN_ROWS or workers < 2 or len(items) < 2:
        return [func(item) for item in items]
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(max_workers=workers, thread_name_prefix="validation"))
    return list(_pool[1].map(func, items))


def validate_batch_full(batch: pa.RecordBatch | pa.Table, mapping: list[FieldSpec]) -> BatchValidation:
    n = batch.num_rows
    names = {name.lower(): i for i, name in enumerate(batch.schema.names)}
    code_ids = {code: i for i, code in enumerate(CODES)}

    def check(f: int) -> tuple[pa.Array, dict[str, pa.Array]]:
        spec = mapping[f]
        if spec.source.lower() in names:
            col = batch.column(names[spec.source.lower()])
            if isinstance(col, pa.ChunkedArray):
                col = col.combine_chunks()
        else:
            col = pa.nulls(n, pa.string())
        return _field(spec, col)

    checked = _map(check, list(range(len(mapping))), n)
    columns: list[pa.Array] = []
    invalid: pa.Array | None = None
    parts: list[pa.Table] = []
    counts: dict[tuple[str, str], int] = {}
    for f, (values, failures) in enumerate(checked):
        spec = mapping[f]
        columns.append(values)
        for code, mask in failures.items():
            rows = pc.indices_nonzero(mask)
            invalid = mask if invalid is None else pc.or_(invalid, mask)
            counts[(code, spec.target)] = counts.get((code, spec.target), 0) + len(rows)
            parts.append(
                pa.table(
                    {
                        "row": rows,
                        "key": pa.repeat(pa.scalar(f * len(CODES) + code_ids[code], pa.int32()), len(rows)),
                    }
                )
            )
    names_out = [s.target for s in mapping]
    if invalid is None:
        table = pa.Table.from_arrays(columns, names=names_out)
        return BatchValidation(table=table, valid=pa.repeat(pa.scalar(True), n), error_counts=counts)
    valid = pc.invert(invalid)
    table = pa.Table.from_arrays(_map(lambda c: c.filter(valid), columns, n), names=names_out)
    # Only the failing rows are listed: in row order, then field order (a row fails once per field).
    found = pa.concat_tables(parts).sort_by([("row", "ascending"), ("key", "ascending")])
    return BatchValidation(
        table=table, valid=valid, error_counts=counts, found=found, lookup=_error_lookup(tuple(mapping))
    )


def validate_batch(
    batch: pa.RecordBatch | pa.Table, mapping: list[FieldSpec]
) -> tuple[pa.Table, list[tuple[int, str, str, str]]]:
    """(valid rows normalized, with target names; errors as (row index, target, code, message))."""
    result = validate_batch_full(batch, mapping)
    return result.table, result.errors
