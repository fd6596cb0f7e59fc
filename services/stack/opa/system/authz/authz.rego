# OPA's own API authorisation, used when OPA runs with
# `--authentication=token --authorization=basic` (the local stack with an https SAFEHUB_OPA_URL,
# and the production overlay). It decides who may call OPA at all; the sharing rules
# themselves are in the signed bundle under data.safehub.
#
# The expected bearer token is in OPA's environment (SAFEHUB_OPA_TOKEN, from the stack's 0600
# token file or a Kubernetes Secret), never in this file. Without it nothing but /health is
# allowed: a missing or short token fails closed.
package system.authz

# Liveness probes (the stack runner, kubelet) carry no token; /health reveals only whether a
# verified bundle is active.
# METADATA
# description: Whether OPA answers this request at all (OPA's own API authorisation).
# entrypoint: true
default allow := false

allow if {
	input.method == "GET"
	input.path == ["health"]
}

allow if {
	expected := opa.runtime().env.SAFEHUB_OPA_TOKEN
	count(expected) >= 32
	input.identity == expected
}
