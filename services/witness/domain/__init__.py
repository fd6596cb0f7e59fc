"""The witness's pure core: reading an add-checkpoint request and deciding its answer."""

from services.witness.domain.add_checkpoint import (
    Cosign,
    LogState,
    Refuse,
    SizeConflict,
    Submission,
    WitnessedLog,
    cosignature_lines,
    decide,
    read_submission,
    witnessed_logs,
)

__all__ = [
    "Cosign",
    "LogState",
    "Refuse",
    "SizeConflict",
    "Submission",
    "WitnessedLog",
    "cosignature_lines",
    "decide",
    "read_submission",
    "witnessed_logs",
]
