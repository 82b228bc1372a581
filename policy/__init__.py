"""hybrid-ai's policy pack: rules are plain functions (policy/rules), the CrossGuard pack is built
only in policy/__main__.py, because constructing it starts the policy server."""
