"""The Pulumi program: read the stack's config, validate all of it, build the blueprint it names.

`__main__.py` calls `run()` under `pulumi up`; `hybridai plan` calls the same `run()` under the
SDK's mock monitor. Nothing here knows which of the two is running it.
"""
from __future__ import annotations

import pulumi
import pulumi.runtime.config as runtime_config

from blueprints import BLUEPRINTS, SPECS
from hybridai.config import StackConfigError, StackSpec, parse_spec
from hybridai.config.loader import decode_config


def stack_config() -> dict[str, str]:
    """All config the engine handed this program: the CLI passes it in the environment
    (PULUMI_CONFIG), the offline plan through `set_all_config`."""
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def load_spec() -> StackSpec:
    return parse_spec(pulumi.get_stack(), decode_config(stack_config()), SPECS)


def run() -> None:
    try:
        spec = load_spec()
    except StackConfigError as err:
        # RunError: Pulumi prints the message alone, without a Python traceback.
        raise pulumi.RunError(err.render()) from None
    BLUEPRINTS[spec.blueprint].build(spec)
