"""The stack's OPA: a loopback bundle service, the OPA server polling it, and its health.

OPA loads only signed policy releases, from a loopback bundle service (a small Python
process, `opa-bundles`, reported as part of `opa`): `up` publishes the working tree's
policies/ when it differs from the latest release, and OPA verifies every release's
signature before activating it (see services/policy/publish.py and policies/README.md).
An https:// SAFEHUB_OPA_URL starts OPA with TLS and bearer-token authentication
(services/stack/opa/system/authz/authz.rego); the token is made once, 0600, and reaches OPA
through its environment only.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from services.hubkit.errors import TlsMaterialMissing
from services.hubkit.policy_contract import BUNDLE_NAME, revision_from_provenance
from services.hubkit.private_files import private_dir, write_atomically, write_private
from services.hubkit.settings import HubSettings
from services.hubkit.tls import opa_auth_headers, opa_ssl_context
from services.policy.errors import PolicyToolError
from services.policy.publish import BundleStore, PublishResult, publish_bundle
from services.policy.settings import PolicySettings
from services.policy.signing import SIGNING_ALGORITHM, provision_ig_signing_key
from services.stack import config
from services.stack.config import StackLayout
from services.stack.credentials import StackCredentials, new_secret
from services.stack.errors import ComponentUnhealthy, PortInUse, StackConfigError
from services.stack.processes import (
    ProcessSignature,
    Progress,
    StackProcesses,
    command_line,
    is_running,
    port_open,
    same_command_line,
    working_directory,
)

__all__ = [
    "BUNDLE_SERVER",
    "BUNDLE_SERVER_STOP_TIMEOUT_S",
    "OPA",
    "OPA_START_TIMEOUT_S",
    "OPA_STOP_TIMEOUT_S",
    "OpaCommand",
    "OpaServer",
]

OPA = "opa"
# The loopback bundle service OPA polls for the signed policy bundle; it lives and dies with
# OPA and is reported as part of the `opa` component.
BUNDLE_SERVER = "opa-bundles"
OPA_START_TIMEOUT_S = 20.0
OPA_STOP_TIMEOUT_S = 10.0
BUNDLE_SERVER_STOP_TIMEOUT_S = 5.0
_BUNDLE_SERVER_START_TIMEOUT_S = 10.0
# Policy evaluation allocates heavily and OPA's heap is small (tens of MB): collecting at 4x
# the live heap instead of Go's default 2x cut OPA's CPU per decision by about a quarter
# (3.9 -> 2.9 ms per notice, batches of 16). An operator's own GOGC wins.
_OPA_ENVIRONMENT = {"GOGC": os.environ.get("GOGC", "400")}
# OPA's API authorisation policy for an https OPA (package system.authz, with its tests).
_OPA_AUTHZ_POLICY = Path(__file__).with_name("opa") / "system" / "authz" / "authz.rego"

OpaCommand = tuple[tuple[str, ...], bool]
"""OPA's command line and whether its configuration changed since OPA last read it."""


class OpaServer:
    """OPA and its bundle service under one layout."""

    def __init__(
        self,
        settings: HubSettings,
        layout: StackLayout,
        processes: StackProcesses,
        credentials: StackCredentials,
        progress: Progress,
    ) -> None:
        self._settings = settings
        self._layout = layout
        self._processes = processes
        self._credentials = credentials
        self._progress = progress
        self.addr = config.parse_loopback_url(settings.opa_url, setting="SAFEHUB_OPA_URL")
        self.bundles = config.parse_loopback_endpoint(
            PolicySettings().bundle_server_addr, setting="SAFEHUB_POLICY_BUNDLE_SERVER_ADDR"
        )
        self.store = BundleStore.under(settings.data_dir)

    @property
    def signature(self) -> ProcessSignature:
        # Any `opa run --server` on our address: one started another way is still ours to
        # restart with the signed-bundle configuration (see `ensure_process`).
        return ProcessSignature(program="opa", arguments=("--server", str(self.addr)))

    @property
    def bundle_server_signature(self) -> ProcessSignature:
        return ProcessSignature(
            arguments=("services.policy.bundle_server", str(self.bundles)),
            paths=(self.store.root,),
        )

    def pid(self, *, remove_stale: bool = True) -> int | None:
        return self._processes.our_pid(OPA, self.signature, remove_stale=remove_stale)

    def bundle_server_pid(self, *, remove_stale: bool = True) -> int | None:
        return self._processes.our_pid(
            BUNDLE_SERVER, self.bundle_server_signature, remove_stale=remove_stale
        )

    # --- before starting ------------------------------------------------------------------------

    def preflight(self) -> None:
        """Fail before anything starts if OPA or its bundle service could not start anyway."""
        if not self._settings.policies_dir.is_dir():
            raise StackConfigError(
                f"opa: policy directory {self._settings.policies_dir} does not exist; "
                "set SAFEHUB_POLICIES_DIR"
            )
        if self.bundle_server_pid() is None and port_open(self.bundles):
            raise PortInUse("opa", str(self.bundles), "SAFEHUB_POLICY_BUNDLE_SERVER_ADDR")
        if self.pid() is None and port_open(self.addr):
            raise PortInUse("opa", str(self.addr), "SAFEHUB_OPA_URL")

    def ensure_published_bundle(self, opa: Path) -> str | None:
        """Make sure the bundle service offers a signed bundle of the working tree.

        OPA only ever loads signed bundles from the bundle service. For the local stack the
        working tree is what should run: on first `up` it is published as 1.0.0, and when it
        has changed since the latest release it is published as the next patch release (as
        `safehub policy publish` would). Returns the new revision, None when nothing changed.
        """
        try:
            result: PublishResult = publish_bundle(
                opa=opa,
                policies_dir=self._settings.policies_dir,
                store=self.store,
                keys_dir=self._settings.keys_dir,
                now=dt.datetime.now(dt.UTC),
            )
        except PolicyToolError as error:
            raise StackConfigError(f"opa: could not publish the policy bundle: {error}") from None
        if not result.created:
            return None
        self._progress(
            f"opa: published the working tree as signed bundle {result.release.revision} "
            f"({result.bundle})"
        )
        return result.release.revision

    def command(self, opa: Path) -> OpaCommand:
        """OPA's command line and whether its configuration file just changed."""
        key = provision_ig_signing_key(self._settings.keys_dir)
        opa_dir = self._settings.data_dir / "opa"
        text = config.render_opa_bundle_config(
            bundle_service=self.bundles,
            bundle_name=BUNDLE_NAME,
            key_id=key.key_id,
            public_key_pem=key.public_key_pem,
            signing_algorithm=SIGNING_ALGORITHM,
            persistence_dir=opa_dir / "persist",
        )
        path = opa_dir / "config.json"
        changed = not path.exists() or path.read_text() != text
        if changed:
            write_atomically(path, text)
        tls: config.OpaTls | None = None
        if self._settings.opa_uses_tls:
            # A new token means a running OPA expects the old one: restart it.
            changed = self._ensure_token() or changed
            tls = config.OpaTls(
                certificate=self._layout.server_certificate,
                private_key=self._layout.server_key,
                authz_policy=_OPA_AUTHZ_POLICY,
            )
        argv = config.opa_argv(opa=opa, addr=self.addr, config_file=path, tls=tls)
        return argv, changed

    def _ensure_token(self) -> bool:
        """OPA's bearer token (0600), generated once; True when it was just made."""
        path = self._settings.opa_token_path
        if path.is_file():
            return False
        private_dir(path.parent)
        write_private(path, new_secret() + "\n")
        return True

    def _environment(self) -> dict[str, str]:
        """GOGC, and for an https OPA the token its authz policy expects (never logged)."""
        if not self._settings.opa_uses_tls:
            return dict(_OPA_ENVIRONMENT)
        token = self._settings.opa_token_path.read_text().strip()
        return {**_OPA_ENVIRONMENT, config.OPA_TOKEN_ENV: config.validate_secret(token)}

    # --- processes ------------------------------------------------------------------------------

    def ensure_bundle_server(self) -> None:
        if self.bundle_server_pid() is not None:
            return
        if port_open(self.bundles):
            raise PortInUse("opa", str(self.bundles), "SAFEHUB_POLICY_BUNDLE_SERVER_ADDR")
        argv = config.bundle_server_argv(
            python=sys.executable, root=self.store.root, addr=self.bundles
        )
        pid = self._processes.start(BUNDLE_SERVER, argv)
        self._processes.wait_until_healthy(
            BUNDLE_SERVER, pid, _BUNDLE_SERVER_START_TIMEOUT_S, self._bundles_unhealthy_reason
        )

    def ensure_process(self, wanted: OpaCommand) -> tuple[int, bool]:
        """OPA's pid and whether it was (re)started just now."""
        argv, config_changed = wanted
        pid = self.pid()
        if pid is not None:
            running = command_line(pid)
            if (
                running is not None
                and same_command_line(running, argv, working_directory(pid))
                and not config_changed
            ):
                return pid, False
            # Started another way (e.g. an unsigned policy folder, before bundles were
            # signed) or with another key: restart so only the signed bundle is loaded.
            self._progress(f"opa: restarting pid {pid} to load the signed policy bundle")
            self._processes.stop(OPA, pid, OPA_STOP_TIMEOUT_S)
        if port_open(self.addr):
            raise PortInUse("opa", str(self.addr), "SAFEHUB_OPA_URL")
        return self._processes.start(OPA, argv, self._environment()), True

    # --- health ---------------------------------------------------------------------------------

    def wait_healthy(self, pid: int) -> None:
        self._processes.wait_until_healthy(OPA, pid, OPA_START_TIMEOUT_S, self.unhealthy_reason)

    def unhealthy_reason(self, timeout_s: float) -> str | None:
        # /health?bundles is 200 only once the signed bundle has been verified and activated.
        url = f"{self._settings.opa_url.rstrip('/')}/health?bundles"
        try:
            response = httpx.get(url, timeout=timeout_s, **self._client_options())
        except TlsMaterialMissing as error:
            return str(error)
        except httpx.HTTPError as error:
            return f"{type(error).__name__} from /health"
        if response.status_code != 200:
            return f"/health?bundles answered {response.status_code} (no verified bundle active)"
        bundles_reason = self._bundles_unhealthy_reason(timeout_s)
        if bundles_reason is not None:
            return f"{bundles_reason}; OPA keeps its bundle but will not see new ones"
        return None

    def _bundles_unhealthy_reason(self, timeout_s: float) -> str | None:
        try:
            response = httpx.get(f"http://{self.bundles}/health", timeout=timeout_s)
        except httpx.HTTPError as error:
            return f"bundle service {self.bundles}: {type(error).__name__}"
        if response.status_code != 200:
            return f"bundle service {self.bundles} answered {response.status_code}"
        return None

    def served_revision(self, timeout_s: float = 2.0) -> str | None:
        """The bundle revision OPA serves now (from `?provenance=true`), None if unknown."""
        url = f"{self._settings.opa_url.rstrip('/')}/v1/data/safehub/isa/agreement"
        try:
            response = httpx.get(
                url, params={"provenance": "true"}, timeout=timeout_s, **self._client_options()
            )
            return revision_from_provenance(response.json())
        except (httpx.HTTPError, ValueError, TlsMaterialMissing):
            return None

    def _client_options(self) -> dict[str, Any]:
        """verify= and headers= for calls to OPA: the stack's CA and token when https."""
        context = opa_ssl_context(self._settings)
        return {
            "verify": True if context is None else context,
            "headers": opa_auth_headers(self._settings),
        }

    def wait_revision(self, pid: int, timeout_s: float = 20.0) -> None:
        """Wait until OPA serves the current release (it polls the bundle service)."""
        wanted = self.store.current_revision()
        if wanted is None:
            return
        deadline = time.monotonic() + timeout_s
        while (served := self.served_revision()) != wanted:
            if time.monotonic() >= deadline or not is_running(pid):
                log_path = self._layout.log_file(OPA)
                raise ComponentUnhealthy(
                    OPA,
                    f"serves bundle revision {served!r}, not the published {wanted!r}; "
                    "OPA refuses a bundle whose signature does not verify (see its log)",
                    log_path,
                    self._credentials.redacted_tail(log_path),
                )
            time.sleep(0.3)
