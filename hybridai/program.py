"""The Pulumi program: read the stack's config, validate all of it, decide its capacity, build the
blueprint it names.

`__main__.py` calls `run()` under `pulumi up`; `hybridai plan` calls the same `run()` under the
SDK's mock monitor. Nothing here knows which of the two is running it.

A key marked `Credential` (hybridai/config/base.py) reaches resources only as a secret: the spec
holds it as a `CredentialValue`, which Pulumi refuses as a resource input, and its `output()` hands
it over as `pulumi.Output.secret` — encrypted in the state under `pulumi up`, `[secret…]` in every
artifact of the offline plan.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pulumi

from hybridai.blueprints import BLUEPRINTS, SPECS
from hybridai import PROJECT
from hybridai.capacity import CapacityPlan, plan_stack
from hybridai.config import StackConfigError, StackSpec
from hybridai.config.codec import decode_config, stack_file_label
from hybridai.config.errors import problem_line, reject
from hybridai.config.loader import StackFile, load_stack_file, validate_spec
from hybridai.policy.stack import ahead_of, check_settings


def config_keys() -> list[str]:
    """Every top-level key a stack spec declares (`blueprint`, `teams`, …), across blueprints."""
    return sorted({info.alias or name for spec in SPECS.values() for name, info in spec.model_fields.items()})


def stack_config() -> dict[str, str]:
    """The project's config as the engine handed it to this program (`pulumi up`: the Pulumi CLI,
    decrypted, values as strings; `hybridai plan`: the engine, through the SDK), keyed
    `hybrid-ai:<key>`.

    Read through the public `pulumi.Config`, which reads one key at a time and can't list the keys
    it holds (only the SDK's internal `pulumi.runtime.config` can): so the program asks for every
    key a spec declares. A top-level key no spec declares (a typo such as `hybrid-ai:monitorng`) is
    therefore not seen here under `pulumi up`; `hybridai plan`, which reads the stack file itself
    and rejects unknown keys, reports it (run it in CI before `pulumi up`). Keys inside objects are
    all seen: an object arrives whole, as JSON.
    """
    config = pulumi.Config(PROJECT)
    values = {}
    for key in config_keys():
        value = config.get(key)
        if value is not None:
            values[config.full_key(key)] = value
    return values


def read_stack_file(path: Path, label: str) -> StackFile:
    """A stack file as `pulumi` reads it for this program: its config and which values are secure,
    every problem of the file reported (the blueprints' specs say which keys may be secure)."""
    return load_stack_file(path, label, SPECS)


def prepare(stack: str, values: Mapping[str, Any], label: str | None = None) -> tuple[StackSpec, CapacityPlan]:
    """The validated spec and its capacity plan, or StackConfigError listing every problem — of the
    values, across fields, of capacity and of the policy settings — before anything is registered."""
    label = label or stack_file_label(stack)
    spec = validate_spec(stack, values, SPECS, label)
    capacity = plan_stack(spec)
    reject(label, [*spec.check(), *capacity.problems, *check_settings(spec), *ahead_of(spec)], values)
    return spec, capacity


def warnings(stack: str, spec: StackSpec) -> list[str]:
    """What a valid stack should still change: outside prod, the example values it keeps (in prod
    they are errors, config.rules.check_example_values)."""
    if spec.environment == "prod":
        return []
    return [problem_line(stack_file_label(stack), p) for p in spec.placeholders()]


def run() -> None:
    stack = pulumi.get_stack()
    try:
        spec, capacity = prepare(stack, decode_config(stack_config()))
    except StackConfigError as err:
        # RunError: Pulumi prints the message alone, without a Python traceback.
        raise pulumi.RunError(err.render()) from None
    for line in warnings(stack, spec):
        pulumi.log.warn(line)
    BLUEPRINTS[spec.blueprint].build(spec, capacity)
