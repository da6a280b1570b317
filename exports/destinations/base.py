"""The destination interface every export target implements: test the connection, write a batch, finish.

A run streams the audience as Arrow record batches (opt-outs already subtracted, record limit applied,
field mapping validated and normalized); each valid batch goes to `write_batch`, which returns results per
CRM object type (e.g. "Contact", "Company", "Lead"). Every record carries an idempotency key
(`<run_id>:<record_key>`): a retried batch must not create a record twice at the destination (use the key
as the destination's idempotency/upsert key, or skip keys the destination reports as already seen).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyarrow as pa

MAX_RECORD_ERRORS = 100  # per object type and batch: enough to show, bounded in size


class DestinationError(Exception):
    """A destination refused or failed. `user_error` is True for bad credentials/config (not retryable)."""

    def __init__(self, message: str, *, user_error: bool = False, retryable: bool = False, field: str = ""):
        super().__init__(message)
        self.message = message
        self.user_error = user_error
        self.retryable = retryable
        self.field = field  # the config/credential field at fault, for the form and the API error


class RequestFailed(Exception):
    """A call to a destination's API that failed for good: after its retries, or at once for a status no retry
    can fix. `status` is the HTTP status (0: unreachable), `code` the API's error code."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def url_check(url: Any, *, what: str, field: str) -> None:
    """Save-time check of a configured URL (http(s), not an internal address) as a DestinationError."""
    from delivr_admin import outbound

    try:
        outbound.check_url(url, what=what)
    except outbound.OutboundError as exc:
        raise DestinationError(exc.message, user_error=True, field=field) from exc


@dataclass
class RecordError:
    key: str
    code: str
    message: str


@dataclass
class ObjectResult:
    """Results for one CRM object type, shaped like the March 2026 `object_type_results` entries."""

    object_type: str
    operation: str = "upsert"
    records_created: int = 0
    records_updated: int = 0
    records_failed: int = 0
    records_skipped: int = 0
    error_message: str = ""
    errors: list[RecordError] = field(default_factory=list)
    # every failed record's key, not only the first MAX_RECORD_ERRORS shown: the run learns which records of
    # a write the destination took (kept per write only, never accumulated over a run)
    failed_keys: list[str] = field(default_factory=list)

    def add_error(self, key: str, code: str, message: str) -> None:
        self.records_failed += 1
        self.error_message = f"{code}: {message}" if code else message
        if len(self.errors) < MAX_RECORD_ERRORS:
            self.errors.append(RecordError(key, code, message))
        if key:
            self.failed_keys.append(key)

    def merge(self, other: ObjectResult) -> None:
        self.records_created += other.records_created
        self.records_updated += other.records_updated
        self.records_failed += other.records_failed
        self.records_skipped += other.records_skipped
        self.failed_keys.extend(other.failed_keys)
        if other.error_message:
            self.error_message = other.error_message
        room = MAX_RECORD_ERRORS - len(self.errors)
        if room > 0:
            self.errors.extend(other.errors[:room])

    def as_dict(self) -> dict[str, Any]:
        return {
            "object_type": self.object_type,
            "records_created": self.records_created,
            "records_updated": self.records_updated,
            "records_failed": self.records_failed,
            "records_skipped": self.records_skipped,
            "operation": self.operation,
            "error_message": self.error_message,
        }


@dataclass
class BatchResult:
    objects: dict[str, ObjectResult] = field(default_factory=dict)
    # Follow-up work a write queued instead of sending it (BatchContext.defer_follow_ups): kind -> new items
    # (JSON values), sent later in whole requests by `follow_up`; `settled`: kind -> how many of the oldest
    # queued items of that kind this call sent. A run keeps both with the call's progress part, so a retry
    # knows what is still owed (parts.py).
    queued: dict[str, list] = field(default_factory=dict)
    settled: dict[str, int] = field(default_factory=dict)

    def object(self, object_type: str, operation: str = "upsert") -> ObjectResult:
        if object_type not in self.objects:
            self.objects[object_type] = ObjectResult(object_type=object_type, operation=operation)
        return self.objects[object_type]


@dataclass(frozen=True)
class TargetField:
    """A field the destination holds (a HubSpot contact property, a Salesforce field, a DSP identifier).

    `type` is the destination's own type name, shown to people; `mapping_type` is the mapping's
    (string/email/number); `max_length` and `picklist` prefill the mapping's constraints when set.
    """

    name: str
    label: str
    type: str = "string"
    mapping_type: str = "string"
    max_length: int | None = None
    required: bool = False
    picklist: tuple[str, ...] = ()
    multi_value: bool = False
    group: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "mapping_type": self.mapping_type,
            "max_length": self.max_length,
            "required": self.required,
            "picklist": list(self.picklist),
            "multi_value": self.multi_value,
            "group": self.group,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TargetField:
        return cls(
            name=str(data["name"]),
            label=str(data.get("label") or data["name"]),
            type=str(data.get("type") or "string"),
            mapping_type=str(data.get("mapping_type") or "string"),
            max_length=data.get("max_length"),
            required=bool(data.get("required")),
            picklist=tuple(data.get("picklist") or ()),
            multi_value=bool(data.get("multi_value")),
            group=str(data.get("group") or ""),
        )


@dataclass(frozen=True)
class Setting:
    """How a config or credential field is shown: a label and a sentence of help, never the config key."""

    label: str
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()  # (value, label) for a select
    input_type: str = "text"  # text, url, number, password
    placeholder: str = ""


@dataclass
class BatchContext:
    run_id: str
    export_id: str
    batch_index: int
    list_name: str = ""
    idempotency_keys: list[str] = field(default_factory=list)  # one per row of the batch, same order
    organization_id: str = ""  # the export's owner: file outputs go under its storage folder
    optout: bool = False  # a removal because the person opted out (not because they left the audience)
    # one per row when known (changes/mirror runs): the email the destination holds the record under since an
    # earlier run, which put it on the export's list too (None: not held; empty list: unknown, as in `full`)
    held_emails: list[str | None] = field(default_factory=list)
    # at close: the mapped records' columns, when the run read any (a file of no records still has them)
    schema: pa.Schema | None = None
    # A run sets it: work that follows a write and can be packed across writes (HubSpot's list adds,
    # associations, timeline events) is queued in the result and sent by `follow_up`, so a write is one request
    defer_follow_ups: bool = False


class Destination:
    """Base class. Subclasses set `kind`, `label`, the config/credential field names, and implement the rest."""

    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""
    config_fields: ClassVar[tuple[str, ...]] = ()
    credential_fields: ClassVar[tuple[str, ...]] = ()
    object_types: ClassVar[tuple[str, ...]] = ("Contact",)
    required_targets: ClassVar[tuple[str, ...]] = ()  # mapping targets a batch cannot do without
    form_settings: ClassVar[dict[str, Setting]] = {}  # config/credential key -> how the form shows it
    has_lists: ClassVar[bool] = False  # the export's list name means something here
    # Targets known without asking the destination (its standard fields); `fetches_fields` means the
    # destination can list its own (custom fields included) once connected.
    default_fields: ClassVar[tuple[TargetField, ...]] = ()
    fetches_fields: ClassVar[bool] = False
    # Can take back records it received (`remove_batch`): needed by the `mirror` sync mode and opt-outs.
    supports_removal: ClassVar[bool] = False
    # Keeps what earlier runs sent (upserts into one place), so a run may send only what changed; False for
    # a destination that makes a new list per run (sending only changes would leave that list partial).
    supports_changes: ClassVar[bool] = True
    # How many records one request to the destination carries when a write is split into several (HubSpot's
    # batch endpoints: 100); 0 when a write is one request. A run writes one request at a time (each
    # committed once answered, so a retry resends at most one request); a `changes` run packs whole ones.
    records_per_request: ClassVar[int] = 0
    # The credential a run cannot do without, and the words to ask for it ("" = none needed).
    required_credential: ClassVar[tuple[str, str]] = ("", "")

    def __init__(self, config: dict[str, Any], credentials: dict[str, Any]):
        self.config = config
        self.credentials = credentials

    def test_connection(self) -> None:
        """Checks credentials and reachability; raises DestinationError(user_error=True) when they are wrong."""
        raise NotImplementedError

    def target_fields(self) -> list[TargetField]:
        """The destination's own fields (asks the destination when `fetches_fields`); DestinationError when
        it cannot answer."""
        return list(self.default_fields)

    @classmethod
    def setting(cls, key: str) -> Setting:
        return cls.form_settings.get(key) or Setting(label=key.replace("_", " ").capitalize())

    @classmethod
    def missing_credentials(cls, credentials: dict[str, Any]) -> str:
        """Words saying which credential is missing for a run to start, or "" when none is."""
        name, words = cls.required_credential
        if name and not credentials.get(name):
            return words
        return ""

    def open(self, context: BatchContext) -> None:  # noqa: B027 - optional hook
        """Called once before the first batch of a run."""

    def write_batch(self, batch: pa.RecordBatch, context: BatchContext) -> BatchResult:
        """Sends one write: `records_per_request` records when the destination declares it (one request; the
        last of a batch may be part-filled), else up to `batch_size` records; in `changes`/`mirror` the
        changes of several read batches are packed together into such writes."""
        raise NotImplementedError

    def prepare(self, batch: pa.RecordBatch, context: BatchContext) -> BatchResult | None:
        """Called by a run with a read batch's records to send before its writes, which may be one request
        each: the lookups a destination does for a whole batch at once (HubSpot's companies by domain)."""
        return None

    def follow_up(self, context: BatchContext, *, whole_only: bool) -> BatchResult | None:
        """Sends one request of the follow-up work writes queued (oldest first; with `whole_only`, only a full
        request's worth); its result says what it settled. None when there is nothing (whole) to send."""
        return None

    def follow_ups_restore(self, pending: dict[str, list]) -> None:  # noqa: B027 - optional hook
        """Takes back the follow-up work an earlier attempt queued and never sent (kind -> items, oldest first)."""

    def remove_batch(self, batch: pa.RecordBatch, context: BatchContext) -> BatchResult:
        """Takes back records sent by earlier runs (columns record_key, person_id, email; one idempotency key
        `<run_id>:<record_key>:removed` per row). Removing a record that is not there is a success."""
        raise NotImplementedError

    def close(self, context: BatchContext, *, success: bool) -> dict[str, Any]:
        """Called once after the last batch; returns details to keep on the run (e.g. a file name)."""
        return {}

    @classmethod
    def optout_actions(cls, config: dict[str, Any]) -> list[str]:
        """What an opt-out's removal does besides taking the record back, in words for the ledger (e.g. a
        contact property set, an unsubscription), as the export's config asks."""
        return []


_REGISTRY: dict[str, type[Destination]] = {}


def register(cls: type[Destination]) -> type[Destination]:
    _REGISTRY[cls.kind] = cls
    return cls


def get_destination(kind: str) -> type[Destination]:
    _load_all()
    try:
        return _REGISTRY[kind]
    except KeyError as exc:
        raise DestinationError(f"unknown destination {kind!r}", user_error=True) from exc


def destination_kinds() -> list[tuple[str, str]]:
    _load_all()
    return sorted((kind, cls.label) for kind, cls in _REGISTRY.items())


_loaded: list[Callable] = []


def _load_all() -> None:
    """Imports every destination module so that each registers itself."""
    if _loaded:
        return
    import importlib
    import pkgutil

    import exports.destinations as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "base":
            importlib.import_module(f"exports.destinations.{module.name}")
    _loaded.append(_load_all)
