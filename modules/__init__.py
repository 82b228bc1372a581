"""Reusable Pulumi components: one ComponentResource per file, its typed args beside it."""
