"""Creates the topology's topics on the kube-played broker; runs inside the safehub image.

python3 -m services.stack.play_topics <credential file>

The credential file is the admin principal's (`config.render_credential` format); topics get
the partitions and settings the local runner gives them (`config.topic_specs`: topology plus
the IG's retention rules), created by the same call the runner makes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from services.hubkit.retention import RetentionRules
from services.hubkit.settings import HubSettings
from services.hubkit.topology import load_topology
from services.stack import config
from services.stack.kafka_broker import _create_missing_topics
from services.stack.kube_play import KAFKA_CLIENT

__all__ = ["main"]


def main(argv: list[str]) -> int:
    credential = json.loads(Path(argv[0]).read_text())
    policies = HubSettings().policies_dir
    specs = config.topic_specs(load_topology(policies), RetentionRules.load(policies))
    created = asyncio.run(
        _create_missing_topics(KAFKA_CLIENT, credential["username"], credential["password"], specs)
    )
    print(f"topics: created {len(created)} of {len(specs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
