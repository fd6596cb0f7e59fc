"""The local stack runner: a real Kafka broker and OPA server on loopback, for dev and tests.

from services.stack import StackRunner
StackRunner(HubSettings()).up()      # idempotent; .status(), .down()
"""

from services.stack.errors import StackError
from services.stack.runner import (
    ComponentState,
    ComponentStatus,
    StackRunner,
    StackStatus,
    UpReport,
)

__all__ = [
    "ComponentState",
    "ComponentStatus",
    "StackError",
    "StackRunner",
    "StackStatus",
    "UpReport",
]
