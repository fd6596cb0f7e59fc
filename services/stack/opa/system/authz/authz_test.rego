package system.authz_test

import data.system.authz

token := "0123456789abcdef0123456789abcdef-test"

runtime := {"env": {"SAFEHUB_OPA_TOKEN": token}}

query := {"method": "POST", "path": ["v1", "data", "safehub", "sharing", "decisions"]}

test_the_right_token_may_query if {
	authz.allow with input as object.union(query, {"identity": token}) with opa.runtime as runtime
}

test_no_token_is_refused if {
	not authz.allow with input as query with opa.runtime as runtime
}

test_a_wrong_token_is_refused if {
	not authz.allow with input as object.union(query, {"identity": "not-the-token-0000000000000000000"})
		with opa.runtime as runtime
}

test_health_needs_no_token if {
	authz.allow with input as {"method": "GET", "path": ["health"]} with opa.runtime as runtime
}

test_without_a_configured_token_nothing_but_health_passes if {
	not authz.allow with input as object.union(query, {"identity": ""}) with opa.runtime as {"env": {}}
}

test_a_short_configured_token_fails_closed if {
	not authz.allow with input as object.union(query, {"identity": "short"})
		with opa.runtime as {"env": {"SAFEHUB_OPA_TOKEN": "short"}}
}
