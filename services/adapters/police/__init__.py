"""Police adapter: occurrence exports (PPN, DASH, missing person, intelligence) in JSON."""
