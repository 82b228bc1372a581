"""The Pulumi config codec: key paths as `pulumi config --path` writes them, and config values in the
form the Pulumi CLI hands them to a program."""
from __future__ import annotations

from hybridai.config.codec import decode_config, encode_config, key_path


def test_key_paths_read_like_pulumi_config_paths() -> None:
    assert key_path(("teams", 0, "quota", "gpus")) == "hybrid-ai:teams[0].quota.gpus"
    assert key_path(("teams", 1, "quota", "mig", "3g.40gb")) == 'hybrid-ai:teams[1].quota.mig["3g.40gb"]'
    assert key_path(("environment",)) == "hybrid-ai:environment"


def test_config_round_trips_through_pulumis_wire_format() -> None:
    # GIVEN stack-file values of every shape, in the form the Pulumi CLI passes them (strings)
    config = {"hybrid-ai:teams": [{"name": "a", "quota": {"gpus": 2}}], "hybrid-ai:environment": "dev", "hybrid-ai:flag": True, "hybrid-ai:n": 3, "aws:region": "eu-west-1"}
    wire = encode_config(config)
    assert wire["hybrid-ai:teams"] == '[{"name": "a", "quota": {"gpus": 2}}]'
    assert wire["hybrid-ai:flag"] == "true"
    # WHEN decoded THEN objects come back typed, scalars as strings, other namespaces dropped
    assert decode_config(wire) == {"teams": [{"name": "a", "quota": {"gpus": 2}}], "environment": "dev", "flag": "true", "n": "3"}
