"""Each pod's key directory holds exactly the files its code opens, laid out as the code reads
them: `<keys_dir>/private/<owner>.pem` for each key it signs with (hubkit.envelope
`load_signing_key`) and `<keys_dir>/trusted/<owner>.json` for each signer it verifies
(`KeyDirectory.load`). A Secret's keys are flat, so every keys volume maps them with `items`;
no pod holds another service's private key.

What each service signs with and verifies is derived here from the code's own sources (the
principal constants, the topology, the break-glass rules, the audit streams), then checked two
ways: the mounted paths equal the expected ones, and the code's loaders, run over a key
directory built from the mounts, find every key they need and trust exactly those signers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from services.audit.keys import ensure_log_key, log_key_paths
from services.audit.settings import LOG_KEY_NAME
from services.childindex.settings import ChildIndexSettings
from services.hubkit.audit_trail import ACCESS_STREAM, DECISION_STREAM
from services.hubkit.break_glass import BreakGlassRules
from services.hubkit.envelope import KeyDirectory, load_signing_key, provision_keys
from services.hubkit.settings import HubSettings
from services.hubkit.topology import (
    CONSOLE_PRINCIPAL,
    CPIS_PRINCIPAL,
    GATEWAY_PRINCIPAL,
    load_topology,
)

OVERLAY_NAMES = ("local", "production")
ADAPTER_AGENCIES = {
    "adapter-police": "POLICE",
    "adapter-health": "HEALTH",
    "adapter-childrens-services": "CHILDRENS_SERVICES",
    "adapter-voluntary-sector": "VOLUNTARY_SECTOR",
}


def _needs() -> dict[str, tuple[set[str], set[str]]]:
    """(owners whose private key it loads, owners whose public key it trusts), by container."""
    hub = HubSettings()
    topology = load_topology(hub.policies_dir)
    agencies = {a.principal for a in topology.agencies}
    audit_signers = {DECISION_STREAM.signer, ACCESS_STREAM.signer, *ACCESS_STREAM.delegates}
    return {
        # Notices (and their per-field SD-JWTs) from every agency; break-glass requests from
        # the services the IG's rules let ask (services/gateway/domain/break_glass.py).
        "gateway": (
            {GATEWAY_PRINCIPAL},
            agencies | set(BreakGlassRules.load(hub.policies_dir).requesting_services),
        ),
        # Feed items sealed by the gateway; inside them each agency's field provenance.
        # It signs its access events and, as the MASH agency, its decisions.
        "console": (
            {CONSOLE_PRINCIPAL, topology.agency("MASH").principal},
            {GATEWAY_PRINCIPAL} | agencies,
        ),
        # The register's feed (hubkit.feed_items: gateway-signed only); it signs as CP-IS.
        "cpis": ({CPIS_PRINCIPAL}, {GATEWAY_PRINCIPAL}),
        # The log's own key (its public halves are its files too, below) and each audit
        # stream's writers (hubkit.audit_trail).
        "audit-indexer": (set(), audit_signers),
        **{
            name: ({topology.agency(code).principal}, set())
            for name, code in ADAPTER_AGENCIES.items()
        },
    }


def _expected_paths(container: str, keys_dir: Path, env: dict[str, str]) -> set[Path]:
    private, trusted = _needs().get(container, (set(), set()))
    paths = {keys_dir / "private" / f"{o}.pem" for o in private}
    paths |= {keys_dir / "trusted" / f"{o}.json" for o in trusted}
    if container == "audit-indexer":
        paths |= set(log_key_paths(keys_dir, LOG_KEY_NAME))
    if container == "childindex":
        index = ChildIndexSettings.model_validate(
            {
                k.removeprefix("SAFEHUB_CHILDINDEX_").lower(): v
                for k, v in env.items()
                if k.startswith("SAFEHUB_CHILDINDEX_")
            }
        )
        paths.add(index.resolved_secret_path(keys_dir))
    return paths


def _safehub_containers(docs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (d["spec"]["template"]["spec"], c)
        for d in docs
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
        if c.get("command", [""])[0] == "safehub"
    ]


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def _mounted_files(
    pod: dict[str, Any], container: dict[str, Any], under: Path
) -> dict[Path, tuple[str, str]]:
    """Each file mounted at or below `under`: path -> (Secret, key). A Secret mounted whole
    cannot be listed (nor laid out in folders), so it fails here."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    files: dict[Path, tuple[str, str]] = {}
    for mount in container.get("volumeMounts", []):
        at = Path(mount["mountPath"])
        if not (at == under or under in at.parents or at in under.parents):
            continue
        volume = volumes[mount["name"]]
        assert mount.get("readOnly") is True, f"{container['name']}: {at} is writable"
        secret = volume.get("secret")
        assert secret is not None, f"{container['name']}: {at} is not a Secret"
        assert "items" in secret, (
            f"{container['name']}: Secret {secret['secretName']} mounted whole at {at}; "
            "map its keys with items into private/ and trusted/"
        )
        for item in secret["items"]:
            # The Secret's flat key is the file's name: `<owner>.pem` lands in private/,
            # `<owner>.json` in trusted/, never under another owner's name.
            assert Path(item["path"]).name == item["key"], (container["name"], item)
            files[at / item["path"]] = (secret["secretName"], item["key"])
    return {p: s for p, s in files.items() if under in p.parents}


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_each_key_directory_holds_exactly_what_its_code_opens(
    overlays: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    seen = set()
    for pod, container in _safehub_containers(overlays[overlay]):
        env = _env(container)
        keys_dir = HubSettings(data_dir=Path(env["SAFEHUB_DATA_DIR"])).keys_dir
        mounted = _mounted_files(pod, container, keys_dir)
        assert set(mounted) == _expected_paths(container["name"], keys_dir, env), container["name"]
        secrets = {secret for secret, _ in mounted.values()}
        assert len(secrets) <= 1, f"{container['name']}: its keys come from one Secret"
        seen.add(container["name"])
    assert set(_needs()) <= seen, "a service whose keys are derived here is not deployed"


def _secret_store(tmp: Path) -> dict[str, bytes]:
    """The flat keys an operator puts in the `<service>-signing-key` Secrets (`<owner>.pem`,
    `<owner>.json`; the log key's `audit-log.pem|pub|vkey`), from keys made as `stack up`
    makes them."""
    hub = HubSettings()
    owners = {o for private, trusted in _needs().values() for o in private | trusted}
    made = tmp / "made"
    provision_keys(made, sorted(owners))
    ensure_log_key(made, name=LOG_KEY_NAME, origin="audit.safehub.invalid")
    store = {p.name: p.read_bytes() for p in (made / "private").iterdir()}
    store |= {p.name: p.read_bytes() for p in (made / "trusted").iterdir()}
    assert hub.keys_dir != made
    return store


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_the_code_loads_its_keys_from_the_mounted_layout(
    overlays: dict[str, list[dict[str, Any]]], overlay: str, tmp_path: Path
) -> None:
    store = _secret_store(tmp_path)
    needs = _needs()
    for pod, container in _safehub_containers(overlays[overlay]):
        name = container["name"]
        if name not in needs:
            continue
        data_dir = Path(_env(container)["SAFEHUB_DATA_DIR"])
        root = tmp_path / overlay / name
        keys_dir = root / HubSettings(data_dir=data_dir).keys_dir.relative_to("/")
        for path, (secret, key) in _mounted_files(
            pod, container, HubSettings(data_dir=data_dir).keys_dir
        ).items():
            assert key in store, f"{name}: {secret} key {key} is no key the hub makes"
            target = root / path.relative_to("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(store[key])
        private, trusted = needs[name]
        for owner in private:
            assert load_signing_key(keys_dir, owner).owner == owner
        owners = {KeyDirectory.load(keys_dir / "trusted").get(k).owner for k in _key_ids(keys_dir)}
        assert owners == trusted, name
        if name == "audit-indexer":
            before = {p: p.read_bytes() for p in keys_dir.rglob("*") if p.is_file()}
            ensure_log_key(keys_dir, name=LOG_KEY_NAME, origin="audit.safehub.invalid")
            after = {p: p.read_bytes() for p in keys_dir.rglob("*") if p.is_file()}
            assert before == after, "the indexer made a log key instead of reading the mounted one"
        shutil.rmtree(root)


def _key_ids(keys_dir: Path) -> list[str]:
    return [
        json.loads(p.read_text())["key_id"] for p in sorted((keys_dir / "trusted").glob("*.json"))
    ]
