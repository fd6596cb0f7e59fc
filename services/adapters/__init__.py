"""Agency adapters: police, health, children's services, voluntary sector (one package each:
native models, pure mapping, thin FastAPI app), sharing the `ingest` library."""
