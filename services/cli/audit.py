"""`safehub audit`: verify the audit log as a partner agency, and produce the evidence files.

Verifier (needs only the log's public key and the files; no access to the hub):

    safehub audit verify consistency OLD.note NEW.note --proof consistency.json --key audit-log.pub
    safehub audit verify inclusion entry.json --proof inclusion.json --checkpoint cp.note --key K
    safehub audit verify log EXPORT_DIR --key K [--checkpoint OTHER.note ...] [--policy FILE]
    safehub audit receipt verify X.tlog-proof|DIR ... --policy FILE   (audit_receipts.py)

Exit status: 0 verified; 1 the evidence shows tampering (edited entry, truncated log, split
view, forged or mismatched checkpoint, a store that disagrees with itself); 2 unreadable input
or a request the log cannot answer.

Hub side (reads the audit store at SAFEHUB_AUDIT_DATABASE_URL, default SQLite under the data
directory):

    safehub audit export EXPORT_DIR [--views] [--commitments-only]
    safehub audit checkpoint [--size N] [--out FILE]
    safehub audit proof inclusion (--leaf-index N | --decision-id ID) [--size N] --out-dir DIR
    safehub audit proof consistency --old-size A [--new-size B] --out-dir DIR
    safehub audit check [--full]   the store agrees with itself and its last checkpoint
    safehub audit index            run the indexer (consume, append, sign checkpoints)
    safehub audit api              run the IG query API
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from services.cli import audit_figures, audit_receipts

__all__ = ["main", "register", "run"]

EXIT_OK = 0
EXIT_TAMPERED = 1
EXIT_BAD_INPUT = 2


def register(subparsers: Any) -> None:
    audit = subparsers.add_parser("audit", help="verify the audit log; export evidence")
    actions = audit.add_subparsers(dest="audit_action", required=True, metavar="ACTION")

    verify = actions.add_parser("verify", help="check evidence with only the log's public key")
    checks = verify.add_subparsers(dest="check", required=True, metavar="CHECK")
    consistency = checks.add_parser("consistency", help="the newer checkpoint extends the older")
    consistency.add_argument("old", type=Path, help="older checkpoint (signed note)")
    consistency.add_argument("new", type=Path, help="newer checkpoint (signed note)")
    consistency.add_argument("--proof", type=Path, required=True, help="consistency proof file")
    inclusion = checks.add_parser("inclusion", help="an entry is in the signed log")
    inclusion.add_argument("entry", type=Path, help="entry file (safehub.audit.entry.v1)")
    inclusion.add_argument("--proof", type=Path, required=True, help="inclusion proof file")
    inclusion.add_argument("--checkpoint", type=Path, required=True, help="signed checkpoint")
    whole = checks.add_parser("log", help="audit a whole exported log and checkpoint history")
    whole.add_argument("export", type=Path, help="directory written by `safehub audit export`")
    whole.add_argument(
        "--checkpoint",
        type=Path,
        action="append",
        default=[],
        help="more checkpoints obtained elsewhere (another agency, the topic); repeatable",
    )
    whole.add_argument(
        "--policy",
        type=Path,
        default=None,
        help="the partners' witness policy (C2SP tlog-policy): every checkpoint must carry "
        "cosignatures meeting its quorum",
    )
    for parser in (consistency, inclusion, whole):
        parser.add_argument(
            "--key", type=Path, required=True, help="the log's public key (PEM or .vkey)"
        )
        parser.set_defaults(handler=run)
    for parser in (inclusion, whole):
        parser.add_argument(
            "--schemas",
            type=Path,
            default=None,
            help="Avro schema directory, to check readable views against the bytes "
            "(default: the repo's schemas/avro)",
        )

    export = actions.add_parser("export", help="write the log and its checkpoints to a directory")
    export.add_argument("out", type=Path)
    export.add_argument("--views", action="store_true", help="add readable views of entries")
    export.add_argument(
        "--all",
        action="store_true",
        help="include entries after the latest checkpoint (not yet signed)",
    )
    export.add_argument(
        "--commitments-only",
        action="store_true",
        help="leave out the openings (record and salt) of entries naming a child: a copy for "
        "a partner that proves the same tree and holds no child's records",
    )

    checkpoint = actions.add_parser("checkpoint", help="print or save a signed checkpoint")
    checkpoint.add_argument("--size", type=int, default=None, help="tree size (default latest)")
    checkpoint.add_argument("--out", type=Path, default=None)

    proof = actions.add_parser("proof", help="write proof files for the verifier")
    kinds = proof.add_subparsers(dest="proof_kind", required=True, metavar="KIND")
    p_inclusion = kinds.add_parser("inclusion", help="entry + inclusion proof + checkpoint")
    which = p_inclusion.add_mutually_exclusive_group(required=True)
    which.add_argument("--leaf-index", type=int)
    which.add_argument("--decision-id")
    p_inclusion.add_argument("--size", type=int, default=None, help="checkpoint size")
    p_inclusion.add_argument("--out-dir", type=Path, required=True)
    p_consistency = kinds.add_parser("consistency", help="consistency proof + both checkpoints")
    p_consistency.add_argument("--old-size", type=int, required=True)
    p_consistency.add_argument("--new-size", type=int, default=None)
    p_consistency.add_argument("--out-dir", type=Path, required=True)

    check = actions.add_parser("check", help="check the store against itself and its checkpoints")
    check.add_argument(
        "--full",
        action="store_true",
        help="re-hash every leaf and subtree (O(n)), not only the edge",
    )

    actions.add_parser("index", help="run the audit indexer until interrupted")
    api = actions.add_parser("api", help="run the IG query API")
    api.add_argument("--host", default=None)
    api.add_argument("--port", type=int, default=None)

    audit_figures.register(actions)  # prevalence, decision-mix (services/cli/audit_figures.py)
    audit_receipts.register(actions)  # receipt get|verify (services/cli/audit_receipts.py)

    hub_side = (
        export,
        checkpoint,
        p_inclusion,
        p_consistency,
        check,
        actions.choices["index"],
        api,
    )
    for parser in hub_side:
        parser.add_argument(
            "--database-url", default=None, help="audit store URL (default from settings)"
        )
        parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch one `safehub audit` command; returns the exit status."""
    from services.audit.domain.witnessing import QuorumNotMet
    from services.audit.errors import TAMPER_EVIDENCE, AuditError, StorageCorrupt

    try:
        if args.audit_action == "verify":
            return _verify(args)
        if args.audit_action in ("index", "api"):
            return _serve(args)
        return _hub_side(args)
    except AuditError as error:
        # A store that disagrees with itself is evidence too (of tampering or of a bug).
        # So is a checkpoint the partners' witnesses did not cosign (a possible fork).
        tampered = isinstance(error, (*TAMPER_EVIDENCE, StorageCorrupt, QuorumNotMet))
        label = "FAILED" if tampered else "error"
        print(f"safehub audit: {label} ({type(error).__name__}): {error.reason}", file=sys.stderr)
        return EXIT_TAMPERED if tampered else EXIT_BAD_INPUT
    except OSError as error:
        print(f"safehub audit: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _catalog(schemas: Path | None) -> Any:
    from services.hubkit.codec import SchemaCatalog
    from services.hubkit.settings import HubSettings

    return SchemaCatalog(schemas if schemas is not None else HubSettings().schemas_dir)


def _verify(args: argparse.Namespace) -> int:
    from services.audit.keys import load_public_key
    from services.audit.verify import (
        read_export,
        verify_consistency_files,
        verify_inclusion_files,
        verify_log,
    )

    key = load_public_key(args.key)
    if args.check == "consistency":
        report = verify_consistency_files(
            old_note=_read(args.old),
            new_note=_read(args.new),
            proof=_read(args.proof),
            public_key=key,
        )
        print(
            f"OK: checkpoint at size {report.new.tree_size} extends checkpoint at size "
            f"{report.old.tree_size} of log {report.new.origin}"
        )
        return EXIT_OK
    if args.check == "inclusion":
        inclusion = verify_inclusion_files(
            entry=_read(args.entry),
            proof=_read(args.proof),
            note=_read(args.checkpoint),
            public_key=key,
            catalog=_catalog(args.schemas),
        )
        print(
            f"OK: entry {inclusion.leaf_index} (leaf hash {inclusion.leaf_hash.hex()}) is in "
            f"log {inclusion.checkpoint.origin} at size {inclusion.checkpoint.tree_size}"
        )
        return EXIT_OK
    entries, notes = read_export(args.export)
    notes += [_read(path) for path in args.checkpoint]
    policy = None
    if args.policy is not None:
        from services.audit.domain.witnessing import parse_policy

        policy = parse_policy(args.policy.read_text(encoding="utf-8"))
    audited = verify_log(
        entries=entries,
        notes=notes,
        public_key=key,
        catalog=_catalog(args.schemas),
        policy=policy,
    )
    latest = audited.latest
    print(
        f"OK: {audited.entries} entries rebuild every one of {len(audited.checkpoints)} signed "
        f"checkpoints" + (f"; latest size {latest.tree_size}" if latest else "")
    )
    for size, names in sorted((audited.witnessed or {}).items()):
        met = audited.witnessed_size is not None and size <= audited.witnessed_size
        state = "witnessed" if met else "below the quorum"
        print(f"checkpoint {size}: cosigned by {', '.join(names) or 'no witness'} ({state})")
    if audited.witnessed_size is not None:
        later = audited.entries - audited.witnessed_size
        print(
            f"witnessed: the log up to size {audited.witnessed_size} is what the partners' "
            "witnesses cosigned"
            + (f"; {later} later entries are not yet witnessed" if later else "")
        )
    if audited.unsigned_entries:
        print(f"note: {audited.unsigned_entries} entries are not yet covered by a checkpoint")
    return EXIT_OK


def _store(args: argparse.Namespace) -> Any:
    from sqlalchemy.engine import make_url

    from services.audit.errors import NotFound
    from services.audit.settings import AuditSettings
    from services.audit.storage_sql import open_store
    from services.hubkit.child_keys import StoreKeyFile
    from services.hubkit.settings import HubSettings

    settings, hub = AuditSettings(), HubSettings()
    if args.database_url:
        settings = settings.model_copy(update={"database_url": args.database_url})
    url = settings.database_url_for(hub)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        # Reading commands must not create an empty log where the real one was expected.
        raise NotFound(f"no audit store at {parsed.database}; check SAFEHUB_AUDIT_DATABASE_URL")
    return open_store(url, store_key=StoreKeyFile(settings.resolved_store_key_path(hub)))


def _hub_side(args: argparse.Namespace) -> int:
    from services.audit.export import (
        consistency_evidence,
        decision_leaves,
        export_log,
        inclusion_evidence,
    )

    store = _store(args)
    try:
        if args.audit_action == "check":
            from services.audit.storage import check_tree, check_tree_full

            head = check_tree_full(store) if args.full else check_tree(store)
            latest = store.latest_checkpoint()
            signed = latest.checkpoint.tree_size if latest else 0
            print(
                f"OK: {head.size} leaves, root {head.root.hex()}; consistent with the last "
                f"signed checkpoint (size {signed})"
                + (" ; every leaf and subtree re-hashed" if args.full else "")
            )
            return EXIT_OK
        if args.audit_action == "export":
            from services.audit.cosignatures import CosignatureStore

            summary = export_log(
                store,
                args.out,
                catalog=_catalog(None) if args.views else None,
                up_to_size=store.head().size if args.all else None,
                openings=not args.commitments_only,
                cosignatures=CosignatureStore(store.engine).by_checkpoint(),
            )
            print(
                f"exported {summary.entries} entries and {summary.checkpoints} checkpoints "
                f"to {summary.directory}"
            )
            return EXIT_OK
        if args.audit_action == "checkpoint":
            stored = store.checkpoint(args.size) if args.size is not None else None
            stored = stored or store.latest_checkpoint()
            if stored is None:
                print("safehub audit: the log has not signed a checkpoint yet", file=sys.stderr)
                return EXIT_BAD_INPUT
            if args.out is None:
                sys.stdout.write(stored.note.decode())
            else:
                args.out.write_bytes(stored.note)
                print(f"checkpoint at size {stored.checkpoint.tree_size} written to {args.out}")
            return EXIT_OK
        out: Path = args.out_dir
        out.mkdir(parents=True, exist_ok=True)
        if args.proof_kind == "inclusion":
            index = args.leaf_index
            if index is None:
                index = decision_leaves(store, args.decision_id)[0].leaf_index
            evidence = inclusion_evidence(
                store, leaf_index=index, tree_size=args.size, catalog=_catalog(None)
            )
            (out / "entry.json").write_bytes(evidence.entry)
            (out / "inclusion.json").write_bytes(evidence.proof)
            (out / "checkpoint.note").write_bytes(evidence.checkpoint.note)
            print(
                f"entry {index} proven against checkpoint size "
                f"{evidence.checkpoint.checkpoint.tree_size}: {out}/entry.json, "
                f"{out}/inclusion.json, {out}/checkpoint.note"
            )
            return EXIT_OK
        consistency = consistency_evidence(store, old_size=args.old_size, new_size=args.new_size)
        (out / "old.note").write_bytes(consistency.old.note)
        (out / "new.note").write_bytes(consistency.new.note)
        (out / "consistency.json").write_bytes(consistency.proof)
        print(
            f"consistency {consistency.old.checkpoint.tree_size} -> "
            f"{consistency.new.checkpoint.tree_size}: {out}/old.note, {out}/new.note, "
            f"{out}/consistency.json"
        )
        return EXIT_OK
    finally:
        store.close()


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from services.audit.settings import AuditSettings
    from services.cli.serving import listen_overrides
    from services.hubkit.settings import HubSettings

    overrides: dict[str, Any] = {}
    if args.database_url:
        overrides["database_url"] = args.database_url
    if args.audit_action == "api":
        overrides |= listen_overrides(args, host_field="api_host", port_field="api_port")
    settings = AuditSettings(**overrides)
    hub = HubSettings()
    if args.audit_action == "index":
        import time

        from aiokafka.errors import KafkaConnectionError

        from services.audit.indexer_health import run_with_health_routes
        from services.audit.service import build_indexer, run_until_signalled
        from services.hubkit.errors import CredentialsMissing
        from services.hubkit.tls import server_tls_options

        logging.getLogger("safehub.audit").setLevel(logging.INFO)
        try:
            indexer = build_indexer(hub, settings)
            # /healthz and /readyz beside the loop (settings indexer_host, indexer_port).
            asyncio.run(
                run_with_health_routes(
                    indexer,
                    lambda: run_until_signalled(indexer),
                    host=settings.indexer_host,
                    port=settings.indexer_port,
                    tls=server_tls_options(hub),
                    clock=time.monotonic,
                )
            )
        except CredentialsMissing as error:
            print(f"safehub audit: error: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except KafkaConnectionError:
            print(
                f"safehub audit: error: cannot reach the broker at {hub.kafka_bootstrap}; "
                "is the stack up (`safehub stack status`)?",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        return EXIT_OK
    import uvicorn

    from services.audit.api import create_app
    from services.cli.ig import register_ig_clients
    from services.hubkit.tls import server_tls_options

    register_ig_clients(hub, settings)  # with the local identity provider: IG sign-in

    uvicorn.run(
        create_app(settings, hub),
        host=settings.api_host,
        port=settings.api_port,
        **server_tls_options(hub),
    )
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """`python -m services.cli.audit ...`: the same commands without the `safehub` wrapper."""
    parser = argparse.ArgumentParser(prog="safehub")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(["audit", *(sys.argv[1:] if argv is None else argv)])
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
