"""Field and notice-size limits at the adapters (issue 13, defect 1), over real HTTP.

The attack: one valid record with a long non-ASCII narrative became a notice whose JSON feed
view (non-ASCII escaped as \\uXXXX) was over the broker's record limit, and the gateway retried
it forever. Now every free-text field and list of every native model is bounded, so the worst
valid record of each adapter fits the hub, and a backstop refuses any notice over the adapter's
notice size limits with 413 before anything is produced.

The "worst case" records below put every field at its limit, written in a character that is
4 bytes in the signed notice and 12 in an escaped JSON view (the worst for both), and are
published for real: they must be accepted. One character more in a field is a 422 naming it.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord

from services.adapters.childrens_services.mapping import map_csc_nrm_referral
from services.adapters.childrens_services.models import ASSESSMENT_FACTORS, CscNrmReferral
from services.adapters.health.app import create_app as health_app
from services.adapters.health.models import (
    CONCERN_EXTENSION,
    CONCERN_SYSTEM,
    SNOMED_SYSTEM,
)
from services.adapters.health.validation import fhir_errors
from services.adapters.ingest.csv_batch import csv_columns
from services.adapters.ingest.notice_size import measure_notice
from services.adapters.ingest.settings import AdapterSettings
from services.adapters.ingest.vocab import ConcernCode
from services.adapters.police.mapping import map_police_nrm_referral
from services.adapters.police.models import PoliceNrmReferral
from services.adapters.voluntary_sector.app import create_app as vcs_app
from services.adapters.voluntary_sector.models import VcsUpdateForm
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, SigningKey, open_envelope
from services.hubkit.publisher import NoticePublisher
from services.hubkit.topology import Topology, load_topology
from services.synthetic.native import NativeRecords, to_csv
from tests import factories
from tests.adapters.helpers import context, mapped
from tests.factories import FIXED_NOW
from tests.integration.bus import TopicReader
from tests.security.conftest import RUN, Served, serve_app

pytestmark = pytest.mark.kafka

PROBLEM = "application/problem+json"
READER = "gateway"  # least privilege that can read every notice topic
# MATHEMATICAL FRAKTUR CAPITAL A (U+1D504): 4 bytes of UTF-8 in the Avro notice, 12 bytes
# ("\ud835\udd04") in a JSON view: the widest character for both sizes.
WIDE = "\U0001d504"
CP_PLAN_SNOMED = "1064311000000109"
PATHS = {
    "POLICE": "/v1/nrm-referrals",
    "HEALTH": "/v1/fhir/Bundle",
    "CHILDRENS_SERVICES": "/v1/nrm-referrals",
    "VOLUNTARY_SECTOR": "/v1/updates",
}


def wide(chars: int) -> str:
    return WIDE * chars


def _reference(tag: str, length: int) -> str:
    """A reference unique to this run, padded to `length` (references are ASCII by pattern)."""
    return f"{RUN}-{tag}".ljust(length, "X")


EMAIL = wide(98) + "@" + wide(99) + "." + WIDE  # 200 characters, the limit
TELEPHONE = "0" * 40
PERSON = {"role": wide(100), "name": wide(200), "organisation": wide(200), "contact": wide(200)}
CONTACT = {"role": wide(200), "organisation": wide(200), "telephone": TELEPHONE}


def _records(seed: int) -> NativeRecords:
    return NativeRecords(seed=seed, now=FIXED_NOW, run=RUN)


def worst_police(tag: str) -> dict[str, Any]:
    """A police NRM referral (two 20,000-character narratives): the largest police notice."""
    records = _records(1401)
    document = records.police_nrm_referral(records.child())
    document["subject"].update(
        given_name=wide(100),
        family_name=wide(100),
        responsible_la=wide(40),
        placing_la=wide(40),
    )
    # No school_urn: an NRM referral refuses it (issue 21: its notice has no place for it).
    document.update(
        occurrence_reference=_reference(tag, 40),
        revision=999,
        source_system=wide(100),
        concerns=[{"code": code.value, "census_factor": "24A"} for code in list(ConcernCode)],
        summary=wide(1000),
        full_account=wide(20_000),
        exploitation_account=wide(20_000),
        consent={"status": "NOT_SOUGHT", "reason_not_sought": wide(500)},
        family_informed={"informed": False, "reason_not_informed": wide(500)},
        referrer=dict(PERSON),
        third_parties=[dict(PERSON) for _ in range(20)],
        officer_contact={**CONTACT, "secure_email": EMAIL},
    )
    return document


def worst_csc(tag: str) -> dict[str, Any]:
    """A children's services NRM referral: the largest children's services notice."""
    records = _records(1402)
    document = records.csc_nrm_referral(records.child())
    document["child"].update(given_name=wide(100), family_name=wide(100), placing_la=wide(40))
    document.update(
        record_id=_reference(tag, 60),
        revision=999,
        source_system=wide(100),
        assessment_factors=sorted(ASSESSMENT_FACTORS)[:40],
        summary=wide(1000),
        full_account=wide(20_000),
        exploitation_account=wide(20_000),
        consent={"status": "NOT_SOUGHT", "reason_not_sought": wide(500)},
        family_informed={"informed": False, "reason_not_informed": wide(500)},
        referrer=dict(PERSON),
        contact_point={**CONTACT, "secure_email": EMAIL},
    )
    # No allocated_worker or primary_need: an NRM referral refuses them (issue 21).
    return document


def worst_vcs(tag: str, kind: str = "NRM_REFERRAL") -> dict[str, Any]:
    """Every field of the voluntary-sector form at its limit; NRM_REFERRAL carries the two
    narratives, RETURN_INTERVIEW_OUTCOME the full account, actions and outcome."""
    records = _records(1403)
    document = records.vcs_update(records.child(), kind="NRM_REFERRAL")
    document.update(
        reference=_reference(tag, 60),
        kind=kind,
        revision=999,
        given_name=wide(100),
        family_name=wide(100),
        category_of_need=wide(200),
        concerns=[code.value for code in ConcernCode][:20],
        summary=wide(1000),
        full_account=wide(20_000),
        agreed_actions=[wide(500)] * 20,
        safety_instructions=wide(500),
        outcome_summary=wide(2000),
        exploitation_account=wide(20_000),
        consent_status="NOT_SOUGHT",
        consent_reason_not_sought=wide(500),
        family_informed=False,
        family_not_informed_reason=wide(500),
        worker_role=wide(200),
        worker_telephone=TELEPHONE,
        worker_email=EMAIL,
    )
    if kind != "NRM_REFERRAL":
        for name in ("exploitation_type", "exploitation_account", "referred_at"):
            document.pop(name)
    else:  # the update's own detail is refused on an NRM referral (issue 21)
        for name in (
            "category_of_need",
            "agreed_actions",
            "safety_instructions",
            "outcome_summary",
        ):
            document.pop(name)
    return document


def _coding(code: str) -> dict[str, Any]:
    # No display: the hub does not read it, and 1,000 of them at 500 characters would not fit
    # the 1 MiB body limit.
    return {"system": SNOMED_SYSTEM, "code": code}


def worst_health(tag: str) -> dict[str, Any]:
    """100 entries (the limit): the child, the encounter, a CP plan flag and 97 observations,
    each coded with 10 distinct 18-digit SNOMED CT codes; 20,000 characters of clinical
    detail; every referral sub-extension at its limit."""
    records = _records(1404)
    bundle = records.health_bundle(records.child(), cp_plan_since=dt.date(2026, 9, 1))
    bundle["identifier"] = {"system": wide(200), "value": f"{RUN}-{tag}".ljust(100, WIDE)}
    entries = bundle["entry"]
    patient, encounter, template = (e["resource"] for e in entries[:3])
    flag = next(e for e in entries if e["resource"]["resourceType"] == "Flag")
    patient["name"] = [{"use": "official", "family": wide(100), "given": [wide(100)] * 10}]
    referral = encounter["extension"][0]
    longest = {
        "navigatorRiskSummary": wide(1000),
        "consentReasonNotSought": wide(500),
        "familyNotInformedReason": wide(500),
        "contactRole": wide(200),
        "contactTelephone": TELEPHONE,
        "contactEmail": EMAIL,
    }
    referral["extension"] = [
        x for x in referral["extension"] if x["url"] not in (*longest, "familyInformed")
    ]
    referral["extension"] += [{"url": u, "valueString": v} for u, v in longest.items()]
    referral["extension"].append({"url": "familyInformed", "valueBoolean": False})
    flag["resource"]["code"] = {
        "coding": [_coding(CP_PLAN_SNOMED)] + [_coding(str(10**17 + i)) for i in range(9)]
    }
    flag["resource"]["author"]["display"] = wide(200)
    observations = []
    for index in range(97):
        resource = copy.deepcopy(template)
        resource["id"] = f"obs-{index}"
        resource["code"] = {
            "coding": [_coding(str(2 * 10**17 + index * 10 + c)) for c in range(10)]
        }
        resource.pop("valueString", None)
        resource["note"] = []
        concern = list(ConcernCode)[index % len(ConcernCode)].value
        resource["extension"] = [
            {"url": CONCERN_EXTENSION, "valueCoding": {"system": CONCERN_SYSTEM, "code": concern}}
        ]
        observations.append({"fullUrl": f"urn:uuid:obs-{index}", "resource": resource})
    # 20,000 characters of clinical detail in all: one value, and notes joined by newlines.
    observations[0]["resource"]["valueString"] = wide(10_000)
    observations[1]["resource"]["note"] = [{"text": wide(4_999)}, {"text": wide(4_999)}]
    entries[2:] = [flag, *observations]
    assert len(entries) == 100
    return bundle


WORST: dict[str, Callable[[str], dict[str, Any]]] = {
    "POLICE": worst_police,
    "HEALTH": worst_health,
    "CHILDRENS_SERVICES": worst_csc,
    # The form whose notice carries the agreed actions (refused on an NRM referral).
    "VOLUNTARY_SECTOR": lambda tag: worst_vcs(tag, "RETURN_INTERVIEW_OUTCOME"),
}


@dataclass(frozen=True)
class OneOver:
    """A worst-case record with one field one character (or one item) past its limit."""

    agency: str
    pointer: str
    code: str
    change: Callable[[dict[str, Any]], None]


def _set(*path: str | int, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        node: Any = document
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


def _append_to(*path: str | int, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        node: Any = document
        for part in path:
            node = node[part]
        node.append(value)

    return change


def _referral_value(name: str, value: str) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        subs = document["entry"][1]["resource"]["extension"][0]["extension"]
        next(x for x in subs if x["url"] == name)["valueString"] = value

    return change


ONE_OVER = [
    OneOver("POLICE", "/full_account", "string_too_long", _set("full_account", value=wide(20_001))),
    OneOver(
        "POLICE",
        "/exploitation_account",
        "string_too_long",
        _set("exploitation_account", value=wide(20_001)),
    ),
    OneOver("POLICE", "/third_parties", "too_long", _append_to("third_parties", value=PERSON)),
    OneOver(
        "POLICE",
        "/third_parties/3/name",
        "too_long",  # names are checked for spoofing characters first, then measured
        _set("third_parties", 3, "name", value=wide(201)),
    ),
    OneOver(
        "CHILDRENS_SERVICES",
        "/full_account",
        "string_too_long",
        _set("full_account", value=wide(20_001)),
    ),
    OneOver(
        "CHILDRENS_SERVICES",
        "/child/UPN",
        "string_too_long",
        _set("child", "UPN", value="A" * 21),
    ),
    OneOver(
        "VOLUNTARY_SECTOR",
        "/agreed_actions/19",
        "string_too_long",
        _set("agreed_actions", 19, value=wide(501)),
    ),
    OneOver(
        "VOLUNTARY_SECTOR",
        "/agreed_actions",
        "too_long",
        _append_to("agreed_actions", value="one more"),
    ),
    OneOver(
        "HEALTH",
        "/entry/3/resource/valueString",
        "string_too_long",
        _set("entry", 3, "resource", "valueString", value=wide(20_001)),
    ),
    OneOver(
        "HEALTH",
        "/entry/4/resource/note/1/text",
        "clinical_detail_too_long",
        # Each text within its own limit, but the Bundle's clinical detail one over in all.
        _set("entry", 4, "resource", "note", 1, "text", value=wide(5_000)),
    ),
    OneOver(
        "HEALTH",
        "/entry/0/resource/name/0/family",
        "too_long",
        _set("entry", 0, "resource", "name", 0, "family", value=wide(101)),
    ),
    OneOver(
        "HEALTH",
        # The worst case's referral sub-extensions: riskLevel, immediateDanger, consentStatus,
        # navigatorRiskSummary, consentReasonNotSought (4), ...
        "/entry/1/resource/extension/0/extension/4/valueString",
        "string_too_long",
        _referral_value("consentReasonNotSought", wide(501)),
    ),
    OneOver(
        "HEALTH",
        "/entry/1/resource/extension/0/extension/3/valueString",
        "string_too_long",
        _referral_value("navigatorRiskSummary", wide(1001)),
    ),
    OneOver(
        "HEALTH",
        "/entry/2/resource/code/coding/1/code",
        "snomed_code",
        _set("entry", 2, "resource", "code", "coding", 1, "code", value=wide(18)),
    ),
    OneOver("HEALTH", "/entry", "too_long", _append_to("entry", value={"resource": {}})),
]


# ---- helpers over HTTP and the broker ------------------------------------------------------


async def _post(
    served: Served, agency: str, document: dict[str, Any], *, url: str | None = None
) -> httpx.Response:
    headers = {
        "Authorization": f"Bearer {await served.token(agency)}",
        "Content-Type": "application/fhir+json" if agency == "HEALTH" else "application/json",
    }
    # Raw UTF-8 (not \u-escaped): the body an agency system sends, well under the 1 MiB limit.
    body = json.dumps(document, ensure_ascii=False).encode()
    assert len(body) < served.settings.max_json_bytes
    async with httpx.AsyncClient(base_url=url or served.urls[agency], timeout=60) as client:
        return await client.post(PATHS[agency], content=body, headers=headers)


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:2000]
    assert response.headers["content-type"].startswith(PROBLEM)
    document: dict[str, Any] = response.json()
    assert document["status"] == status
    return document


@dataclass
class NoticeTopic:
    """Reads an agency's notices topic from its end, as the gateway would, to prove what was
    (and was not) published."""

    served: Served
    agency: str
    reader: TopicReader
    catalog: SchemaCatalog

    def open(self, record: ConsumerRecord) -> dict[str, Any]:
        trusted = KeyDirectory.load(self.served.hub.keys_dir / "trusted")
        verified = open_envelope(self.catalog, record.value, trusted)
        notice: dict[str, Any] = self.catalog.decode(verified.payload, MessageType.NOTICE)
        return notice

    async def published_until(self, notice_id: str) -> list[dict[str, Any]]:
        """Every notice published from now until `notice_id` (a later sentinel) arrives."""

        def arrived(records: list[ConsumerRecord]) -> bool:
            return any(str(self.open(r)["notice_id"]) == notice_id for r in records)

        records = await self.reader.read_until(arrived, timeout_s=30)
        return [self.open(r) for r in records]


@pytest.fixture
async def notices_topic(
    served: Served, topology: Topology
) -> AsyncIterator[Callable[[str], Awaitable[NoticeTopic]]]:
    readers: list[TopicReader] = []
    catalog = SchemaCatalog(served.hub.schemas_dir)

    async def open_topic(agency: str) -> NoticeTopic:
        reader = await TopicReader(served.hub, READER, topology.agency(agency).topic).start()
        readers.append(reader)
        return NoticeTopic(served, agency, reader, catalog)

    yield open_topic
    for reader in readers:
        await reader.stop()


OpenTopic = Callable[[str], Awaitable[NoticeTopic]]


def _health_bundle(seed: int, clinical_value: str | None = None) -> dict[str, Any]:
    records = _records(seed)
    bundle = records.health_bundle(records.child())
    if clinical_value is not None:
        bundle["entry"][2]["resource"]["valueString"] = clinical_value
    return bundle


# ---- the worst valid record of each adapter fits, with room --------------------------------


def _map_worst(agency: str, document: dict[str, Any]) -> dict[str, Any]:
    """Validate and map as the adapter's route does (the NRM routes have their own models)."""
    ctx = context(agency)
    match agency:
        case "POLICE":
            police = PoliceNrmReferral.model_validate(document)
            return map_police_nrm_referral(police, ctx).notice
        case "CHILDRENS_SERVICES":
            csc = CscNrmReferral.model_validate(document)
            return map_csc_nrm_referral(csc, ctx).notice
        case "HEALTH":
            assert fhir_errors(document) == []
    return mapped(agency, document).notice


def _worst_rio(tag: str) -> dict[str, Any]:
    return worst_vcs(tag, "RETURN_INTERVIEW_OUTCOME")


WORST_CASES: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
    ("POLICE", worst_police),
    ("HEALTH", worst_health),
    ("CHILDRENS_SERVICES", worst_csc),
    ("VOLUNTARY_SECTOR", worst_vcs),
    ("VOLUNTARY_SECTOR", _worst_rio),
]


@pytest.mark.parametrize(("agency", "build"), WORST_CASES)
def test_worst_valid_notice_is_within_both_notice_limits(
    agency: str, build: Callable[[str], dict[str, Any]]
) -> None:
    """Every field at its limit, in the widest character: still under the backstop, so the
    backstop never refuses a valid record (the arithmetic is in docs/integrators.md)."""
    notice = _map_worst(agency, build("size"))
    catalog = factories.catalog()
    # Sealed as every adapter seals it: with the agency's per-field signatures (issue 19).
    key = SigningKey.generate(agency.lower())
    publisher = NoticePublisher(
        producer=None,  # only seal_notice is used
        catalog=catalog,
        agency=load_topology(factories.POLICIES).agency(notice["source"]["agency"]),
        signing_key=key,
        clock=lambda: FIXED_NOW,
    )
    sealed = publisher.seal_notice(notice)
    assert open_envelope(catalog, sealed, KeyDirectory.of([key])).field_provenance is not None
    size = measure_notice(notice, sealed)
    limits = AdapterSettings()
    print(f"{agency}: signed {size.signed_bytes:,} B, view {size.view_bytes:,} B")
    assert size.signed_bytes <= limits.max_notice_bytes
    assert size.view_bytes <= limits.max_notice_view_bytes


@pytest.mark.parametrize(("agency", "build"), WORST_CASES)
async def test_worst_valid_record_is_accepted_and_published_whole(
    served: Served, notices_topic: OpenTopic, agency: str, build: Callable[[str], dict[str, Any]]
) -> None:
    topic = await notices_topic(agency)
    response = await _post(served, agency, build(f"WC{WORST_CASES.index((agency, build))}"))
    assert response.status_code == 202, response.text[:2000]
    notice_id = response.json()["notice_id"]
    (notice,) = [
        n for n in await topic.published_until(notice_id) if str(n["notice_id"]) == notice_id
    ]
    # Published whole: 20,000 characters (health: three texts joined by newlines).
    assert len(notice["narrative"]["full_account"]) == 20_000


@pytest.mark.parametrize("case", ONE_OVER, ids=lambda c: f"{c.agency}{c.pointer}")
async def test_one_over_a_field_limit_is_422_naming_the_field(
    served: Served, case: OneOver
) -> None:
    document = WORST[case.agency](f"OO{ONE_OVER.index(case)}")
    case.change(document)
    problem = _problem(await _post(served, case.agency, document), 422)
    assert problem["type"] == "https://safehub.example/problems/invalid-record"
    assert {(e["pointer"], e["code"]) for e in problem["errors"]} >= {(case.pointer, case.code)}
    assert WIDE not in json.dumps(problem, ensure_ascii=False)  # never echoes the value


# ---- the attack from the issue -------------------------------------------------------------


async def test_360kb_non_ascii_health_narrative_is_422_and_nothing_is_published(
    served: Served, notices_topic: OpenTopic
) -> None:
    """The record that stalled a gateway partition: 360 KB of non-ASCII clinical text (2 bytes
    each in UTF-8, 6 bytes each once the gateway's view escapes it)."""
    topic = await notices_topic("HEALTH")
    attack = _health_bundle(1405, clinical_value="é" * 180_000)
    assert len(attack["entry"][2]["resource"]["valueString"].encode()) == 360_000
    problem = _problem(await _post(served, "HEALTH", attack), 422)
    (error,) = problem["errors"]
    assert error == {
        "pointer": "/entry/2/resource/valueString",
        "code": "string_too_long",
        "message": "String should have at most 20000 characters",
    }
    sentinel = await _post(served, "HEALTH", _health_bundle(1406))
    assert sentinel.status_code == 202, sentinel.text
    published = await topic.published_until(sentinel.json()["notice_id"])
    attack_reference = attack["identifier"]["value"]
    assert [n for n in published if n["source"]["source_reference"] == attack_reference] == []


# ---- the backstop: notice size limits ------------------------------------------------------


@dataclass(frozen=True)
class LowLimits:
    """Adapters served with low notice limits, so a valid record can cross them."""

    signed_health: (
        str  # max_notice_bytes 16,384 (a short notice with its field signatures is about 7.5 KB)
    )
    view_health: str  # max_notice_view_bytes 4,096
    signed_vcs: str  # max_notice_bytes 16,384
    signed_limit: int = 16_384
    view_limit: int = 4096


@pytest.fixture(scope="module")
async def low_limits(served: Served) -> AsyncIterator[LowLimits]:
    async with AsyncExitStack() as exits:

        async def serve(factory: Any, name: str, agency: str, **limits: int) -> str:
            client_id = served.settings.resolved_child_index_client_id(agency)
            key = served.settings.resolved_child_index_client_key(served.state, client_id)
            settings = served.settings.model_copy(
                update={
                    "state_dir": served.state / f"low-{name}",
                    "child_index_client_key": key,
                    **limits,
                }
            )
            app = factory(served.hub, settings, jwks=served.jwks, http=served.outbound)
            return await serve_app(app, exits)

        yield LowLimits(
            signed_health=await serve(
                health_app, "signed-health", "HEALTH", max_notice_bytes=16_384
            ),
            view_health=await serve(
                health_app, "view-health", "HEALTH", max_notice_view_bytes=4096
            ),
            signed_vcs=await serve(
                vcs_app, "signed-vcs", "VOLUNTARY_SECTOR", max_notice_bytes=16_384
            ),
        )


async def test_backstop_refuses_a_signed_notice_over_the_limit_with_413(
    served: Served, notices_topic: OpenTopic, low_limits: LowLimits
) -> None:
    topic = await notices_topic("HEALTH")
    record = _health_bundle(1407, clinical_value="é" * 3000)  # valid: 3,000 < 20,000
    response = await _post(served, "HEALTH", record, url=low_limits.signed_health)
    problem = _problem(response, 413)
    assert problem["type"] == "https://safehub.example/problems/notice-too-large"
    assert problem["notice_id"]
    (error,) = problem["errors"]
    assert error["code"] == "notice_too_large"
    assert "16,384" in error["message"]
    assert "SAFEHUB_ADAPTER_MAX_NOTICE_BYTES" in error["message"]
    # Nothing was published, and nothing was recorded as published: the same reference with
    # a shorter text goes through (it is the sentinel that ends the read).
    record["entry"][2]["resource"]["valueString"] = "Short clinical note."
    accepted = await _post(served, "HEALTH", record, url=low_limits.signed_health)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["notice_id"] == problem["notice_id"]
    published = await topic.published_until(problem["notice_id"])
    mine = [n for n in published if str(n["notice_id"]) == problem["notice_id"]]
    assert [n["detail"]["clinical_detail"] for n in mine] == [
        # The Observation's code.text is clinical detail too (issue 21).
        "Safeguarding concern\nShort clinical note.\n"
        "Synthetic clinical detail for the health navigator."
    ]


async def test_backstop_refuses_a_notice_whose_view_would_be_over_the_limit_with_413(
    served: Served, low_limits: LowLimits
) -> None:
    # 3,000 "é": 6,000 bytes signed, but 18,000 in each JSON view (6 bytes per character).
    record = _health_bundle(1408, clinical_value="é" * 3000)
    response = await _post(served, "HEALTH", record, url=low_limits.view_health)
    problem = _problem(response, 413)
    assert problem["type"] == "https://safehub.example/problems/notice-too-large"
    (error,) = problem["errors"]
    assert error["code"] == "notice_view_too_large"
    assert "4,096" in error["message"]
    assert "SAFEHUB_ADAPTER_MAX_NOTICE_VIEW_BYTES" in error["message"]


async def test_backstop_rejects_only_the_oversize_row_of_an_upload(
    served: Served, low_limits: LowLimits
) -> None:
    records = _records(1409)
    small = records.vcs_update(records.child(), kind="CONCERN")
    large = records.vcs_csv_row(records.vcs_update(records.child(), kind="CONCERN"))
    large["full_account"] = "é" * 3000  # valid (3,000 < 20,000), but over the low limit
    columns, _, _ = csv_columns(VcsUpdateForm)
    upload = to_csv([records.vcs_csv_row(small), large], columns)
    async with httpx.AsyncClient(base_url=low_limits.signed_vcs, timeout=60) as client:
        response = await client.post(
            "/v1/updates/csv",
            files={"file": ("updates.csv", upload.encode(), "text/csv")},
            headers={"Authorization": f"Bearer {await served.token('VOLUNTARY_SECTOR')}"},
        )
    assert response.status_code == 200, response.text[:2000]
    report = response.json()
    assert (report["published"], report["rejected"]) == (1, 1)
    first, second = report["rows"]
    assert first["status"] == "published"
    assert second["status"] == "rejected"
    assert second["notice_id"] is None
    assert [e["code"] for e in second["errors"]] == ["notice_too_large"]


# ---- the limits are documented in each adapter's OpenAPI -----------------------------------


def _unbounded(definition: Any, path: str) -> list[str]:
    """Strings without maxLength (or an enum, const, pattern or date format that bounds them)
    and arrays without maxItems, anywhere under a property."""
    if not isinstance(definition, dict):
        return []
    found: list[str] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in definition.get(key, []):
            found += _unbounded(branch, path)
    kind = definition.get("type")
    bounded = {"maxLength", "enum", "const", "pattern"} & set(definition)
    if kind == "string" and not bounded and definition.get("format") not in ("date", "date-time"):
        found.append(path)
    if kind == "array":
        if "maxItems" not in definition:
            found.append(path)
        found += _unbounded(definition.get("items"), f"{path}[]")
    return found


_RESPONSES = {
    "Problem",
    "FieldError",
    "NoticeAccepted",
    "BatchReport",
    "RowResult",
    "HealthStatus",
    # What the retraction routes answer (issue 18): written by the adapter, never read.
    "RetractionAccepted",
    "RetractionReceipts",
    "Delivered",
    "Acknowledged",
}


@pytest.mark.parametrize("agency", sorted(PATHS))
async def test_openapi_shows_a_limit_on_every_field(served: Served, agency: str) -> None:
    async with httpx.AsyncClient(base_url=served.urls[agency], timeout=30) as client:
        schema = (await client.get("/openapi.json")).json()
    components = schema["components"]["schemas"]
    unbounded = [
        where
        for name, component in components.items()
        if name not in _RESPONSES and not name.startswith("Body_")
        for prop, definition in component.get("properties", {}).items()
        for where in _unbounded(definition, f"{name}.{prop}")
    ]
    assert unbounded == []
    assert "notice-too-large" in schema["info"]["description"]


async def test_openapi_shows_the_fhir_text_limits(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.urls["HEALTH"], timeout=30) as client:
        components = (await client.get("/openapi.json")).json()["components"]["schemas"]
    (value_string,) = [
        b
        for b in components["Observation"]["properties"]["valueString"]["anyOf"]
        if b != {"type": "null"}
    ]
    assert value_string["maxLength"] == 20_000
    assert components["Annotation"]["properties"]["text"]["maxLength"] == 20_000
    assert components["Observation"]["properties"]["note"]["maxItems"] == 20
    assert components["FhirBundle"]["properties"]["entry"]["maxItems"] == 100
