"""Tools information-governance officers use on the sharing rules: test, lint, explain."""
