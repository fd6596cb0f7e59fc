"""Issue 19: a recipient checks every field it holds against the agency's own signature, on a
real feed. A police notice posted through the police adapter reaches its recipients through
the real gateway; each item that names its source carries the agency's SD-JWT presentation and
every field of it verifies (hubkit.item_provenance); an item whose source is withheld carries
none. `safehub feed verify` reads the feed back from the broker and passes it (exit 0)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli.feed import read_feed, record_line, verify_records
from services.gateway.domain.records import RELAY_AGENCY
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.item_provenance import item_provenance
from tests.rules.harness import RulesHub
from tests.rules.natives import POLICE_PATH, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]

REPO = Path(__file__).resolve().parents[2]


async def test_every_recipient_checks_its_fields_against_the_police_signature(
    rules_hub: RulesHub, natives: Natives, tmp_path: Path
) -> None:
    delivery = await rules_hub.send("POLICE", POLICE_PATH, natives.police_contact(natives.child()))
    keys = KeyDirectory.load(rules_hub.settings.keys_dir / "trusted")
    assert delivery.received("mash-manager"), delivery.summary()
    signed = 0
    for subscriber_id, item in delivery.items.items():
        checked = item_provenance(item, keys)
        if checked is None:
            # Need to know: only a recipient the source agency is withheld from gets none.
            assert item["source_agency"] == RELAY_AGENCY, subscriber_id
            continue
        signed += 1
        assert checked.signer == "adapter-police", subscriber_id
        assert set(checked.verified) | set(checked.raised) >= {"notice_id", "source.agency"}
        assert checked.hub_only == (), subscriber_id
    assert signed >= 1, "no recipient's item carried the agency's field signatures"

    # The mash-manager's feed read back from the broker, as `safehub feed verify` reads it.
    topic = f"{rules_hub.namespace}.feed.mash-manager.v1"
    records = await read_feed(
        rules_hub.settings,
        topic=topic,
        principal="admin",  # the namespaced copy grants no feed principal; the reading is the same
        partitions=rules_hub.topology.partitions("feed.mash-manager.v1"),
        timeout_s=30.0,
    )
    verdict = verify_records(
        records,
        catalog=SchemaCatalog(rules_hub.settings.schemas_dir),
        keys=keys,
        subscriber_id="mash-manager",
    )
    (line,) = [x for x in verdict.lines if delivery.notice_id in x]
    assert line.startswith("OK "), line
    assert verdict.failed == 0, "\n".join(verdict.lines)

    saved = tmp_path / "feed.jsonl"
    saved.write_text("".join(record_line(r) + "\n" for r in records))
    keys_dir = rules_hub.settings.keys_dir / "trusted"
    command = [sys.executable, "-m", "services.cli.feed", "verify", "--file", str(saved)]
    result = await asyncio.to_thread(
        subprocess.run,
        [*command, "--keys", str(keys_dir), "--subscriber", "mash-manager"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"OK    {delivery.notice_id}" in result.stdout


async def test_a_marking_the_hub_raised_is_checked_as_raised_not_as_altered(
    rules_hub: RulesHub, natives: Natives
) -> None:
    # R5: police intelligence sent as OFFICIAL is marked OFFICIAL-SENSITIVE in every copy.
    record = natives.police_intelligence(
        natives.child(), scheme="3x5x2", handling="P", assessment="B", classification="OFFICIAL"
    )
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)
    keys = KeyDirectory.load(rules_hub.settings.keys_dir / "trusted")
    assert delivery.value("mash-manager", "classification") == "OFFICIAL_SENSITIVE"
    checked = item_provenance(delivery.item("mash-manager"), keys)
    assert checked is not None, "the mash-manager's item carried no field signatures"
    assert checked.raised == ("classification",)
    assert "classification" not in checked.verified
