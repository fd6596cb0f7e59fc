"""Tools information-governance officers use on the sharing rules (`safehub policy ...`).

Pure core:  checks (opa test/fmt output), bundle (revisions, manifests, provenance),
            equivalence (grouping notices for simulation), diff (what a candidate changes),
            report (plain-English text), sample (a generated week of synthetic notices).
Edge:       evaluate (opa eval / OPA server / regopy), simulation (batches in parallel),
            publish + signing (signed releases), bundle_server (what OPA polls),
            notices_io (notice files and the recorded notice topics).
Errors:     errors.PolicyToolError and its subclasses.
"""
