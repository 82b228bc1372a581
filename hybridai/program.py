"""The Pulumi program: read the stack's config, validate all of it, decide its capacity, build the
blueprint it names.

`__main__.py` calls `run()` under `pulumi up`; `hybridai plan` calls the same `run()` under the
SDK's mock monitor. Nothing here knows which of the two is running it.
"""
from __future__ import annotations

from typing import Any, Mapping

import pulumi
import pulumi.runtime.config as runtime_config

from blueprints import BLUEPRINTS, SPECS
from hybridai.capacity import CapacityPlan, plan_stack
from hybridai.config import StackConfigError, StackSpec
from hybridai.config.loader import decode_config, reject, stack_file_label, validate_spec
from policy.stack import check_settings


def stack_config() -> dict[str, str]:
    """All config the engine handed this program: the CLI passes it in the environment
    (PULUMI_CONFIG), the offline plan through `set_all_config`."""
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def prepare(stack: str, values: Mapping[str, Any], label: str | None = None) -> tuple[StackSpec, CapacityPlan]:
    """The validated spec and its capacity plan, or StackConfigError listing every problem — of the
    values, across fields, of capacity and of the policy settings — before anything is registered."""
    label = label or stack_file_label(stack)
    spec = validate_spec(stack, values, SPECS, label)
    capacity = plan_stack(spec)
    reject(label, [*spec.check(), *capacity.problems, *check_settings(spec)], values)
    return spec, capacity


def run() -> None:
    try:
        spec, capacity = prepare(pulumi.get_stack(), decode_config(stack_config()))
    except StackConfigError as err:
        # RunError: Pulumi prints the message alone, without a Python traceback.
        raise pulumi.RunError(err.render()) from None
    BLUEPRINTS[spec.blueprint].build(spec, capacity)
