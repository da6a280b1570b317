"""HubSpot: contacts upserted by email, their company found by domain (or created once) and associated, and
pixel activity written to the contact's timeline.

The batch arrives with target field names (the core applied the field mapping). Columns become contact
properties except these, which mean something else:
  `company_domain`                 the company to find or create and associate (not a contact property)
  `company_name`                   the name of a company created here (else `company`, else the domain)
  ACTIVITY_COLUMNS (topic_id, ...) tokens of the timeline event, `seen_at` its timestamp
Empty values are left out, so an upsert never blanks a property HubSpot already holds.

Idempotency: contacts are upserted by email with objectWriteTraceId = the record's idempotency key, so a
retried batch updates instead of duplicating; companies are searched by domain and remembered for the run,
so one domain gives one company however many contacts and batches share it; timeline events carry an id
derived from the idempotency key, so a retried event answers CONFLICT, counted as skipped.

Timeline events need no configuration: the event template ("Delivr intent activity") belongs to Delivr's
HubSpot app (settings DELIVR_HUBSPOT_APP_ID and DELIVR_HUBSPOT_DEVELOPER_API_KEY); a run finds it by name
through the timeline templates API, creates it on first use, and reuses it after that. A template id set on
an older export's config still wins.

The export's list: every upserted contact is also put on the export's MANUAL contact list (lists v3, named
by the export's list name, found by name or created on first use), so `mirror` removals and opt-outs take
contacts off that list (`PUT /crm/v3/lists/{listId}/memberships/remove`, ids found by email through a batch
read); the contacts themselves stay in the CRM. A `changes`/`mirror` run tells which records the destination
holds since an earlier run and under which email (BatchContext.held_emails): those are on the list already,
so a changed record costs one upsert and no memberships request.

A run's write is one upsert request (BatchContext.defer_follow_ups): what follows it (list adds, company
associations, timeline events) is queued and sent in whole requests across writes (`follow_up`: 100
associations or events per request, the list adds once before the run commits its read batches), and the
companies of a read batch are found or created before its writes (`prepare`), so a run spends no more requests
than writes of whole read batches did, while a retry resends at most the one request in flight.

Opt-outs: besides leaving the list, an opted-out contact can get the contact property the export names set to
its value (`optout_property`, `optout_property_value`: `POST /crm/v3/objects/contacts/batch/update` by id)
and/or be unsubscribed from the subscription type the export names (`optout_subscription_id`:
`POST /communication-preferences/v3/unsubscribe`, one contact per request; "already unsubscribed" counts as
done). A contact HubSpot does not have needs neither. The connection check verifies that the property is
writable (and the value one of its options) and that the subscription type exists in the portal.

Pacing: every request books a slot of the portal's budget (exports/pacing.py; default 100 requests per
10 s, `rate_limit` on the export or DELIVR_HUBSPOT_RATE_LIMIT), shared by every run and worker process
sending to the same portal (keyed by host and token: a private app token belongs to one portal). A 429's
Retry-After defers the whole portal's budget.

Calls go through the official client (hubspot-api-client) with `_preload_content=False`, so each response's
status, rate-limit headers and raw JSON (200, 207 multi-status) are read the same way for every endpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import urllib3
from django.conf import settings as django_settings
from hubspot import HubSpot
from hubspot.communication_preferences import PublicUpdateSubscriptionStatusRequest
from hubspot.communication_preferences.exceptions import ApiException as PreferencesApiException
from hubspot.crm.associations.v4 import (
    BatchInputPublicDefaultAssociationMultiPost,
    PublicDefaultAssociationMultiPost,
    PublicObjectId,
)
from hubspot.crm.associations.v4.exceptions import ApiException as AssociationsApiException
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputForCreate,
)
from hubspot.crm.companies.exceptions import ApiException as CompaniesApiException
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
)
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.lists import ListCreateRequest
from hubspot.crm.lists.exceptions import ApiException as ListsApiException
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from hubspot.crm.timeline import (
    BatchInputTimelineEvent,
    TimelineEvent,
    TimelineEventTemplateCreateRequest,
    TimelineEventTemplateToken,
)
from hubspot.crm.timeline.exceptions import ApiException as TimelineApiException

from delivr_admin import outbound
from exports import pacing
from exports.destinations.base import (
    BatchContext,
    BatchResult,
    Destination,
    DestinationError,
    RequestFailed,
    Setting,
    TargetField,
    register,
    url_check,
)

logger = logging.getLogger(__name__)

DEFAULT_HOST = "https://api.hubapi.com"
BATCH_LIMIT = 100  # HubSpot's batch endpoints take at most 100 inputs
SEARCH_IN_LIMIT = 100  # values per IN filter
ACTIVITY_COLUMNS = ("topic_id", "intent_frequency", "impression_count", "seen_at", "page_url", "event_type")
NOT_CONTACT_PROPERTIES = frozenset({"company_domain", "company_name", *ACTIVITY_COLUMNS})
API_EXCEPTIONS = (
    ContactsApiException,
    CompaniesApiException,
    AssociationsApiException,
    TimelineApiException,
    PropertiesApiException,
    ListsApiException,
    PreferencesApiException,
)
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")  # HubSpot's internal property names
CONTACTS_TYPE_ID = "0-1"  # HubSpot's object type id of contacts, for lists
MEMBERSHIP_LIMIT = 100_000  # record ids per memberships add/remove request
TEMPLATE_NAME = "Delivr intent activity"
TEMPLATE_TOKENS = (  # (name, label, type) of the activity columns an event carries
    ("topic_id", "Intent topic", "string"),
    ("intent_frequency", "Intent frequency", "number"),
    ("impression_count", "Impressions", "number"),
    ("page_url", "Page", "string"),
    ("event_type", "Event", "string"),
)
DEFAULT_RATE_LIMIT = 100  # requests per 10 s: HubSpot's limit for private apps on most portals
RATE_WINDOW_SECONDS = 10.0
# Not contact properties: what the destination does with them (offered in the mapping with these labels).
SPECIAL_TARGETS = (
    TargetField("company_domain", "Company domain (finds or creates the company)", "domain", group="Company"),
    TargetField("company_name", "Company name (for a company created here)", "string", group="Company"),
    TargetField("topic_id", "Intent topic (timeline event)", "string", group="Timeline event"),
    TargetField(
        "intent_frequency", "Intent frequency (timeline event)", "number", "number", group="Timeline event"
    ),
    TargetField(
        "impression_count", "Impressions (timeline event)", "number", "number", group="Timeline event"
    ),
    TargetField("seen_at", "Seen at (timeline event time)", "datetime", group="Timeline event"),
)
# HubSpot's standard contact properties: offered before the portal's own list is fetched (or when it cannot be).
STANDARD_PROPERTIES = (
    TargetField("email", "Email", "string", "email", required=True, group="Contact"),
    TargetField("firstname", "First Name", "string", group="Contact"),
    TargetField("lastname", "Last Name", "string", group="Contact"),
    TargetField("jobtitle", "Job Title", "string", group="Contact"),
    TargetField("company", "Company Name", "string", group="Contact"),
    TargetField("phone", "Phone Number", "string", group="Contact"),
    TargetField("website", "Website URL", "string", group="Contact"),
    TargetField("city", "City", "string", group="Contact"),
    TargetField("state", "State/Region", "string", group="Contact"),
    TargetField("country", "Country/Region", "string", group="Contact"),
    TargetField("zip", "Postal Code", "string", group="Contact"),
    TargetField("industry", "Industry", "string", group="Contact"),
)
MAX_WAIT_SECONDS = 60.0  # cap on any single Retry-After or rate-window pause
MAX_CALL_SECONDS = 15 * 60.0  # one call, all its tries and waits included


@dataclass
class _Row:
    key: str  # the idempotency key, <run_id>:<record_key>
    email: str
    properties: dict[str, str]
    domain: str
    company_name: str
    activity: dict[str, str]
    seen_at: datetime | None
    contact_id: str = ""
    listed: bool = False  # on the export's list since an earlier run, under this email


@dataclass
class _Response:
    status: int
    body: Any


def normalize_domain(value: Any) -> str:
    """`https://www.Example.com/x` -> `example.com`; '' when there is no domain."""
    text = str(value or "").strip().lower()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.split("/", 1)[0].split("?", 1)[0].split(":", 1)[0].strip(".")
    return text.removeprefix("www.")


def _text(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ";".join(_text(v) for v in value if v is not None)
    return str(value)


def _event_id(key: str) -> str:
    """A timeline event id derived from the idempotency key: stable across retries, short, URL-safe."""
    return "delivr-" + hashlib.sha256(key.encode()).hexdigest()[:32]


@register
class HubSpotDestination(Destination):
    kind = "hubspot"
    label = "HubSpot"
    config_fields = (
        "host",
        "rate_limit",
        "timeline_event_template_id",
        "optout_property",
        "optout_property_value",
        "optout_subscription_id",
    )
    credential_fields = ("access_token",)
    object_types = ("Contact", "Company", "TimelineEvent")
    records_per_request = BATCH_LIMIT  # a changes run packs whole upserts
    has_lists = True  # the export's contacts are also members of its MANUAL list, which removals leave
    supports_removal = True
    required_targets = ("email",)  # contacts are upserted by HubSpot's (lower-case) email property
    form_settings = {
        "access_token": Setting(
            "Access token",
            "The token of a HubSpot private app with the crm.objects.contacts, crm.objects.companies, "
            "crm.lists.read and crm.lists.write scopes (Settings → Integrations → Private apps).",
            input_type="password",
        ),
        "host": Setting(
            "API address",
            "Leave empty to use HubSpot (https://api.hubapi.com).",
            input_type="url",
            placeholder="https://api.hubapi.com",
        ),
        "rate_limit": Setting(
            "Requests per 10 seconds",
            "HubSpot allows 100 for most portals (190 with the API add-on). Every export to the same portal "
            "shares this budget.",
            input_type="number",
            placeholder=str(DEFAULT_RATE_LIMIT),
        ),
        "timeline_event_template_id": Setting(
            "Timeline template (optional)", "Leave empty: Delivr creates its own template on first use."
        ),
        "optout_property": Setting(
            "Opt-out contact property (optional)",
            "When a person opts out, Delivr takes them off this export's list and also sets this contact "
            "property (its internal name, e.g. delivr_opted_out) to the value below.",
            placeholder="delivr_opted_out",
        ),
        "optout_property_value": Setting(
            "Opt-out property value",
            "The value to set (for a checkbox property: true; for a dropdown: one of its option values).",
            placeholder="true",
        ),
        "optout_subscription_id": Setting(
            "Unsubscribe opt-outs from (optional)",
            "The id of a HubSpot subscription type (Settings → Marketing → Email → Subscriptions): an "
            "opted-out contact is unsubscribed from it. Needs the communication_preferences.write scope.",
            input_type="number",
        ),
    }
    default_fields = STANDARD_PROPERTIES + SPECIAL_TARGETS
    fetches_fields = True
    required_credential = ("access_token", "add an access token")

    def __init__(self, config: dict[str, Any], credentials: dict[str, Any]):
        super().__init__(config, credentials)
        self.host = (config.get("host") or DEFAULT_HOST).rstrip("/")
        self.template_id = str(config.get("timeline_event_template_id") or "")
        self.retry_base_seconds = float(config.get("retry_base_seconds", 1.0))
        self.max_retries = int(config.get("max_retries", 5))
        self.timeout = float(config.get("timeout_seconds", 30.0))
        self.rate_floor = int(config.get("rate_limit_floor", 1))
        self.company_ids: dict[str, str] = {}  # domain -> company id, for the whole run
        self.created_domains: set[str] = set()  # the companies this run created (not counted as updated)
        self.company_failed: dict[str, str] = {}  # domain -> why its company was not found nor created
        self.pending: dict[str, list] = {}  # follow-up kind -> queued items, oldest first
        self.list_id, self.list_name = "", ""  # the export's contact list, found or created on first use
        self._pause_until = 0.0
        self.rate_limit = int(config.get("rate_limit") or django_settings.DELIVR_HUBSPOT_RATE_LIMIT)
        self.rate_window = float(config.get("rate_limit_window_seconds") or RATE_WINDOW_SECONDS)
        self.optout_property = str(config.get("optout_property") or "")
        self.optout_value = _text(config.get("optout_property_value", ""))
        self.optout_subscription = str(config.get("optout_subscription_id") or "")
        token = str(credentials.get("access_token") or "")
        self.portal_key = "hubspot:" + hashlib.sha256(f"{self.host}|{token}".encode()).hexdigest()[:24]
        self.paced_seconds = 0.0
        self._client = HubSpot(
            access_token=credentials.get("access_token") or "",
            host=self.host,
            retry=urllib3.Retry(total=0, raise_on_status=False),  # our loop retries, honouring Retry-After
        )
        crm = self._client.crm
        self._contacts_basic = crm.contacts.basic_api
        self._contacts_batch = crm.contacts.batch_api
        self._companies_batch = crm.companies.batch_api
        self._companies_search = crm.companies.search_api
        self._associations = crm.associations.v4.batch_api
        self._timeline = crm.timeline.events_api
        self._lists = crm.lists.lists_api
        self._memberships = crm.lists.memberships_api
        self._preferences = self._client.communication_preferences.status_api
        self._definitions = self._client.communication_preferences.definition_api
        # The SDK's own urllib3 pools, made to open only connections the outbound guard checked and pinned.
        for api in (
            self._contacts_basic,
            self._contacts_batch,
            self._companies_batch,
            self._companies_search,
            self._associations,
            self._timeline,
            self._lists,
            self._memberships,
            self._preferences,
            self._definitions,
        ):
            outbound.guard_pool_manager(api.api_client.rest_client.pool_manager)
        # Each generated model builds a fresh Configuration unless given one: half the CPU time of a batch.
        self._models = {
            "contacts": self._contacts_batch.api_client.configuration,
            "companies": self._companies_batch.api_client.configuration,
            "associations": self._associations.api_client.configuration,
            "timeline": self._timeline.api_client.configuration,
            "lists": self._lists.api_client.configuration,
            "preferences": self._preferences.api_client.configuration,
        }

    # transport -----------------------------------------------------------------------------------------
    @classmethod
    def validate_config(cls, config: dict[str, Any], credentials: dict[str, Any]) -> None:
        if config.get("host"):
            url_check(config["host"], what="The HubSpot API host", field="host")
        prop, value = config.get("optout_property"), config.get("optout_property_value")
        if prop and not PROPERTY_NAME.match(str(prop)):
            raise DestinationError(
                "The opt-out contact property must be a HubSpot internal property name (lower case letters, "
                "digits and _, starting with a letter), e.g. delivr_opted_out.",
                user_error=True,
                field="optout_property",
            )
        if prop and (value is None or str(value).strip() == ""):
            raise DestinationError(
                "Give the value to set on the opt-out contact property.",
                user_error=True,
                field="optout_property_value",
            )
        if value not in (None, "") and not prop:
            raise DestinationError(
                "Name the contact property the opt-out value goes to.",
                user_error=True,
                field="optout_property",
            )
        subscription = config.get("optout_subscription_id")
        if subscription not in (None, "") and not re.fullmatch(r"[0-9]{1,20}", str(subscription).strip()):
            raise DestinationError(
                "The subscription type is HubSpot's numeric id of it (e.g. 12345678).",
                user_error=True,
                field="optout_subscription_id",
            )

    @classmethod
    def optout_actions(cls, config: dict[str, Any]) -> list[str]:
        actions = []
        if config.get("optout_property"):
            value = _text(config.get("optout_property_value", ""))
            actions.append(f"contact property {config['optout_property']} set to {value}")
        if config.get("optout_subscription_id"):
            actions.append(f"unsubscribed from subscription type {config['optout_subscription_id']}")
        return actions

    def _policy(self) -> outbound.RetryPolicy:
        return outbound.RetryPolicy(
            attempts=self.max_retries + 1,
            backoff_base=self.retry_base_seconds,
            retry_after_max=MAX_WAIT_SECONDS,
            total_seconds=MAX_CALL_SECONDS,
        )

    def _call(self, method: Callable, *args: Any, **kwargs: Any) -> _Response:
        """Calls one client method with the outbound layer's retry policy (429/5xx/connection errors).

        Returns any 2xx response (207 included) parsed; raises DestinationError for credentials and refused
        addresses, RequestFailed for the rest (after retries when the failure is transient).
        """
        tries = outbound.Attempts(self._policy())
        status, message, body = 0, "HubSpot did not answer in time.", None
        while tries.next():
            wait = min(self._pause_until - time.monotonic(), tries.left())
            if wait > 0:
                time.sleep(wait)
            self.paced_seconds += pacing.pace(
                self.portal_key, limit=self.rate_limit, window_seconds=self.rate_window
            )
            status, headers, raw = 0, {}, b""
            try:
                response = method(
                    *args, **kwargs, _preload_content=False, _request_timeout=tries.timeout(self.timeout)
                )
                status, headers, raw = response.status, response.headers, response.data
            except outbound.OutboundError as exc:
                if exc.user_error:
                    raise DestinationError(exc.message, user_error=True) from exc
            except API_EXCEPTIONS as exc:
                status, headers, raw = exc.status or 0, exc.headers or {}, exc.body or b""
            except (urllib3.exceptions.HTTPError, OSError):
                status = 0
            self._note_rate_headers(headers)
            body = _json(raw)
            if 200 <= status < 300:
                return _Response(status, body)
            # HubSpot's JSON error message, else the status in words: never the reply's raw text.
            message = _message(body) or (
                outbound.status_reason(status) if status else "HubSpot could not be reached."
            )
            if status == 401:
                raise DestinationError("HubSpot rejected the access token", user_error=True)
            if status == 403:
                raise DestinationError(
                    f"HubSpot refused access (missing scopes?): {message}", user_error=True
                )
            transient = status in (0, 429) or status >= 500
            if status == 429:  # the portal's budget is spent for every sender, not only this one
                retry_after = _header(headers, "Retry-After")
                pacing.pace_defer(self.portal_key, tries.policy.delay(tries.attempt, retry_after))
            if not transient or not tries.wait(_header(headers, "Retry-After")):
                break
        code = (body or {}).get("category") if isinstance(body, dict) else None
        raise RequestFailed(status, code or (f"HTTP_{status}" if status else "UNREACHABLE"), message)

    def _note_rate_headers(self, headers: Any) -> None:
        """When the rolling window is (nearly) spent, the next request waits for the window to pass."""
        remaining = _header(headers, "X-HubSpot-RateLimit-Remaining")
        interval = _header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        if remaining is None or interval is None:
            return
        try:
            if int(remaining) <= self.rate_floor:
                pause = min(int(interval) / 1000.0, MAX_WAIT_SECONDS)
                self._pause_until = max(self._pause_until, time.monotonic() + pause)
        except ValueError:
            return

    # interface -----------------------------------------------------------------------------------------
    def test_connection(self) -> None:
        retries, self.max_retries = self.max_retries, min(self.max_retries, 1)  # a person waits on the answer
        try:
            self._call(self._contacts_basic.get_page_with_http_info, limit=1)
            self._optout_settings_check()
        except RequestFailed as exc:
            raise DestinationError(
                f"HubSpot did not answer ({exc.code}: {exc.message})", retryable=exc.status != 400
            ) from exc
        finally:
            self.max_retries = retries

    def _optout_settings_check(self) -> None:
        """The opt-out property is writable (and the value one it takes); the subscription type exists."""
        if self.optout_property:
            fields = {f.name: f for f in self.target_fields()}
            found = fields.get(self.optout_property)
            if found is None:
                raise DestinationError(
                    f"HubSpot has no contact property {self.optout_property} that can be written: create it "
                    "(Settings → Properties) or name another one for opt-outs.",
                    user_error=True,
                    field="optout_property",
                )
            allowed = set(found.picklist) or ({"true", "false"} if found.type == "bool" else set())
            if allowed and self.optout_value not in allowed:
                raise DestinationError(
                    f"The contact property {self.optout_property} takes {', '.join(sorted(allowed))}, "
                    f"not {self.optout_value}.",
                    user_error=True,
                    field="optout_property_value",
                )
        if self.optout_subscription:
            body = self._call(self._definitions.get_page_with_http_info).body or {}
            known = {str(d.get("id")) for d in body.get("subscriptionDefinitions") or []}
            if self.optout_subscription not in known:
                raise DestinationError(
                    f"HubSpot has no subscription type {self.optout_subscription} in this portal.",
                    user_error=True,
                    field="optout_subscription_id",
                )

    def target_fields(self) -> list[TargetField]:
        """The portal's contact properties that can be written (`GET /crm/v3/properties/contacts`), then the
        targets that are not properties (company, timeline)."""
        retries, self.max_retries = self.max_retries, min(self.max_retries, 1)
        properties = self._client.crm.properties.core_api
        outbound.guard_pool_manager(properties.api_client.rest_client.pool_manager)
        try:
            response = self._call(properties.get_all_with_http_info, "contacts", archived=False)
        except RequestFailed as exc:
            raise DestinationError(
                f"HubSpot did not list its properties ({exc.code}: {exc.message})"
            ) from exc
        finally:
            self.max_retries = retries
        fields = [_property_field(item) for item in (response.body or {}).get("results") or []]
        writable = sorted(
            (f for f in fields if f is not None), key=lambda f: (f.name != "email", f.label.lower())
        )
        return writable + list(SPECIAL_TARGETS)

    def write_batch(self, batch: pa.RecordBatch, context: BatchContext) -> BatchResult:
        result = BatchResult()
        rows = self._rows(batch, context, result)
        for chunk in _chunks(rows, BATCH_LIMIT):
            self._upsert_contacts(chunk, result)
        written = [row for row in rows if row.contact_id]
        if context.defer_follow_ups:
            self._queue_follow_ups(written, result)
            return result
        unlisted = [row for row in written if not row.listed]  # a changed record is on the list already
        if unlisted:
            self._add_members([row.contact_id for row in unlisted], context)
        if any(row.domain for row in written):
            self._companies(written, result)
        if any(row.activity or row.seen_at for row in written):
            self._timeline_events(written, result)
        return result

    # follow-ups: what a run's writes queue, sent in whole requests ------------------------------------
    def prepare(self, batch: pa.RecordBatch, context: BatchContext) -> BatchResult | None:
        """Finds (or creates) the companies of a read batch's records before its writes, 100 domains per
        search and per create, as one write of the whole batch would."""
        if "company_domain" not in batch.schema.names:
            return None
        result = BatchResult()
        domains: dict[str, str] = {}
        names = {
            n: batch.column(n).to_pylist() for n in ("company_name", "company") if n in batch.schema.names
        }
        for index, value in enumerate(batch.column("company_domain").to_pylist()):
            domain = normalize_domain(value)
            if domain and domain not in self.company_ids and domain not in domains:
                name = next((str(v[index]) for v in names.values() if v[index]), "")
                domains[domain] = name or domain
        if domains:
            self._resolve_companies(domains, result)
        return result

    def _queue_follow_ups(self, rows: list[_Row], result: BatchResult) -> None:
        """Queues the written contacts' list adds, company associations and timeline events (oldest first)."""
        unknown: dict[str, str] = {}  # domain -> name for a company created here, first row wins
        for row in rows:
            if row.domain and row.domain not in self.company_ids and row.domain not in self.company_failed:
                unknown.setdefault(row.domain, row.company_name or row.domain)
        if unknown:  # a write no `prepare` saw (a run always calls it)
            self._resolve_companies(unknown, result)
        queued = {
            "list": [row.contact_id for row in rows if not row.listed],  # a changed record is listed already
            "associate": [
                [row.key, row.contact_id, self.company_ids[row.domain], row.domain]
                for row in rows
                if row.domain in self.company_ids
            ],
            "event": [
                [
                    row.key,
                    row.contact_id,
                    row.email,
                    row.activity,
                    row.seen_at.isoformat() if row.seen_at else None,
                ]
                for row in rows
                if row.activity or row.seen_at
            ],
        }
        result.queued = {kind: items for kind, items in queued.items() if items}
        self.follow_ups_restore(result.queued)

    def follow_ups_restore(self, pending: dict[str, list]) -> None:
        for kind, items in pending.items():
            self.pending.setdefault(kind, []).extend(items)

    def follow_up(self, context: BatchContext, *, whole_only: bool) -> BatchResult | None:
        """One request of queued work: associations and timeline events by 100, list adds all at once (a
        list request takes 100,000 ids, more than a run queues between two commits)."""
        for kind, size in (("associate", BATCH_LIMIT), ("event", BATCH_LIMIT), ("list", MEMBERSHIP_LIMIT)):
            pending = self.pending.get(kind) or []
            if not pending or (whole_only and len(pending) < size):
                continue
            chunk, result = pending[:size], BatchResult()
            if kind == "list":
                self._add_members([str(contact_id) for contact_id in chunk], context)
            elif kind == "associate":
                pairs = [
                    (
                        _Row(
                            key=key,
                            email="",
                            properties={},
                            domain=domain,
                            company_name="",
                            activity={},
                            seen_at=None,
                            contact_id=contact_id,
                        ),
                        company_id,
                    )
                    for key, contact_id, company_id, domain in chunk
                ]
                linked = self._associate(pairs, result)
                result.object("Company", "upsert").records_updated += len(linked - self.created_domains)
            else:
                self._timeline_events([_event_row(item) for item in chunk], result)
            del pending[:size]
            result.settled = {kind: len(chunk)}
            return result
        return None

    # contacts ------------------------------------------------------------------------------------------
    def _rows(self, batch: pa.RecordBatch, context: BatchContext, result: BatchResult) -> list[_Row]:
        contacts = result.object("Contact", "upsert")
        keys, held = context.idempotency_keys, context.held_emails
        rows: list[_Row] = []
        seen: set[str] = set()
        for index, record in enumerate(batch.to_pylist()):
            email = str(record.get("email") or "").strip().lower()
            key = keys[index] if index < len(keys) else f"{context.run_id}:{email or index}"
            if not email:
                contacts.add_error(key, "REQUIRED_FIELD_MISSING", "email is required")
                continue
            if email in seen:  # HubSpot rejects a batch that names one id twice
                contacts.records_skipped += 1
                continue
            seen.add(email)
            properties = {
                name: _text(value)
                for name, value in record.items()
                if name not in NOT_CONTACT_PROPERTIES and value is not None and value != ""
            }
            properties["email"] = email
            activity = {
                name: _text(record[name])
                for name in ACTIVITY_COLUMNS
                if record.get(name) is not None and name != "seen_at"
            }
            seen_at = record.get("seen_at")
            rows.append(
                _Row(
                    key=key,
                    email=email,
                    properties=properties,
                    domain=normalize_domain(record.get("company_domain")),
                    company_name=str(record.get("company_name") or record.get("company") or ""),
                    activity=activity if activity or seen_at else {},
                    seen_at=seen_at if isinstance(seen_at, datetime) else None,
                    listed=index < len(held) and str(held[index] or "").strip().lower() == email,
                )
            )
        return rows

    def _upsert_contacts(self, rows: list[_Row], result: BatchResult) -> None:
        """Upserts up to 100 rows; a whole-batch 400 is split in halves until the bad inputs stand alone."""
        contacts = result.object("Contact", "upsert")
        payload = BatchInputSimplePublicObjectBatchInputUpsert(
            local_vars_configuration=self._models["contacts"],
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id=row.email,
                    id_property="email",
                    object_write_trace_id=row.key,
                    properties=row.properties,
                    local_vars_configuration=self._models["contacts"],
                )
                for row in rows
            ],
        )
        try:
            response = self._call(self._contacts_batch.upsert_with_http_info, payload)
        except RequestFailed as exc:
            if exc.status == 400 and "PROPERTY_DOESNT_EXIST" in exc.message:
                raise DestinationError(f"HubSpot: {exc.message}", user_error=True) from exc
            if exc.status == 400 and len(rows) > 1:
                half = len(rows) // 2
                self._upsert_contacts(rows[:half], result)
                self._upsert_contacts(rows[half:], result)
                return
            for row in rows:
                contacts.add_error(row.key, exc.code, exc.message)
            return
        body = response.body or {}
        by_email = {row.email: row for row in rows}
        by_key = {row.key: row for row in rows}
        for item in body.get("results") or []:
            properties = item.get("properties") or {}
            row = by_key.get(item.get("objectWriteTraceId") or "") or by_email.get(
                str(properties.get("email") or "").lower()
            )
            if row is None or row.contact_id:
                continue
            row.contact_id = str(item.get("id"))
            if item.get("new") is False:
                contacts.records_updated += 1
            else:
                contacts.records_created += 1
        unmatched: list[str] = []
        reported: set[str] = set()
        for error in body.get("errors") or []:
            matched = [r for r in _rows_for_error(error, rows, by_email, by_key) if not r.contact_id]
            for row in matched:
                if row.key not in reported:
                    reported.add(row.key)
                    contacts.add_error(row.key, error.get("category") or "ERROR", error.get("message") or "")
            if not matched:
                unmatched.append(f"{error.get('category')}: {error.get('message')}")
        for row in rows:
            if not row.contact_id and row.key not in reported:  # never a silent drop
                reason = "; ".join(unmatched) or "HubSpot returned no result for this contact"
                contacts.add_error(row.key, "NO_RESULT", reason)

    # the export's list ---------------------------------------------------------------------------------
    def _list(self, context: BatchContext) -> str:
        """The export's MANUAL contact list (lists v3): found by its name, created on first use, its id kept
        for the run; the next run finds the same list by name."""
        if self.list_id:
            return self.list_id
        name = context.list_name or f"Delivr export {context.export_id}"
        body = self._list_by_name(name)
        if body is None:
            body = self._list_create(name)
        self.list_id, self.list_name = str((body.get("list") or {}).get("listId") or ""), name
        if not self.list_id:
            raise DestinationError(f"HubSpot did not give the id of the list {name}")
        return self.list_id

    def _list_by_name(self, name: str) -> dict | None:
        """The list called `name` as HubSpot answers it, None when there is none."""
        try:
            return self._call(self._lists.get_by_name_with_http_info, name, CONTACTS_TYPE_ID).body or {}
        except RequestFailed as exc:
            if exc.status == 404:
                return None
            raise DestinationError(
                f"HubSpot did not find the list {name} ({exc.code}: {exc.message})"
            ) from exc

    def _list_create(self, name: str) -> dict:
        """Creates the list `name`. Another sender to the same portal (a second export with the same list name,
        a run on another worker) may create it between our look-up and our create: HubSpot then refuses the
        name, and the list it now has is the one to use."""
        request = ListCreateRequest(
            name=name,
            object_type_id=CONTACTS_TYPE_ID,
            processing_type="MANUAL",
            local_vars_configuration=self._models["lists"],
        )
        try:
            return self._call(self._lists.create_with_http_info, request).body or {}
        except RequestFailed as failed:
            created_meanwhile = self._list_by_name(name) if 400 <= failed.status < 500 else None
            if created_meanwhile is not None:
                return created_meanwhile
            raise DestinationError(
                f"HubSpot did not create the list {name} ({failed.code}: {failed.message})"
            ) from failed

    def _add_members(self, contact_ids: list[str], context: BatchContext) -> None:
        """Puts the upserted contacts on the export's list; a refusal fails the write (a retry sends it again:
        adding a member twice is harmless)."""
        list_id = self._list(context)
        for chunk in _chunks(contact_ids, MEMBERSHIP_LIMIT):
            try:
                self._call(self._memberships.add_with_http_info, list_id, chunk)
            except RequestFailed as exc:
                raise DestinationError(
                    f"HubSpot did not add the contacts to the list {self.list_name} ({exc.code}: {exc.message})",
                    retryable=exc.status == 0 or exc.status >= 500,
                ) from exc

    def remove_batch(self, batch: pa.RecordBatch, context: BatchContext) -> BatchResult:
        """Takes the records' contacts off the export's list (found by email, 100 per read); a contact
        HubSpot does not have, or that is not on the list, counts as removed. Contacts themselves stay."""
        result = BatchResult()
        removed = result.object("Contact", "remove")
        keys = context.idempotency_keys
        pending: dict[str, str] = {}  # email -> idempotency key
        for index, record in enumerate(batch.to_pylist()):
            email = str(record.get("email") or "").strip().lower()
            key = keys[index] if index < len(keys) else f"{context.run_id}:{record.get('record_key')}:removed"
            if email:
                pending[email] = key
            else:
                removed.add_error(key, "REQUIRED_FIELD_MISSING", "no email to find the contact in HubSpot")
        if not pending:
            return result
        list_id = self._list(context)
        for chunk in _chunks(list(pending.items()), BATCH_LIMIT):
            try:
                ids = self._contact_ids([email for email, _ in chunk])
                if ids:
                    self._call(self._memberships.remove_with_http_info, list_id, list(ids.values()))
            except RequestFailed as exc:
                for _email, key in chunk:
                    removed.add_error(key, exc.code, exc.message)
                continue
            failed = self._optout_actions(ids) if context.optout else {}
            for email, key in chunk:
                if email in failed:
                    removed.add_error(key, *failed[email])
                else:
                    removed.records_updated += 1
        return result

    def _optout_actions(self, ids: dict[str, str]) -> dict[str, tuple[str, str]]:
        """Sets the opt-out property and unsubscribes, as the export asks; {email: (code, message)} of the
        contacts where that failed (their opt-out stays pending and is tried again)."""
        failed: dict[str, tuple[str, str]] = {}
        if self.optout_property and ids:
            config = self._models["contacts"]
            payload = BatchInputSimplePublicObjectBatchInput(
                inputs=[
                    SimplePublicObjectBatchInput(
                        id=contact_id,
                        properties={self.optout_property: self.optout_value},
                        local_vars_configuration=config,
                    )
                    for contact_id in ids.values()
                ],
                local_vars_configuration=config,
            )
            try:
                body = self._call(self._contacts_batch.update_with_http_info, payload).body or {}
                done = {str(item.get("id")) for item in body.get("results") or []}
                reason = _first_error(body) or "HubSpot did not update the contact"
                failed.update({e: ("PROPERTY_NOT_SET", reason) for e, i in ids.items() if i not in done})
            except RequestFailed as exc:
                failed.update({email: (exc.code, f"property not set: {exc.message}") for email in ids})
        if self.optout_subscription:
            for email in ids:
                if email not in failed:
                    reason = self._unsubscribe(email)
                    if reason:
                        failed[email] = ("UNSUBSCRIBE_FAILED", reason)
        return failed

    def _unsubscribe(self, email: str) -> str:
        """Unsubscribes one contact from the export's subscription type; "" when done (or already so)."""
        request = PublicUpdateSubscriptionStatusRequest(
            email_address=email,
            subscription_id=self.optout_subscription,
            local_vars_configuration=self._models["preferences"],
        )
        try:
            self._call(self._preferences.unsubscribe_with_http_info, request)
        except RequestFailed as exc:
            if exc.status == 400 and "already unsubscribed" in exc.message.lower():
                return ""
            return f"not unsubscribed: {exc.code}: {exc.message}"
        return ""

    def _contact_ids(self, emails: list[str]) -> dict[str, str]:
        """The ids of the contacts HubSpot has with these emails (`POST /crm/v3/objects/contacts/batch/read`)."""
        config = self._models["contacts"]
        payload = BatchReadInputSimplePublicObjectId(
            id_property="email",
            inputs=[SimplePublicObjectId(id=email, local_vars_configuration=config) for email in emails],
            properties=["email"],
            properties_with_history=[],
            local_vars_configuration=config,
        )
        body = self._call(self._contacts_batch.read_with_http_info, payload).body or {}
        return {
            str((item.get("properties") or {}).get("email") or "").lower(): str(item["id"])
            for item in body.get("results") or []
            if item.get("id")
        }

    def close(self, context: BatchContext, *, success: bool) -> dict[str, Any]:
        return {"list_id": self.list_id, "list_name": self.list_name} if self.list_id else {}

    # companies -----------------------------------------------------------------------------------------
    def _companies(self, rows: list[_Row], result: BatchResult) -> None:
        domains: dict[str, str] = {}  # domain -> name for a created company, first row wins
        for row in rows:
            if row.domain:
                domains.setdefault(row.domain, row.company_name or row.domain)
        before = set(self.created_domains)
        self._resolve_companies({d: n for d, n in domains.items() if d not in self.company_ids}, result)
        linked_existing = {d for d in domains if d in self.company_ids} - (self.created_domains - before)
        pairs = [(row, self.company_ids[row.domain]) for row in rows if row.domain in self.company_ids]
        associated_existing = self._associate(pairs, result)
        result.object("Company", "upsert").records_updated += len(linked_existing & associated_existing)

    def _resolve_companies(self, domains: dict[str, str], result: BatchResult) -> None:
        """Finds the companies of these domains (domain -> the name of one created here), creating those
        HubSpot lacks; the ones neither found nor created are reported (and kept in company_failed)."""
        companies = result.object("Company", "upsert")
        unknown = [d for d in domains if d not in self.company_ids]
        failed: dict[str, str] = {}
        try:
            self.company_ids.update(self._search_companies(unknown))
        except RequestFailed as exc:
            failed.update({d: f"{exc.code}: {exc.message}" for d in unknown})
        to_create = [d for d in unknown if d not in self.company_ids and d not in failed]
        created: set[str] = set()
        for chunk in _chunks(to_create, BATCH_LIMIT):
            payload = BatchInputSimplePublicObjectBatchInputForCreate(
                local_vars_configuration=self._models["companies"],
                inputs=[
                    SimplePublicObjectBatchInputForCreate(
                        properties={"domain": d, "name": domains[d]},
                        local_vars_configuration=self._models["companies"],
                    )
                    for d in chunk
                ],
            )
            try:
                body = self._call(self._companies_batch.create_with_http_info, payload).body or {}
            except RequestFailed as exc:
                failed.update({d: f"{exc.code}: {exc.message}" for d in chunk})
                continue
            for item in body.get("results") or []:
                domain = normalize_domain((item.get("properties") or {}).get("domain"))
                if domain in chunk and domain not in self.company_ids:
                    self.company_ids[domain] = str(item["id"])
                    created.add(domain)
            for domain in chunk:
                if domain not in self.company_ids:
                    failed.setdefault(domain, _first_error(body) or "HubSpot created no company")
        companies.records_created += len(created)
        self.created_domains |= created
        self.company_failed.update(failed)
        for domain, reason in failed.items():
            code, _, message = reason.partition(": ")
            companies.add_error(domain, code if message else "ERROR", message or reason)

    def _search_companies(self, domains: list[str]) -> dict[str, str]:
        """Existing companies by domain (the oldest when HubSpot holds several), IN-batched and paged."""
        found: dict[str, str] = {}
        for chunk in _chunks(domains, SEARCH_IN_LIMIT):
            after: str | None = None
            while True:
                models = self._models["companies"]
                request = PublicObjectSearchRequest(
                    filter_groups=[
                        FilterGroup(
                            filters=[
                                Filter(
                                    property_name="domain",
                                    operator="IN",
                                    values=chunk,
                                    local_vars_configuration=models,
                                )
                            ],
                            local_vars_configuration=models,
                        )
                    ],
                    properties=["domain", "name"],
                    limit=100,
                    after=after,
                    local_vars_configuration=models,
                )
                body = self._call(self._companies_search.do_search_with_http_info, request).body or {}
                for item in body.get("results") or []:
                    domain = normalize_domain((item.get("properties") or {}).get("domain"))
                    if domain in chunk and (domain not in found or _older(str(item["id"]), found[domain])):
                        found[domain] = str(item["id"])
                after = ((body.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
        return found

    def _associate(self, pairs: list[tuple[_Row, str]], result: BatchResult) -> set[str]:
        """Links contacts to companies (default association); returns the domains linked."""
        companies = result.object("Company", "upsert")
        linked: set[str] = set()
        for chunk in _chunks(pairs, BATCH_LIMIT):
            payload = BatchInputPublicDefaultAssociationMultiPost(
                local_vars_configuration=self._models["associations"],
                inputs=[
                    PublicDefaultAssociationMultiPost(
                        _from=PublicObjectId(
                            id=row.contact_id, local_vars_configuration=self._models["associations"]
                        ),
                        to=PublicObjectId(
                            id=company_id, local_vars_configuration=self._models["associations"]
                        ),
                        local_vars_configuration=self._models["associations"],
                    )
                    for row, company_id in chunk
                ],
            )
            try:
                body = (
                    self._call(
                        self._associations.create_default_with_http_info, "contacts", "companies", payload
                    ).body
                    or {}
                )
            except RequestFailed as exc:
                for row, _company_id in chunk:
                    companies.add_error(row.key, exc.code, f"association failed: {exc.message}")
                continue
            done = {
                (str((r.get("from") or {}).get("id")), str((r.get("to") or {}).get("id")))
                for r in body.get("results") or []
            }
            reason = _first_error(body) or "HubSpot returned no association"
            for row, company_id in chunk:
                if (row.contact_id, company_id) in done:
                    linked.add(row.domain)
                else:
                    companies.add_error(row.key, "ASSOCIATION_FAILED", reason)
        return linked

    # timeline ------------------------------------------------------------------------------------------
    def _template(self) -> str:
        """The event template id: the export's own, else Delivr's app template (found by name or created
        once); "" when no app is configured. Resolved once per run."""
        if self.template_id:
            return self.template_id
        app_id = django_settings.DELIVR_HUBSPOT_APP_ID
        developer_key = django_settings.DELIVR_HUBSPOT_DEVELOPER_API_KEY
        if not app_id or not developer_key:
            return ""
        templates = HubSpot(
            api_key=developer_key, host=self.host, retry=urllib3.Retry(total=0, raise_on_status=False)
        ).crm.timeline.templates_api
        outbound.guard_pool_manager(templates.api_client.rest_client.pool_manager)
        body = self._call(templates.get_all_with_http_info, app_id).body or {}
        found = sorted(
            (str(t.get("id")) for t in body.get("results") or [] if t.get("name") == TEMPLATE_NAME),
            key=lambda i: (len(i), i),
        )
        if found:
            self.template_id = found[0]
            return self.template_id
        config = templates.api_client.configuration
        request = TimelineEventTemplateCreateRequest(
            name=TEMPLATE_NAME,
            object_type="contacts",
            header_template="Showed intent in {{topic_id}}",
            detail_template="Intent frequency {{intent_frequency}}, {{impression_count}} impressions",
            tokens=[
                TimelineEventTemplateToken(name=n, label=label, type=t, local_vars_configuration=config)
                for n, label, t in TEMPLATE_TOKENS
            ],
            local_vars_configuration=config,
        )
        created = self._call(templates.create_with_http_info, app_id, request).body or {}
        self.template_id = str(created.get("id") or "")
        return self.template_id

    def _timeline_events(self, rows: list[_Row], result: BatchResult) -> None:
        events = result.object("TimelineEvent", "create")
        todo = [row for row in rows if row.activity or row.seen_at]
        try:
            template_id = self._template()
        except RequestFailed as exc:
            for row in todo:
                events.add_error(row.key, exc.code, f"timeline template unavailable: {exc.message}")
            return
        if not template_id:
            if todo:
                logger.warning(
                    "HubSpot timeline events skipped: DELIVR_HUBSPOT_APP_ID and "
                    "DELIVR_HUBSPOT_DEVELOPER_API_KEY are not both set (manage.py check --deploy)"
                )
            events.records_skipped += len(todo)
            return
        for chunk in _chunks(todo, BATCH_LIMIT):
            by_id = {_event_id(row.key): row for row in chunk}
            payload = BatchInputTimelineEvent(
                local_vars_configuration=self._models["timeline"],
                inputs=[
                    TimelineEvent(
                        event_template_id=template_id,
                        id=event_id,
                        object_id=row.contact_id,
                        email=row.email,
                        tokens=row.activity,
                        timestamp=row.seen_at,
                        local_vars_configuration=self._models["timeline"],
                    )
                    for event_id, row in by_id.items()
                ],
            )
            try:
                body = self._call(self._timeline.create_batch_with_http_info, payload).body or {}
            except RequestFailed as exc:
                for row in chunk:
                    events.add_error(row.key, exc.code, exc.message)
                continue
            done = {str(item.get("id")) for item in body.get("results") or []}
            events.records_created += len(done & by_id.keys())
            for error in body.get("errors") or []:
                for event_id in (error.get("context") or {}).get("id") or []:
                    if event_id in by_id and event_id not in done:
                        done.add(event_id)
                        if error.get("category") == "CONFLICT":  # written by an earlier try of this batch
                            events.records_skipped += 1
                        else:
                            events.add_error(
                                by_id[event_id].key,
                                error.get("category") or "ERROR",
                                error.get("message") or "",
                            )
            for event_id, row in by_id.items():
                if event_id not in done:
                    events.add_error(row.key, "NO_RESULT", _first_error(body) or "HubSpot returned no event")


def _event_row(item: list) -> _Row:
    """A queued timeline event (key, contact id, email, tokens, ISO time) as the row `_timeline_events` takes."""
    key, contact_id, email, activity, seen_at = item
    when = datetime.fromisoformat(seen_at) if seen_at else None
    return _Row(
        key, email, {}, "", "", activity=dict(activity or {}), seen_at=when, contact_id=str(contact_id)
    )


def _property_field(item: dict) -> TargetField | None:
    """A HubSpot property as a mapping target; None for what a write cannot set (read-only, calculated,
    hidden)."""
    name = str(item.get("name") or "")
    meta = item.get("modificationMetadata") or {}
    if not name or item.get("hidden") or item.get("calculated") or meta.get("readOnlyValue"):
        return None
    kind = str(item.get("type") or "string")
    options = tuple(str(o.get("value")) for o in item.get("options") or [] if o.get("value") is not None)
    mapping_type = "email" if name == "email" else "number" if kind == "number" else "string"
    return TargetField(
        name=name,
        label=str(item.get("label") or name),
        type=kind,
        mapping_type=mapping_type,
        required=name == "email",
        picklist=options if kind == "enumeration" else (),
        multi_value=item.get("fieldType") == "checkbox" and kind == "enumeration",
        group=str(item.get("groupName") or ""),
    )


def _rows_for_error(error: dict, rows: list[_Row], by_email: dict, by_key: dict) -> list[_Row]:
    """The inputs a per-input error names: by email, by objectWriteTraceId/id, or by input index."""
    context = error.get("context") or {}
    matched: list[_Row] = []
    for name, values in context.items():
        for value in values if isinstance(values, list) else [values]:
            text = str(value)
            row = by_email.get(text.lower()) or by_key.get(text)
            if row is None and name.lower() in ("index", "inputindex") and text.isdigit():
                position = int(text)
                row = rows[position] if position < len(rows) else None
            if row is not None and row not in matched:
                matched.append(row)
    if not matched:
        message = str(error.get("message") or "").lower()
        matched = [row for row in rows if not row.contact_id and row.email in message]
    return matched


def _older(candidate: str, current: str) -> bool:
    """HubSpot ids grow with creation time: keep the oldest company when a domain has several."""
    if candidate.isdigit() and current.isdigit():
        return int(candidate) < int(current)
    return candidate < current


def _first_error(body: dict) -> str:
    errors = body.get("errors") or []
    if not errors:
        return ""
    return f"{errors[0].get('category')}: {errors[0].get('message')}"


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _json(raw: bytes | str) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or "")
    return ""


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, candidate in dict(headers).items():
            if key.lower() == lowered:
                return candidate
    return value
