"""The rendered manifests would run: every command exists, every setting is one the code reads,
each service listens where its Service and probes look, the Kafka resources are the topology's,
no Secret is committed, and every object passes its schema and the security check."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import venv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from fastapi import FastAPI
from pydantic_settings import BaseSettings
from starlette.routing import Match

from services.hubkit.retention import RetentionRules
from services.hubkit.settings import HubSettings
from services.hubkit.topology import load_topology
from services.stack.artifacts import ensure_kustomize
from services.stack.strimzi import render_strimzi
from tests.factories import REPO

OVERLAYS = sorted((REPO / "deploy/k8s/overlays").iterdir())
KUBERNETES_VERSION = "1.33.0"
"""The Kubernetes release the manifests are validated against (kubernetes-validate's schemas)."""
STRIMZI_SCHEMA = REPO / "deploy/k8s/schemas/strimzi-v1beta2.json"
STRIMZI_KINDS = ("Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser")
CHECKOV_VERSION = "3.3.30"

# Modules holding the services' settings classes (BaseSettings subclasses with an env prefix).
SETTINGS_MODULES = (
    "services.hubkit.settings",
    "services.adapters.ingest.settings",
    "services.audit.settings",
    "services.audit.child_lookup",
    "services.childindex.settings",
    "services.console.settings",
    "services.cpis.settings",
    "services.gateway.settings",
    "services.identity.settings",
    "services.policy.settings",
    "services.witness.settings",
    "services.cli.erasure_job",
)


@pytest.fixture(scope="module")
def kustomize() -> Path:
    return ensure_kustomize(HubSettings())


@pytest.fixture(scope="module")
def rendered(kustomize: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        overlay.name: [
            doc
            for doc in yaml.safe_load_all(
                subprocess.run(
                    [str(kustomize), "build", str(overlay)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            if doc
        ]
        for overlay in OVERLAYS
    }


def _containers(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                yield doc, container


def _safehub_containers(docs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(d, c) for d, c in _containers(docs) if c.get("command", [""])[0] == "safehub"]


def _environment(docs: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """The variables a container starts with: its ConfigMaps' data, then its own values."""
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env |= maps[source["configMapRef"]["name"]]
    env |= {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return env


# --- every command exists ------------------------------------------------------------------


@pytest.mark.parametrize("overlay", [o.name for o in OVERLAYS])
def test_every_container_command_answers_help(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    """The real CLI, in a fresh interpreter, knows each command a manifest runs (`--help`
    exits 0 only for a command that exists; `test_k8s` parses the options)."""
    commands = {tuple(c["command"][1:]) for _, c in _safehub_containers(rendered[overlay])}
    assert len(commands) >= 8
    for arguments in sorted(commands):
        words = [a for a in arguments if not a.startswith("-")]  # the command, not its options
        answer = subprocess.run(
            [sys.executable, "-m", "services.cli.main", *words[:2], "--help"],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
        )
        assert answer.returncode == 0, (arguments, answer.stderr)
        for option in (a.split("=")[0] for a in arguments if a.startswith("--")):
            assert option in answer.stdout, f"safehub {' '.join(words)} has no {option}"


def test_the_help_check_catches_an_unknown_command() -> None:
    answer = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "audit", "serve", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert answer.returncode != 0


# --- settings and ports agree with the code ------------------------------------------------


def _settings_classes() -> list[type[BaseSettings]]:
    found: list[type[BaseSettings]] = []
    for name in SETTINGS_MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseSettings)
                and value.model_config.get("env_prefix")
                and value not in found
            ):
                found.append(value)
    return found


def settings_variables() -> frozenset[str]:
    """Every variable some settings class reads: its prefix plus a field name."""
    return frozenset(
        f"{cls.model_config['env_prefix']}{field}".upper()
        for cls in _settings_classes()
        for field in cls.model_fields
    )


def test_the_settings_scan_knows_the_classes() -> None:
    known = settings_variables()
    assert {"SAFEHUB_KAFKA_BOOTSTRAP", "SAFEHUB_GATEWAY_HTTP_PORT", "SAFEHUB_ADAPTER_HOST"} <= known
    assert "SAFEHUB_GATEWAY_LISTEN_PORT" not in known


@pytest.mark.parametrize("overlay", [o.name for o in OVERLAYS])
def test_every_variable_is_read_by_a_settings_class(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    known = settings_variables()
    docs = rendered[overlay]
    settings_maps = [d for d in docs if d["kind"] == "ConfigMap" and "safehub-settings" in str(d)]
    names = {n for d in settings_maps for n in d.get("data", {})}
    names |= {
        e["name"]
        for _, c in _safehub_containers(docs)
        for e in c.get("env", [])  # OPA's own variables are OPA's business
    }
    unread = sorted(n for n in names if n not in known)
    assert not unread, f"no settings class reads {unread}"


# Which settings a command listens by: (class, host field, port field).
def _listen_settings(arguments: tuple[str, ...]) -> tuple[type[BaseSettings], str, str]:
    from services.adapters.ingest.settings import AdapterSettings
    from services.audit.settings import AuditSettings
    from services.childindex.settings import ChildIndexSettings
    from services.console.settings import ConsoleSettings
    from services.cpis.settings import CpisSettings
    from services.gateway.settings import GatewaySettings
    from services.identity.settings import IdentitySettings

    table: dict[tuple[str, str], tuple[type[BaseSettings], str, str]] = {
        ("gateway", "run"): (GatewaySettings, "http_host", "http_port"),
        ("audit", "api"): (AuditSettings, "api_host", "api_port"),
        ("audit", "index"): (AuditSettings, "indexer_host", "indexer_port"),
        ("cpis", "serve"): (CpisSettings, "host", "port"),
        ("childindex", "serve"): (ChildIndexSettings, "host", "port"),
        ("console", "serve"): (ConsoleSettings, "host", "port"),
        ("identity", "serve"): (IdentitySettings, "host", "port"),
        ("adapters", "serve"): (AdapterSettings, "host", "port"),
    }
    return table[(arguments[0], arguments[1])]


@pytest.mark.parametrize("overlay", [o.name for o in OVERLAYS])
def test_each_service_listens_on_its_container_port(
    rendered: dict[str, list[dict[str, Any]]], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings the container's environment gives (read by the real settings class) put
    the server on every interface at the port its Service and probes name."""
    docs = rendered[overlay]
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    for deployment, container in _safehub_containers(docs):
        name = f"{deployment['metadata']['name']}/{container['name']}"
        assert "--host" not in container["command"], f"{name}: listen address from settings"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        (probed,) = {container[p]["httpGet"]["port"] for p in ("livenessProbe", "readinessProbe")}
        cls, host_field, port_field = _listen_settings(tuple(container["command"][1:3]))
        for key in [k for k in os.environ if k.startswith("SAFEHUB_")]:
            monkeypatch.delenv(key)
        for key, value in _environment(docs, container).items():
            monkeypatch.setenv(key, value)
        settings = cls()
        assert getattr(settings, host_field) == "0.0.0.0", name
        assert getattr(settings, port_field) == ports[probed], name
        # A Service targets the pod's `http` port: this container's, if it is the one.
        service = services.get(deployment["metadata"]["name"])
        for port in service["spec"]["ports"] if service else ():
            if port["targetPort"] in ports:
                assert port["targetPort"] == probed, f"{name}: Service and probes agree"
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        pod_ports = {
            p["name"]
            for c in deployment["spec"]["template"]["spec"]["containers"]
            for p in c.get("ports", [])
        }
        service = services.get(deployment["metadata"]["name"])
        for port in service["spec"]["ports"] if service else ():
            assert port["targetPort"] in pod_ports, f"{deployment['metadata']['name']}: targetPort"


def _service_apps(hub: HubSettings) -> dict[str, Callable[[], FastAPI]]:
    from services.adapters.childrens_services.app import create_app as csc_app
    from services.adapters.health.app import create_app as health_app
    from services.adapters.police.app import create_app as police_app
    from services.adapters.voluntary_sector.app import create_app as vcs_app
    from services.audit.api import create_app as audit_app
    from services.audit.indexer_health import IndexerHealth, indexer_ops_app
    from services.childindex.bootstrap import childindex_app
    from services.childindex.settings import ChildIndexSettings
    from services.console.app import create_app as console_app
    from services.cpis.bootstrap import cpis_app
    from services.gateway.http import ops_app
    from services.gateway.metrics import GatewayMetrics
    from services.identity.app import create_app as identity_app

    return {
        "gateway": lambda: ops_app(lambda: None, GatewayMetrics()),  # type: ignore[arg-type,return-value]
        "audit": lambda: audit_app(None, hub),
        "audit-indexer": lambda: indexer_ops_app(lambda: IndexerHealth(True, True, "")),
        "cpis": lambda: cpis_app(hub),
        "childindex": lambda: childindex_app(hub, ChildIndexSettings()),
        "console": lambda: console_app(hub),
        "identity": lambda: identity_app(hub),
        "adapter-police": lambda: police_app(hub),
        "adapter-health": lambda: health_app(hub),
        "adapter-childrens-services": lambda: csc_app(hub),
        "adapter-voluntary-sector": lambda: vcs_app(hub),
    }


def has_route(app: FastAPI, path: str) -> bool:
    scope = {"type": "http", "method": "GET", "path": path.split("?")[0], "root_path": ""}
    return any(route.matches(scope)[0] is Match.FULL for route in app.router.routes)


def test_every_probe_asks_a_route_the_service_has(
    rendered: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    apps = _service_apps(HubSettings(data_dir=tmp_path))
    probed = {  # by container: the local overlay runs the audit indexer in the audit pod
        (container["name"], container[probe]["httpGet"]["path"])
        for docs in rendered.values()
        for _, container in _safehub_containers(docs)
        for probe in ("livenessProbe", "readinessProbe")
    }
    assert {name for name, _ in probed} == set(apps)
    built = {name: make() for name, make in apps.items()}
    missing = sorted((name, path) for name, path in probed if not has_route(built[name], path))
    assert not missing, f"probes of routes that do not exist: {missing}"
    assert not has_route(built["identity"], "/readyz")  # the check can fail


# --- one identity provider, Kafka where Strimzi puts it ------------------------------------


@pytest.mark.parametrize("overlay", [o.name for o in OVERLAYS])
def test_one_identity_provider_every_service_names(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    providers = [
        d for d, c in _safehub_containers(docs) if tuple(c["command"][1:3]) == ("identity", "serve")
    ]
    assert [d["metadata"]["name"] for d in providers] == ["identity"]
    for deployment, container in _safehub_containers(docs):
        command = container["command"]
        if command[1] in ("adapters", "gateway"):
            assert "--no-identity" in command, deployment["metadata"]["name"]
    env = _environment(docs, _safehub_containers(docs)[0][1])
    issuers = {
        env[k]
        for k in (
            "SAFEHUB_IDENTITY_ISSUER",
            "SAFEHUB_ADAPTER_TOKEN_ISSUER",
            "SAFEHUB_CHILDINDEX_TOKEN_ISSUER",
            "SAFEHUB_CPIS_TOKEN_ISSUER",
            "SAFEHUB_AUDIT_TOKEN_ISSUER",
            "SAFEHUB_CONSOLE_ISSUER",
        )
    }
    assert len(issuers) == 1, issuers
    (issuer,) = issuers
    # The gateway posts to the provider's Service, which takes that URL as its own
    # (tests/deploy/test_public_urls.py checks every service's calls the same way).
    internal = json.loads(env["SAFEHUB_IDENTITY_INTERNAL_URLS"])
    assert env["SAFEHUB_GATEWAY_TOKEN_ENDPOINT"] in {f"{u}/token" for u in internal}
    assert issuer.split("://")[1].split(".")[0] == "identity"
    kafka = next(d for d in docs if d["kind"] == "Kafka")
    bootstrap = f"{kafka['metadata']['name']}-kafka-bootstrap"
    assert env["SAFEHUB_KAFKA_BOOTSTRAP"].startswith(bootstrap)
    assert env.get("SAFEHUB_KAFKA_TLS_BOOTSTRAP", bootstrap).startswith(bootstrap)


def test_the_kafka_resources_are_the_topologys(tmp_path: Path) -> None:
    """deploy/k8s/base/kafka.yaml is the renderer's output for the repo's topology and
    retention rules: regenerate it (`python3 -m services.stack.strimzi`) after changing them."""
    hub = HubSettings()
    expected = render_strimzi(
        load_topology(hub.policies_dir), RetentionRules.load(hub.policies_dir)
    )
    committed = (REPO / "deploy/k8s/base/kafka.yaml").read_text()
    assert committed == expected, (
        "run: python3 -m services.stack.strimzi > deploy/k8s/base/kafka.yaml"
    )


def test_topics_are_replicated_and_users_least_privileged() -> None:
    docs = list(yaml.safe_load_all((REPO / "deploy/k8s/base/kafka.yaml").read_text()))
    hub = HubSettings()
    topology = load_topology(hub.policies_dir)
    topics = {d["spec"]["topicName"]: d["spec"] for d in docs if d["kind"] == "KafkaTopic"}
    assert set(topics) == set(topology.all_topics)
    for name, spec in topics.items():
        assert spec["replicas"] == 3
        assert spec["config"]["min.insync.replicas"] == "2"
        assert spec["partitions"] == topology.partitions(name)
    assert topics["gateway.notices-seen.v1"]["config"]["cleanup.policy"] == "compact"
    users = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "KafkaUser"}
    assert set(users) == set(topology.principals) - {"admin"}
    police = users["adapter-police"]["authorization"]["acls"]
    assert {
        (a["resource"]["type"], a["resource"].get("name"), tuple(a["operations"])) for a in police
    } == {
        ("topic", "notices.police.v1", ("Describe", "Write")),
        ("cluster", None, ("IdempotentWrite",)),
    }
    assert all(u["authentication"] == {"type": "scram-sha-512"} for u in users.values())


# --- network, disruption, secrets -----------------------------------------------------------


@pytest.mark.parametrize("overlay", [o.name for o in OVERLAYS])
def test_default_deny_and_a_policy_for_every_service(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    policies = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}
    deny = policies["default-deny"]
    assert deny["podSelector"] == {}
    assert deny["ingress"] == []
    assert deny["egress"] == []
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        name = deployment["metadata"]["name"]
        assert policies[name]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": name}
    # Only the gateway reaches OPA; nothing but the hub's services reaches the child index.
    opa_clients = [
        n
        for n, p in policies.items()
        for rule in p.get("egress", [])
        for peer in rule.get("to", [])
        if peer.get("podSelector", {}).get("matchLabels") == {"app.kubernetes.io/name": "opa"}
    ]
    assert opa_clients == ["gateway"]
    assert all("from" in rule for rule in policies["childindex"]["ingress"])


def test_production_keeps_a_gateway_through_a_disruption(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    budget = next(d for d in rendered["production"] if d["kind"] == "PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "gateway"}
    assert budget["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("overlay", [o.name for o in OVERLAYS])
def test_no_secret_is_committed(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    docs = rendered[overlay]
    assert not [d for d in docs if d["kind"] == "Secret" and (d.get("data") or d.get("stringData"))]
    for _, container in _containers(docs):
        for variable in container.get("env", []):
            assert (
                "value" not in variable
                or not any(
                    word in variable["name"].upper() for word in ("PASSWORD", "TOKEN", "SECRET")
                )
                or variable["value"].startswith("/")
            ), variable


# --- schemas and the security check ---------------------------------------------------------


@pytest.mark.parametrize("overlay", [o.name for o in OVERLAYS])
def test_every_object_matches_its_schema(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    strimzi = json.loads(STRIMZI_SCHEMA.read_text())
    problems = []
    for doc in rendered[overlay]:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in STRIMZI_KINDS:
            schema = {**strimzi, "$ref": f"#/$defs/{doc['kind']}"}
            problems += [
                f"{where}: {e.message}"
                for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)
            ]
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{where}: {error.message}")
    assert not problems, problems


def test_the_schemas_refuse_a_mistake() -> None:
    strimzi = json.loads(STRIMZI_SCHEMA.read_text())
    bad_user = {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaUser",
        "metadata": {"name": "x", "labels": {"strimzi.io/cluster": "safehub"}},
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {
                "type": "simple",
                "acls": [{"resource": {"type": "topic", "name": "t"}, "operations": ["Read"]}],
            },
        },
    }  # a topic rule without its patternType
    assert list(
        jsonschema.Draft202012Validator({**strimzi, "$ref": "#/$defs/KafkaUser"}).iter_errors(
            bad_user
        )
    )
    bad_port = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"port": "eighty"}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad_port, KUBERNETES_VERSION, strict=True)


def _checkov(hub: HubSettings) -> Path:
    """checkov in its own virtual environment under the cache (its pins would fight the
    project's), installed once from PyPI."""
    home = hub.cache_dir / f"checkov-{CHECKOV_VERSION}"
    binary = home / "bin" / "checkov"
    if not binary.exists():
        venv.create(home, with_pip=True, clear=True)
        subprocess.run(
            [
                str(home / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                f"checkov=={CHECKOV_VERSION}",
            ],
            check=True,
        )
    return binary


@pytest.mark.external
def test_the_security_check_finds_nothing_unjustified(kustomize: Path, tmp_path: Path) -> None:
    """checkov over every rendered overlay: each finding fixed, or skipped by an annotation
    `checkov.io/skipN: CHECK=reason` on the object that has it."""
    for overlay in OVERLAYS:
        rendered = subprocess.run(
            [str(kustomize), "build", str(overlay)], capture_output=True, text=True, check=True
        ).stdout
        (tmp_path / f"{overlay.name}.yaml").write_text(rendered)
    result = subprocess.run(
        [
            str(_checkov(HubSettings())),
            "-d",
            str(tmp_path),
            "--framework",
            "kubernetes",
            "--compact",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout)
    summary = report["summary"] if isinstance(report, dict) else report[0]["summary"]
    assert summary["parsing_errors"] == 0, summary
    assert summary["resource_count"] > 100, summary
    failed = [
        f"{f['check_id']} {f['resource']}"
        for r in (report if isinstance(report, list) else [report])
        for f in r["results"]["failed_checks"]
    ]
    assert not failed, failed
    skipped = [
        s
        for r in (report if isinstance(report, list) else [report])
        for s in r["results"]["skipped_checks"]
    ]
    assert skipped, "the accepted findings are reported as skipped"
    reasons = [s["check_result"].get("suppress_comment", "") for s in skipped]
    assert all(len(reason) > 20 for reason in reasons), "a skip needs a reason"
