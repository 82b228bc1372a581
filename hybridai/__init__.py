"""hybrid-ai: infrastructure-as-code generator for hybrid AI stacks on Pulumi."""

PROJECT = "hybrid-ai"
"""The Pulumi project name; stack config keys live in this namespace (``hybrid-ai:<key>``)."""
