"""The add-checkpoint decision, one test per answer of c2sp.org/tlog-witness, and the property
that makes a witness worth running: it never cosigns two different roots for one size."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from services.hubkit.cosignature import cosigner_verifier_key, verify_cosignature
from services.hubkit.merkle import EMPTY_ROOT
from services.hubkit.signed_note import decode_note, decode_signature_lines
from services.hubkit.tlog_witness import AddCheckpoint, encode_add_checkpoint
from services.witness.app import Witness
from services.witness.domain import (
    Cosign,
    LogState,
    Refuse,
    SizeConflict,
    Submission,
    cosignature_lines,
    decide,
    read_submission,
)
from services.witness.state_files import StateFiles
from tests.witness.logs import GrowingLog


def _submission(log: GrowingLog, body: bytes) -> Submission:
    submission = read_submission(body, log.logs())
    assert isinstance(submission, Submission), submission
    return submission


def _refused(answer: object) -> HTTPStatus:
    assert isinstance(answer, Refuse), answer
    return answer.status


def _state(log: GrowingLog, size: int) -> LogState:
    return LogState(log.origin, size, log.root(size))


def test_first_checkpoint_cosigned_and_state_is_origin_size_root() -> None:
    log = GrowingLog()
    log.append(5)
    answer = decide(_submission(log, log.request(0)), None)
    assert answer == Cosign(LogState(log.origin, 5, log.root(5)))


def test_growing_with_a_consistency_proof_is_cosigned() -> None:
    log = GrowingLog()
    log.append(5)
    log.append(8)
    assert decide(_submission(log, log.request(5)), _state(log, 5)) == Cosign(_state(log, 13))


def test_same_checkpoint_again_is_cosigned_unchanged() -> None:
    log = GrowingLog()
    log.append(4)
    assert decide(_submission(log, log.request(4)), _state(log, 4)) == Cosign(_state(log, 4))


def test_wrong_old_size_is_409_with_the_stored_size() -> None:
    log = GrowingLog()
    log.append(10)
    assert decide(_submission(log, log.request(3)), _state(log, 7)) == SizeConflict(7)
    assert decide(_submission(log, log.request(3)), None) == SizeConflict(0)


def test_fork_is_422() -> None:
    log = GrowingLog()
    log.append(6)
    fork = log.fork()
    log.append(4, tag="police-view")
    fork.append(4, tag="council-view")
    # The witness cosigned the police view at 10; the council view at 12 does not extend it.
    fork.append(2, tag="council-view")
    answer = decide(_submission(fork, fork.request(10)), _state(log, 10))
    assert isinstance(answer, Refuse)
    assert answer.status == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "not proven to extend" in answer.reason


def test_same_size_other_root_is_422() -> None:
    log = GrowingLog()
    log.append(6)
    fork = log.fork()
    log.append(1, tag="a")
    fork.append(1, tag="b")
    answer = decide(_submission(fork, fork.request(7)), _state(log, 7))
    assert _refused(answer) == HTTPStatus.UNPROCESSABLE_ENTITY


def test_proof_with_old_size_zero_is_422() -> None:
    log = GrowingLog()
    log.append(4)
    body = encode_add_checkpoint(AddCheckpoint(0, log.proof(2), log.note()))
    answer = decide(_submission(log, body), None)
    assert _refused(answer) == HTTPStatus.UNPROCESSABLE_ENTITY


def test_size_zero_needs_the_empty_root() -> None:
    log = GrowingLog()
    assert decide(_submission(log, log.request(0)), None) == Cosign(
        LogState(log.origin, 0, EMPTY_ROOT)
    )


def test_unknown_origin_is_404() -> None:
    log, other = GrowingLog(), GrowingLog(origin="another.log.example/x")
    other.append(2)
    answer = read_submission(other.request(0), log.logs())
    assert _refused(answer) == HTTPStatus.NOT_FOUND


def test_unsigned_or_badly_signed_is_403() -> None:
    log = GrowingLog()
    log.append(3)
    impostor = GrowingLog(key=Ed25519PrivateKey.generate(), leaves=list(log.leaves))
    answer = read_submission(impostor.request(0), log.logs())
    assert _refused(answer) == HTTPStatus.FORBIDDEN
    # The log's key id, a signature that fails: the note is malformed per signed-note -> 403.
    note = log.note().replace(b"\n3\n", b"\n4\n")
    body = encode_add_checkpoint(AddCheckpoint(0, (), note))
    answer = read_submission(body, log.logs())
    assert _refused(answer) == HTTPStatus.FORBIDDEN


def test_malformed_and_old_above_size_are_400() -> None:
    log = GrowingLog()
    log.append(3)
    for body in (
        b"",
        b"old 01\n\n" + log.note(),
        b"old 1\nnot-base64!\n\n" + log.note(),
        b"old 0\n\n" + log.note().replace(b"\n\n", b"\n"),
        log.request(0).replace(b"old 0", b"old 4"),
    ):
        answer = read_submission(body, log.logs())
        assert _refused(answer) == HTTPStatus.BAD_REQUEST, body


def test_cosignature_lines_verify_with_the_witness_vkey() -> None:
    log = GrowingLog()
    log.append(3)
    witness = Ed25519PrivateKey.generate()
    submission = _submission(log, log.request(0))
    lines = cosignature_lines(
        submission, name="witness.example/p", private_key=witness, timestamp=1_700_000_123
    )
    (line,) = decode_signature_lines(lines)
    vkey = cosigner_verifier_key("witness.example/p", witness.public_key())
    # tlog-witness: a client may append the lines to the checkpoint and verify the note.
    note = decode_note(log.note() + lines)
    assert verify_cosignature(note.text, line, vkey).timestamp == 1_700_000_123


# ------------------------------------------------------------------------------------------
# Property: whatever honest and forked checkpoints arrive, in any order with any old size,
# no size is ever cosigned with two roots.

_step = st.tuples(
    st.sampled_from(["a", "b"]),  # which history
    st.integers(min_value=0, max_value=3),  # leaves to append first
    st.integers(min_value=0, max_value=20),  # old size claimed (often wrong: a 409)
    st.booleans(),  # send the proof from the claimed size (else from the witness's size)
)


@settings(max_examples=60, deadline=None)
@given(shared=st.integers(min_value=0, max_value=5), steps=st.lists(_step, max_size=12))
def test_never_cosigns_two_roots_for_one_size(
    shared: int, steps: list[tuple[str, int, int, bool]]
) -> None:
    a = GrowingLog()
    a.append(shared)
    b = a.fork()
    histories = {"a": a, "b": b}
    logs = a.logs()
    stored: LogState | None = None
    cosigned: dict[int, bytes] = {}
    for which, grow, claimed, use_claimed in steps:
        log = histories[which]
        log.append(grow, tag=which)
        size = len(log.leaves)
        old = claimed if use_claimed else (stored.size if stored else 0)
        proof = log.proof(old, size) if 0 < old <= size else ()
        submission = read_submission(
            encode_add_checkpoint(AddCheckpoint(old, proof, log.note(size))), logs
        )
        if not isinstance(submission, Submission):
            continue
        answer = decide(submission, stored)
        if isinstance(answer, Cosign):
            assert cosigned.setdefault(answer.state.size, answer.state.root_hash) == (
                answer.state.root_hash
            )
            assert stored is None or answer.state.size >= stored.size
            stored = answer.state


def test_concurrent_submissions_from_one_old_size_cosign_once(tmp_path: Path) -> None:
    """The race of tlog-witness: check-and-update is atomic, so of several checkpoints sent
    from the same old size only one is cosigned and the state is never rolled back."""
    log = GrowingLog()
    log.append(10)
    witness = Witness(
        name="witness.example/race",
        key=Ed25519PrivateKey.generate(),
        logs=log.logs(),
        states=StateFiles(tmp_path / "state"),
        max_request_bytes=65536,
        clock=lambda: 1_765_000_000.0,
    )
    assert witness.add_checkpoint(log.request(0)).status_code == 200
    bodies = []
    for _ in range(8):
        log.append(1)
        bodies.append(log.request(10))
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda b: witness.add_checkpoint(b).status_code, bodies))
    assert sorted(statuses) == [200] + [409] * 7
    stored = witness.states.load(log.origin)
    assert stored is not None
    assert stored.size == 11 + statuses.index(200)
