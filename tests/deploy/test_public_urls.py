"""The hub's public names: an Ingress for each service people and agency systems reach, its host
set once per overlay (`safehub-hosts`), and the URLs the services name for browsers built from
the same hosts. The issuer a browser sees is the one every service validates tokens against,
while the services call the identity provider at its Service, which takes that URL as its own.

Everything is read as the code reads it: each container's environment (its ConfigMaps, then
its own values) through the services' own settings classes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from services.adapters.ingest.settings import AdapterSettings
from services.audit.child_lookup import ChildLookupSettings
from services.audit.settings import AuditSettings
from services.childindex.settings import ChildIndexSettings
from services.console.settings import ConsoleSettings
from services.cpis.settings import CpisSettings
from services.gateway.settings import GatewaySettings
from services.identity.settings import IdentitySettings
from tests.deploy.test_manifests_run import _environment, _safehub_containers
from tests.factories import REPO

OVERLAY_NAMES = ("local", "production")
# The services people (console, IG pages, sign-in, CP-IS lookup) and agency systems
# (adapters, tokens) reach from outside the cluster.
PUBLIC = {
    "console",
    "audit",
    "identity",
    "cpis",
    "adapter-police",
    "adapter-health",
    "adapter-childrens-services",
    "adapter-voluntary-sector",
}
# Names that can never be someone's real domain (RFC 2606, RFC 6761).
RESERVED_SUFFIXES = (".invalid", ".example", ".localhost", ".test")


def _hosts(overlay: str) -> dict[str, str]:
    doc = yaml.safe_load((REPO / f"deploy/k8s/overlays/{overlay}/hosts.yaml").read_text())
    assert doc["metadata"]["name"] == "safehub-hosts"
    hosts: dict[str, str] = doc["data"]
    return hosts


def _of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@contextmanager
def _environ(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Iterator[None]:
    with monkeypatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        yield


def _settings_of(
    docs: list[dict[str, Any]], deployment: str, monkeypatch: pytest.MonkeyPatch, make: Any
) -> Any:
    (container,) = [
        c
        for d, c in _safehub_containers(docs)
        if d["metadata"]["name"] == deployment and c["name"] == deployment
    ]
    with _environ(monkeypatch, _environment(docs, container)):
        return make()


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_each_public_service_has_one_ingress_on_its_host(
    overlays: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = overlays[overlay]
    hosts = _hosts(overlay)
    assert set(hosts) == PUBLIC
    assert len(set(hosts.values())) == len(hosts), "one name per service"
    assert all(h.endswith(RESERVED_SUFFIXES) for h in hosts.values()), "no real domain in git"
    ingresses = _of_kind(docs, "Ingress")
    services = _of_kind(docs, "Service")
    assert set(ingresses) == PUBLIC
    assert "safehub-hosts" not in _of_kind(docs, "ConfigMap"), "the hosts are not deployed"
    assert not _of_kind(docs, "Secret"), "TLS Secrets are referenced, never committed"
    for name, ingress in ingresses.items():
        (rule,) = ingress["spec"]["rules"]
        assert rule["host"] == hosts[name]
        (tls,) = ingress["spec"]["tls"]
        assert tls == {"hosts": [hosts[name]], "secretName": "safehub-public-tls"}
        (path,) = rule["http"]["paths"]
        backend = path["backend"]["service"]
        assert backend["name"] == name
        port_names = {p["name"] for p in services[name]["spec"]["ports"]}
        assert backend["port"]["name"] in port_names, f"{name}: no such port on its Service"


def _container_port(deployment: dict[str, Any], service: dict[str, Any], port_name: str) -> int:
    target = next(p for p in service["spec"]["ports"] if p["name"] == port_name)["targetPort"]
    ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    return int(next(p["containerPort"] for p in ports if p["name"] == target))


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_the_ingress_controller_may_reach_each_public_service(
    overlays: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    """The controller runs outside the namespace at an address only the cluster knows, so the
    service's policy admits any source on the port its Ingress leads to (and only that)."""
    docs = overlays[overlay]
    policies = list(_of_kind(docs, "NetworkPolicy").values())
    deployments = _of_kind(docs, "Deployment")
    services = _of_kind(docs, "Service")
    for name, ingress in _of_kind(docs, "Ingress").items():
        backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        port = _container_port(deployments[name], services[name], backend["port"]["name"])
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        admitted = [
            rule
            for p in policies
            if p["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()
            and p["spec"]["podSelector"] != {}
            for rule in p["spec"].get("ingress", [])
        ]
        open_ports = {
            q["port"] for rule in admitted if "from" not in rule for q in rule.get("ports", [])
        }
        assert open_ports == {port}, f"{name}: the ingress controller cannot reach {port}"


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_browsers_are_sent_to_the_public_names_and_tokens_name_one_issuer(
    overlays: dict[str, list[dict[str, Any]]], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = overlays[overlay]
    hosts = _hosts(overlay)
    console = _settings_of(docs, "console", monkeypatch, ConsoleSettings)
    audit = _settings_of(docs, "audit", monkeypatch, AuditSettings)
    identity = _settings_of(docs, "identity", monkeypatch, IdentitySettings)
    assert console.base_url == f"https://{hosts['console']}"
    assert urlsplit(console.redirect_uri).hostname == hosts["console"]
    assert console.secure_cookies
    assert audit.public_url == f"https://{hosts['audit']}"
    assert urlsplit(audit.signin_redirect_uri).hostname == hosts["audit"]
    assert console.ig_api_url == audit.public_url  # the IG pages a person is linked to
    issuer = f"https://{hosts['identity']}"
    assert identity.issuer == issuer
    assert urlsplit(identity.authorization_endpoint).hostname == hosts["identity"]
    validated = {
        "console": console.issuer,
        "audit": audit.resolved_token_issuer(),
        "childindex": _settings_of(
            docs, "childindex", monkeypatch, ChildIndexSettings
        ).token_issuer,
        "cpis": _settings_of(docs, "cpis", monkeypatch, CpisSettings).token_issuer,
        **{
            name: _settings_of(docs, name, monkeypatch, AdapterSettings).token_issuer
            for name in PUBLIC
            if name.startswith("adapter-")
        },
    }
    assert set(validated.values()) == {issuer}, validated


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_services_call_the_provider_at_its_service_which_takes_it_as_its_own(
    overlays: dict[str, list[dict[str, Any]]], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside the cluster the public name may not resolve (and in production its certificate
    is not the hub CA's): each service's own calls (JWKS, tokens, sign-in code redemption) go
    to the identity Service, and every token request's assertion names a URL the provider
    accepts as itself."""
    docs = overlays[overlay]
    identity = _settings_of(docs, "identity", monkeypatch, IdentitySettings)
    internal = {u.rstrip("/") for u in identity.internal_urls}
    assert internal
    assert all((urlsplit(u).hostname or "").split(".")[0] == "identity" for u in internal)
    console = _settings_of(docs, "console", monkeypatch, ConsoleSettings)
    audit = _settings_of(docs, "audit", monkeypatch, AuditSettings)
    with _environ(monkeypatch, _environment(docs, _container(docs, "audit"))):
        lookup_endpoint = ChildLookupSettings().resolved_token_endpoint(audit.token_issuer)
    adapters = {
        name: _settings_of(docs, name, monkeypatch, AdapterSettings)
        for name in PUBLIC
        if name.startswith("adapter-")
    }
    # Token requests: posted to these URLs, each assertion addressed to the same URL...
    posted = {
        "gateway": _settings_of(docs, "gateway", monkeypatch, GatewaySettings).token_endpoint,
        "console": console.resolved_token_endpoint(),
        "audit sign-in": f"{audit.resolved_identity_url()}/token",
        "audit child lookup": lookup_endpoint,
        **{name: a.resolved_token_endpoint() for name, a in adapters.items()},
    }
    jwks = {
        "console": console.resolved_jwks_url(),
        "audit": audit.resolved_jwks_url(),
        "childindex": _settings_of(
            docs, "childindex", monkeypatch, ChildIndexSettings
        ).resolved_jwks_url(),
        "cpis": _settings_of(docs, "cpis", monkeypatch, CpisSettings).resolved_jwks_url(),
        **{name: a.resolved_jwks_url() for name, a in adapters.items()},
    }
    for what, url in {**posted, **{f"{k} keys": v for k, v in jwks.items()}}.items():
        assert any(url.startswith(f"{base}/") for base in internal), f"{what}: {url}"
    # ... which the provider accepts (the console's sign-in names the public endpoint).
    accepted = set(identity.assertion_audiences)
    assert set(posted.values()) <= accepted, set(posted.values()) - accepted
    assert f"{console.issuer}/token" in accepted
    assert console.resolved_identity_url() in internal
    # Each of them may reach the provider's pods (its Service's port).
    policies = _of_kind(docs, "NetworkPolicy")
    callers = {"gateway", "console", "audit", "childindex", "cpis", *adapters}
    for caller in callers:
        egress = policies[caller]["spec"]["egress"]
        assert any(
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "identity"}}}
            in rule.get("to", [])
            for rule in egress
        ), f"{caller} cannot reach the identity provider"


def _container(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(
        c
        for d, c in _safehub_containers(docs)
        if d["metadata"]["name"] == name and c["name"] == name
    )


def test_the_hosts_are_set_in_one_place_per_overlay() -> None:
    """Each overlay names its hosts in hosts.yaml only; the component copies them."""
    for overlay in OVERLAY_NAMES:
        folder = REPO / "deploy/k8s/overlays" / overlay
        for path in folder.glob("*.yaml"):
            if path.name == "hosts.yaml":
                continue
            text = path.read_text()
            for host in _hosts(overlay).values():
                assert host not in text, f"{path.relative_to(REPO)} repeats {host}"
    assert Path(REPO / "deploy/k8s/components/public-urls/kustomization.yaml").is_file()
