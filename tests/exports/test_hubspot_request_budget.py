"""A HubSpot run writes one request at a time, each committed once answered (so a retry resends at most one
request's records: test_worker_kill.py), and spends no more API budget than writing whole read batches did
(issue 13, "without spending more API budget"): the list adds, company associations and timeline events that
follow the upserts are queued and packed into whole requests across writes, and the companies of a read batch
are looked up once for the batch.

The baseline is the same run writing whole read batches with everything done inline (the destination's
write_batch without a run's deferral, as runs wrote up to c5f6a70), against its own stand-in.
"""

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from exports.destinations.hubspot import HubSpotDestination
from exports.models import Export
from exports.services.exports import export_create
from tests.exports.conftest import execute, persons, rewrite
from tests.exports.standins.hubspot_standin import HubSpotStandIn

pytestmark = pytest.mark.django_db

DONE = ("completed", "completed_with_errors")
MAPPING = [
    {"source": "email", "target": "email", "type": "email", "required": True},
    {"source": "first_name", "target": "firstname"},
    {"source": "company_domain", "target": "company_domain"},
    {"source": "company_name", "target": "company_name"},
    {"source": "topic_id", "target": "topic_id"},
    {"source": "intent_frequency", "target": "intent_frequency"},
    {"source": "seen_at", "target": "seen_at"},
]
ENDPOINTS = {  # what each request is, by its path
    "upsert": "/contacts/batch/upsert",
    "list add": "/memberships/add",
    "company search": "/companies/search",
    "company create": "/companies/batch/create",
    "association": "/associate/default",
    "timeline event": "/events/batch/create",
}


def hubspot_export(tenant, audience, standin: HubSpotStandIn, sync_mode: str) -> Export:
    export = export_create(
        principal=tenant.principal,
        project_id=tenant.project.id,
        audience_id=audience.id,
        name=f"HubSpot {sync_mode}",
        destination_type="hubspot",
        destination_config={},
        credentials=standin.credentials(),
        field_mapping=MAPPING,
        list_name="Delivr budget",
        sync_mode=sync_mode,
    )
    config = standin.config(timeline_event_template_id="1001")  # paced at the stand-in's own limit
    Export.objects.filter(pk=export.pk).update(destination_config=config)
    return Export.objects.get(pk=export.pk)


def requests_by_endpoint(standin: HubSpotStandIn) -> Counter:
    """The requests HubSpot took, per endpoint (a 429 is not a request spent: it is asked again)."""
    counts = Counter()
    for call in standin.calls():
        if call.status == 429:
            continue
        what = next((name for name, path in ENDPOINTS.items() if path in call.path), None)
        if what:
            counts[what] += 1
    return counts


def held(standin: HubSpotStandIn) -> tuple:
    """What the portal ends up holding: contacts, list members, companies and associations by email and
    domain, timeline events per contact."""
    with standin.lock:
        email_of = {c["id"]: email for email, c in standin.contacts.items()}
        domain_of = {i: c["properties"].get("domain") for i, c in standin.companies.items()}
        members = {email_of[m] for lst in standin.lists.values() for m in lst["members"]}
        pairs = {(email_of[c], domain_of[k]) for c, k in standin.associations}
        events = Counter(
            email_of.get(str(e.get("objectId")), e.get("email")) for e in standin.events.values()
        )
        return set(standin.contacts), members, sorted(set(domain_of.values())), pairs, events


def writes_of_whole_read_batches(monkeypatch) -> None:
    """The baseline: a write per read batch (not per request), its follow-ups sent inline by the write."""
    write_batch = HubSpotDestination.write_batch

    def inline(self, batch, context):
        context.defer_follow_ups = False
        return write_batch(self, batch, context)

    monkeypatch.setattr(HubSpotDestination, "records_per_request", 0)
    monkeypatch.setattr(HubSpotDestination, "prepare", lambda self, batch, context: None)
    monkeypatch.setattr(HubSpotDestination, "write_batch", inline)


@pytest.mark.parametrize("sync_mode", ["full", "changes"])  # changes: a first sync (everything is new)
def test_hubspot_run_by_request_spends_no_more_requests_than_writes_of_whole_read_batches(
    tenant, synced_audience, dataset, hubspot_standin, settings, monkeypatch, sync_mode
):
    settings.DELIVR_EXPORT_BATCH_SIZE = 500  # 8 read batches of a few hundred new people each
    # two people in three have no company: associations do not fill a request per write of 100 contacts
    everyone = persons(dataset)
    with_company = set(everyone[::3])

    def fewer_companies(table):
        keep = pc.fill_null(
            pc.is_in(table.column("person_id"), value_set=pa.array(sorted(with_company))), False
        )
        index = table.schema.get_field_index("company_domain")
        return table.set_column(
            index, "company_domain", pc.if_else(keep, table.column("company_domain"), None)
        )

    rewrite(dataset, fewer_companies)
    run = execute(hubspot_export(tenant, synced_audience, hubspot_standin, sync_mode))
    assert run.status in DONE, run.error
    by_request = requests_by_endpoint(hubspot_standin)

    baseline = HubSpotStandIn().start()
    try:
        with monkeypatch.context() as patch:
            writes_of_whole_read_batches(patch)
            whole = execute(hubspot_export(tenant, synced_audience, baseline, "full"))
        assert whole.status in DONE, whole.error
        by_batch = requests_by_endpoint(baseline)
        assert held(hubspot_standin) == held(baseline)  # the same portal at the end
    finally:
        baseline.stop()
    assert run.records_exported == whole.records_exported > 0
    assert run.object_type_results["Company"]["records_created"] == len(hubspot_standin.companies)
    assert run.object_type_results["TimelineEvent"]["records_created"] == len(hubspot_standin.events)
    for endpoint in ENDPOINTS:
        assert by_request[endpoint] <= by_batch[endpoint], (endpoint, by_request, by_batch)
    assert by_request["upsert"] >= run.records_exported / 100
    assert 0 < by_request["list add"] <= by_batch["list add"]
    assert hubspot_standin.rate_limited == baseline.rate_limited == 0


def test_hubspot_run_stopped_at_a_list_add_resumes_its_follow_ups_without_sending_one_twice(
    tenant, synced_audience, dataset, hubspot_standin, settings
):
    """The second commit's list request is done but never answered: the run stops (retryable). The associations
    and timeline events queued before it were sent (and committed) before it; the retry sends the list request
    again, from the parts, and nothing else twice. The portal ends as after a run never stopped."""
    from exports.services import runs as run_services
    from tests.factories import ExportRunFactory

    settings.DELIVR_EXPORT_BATCH_SIZE = 500
    hubspot_standin.lose_answers(count=50, path_contains=ENDPOINTS["list add"], after=1)
    export = hubspot_export(tenant, synced_audience, hubspot_standin, "full")
    run = ExportRunFactory(export=export)
    with pytest.raises(run_services.RunRetry):
        run_services.export_run_execute(run_id=run.pk)
    hubspot_standin._lost.clear()
    assert run_services.export_run_execute(run_id=run.pk) in DONE
    run.refresh_from_db()
    assert run.attempts == 2

    def inputs(endpoint: str) -> list:
        return [i for c in hubspot_standin.calls("POST", ENDPOINTS[endpoint]) for i in c.body["inputs"]]

    events = [i["id"] for i in inputs("timeline event")]
    pairs = [(i["from"]["id"], i["to"]["id"]) for i in inputs("association")]
    upserts = [i["objectWriteTraceId"] for i in inputs("upsert")]
    assert len(events) == len(set(events)) == len(hubspot_standin.events) > 0  # none sent twice
    assert len(pairs) == len(set(pairs)) == len(hubspot_standin.associations) > 0
    assert len(upserts) == len(set(upserts))  # every upsert was answered and committed before the stop
    lists = hubspot_standin.calls("PUT", ENDPOINTS["list add"])
    lost = [n for n, call in enumerate(lists) if call.status == 503]  # its tries, all answered 503
    assert lost and set(lists[lost[-1] + 1].body) == set(lists[lost[0]].body)  # sent again by the retry
    assert run.records_exported == len(hubspot_standin.contacts)
    assert run.object_type_results["TimelineEvent"]["records_created"] == len(events)

    uninterrupted = HubSpotStandIn().start()
    try:
        assert execute(hubspot_export(tenant, synced_audience, uninterrupted, "full")).status in DONE
        assert held(hubspot_standin) == held(uninterrupted)
    finally:
        uninterrupted.stop()
