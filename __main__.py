"""Pulumi entry point: validate the stack's config, then build the blueprint it names."""
from hybridai.program import run

run()
