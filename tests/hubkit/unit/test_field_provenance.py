"""Per-field provenance (hubkit.field_provenance): the agency's SD-JWT over each field.

What the issue asks to be detected: a tampered field, a field moved between notices, and a
withheld field guessed from its digest; and what must hold for every redaction: the fields a
recipient holds verify, and nothing withheld travels with them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import OKPKey

from services.hubkit.envelope import KeyDirectory, SigningKey
from services.hubkit.errors import ProvenanceInvalid
from services.hubkit.field_provenance import (
    DIGEST_BUCKET,
    disclosure_digest,
    disclosure_units,
    issue,
    open_issued,
    presentation_for,
    require_matches_notice,
    verify_view,
)
from services.hubkit.notice import DETAIL_RECORD, to_json_value
from services.hubkit.sharing_decisions import CLASSIFICATION_ORDER
from tests.factories import FIXED_NOW, notices

POLICE = SigningKey.generate("adapter-police")
HEALTH = SigningKey.generate("adapter-health")
STRANGER = SigningKey.generate("adapter-police")  # same owner name, key nobody trusts
KEYS = KeyDirectory.of([POLICE, HEALTH])
NOTICE_TYPES = sorted(DETAIL_RECORD)


def _notice(notice_type: str = "MISSING_EPISODE", seed: int = 19) -> dict[str, Any]:
    notice: dict[str, Any] = to_json_value(notices(seed=seed).notice(notice_type))
    return notice


def _view(notice: dict[str, Any], paths: set[str]) -> dict[str, Any]:
    """What the gateway's redaction leaves of `notice` for these units."""
    view: dict[str, Any] = {}
    for path, value in disclosure_units(notice).items():
        if path in paths:
            head, _, tail = path.partition(".")
            if tail:
                view.setdefault(head, {})[tail] = value
            else:
                view[head] = value
    return view


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decoded(disclosure: str) -> list[Any]:
    decoded: list[Any] = json.loads(base64.urlsafe_b64decode(disclosure + "=" * 4))
    return decoded


def _reencode(salt: str, path: str, value: Any) -> str:
    return _b64url(json.dumps([salt, path, value], separators=(",", ":")).encode())


def _signed_digests(sd_jwt: str) -> list[str]:
    payload = jws.extract_compact(sd_jwt.split("~")[0].encode()).payload
    digests: list[str] = json.loads(payload)["_sd"]
    return digests


def _raise_only(view_value: Any, signed_value: Any) -> bool:
    return bool(CLASSIFICATION_ORDER.index(view_value) >= CLASSIFICATION_ORDER.index(signed_value))


@settings(max_examples=60, deadline=None)
@given(
    notice_type=st.sampled_from(NOTICE_TYPES),
    seed=st.integers(0, 10_000),
    data=st.data(),
)
def test_every_redaction_verifies_and_carries_nothing_withheld(
    notice_type: str, seed: int, data: st.DataObject
) -> None:
    notice = _notice(notice_type, seed)
    sd_jwt = issue(notice, POLICE, FIXED_NOW)
    issued = open_issued(sd_jwt, KEYS)
    require_matches_notice(issued, notice)
    units = sorted(disclosure_units(notice))
    shown = set(data.draw(st.lists(st.sampled_from(units), unique=True)))
    view = _view(notice, shown)

    presentation = presentation_for(issued, disclosure_units(view))
    outcome = verify_view(presentation, view, notice_id=notice["notice_id"], keys=KEYS)

    assert set(outcome.verified) == shown
    assert outcome.hub_only == ()
    assert outcome.raised == ()
    assert outcome.signer == "adapter-police"
    disclosed_paths = {_decoded(d)[1] for d in presentation.split("~")[1:-1]}
    assert disclosed_paths == shown
    withheld = set(units) - shown
    for path in withheld:
        assert issued.disclosures[path].encoded not in presentation


def test_every_field_is_its_own_disclosure_with_a_fresh_128_bit_salt() -> None:
    notice = _notice()
    issued = open_issued(issue(notice, POLICE, FIXED_NOW), KEYS)
    salts = [_decoded(d.encoded)[0] for d in issued.disclosures.values()]
    assert len(set(salts)) == len(salts) == len(disclosure_units(notice))
    assert all(len(base64.urlsafe_b64decode(s + "==")) >= 16 for s in salts)


def test_decoys_pad_the_digest_list_so_its_length_says_little() -> None:
    for notice_type in NOTICE_TYPES:
        notice = _notice(notice_type)
        digests = _signed_digests(issue(notice, POLICE, FIXED_NOW))
        assert len(digests) % DIGEST_BUCKET == 0
        assert len(digests) > len(disclosure_units(notice)) or (
            len(disclosure_units(notice)) % DIGEST_BUCKET == 0
        )
        assert digests == sorted(digests)  # the order gives nothing away


def test_a_tampered_field_in_the_view_is_detected() -> None:
    notice = _notice()
    issued = open_issued(issue(notice, POLICE, FIXED_NOW), KEYS)
    view = _view(notice, set(disclosure_units(notice)))
    presentation = presentation_for(issued, disclosure_units(view))
    view["subject"]["date_of_birth"] = "2011-01-01"

    with pytest.raises(ProvenanceInvalid) as refused:
        verify_view(presentation, view, notice_id=notice["notice_id"], keys=KEYS)
    assert refused.value.reason == "altered"
    assert "subject.date_of_birth" in str(refused.value)
    assert "2011-01-01" not in str(refused.value)  # a path, never a value


def test_a_tampered_disclosure_matching_the_tampered_view_is_detected() -> None:
    notice = _notice()
    issued = open_issued(issue(notice, POLICE, FIXED_NOW), KEYS)
    salt, path, _ = _decoded(issued.disclosures["subject.date_of_birth"].encoded)
    forged = _reencode(salt, path, "2011-01-01")
    presentation = f"{issued.issuer_jwt}~{forged}~"
    view = {"subject": {"date_of_birth": "2011-01-01"}}

    with pytest.raises(ProvenanceInvalid) as refused:
        verify_view(presentation, view, notice_id=notice["notice_id"], keys=KEYS)
    assert refused.value.reason == "not_signed"


def test_a_field_moved_between_notices_is_detected() -> None:
    first, second = _notice(seed=1), _notice(seed=2)
    issued_first = open_issued(issue(first, POLICE, FIXED_NOW), KEYS)
    issued_second = open_issued(issue(second, POLICE, FIXED_NOW), KEYS)
    moved = issued_second.disclosures["subject.date_of_birth"].encoded
    presentation = f"{issued_first.issuer_jwt}~{moved}~"
    view = {"subject": {"date_of_birth": second["subject"]["date_of_birth"]}}

    with pytest.raises(ProvenanceInvalid) as refused:
        verify_view(presentation, view, notice_id=first["notice_id"], keys=KEYS)
    assert refused.value.reason == "not_signed"

    # Nor does the whole of the other notice's provenance pass for this one.
    whole_second = presentation_for(issued_second, ["subject.date_of_birth"])
    with pytest.raises(ProvenanceInvalid) as refused:
        verify_view(whole_second, view, notice_id=first["notice_id"], keys=KEYS)
    assert refused.value.reason == "wrong_notice"


def test_a_field_moved_to_another_path_is_detected() -> None:
    notice = _notice()
    issued = open_issued(issue(notice, POLICE, FIXED_NOW), KEYS)
    salt, _, value = _decoded(issued.disclosures["subject.date_of_birth"].encoded)
    moved = _reencode(salt, "subject.date_of_death", value)

    with pytest.raises(ProvenanceInvalid) as refused:
        open_issued(f"{issued.issuer_jwt}~{moved}~", KEYS)
    assert refused.value.reason == "not_signed"


def test_a_withheld_field_cannot_be_guessed_from_its_digest() -> None:
    """A recipient that knows (or guesses) the exact withheld value, path and encoding still
    cannot confirm it: without the 128-bit salt no candidate disclosure hashes to a signed
    digest. Here the guesser even knows the value is right and tries a million-odd salts'
    worth of the obvious ones."""
    notice = _notice()
    sd_jwt = issue(notice, POLICE, FIXED_NOW)
    signed = set(_signed_digests(sd_jwt))
    path = "subject.date_of_birth"
    true_value = disclosure_units(notice)[path]
    guesses = [
        _reencode(salt, path, true_value)
        for salt in ["", "0", _b64url(bytes(16)), _b64url(b"\xff" * 16)]
        + [_b64url(i.to_bytes(16, "big")) for i in range(2_000)]
    ]
    guesses.append(_b64url(json.dumps([path, true_value]).encode()))
    assert not signed & {disclosure_digest(g) for g in guesses}
    # The unsalted value's own hash is not in the list either.
    bare = _b64url(hashlib.sha256(json.dumps(true_value).encode()).digest())
    assert bare not in signed
    # And the same notice issued twice shares no digest: nothing to correlate across feeds.
    assert not signed & set(_signed_digests(issue(notice, POLICE, FIXED_NOW)))


def test_a_value_altered_to_an_equal_looking_one_is_detected() -> None:
    # Python has True == 1: the check compares JSON, not Python equality.
    notice = {"notice_id": "n-1", "risk": {"score": 1}}
    issued = open_issued(issue(notice, POLICE, FIXED_NOW), KEYS)
    presentation = presentation_for(issued, ["risk.score"])
    with pytest.raises(ProvenanceInvalid) as refused:
        verify_view(presentation, {"risk": {"score": True}}, notice_id="n-1", keys=KEYS)
    assert refused.value.reason == "altered"


def test_the_hub_may_raise_the_classification_and_never_lower_it() -> None:
    notice = _notice()
    notice["classification"] = "OFFICIAL"
    issued = open_issued(issue(notice, POLICE, FIXED_NOW), KEYS)
    presentation = presentation_for(issued, ["classification"])
    raisable = {"classification": _raise_only}

    raised = verify_view(
        presentation,
        {"classification": "OFFICIAL_SENSITIVE"},
        notice_id=notice["notice_id"],
        keys=KEYS,
        raisable=raisable,
    )
    assert raised.raised == ("classification",)
    assert raised.verified == ()

    notice["classification"] = "OFFICIAL_SENSITIVE"
    issued = open_issued(issue(notice, POLICE, FIXED_NOW), KEYS)
    with pytest.raises(ProvenanceInvalid):
        verify_view(
            presentation_for(issued, ["classification"]),
            {"classification": "OFFICIAL"},
            notice_id=notice["notice_id"],
            keys=KEYS,
            raisable=raisable,
        )


def test_fields_without_a_disclosure_rest_on_the_hub_alone_and_stray_ones_are_refused() -> None:
    notice = _notice()
    issued = open_issued(issue(notice, POLICE, FIXED_NOW), KEYS)
    view = _view(notice, {"notice_type", "subject.date_of_birth"})
    only_type = presentation_for(issued, ["notice_type"])
    outcome = verify_view(only_type, view, notice_id=notice["notice_id"], keys=KEYS)
    assert outcome.verified == ("notice_type",)
    assert outcome.hub_only == ("subject.date_of_birth",)

    extra = presentation_for(issued, ["notice_type", "narrative.summary"])
    with pytest.raises(ProvenanceInvalid) as refused:
        verify_view(extra, {"notice_type": notice["notice_type"]}, notice_id="x", keys=KEYS)
    assert refused.value.reason in {"stray", "wrong_notice"}
    with pytest.raises(ProvenanceInvalid) as refused:
        verify_view(
            extra,
            {"notice_type": notice["notice_type"]},
            notice_id=notice["notice_id"],
            keys=KEYS,
        )
    assert refused.value.reason == "stray"


def test_a_signature_by_an_untrusted_or_tampered_issuer_is_refused() -> None:
    notice = _notice()
    untrusted = issue(notice, SigningKey.generate("adapter-voluntary"), FIXED_NOW)
    with pytest.raises(ProvenanceInvalid) as refused:
        open_issued(untrusted, KEYS)
    assert refused.value.reason == "unknown_signer"

    # A key that claims a trusted key id but is not that key.
    header = {"alg": "Ed25519", "typ": "safehub-notice+sd-jwt", "kid": POLICE.key_id}
    payload = jws.extract_compact(issue(notice, POLICE, FIXED_NOW).split("~")[0].encode())
    forged = jws.serialize_compact(
        header, payload.payload, OKPKey.import_key(STRANGER.private_key), algorithms=["Ed25519"]
    )
    with pytest.raises(ProvenanceInvalid) as refused:
        open_issued(f"{forged}~", KEYS)
    assert refused.value.reason == "bad_signature"


def test_the_gateway_refuses_field_signatures_that_do_not_say_what_the_notice_says() -> None:
    notice = _notice()
    issued = open_issued(issue(notice, POLICE, FIXED_NOW), KEYS)
    require_matches_notice(issued, notice)

    changed = json.loads(json.dumps(notice))
    changed["subject"]["date_of_birth"] = "2011-01-01"
    with pytest.raises(ProvenanceInvalid) as refused:
        require_matches_notice(issued, changed)
    assert refused.value.reason == "altered"

    fewer = presentation_for(issued, list(issued.disclosures)[1:])
    with pytest.raises(ProvenanceInvalid) as refused:
        require_matches_notice(open_issued(fewer, KEYS), notice)
    assert refused.value.reason == "incomplete"

    other = _notice(seed=3)
    with pytest.raises(ProvenanceInvalid) as refused:
        require_matches_notice(issued, other)
    assert refused.value.reason == "wrong_notice"


@pytest.mark.parametrize(
    "text",
    ["", "no-tilde", "a.b.c~", "~", "eyJ.eyJ.sig~not-base64!~"],
)
def test_malformed_provenance_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ProvenanceInvalid) as refused:
        open_issued(text, KEYS)
    assert refused.value.reason == "malformed"


def test_a_short_salt_is_refused() -> None:
    notice = {"notice_id": "n-2", "notice_type": "VCS_UPDATE"}
    issued = open_issued(issue(notice, HEALTH, FIXED_NOW, random_bytes=lambda n: b"\x01" * n), KEYS)
    short = _reencode(_b64url(b"\x01" * 8), "notice_type", "VCS_UPDATE")
    with pytest.raises(ProvenanceInvalid) as refused:
        open_issued(f"{issued.issuer_jwt}~{short}~", KEYS)
    assert refused.value.reason == "malformed"
    assert issued.signed_at == FIXED_NOW.replace(microsecond=0)
    assert issued.signed_at.tzinfo == dt.UTC
