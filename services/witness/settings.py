"""Typed settings of the witness (environment prefix `SAFEHUB_WITNESS_`).

A partner agency runs the witness on its own machine: it names itself (`name`, the key name in
its cosignatures), keeps its key and state under `data_dir`, and lists the logs it witnesses
as the logs' verifier keys (`logs_file`, one vkey a line, and/or `log_vkeys`). For the local
hub the audit log's vkey is `<data_dir>/keys/trusted/audit-log.vkey`, the default file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.hubkit.errors import NoteMalformed
from services.hubkit.settings import HubSettings
from services.hubkit.signed_note import VerifierKey, check_key_name, decode_verifier_key

__all__ = ["WitnessSettings"]


class WitnessSettings(BaseSettings):
    """Settings of `safehub witness serve` and `safehub witness key`."""

    model_config = SettingsConfigDict(env_prefix="SAFEHUB_WITNESS_", extra="ignore")

    name: str = Field(
        default="witness.safehub.localhost/partner",
        description=(
            "The witness's key name in its cosignatures (a schema-less URL is recommended). "
            "One key serves one name: cosignature/v1 does not sign the name."
        ),
    )
    host: str = Field(default="127.0.0.1", description="Address `safehub witness serve` binds.")
    port: int = Field(default=18330, ge=1, le=65535, description="Port of the witness's HTTP API.")
    data_dir: Path | None = Field(
        default=None,
        description="The witness's key and state (default <SAFEHUB_DATA_DIR>/witness).",
    )
    logs_file: Path | None = Field(
        default=None,
        description=(
            "File of the logs witnessed: one C2SP verifier key a line (the log's key, named "
            "after its origin), '#' starts a comment (default "
            "<SAFEHUB_DATA_DIR>/keys/trusted/audit-log.vkey, the local hub's audit log)."
        ),
    )
    log_vkeys: list[str] = Field(
        default_factory=list,
        description="More log verifier keys, as a JSON list (added to those in logs_file).",
    )
    max_request_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest add-checkpoint body accepted (a note with 63 proof lines is ~6 KiB).",
    )

    @field_validator("name")
    @classmethod
    def _name_is_a_key_name(cls, value: str) -> str:
        try:
            check_key_name(value, "SAFEHUB_WITNESS_NAME")
        except NoteMalformed as error:
            raise ValueError(error.reason) from error
        return value

    @field_validator("log_vkeys")
    @classmethod
    def _vkeys_parse(cls, value: list[str]) -> list[str]:
        for vkey in value:
            try:
                decode_verifier_key(vkey)
            except NoteMalformed as error:
                raise ValueError(f"SAFEHUB_WITNESS_LOG_VKEYS: {error.reason}") from error
        return value

    def witness_dir(self, hub: HubSettings) -> Path:
        return self.data_dir or hub.data_dir / "witness"

    def key_path(self, hub: HubSettings) -> Path:
        """The witness's Ed25519 private key (PKCS#8 PEM, 0600), made on first start."""
        return self.witness_dir(hub) / "witness-key.pem"

    def state_dir(self, hub: HubSettings) -> Path:
        return self.witness_dir(hub) / "state"

    def log_keys(self, hub: HubSettings) -> list[VerifierKey]:
        """Every configured log key. Raises NoteMalformed naming the file and line of a bad one."""
        keys = [decode_verifier_key(v) for v in self.log_vkeys]
        path = self.logs_file or hub.keys_dir / "trusted" / "audit-log.vkey"
        if path.exists():
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                text = line.split("#", 1)[0].strip()
                if not text:
                    continue
                try:
                    keys.append(decode_verifier_key(text))
                except NoteMalformed as error:
                    raise NoteMalformed(f"{path} line {number}: {error.reason}") from error
        return keys
