"""Health adapter: FHIR R4 (UK Core) safeguarding Bundles."""
