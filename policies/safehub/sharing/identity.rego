# Identity protection (R14)
#
# description: Referrer and third-party identities are masked for every recipient outside the MASH.
#
# References:
#   https://www.gov.uk/government/publications/safeguarding-practitioners-information-sharing-advice
#     Golden rule 5, protect the identity of people who could be harmed; ISA clause 6.1
package safehub.sharing

# METADATA
# title: R14 referrer and third parties masked outside the MASH
# description: Withholds `referrer` and `third_parties` from every subscriber with inside_mash false.
# related_resources:
#   - ref: https://www.gov.uk/government/publications/safeguarding-practitioners-information-sharing-advice
#     description: Golden rule 5; ISA clause 6.1
_restrictions[sid] contains _restriction("identities", sid, _identity_paths) if {
	some sid in _sharing_candidates
	sub := data.safehub.subscribers[sid]
	_outside_mash(sub)
}

_identity_paths := {path | some path in data.safehub.rules.R14.identity_paths}
