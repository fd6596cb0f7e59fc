"""The audit service: appends every sharing decision to a verifiable log (RFC 9162)."""

__all__: list[str] = []
