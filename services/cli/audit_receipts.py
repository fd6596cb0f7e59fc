"""`safehub audit receipt`: offline receipts for a decision (issue 19, C2SP tlog-proof).

    safehub audit receipt get DECISION_ID --out DIR [--api URL]
        An IG officer (signed in with `safehub ig login`) fetches the decision's receipts from
        the IG API (GET /v1/decisions/{id}/receipt) and writes, per leaf, X.tlog-proof and
        X.entry.json into DIR.
    safehub audit receipt verify FILE_OR_DIR... --policy POLICY [--schemas DIR]
        Anyone checks receipts with only the partners' tlog-policy file (the log's and the
        witnesses' verifier keys) and no network: each X.tlog-proof with the X.entry.json
        beside it (a directory: every .tlog-proof in it).

Exit status: 0 every receipt verified; 1 a receipt does not verify (or is not a receipt), with
the reason; 2 the command cannot run (no sign-in, API unreachable, unreadable policy or file).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CANNOT_RUN = 2


def register(actions: Any) -> None:
    """Add `receipt get` and `receipt verify` to `safehub audit`."""
    receipt = actions.add_parser(
        "receipt", help="offline receipts (C2SP tlog-proof) for a decision: get, verify"
    )
    steps = receipt.add_subparsers(dest="receipt_action", required=True, metavar="STEP")
    get = steps.add_parser("get", help="fetch a decision's receipts from the IG API")
    get.add_argument("decision_id", help="the decision id")
    get.add_argument("--out", type=Path, required=True, help="directory to write the files into")
    get.add_argument("--api", default=None, help="the IG API (default from settings)")
    verify = steps.add_parser(
        "verify", help="check receipts offline with the partners' tlog-policy only"
    )
    verify.add_argument(
        "files", type=Path, nargs="+", metavar="FILE", help=".tlog-proof files or directories"
    )
    verify.add_argument(
        "--policy",
        type=Path,
        required=True,
        help="the partners' tlog-policy: the log's vkey, the witnesses' vkeys, the quorum",
    )
    verify.add_argument(
        "--schemas",
        type=Path,
        default=None,
        help="Avro schema directory, to read the decision id and check readable views "
        "(default: the repo's schemas/avro)",
    )
    for parser in (get, verify):
        parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.receipt_action == "get":
        return _get(args)
    return _verify(args)


def _fail(message: str, code: int) -> int:
    print(f"safehub audit receipt: {message}", file=sys.stderr)
    return code


# ---------------------------------------------------------------------------------------------
# verify: public keys only, no network


def _proof_files(paths: list[Path]) -> list[Path]:
    from services.hubkit.tlog_proof import TLOG_PROOF_SUFFIX

    found: list[Path] = []
    for path in paths:
        found += sorted(path.glob(f"*{TLOG_PROOF_SUFFIX}")) if path.is_dir() else [path]
    return found


def _verify(args: argparse.Namespace) -> int:
    from services.audit.domain.witnessing import WitnessPolicyInvalid, parse_policy
    from services.audit.errors import AuditError
    from services.audit.receipts import entry_path_for, verify_receipt
    from services.hubkit.codec import SchemaCatalog
    from services.hubkit.errors import TransparencyLogError
    from services.hubkit.settings import HubSettings

    try:
        policy = parse_policy(args.policy.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        return _fail(f"error: cannot read the policy {args.policy}: {error}", EXIT_CANNOT_RUN)
    except WitnessPolicyInvalid as error:
        return _fail(f"error: the policy {args.policy}: {error.reason}", EXIT_CANNOT_RUN)
    catalog = SchemaCatalog(args.schemas if args.schemas else HubSettings().schemas_dir)
    files = _proof_files(args.files)
    if not files:
        return _fail("error: no .tlog-proof files given or found", EXIT_CANNOT_RUN)
    failed = 0
    for proof_path in files:
        entry_path = proof_path.with_name(entry_path_for(proof_path.name))
        try:
            proof, entry = proof_path.read_bytes(), entry_path.read_bytes()
        except OSError as error:
            return _fail(f"error: {error}", EXIT_CANNOT_RUN)
        try:
            report = verify_receipt(tlog_proof=proof, entry=entry, policy=policy, catalog=catalog)
        except (AuditError, TransparencyLogError) as error:
            failed += 1
            print(
                f"FAILED {proof_path.name} ({type(error).__name__}): {error.reason}",
                file=sys.stderr,
            )
            continue
        what = (
            f"decision {report.decision_id}" + (f" ({report.event})" if report.event else "")
            if report.decision_id
            else f"the entry in {entry_path.name}"
        )
        witnesses = ", ".join(report.witnesses) or "no witness (the policy's quorum is none)"
        print(
            f"OK: {what} is leaf {report.leaf_index} of the log {report.origin} at size "
            f"{report.tree_size}, cosigned by {witnesses}"
        )
    return EXIT_FAILED if failed else EXIT_OK


# ---------------------------------------------------------------------------------------------
# get: an IG officer, through the IG API


def _get(args: argparse.Namespace) -> int:
    from services.audit.receipts import ENTRY_SUFFIX, RECEIPTS_FORMAT, receipt_file_stem
    from services.cli.ig import stored_token, token_path
    from services.hubkit.settings import HubSettings
    from services.hubkit.tlog_proof import TLOG_PROOF_SUFFIX

    hub = HubSettings()
    token = stored_token(token_path(hub.data_dir), now=time.time())
    if token is None:
        return _fail(
            "not signed in, or the sign-in expired: run `safehub ig login`", EXIT_CANNOT_RUN
        )
    answer = asyncio.run(_fetch(hub, token, args))
    if isinstance(answer, int):
        return answer
    status, body = answer
    if status != 200:
        hint = "; run `safehub ig login`" if status == 401 else ""
        detail = body.get("detail", "") if isinstance(body, dict) else ""
        return _fail(f"the IG API answered {status}: {detail}{hint}", EXIT_FAILED)
    if not isinstance(body, dict) or body.get("format") != RECEIPTS_FORMAT:
        return _fail(f"the IG API's answer is not {RECEIPTS_FORMAT}", EXIT_FAILED)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for receipt in body["receipts"]:
        # File names are built here from what was asked and the leaf index, never taken from
        # the answer's text.
        stem = receipt_file_stem(args.decision_id, int(receipt["leaf_index"]))
        (out / (stem + TLOG_PROOF_SUFFIX)).write_bytes(receipt["tlog_proof"].encode("utf-8"))
        entry = json.dumps(receipt["entry"], indent=2, sort_keys=True) + "\n"
        (out / (stem + ENTRY_SUFFIX)).write_bytes(entry.encode("utf-8"))
        print(f"{out / (stem + TLOG_PROOF_SUFFIX)} (+ {stem}{ENTRY_SUFFIX})")
    witnesses = ", ".join(body.get("witnesses") or []) or "none required"
    print(
        f"{len(body['receipts'])} receipt(s) for decision {body['decision_id']} against the "
        f"checkpoint at size {body['tree_size']} (cosigned by: {witnesses}); check them with "
        f"`safehub audit receipt verify {out} --policy PARTNERS.policy`"
    )
    return EXIT_OK


async def _fetch(hub: Any, token: str, args: argparse.Namespace) -> tuple[int, Any] | int:
    """The API's status and JSON body, or an exit status when it cannot be reached."""
    from urllib.parse import quote

    import httpx

    from services.cli.ig import default_api_url
    from services.hubkit.tls import http_client

    base = (args.api or default_api_url(hub)).rstrip("/")
    url = f"{base}/v1/decisions/{quote(args.decision_id, safe='')}/receipt"
    try:
        async with http_client(hub, timeout=30) as http:
            answer = await http.get(url, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as error:
        return _fail(
            f"cannot reach the IG API at {base} ({type(error).__name__}); is it running "
            "(`safehub demo` or `safehub audit api`)?",
            EXIT_CANNOT_RUN,
        )
    try:
        return answer.status_code, answer.json()
    except ValueError:
        return answer.status_code, {"detail": answer.text[:200]}
