"""From a stack's raw config to a validated spec, or one error that lists every problem.

Two sources feed the same function: under `pulumi up` the Pulumi CLI hands the program the stack's
config (decrypted, as strings: hybridai/config/codec.py); under `hybridai plan` the engine reads the
stack file and hands it over in the same string form. Either way `parse_spec` validates everything
before any resource is registered.

A stack file is read strictly: at most 1 MiB of UTF-8, one YAML document read alike by every YAML
reader (hybridai/config/strict_yaml.py), a `config:` map of namespaced keys. `secure:` values are
accepted only for `Credential` keys; the offline plan can't decrypt them and uses a stand-in
(CREDENTIAL_STAND_IN) that the engine marks secret. Errors: hybridai/config/errors.py.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, NamedTuple

from pydantic import BaseModel, ValidationError

from hybridai import PROJECT
from hybridai.config.base import CREDENTIAL_STAND_IN, NO_VALUE, Problem, field_at, is_credential, model_of
from hybridai.config.codec import key_path, stack_file_label
from hybridai.config.errors import FILE, StackConfigError, StackFileMissing, reject, validation_problems
from hybridai.config.spec import StackSpec
from hybridai.config.strict_yaml import Secure, parse_stack_yaml

MAX_STACK_FILE_BYTES = 1 << 20


class StackFile(NamedTuple):
    """A stack file as read: its config, and which of its keys hold secrets."""

    config: dict[str, Any]
    """The `config:` map: top-level values as the text the file holds, objects typed; each
    `secure:` value of a credential key replaced by CREDENTIAL_STAND_IN."""
    secret_keys: list[str]
    """Config keys (`hybrid-ai:token`) holding a `secure:` value, as the Pulumi CLI lists them."""


def load_stack_file(path: Path, label: str, specs: Mapping[str, type[StackSpec]] | None = None) -> StackFile:
    """Read and check a stack file: StackFileMissing when there is none, StackConfigError listing
    every problem of its bytes, its YAML and its `secure:` values (which keys of the blueprint in
    `specs` are credentials decides which may be secure; without `specs`, none)."""
    document = parse_stack_yaml(_stack_text(path, label), label)
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise StackConfigError(label, [Problem(("config",), "missing", "the stack file needs a `config:` map", NO_VALUE)])
    problems = [Problem((str(key),), "not_namespaced", f"config keys are namespaced; write `{PROJECT}:{key}`", value) for key, value in config.items() if ":" not in str(key)]
    if problems:
        raise StackConfigError(label, problems)
    return _stand_in_secrets(config, label, specs or {})


def read_stack_file(path: Path, label: str, specs: Mapping[str, type[StackSpec]] | None = None) -> dict[str, Any]:
    """The `config:` map of a stack file, every problem of the file reported like config errors
    (see `load_stack_file`)."""
    return load_stack_file(path, label, specs).config


def _stack_text(path: Path, label: str) -> str:
    """The stack file's text: it exists, is a file, holds at most MAX_STACK_FILE_BYTES, and is UTF-8."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_STACK_FILE_BYTES + 1)
    except FileNotFoundError:
        existing = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in path.parent.glob("Pulumi.*.yaml")) if path.parent.is_dir() else []
        raise StackFileMissing(label, path.name.removeprefix("Pulumi.").removesuffix(".yaml"), existing) from None
    except IsADirectoryError:
        raise StackConfigError(label, [Problem(FILE, "not_a_file", "is a folder, not a stack file", NO_VALUE)]) from None
    if len(data) > MAX_STACK_FILE_BYTES:
        size = path.stat().st_size
        raise StackConfigError(
            label, [Problem(FILE, "too_large", f"is {size:,} bytes; a stack file holds at most {MAX_STACK_FILE_BYTES:,} (1 MiB) of settings: nothing in a stack needs more", NO_VALUE)]
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise StackConfigError(
            label, [Problem(FILE, "encoding", f"not UTF-8: byte 0x{data[err.start]:02x} at byte position {err.start} (line {line}, column {column}) can't be decoded; save the file as UTF-8", NO_VALUE)]
        ) from None


# --- Secure values ---------------------------------------------------------------------------------


def credential_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Key paths of the model's `Credential` keys (`storage.secretKey`, `sites[].token`)."""
    keys = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{info.alias or name}"
        if is_credential(info):
            keys.append(path)
        elif (sub := model_of(info.annotation)) is not None:
            is_list = "list[" in str(info.annotation)
            keys += credential_keys(sub, f"{path}[]." if is_list else f"{path}.")
    return keys


def _stand_in_secrets(config: dict[str, Any], label: str, specs: Mapping[str, type[StackSpec]]) -> StackFile:
    """Replace each `secure:` value of a credential key with CREDENTIAL_STAND_IN; refuse `secure:` on
    any other project key and plain text on a credential key."""
    blueprint = config.get(f"{PROJECT}:blueprint")
    spec = specs.get(blueprint) if isinstance(blueprint, str) else None
    allowed = credential_keys(spec) if spec else []
    problems: list[Problem] = []
    secret_keys: set[str] = set()

    def walk(value: Any, loc: tuple, key: str, project: bool) -> Any:
        info = field_at(spec, loc) if project and loc else None
        if isinstance(value, Secure):
            secret_keys.add(key)
            if not project or (info is not None and is_credential(info)):
                return CREDENTIAL_STAND_IN
            which = f"those of {blueprint}: {', '.join(allowed)}" if allowed else (f"{blueprint} has none yet" if spec else "none without a known `blueprint`")
            problems.append(
                Problem(
                    loc, "secret",
                    f"`secure:` (encrypted) values are only for keys that hold a credential, and this one doesn't: write its value in plain text. "
                    f"Keys that take a secure value: {which} (other credentials live in Kubernetes Secrets the components reference)",
                    "<secure>",
                )
            )
            return value
        if project and info is not None and is_credential(info) and value is not None:
            problems.append(
                Problem(
                    loc, "credential_plaintext",
                    f"holds a credential, so it must be stored encrypted: `pulumi config set --secret --path '{key_path(loc)}' <value>` "
                    "writes it as a `secure:` value (the plain text in the file was not used)",
                    NO_VALUE,
                )
            )
            return value
        if isinstance(value, dict):
            return {k: walk(v, (*loc, k), key, project) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*loc, i), key, project) for i, v in enumerate(value)]
        return value

    out = {}
    for key, value in config.items():
        out[key] = walk(value, (key.split(":", 1)[1],), key, key.startswith(f"{PROJECT}:"))
    if problems:
        raise StackConfigError(label, problems)
    return StackFile(out, sorted(secret_keys))


# --- Validation ------------------------------------------------------------------------------------


def validate_spec(stack: str, values: Mapping[str, Any], specs: Mapping[str, type[StackSpec]], label: str | None = None) -> StackSpec:
    """Decoded config values as the spec of the blueprint they name, every value checked; raises
    StackConfigError with all problems pydantic finds. Cross-field checks are `spec.check()`."""
    label = label or stack_file_label(stack)
    name = values.get("blueprint")
    spec_type = specs.get(name) if isinstance(name, str) else None
    if spec_type is None:
        message = "required key is missing" if name is None else "unknown blueprint"
        raise StackConfigError(label, [Problem(("blueprint",), "blueprint_unknown", f"{message}; use one of {', '.join(sorted(specs))}", NO_VALUE if name is None else name)])
    try:
        return spec_type.model_validate(dict(values), context={"stack": stack})
    except ValidationError as err:
        raise StackConfigError(label, validation_problems(err, spec_type, values)) from None


def parse_spec(stack: str, values: Mapping[str, Any], specs: Mapping[str, type[StackSpec]], label: str | None = None) -> StackSpec:
    """Validate decoded config values against the spec of the blueprint they name, cross-field
    checks included."""
    spec = validate_spec(stack, values, specs, label)
    reject(label or stack_file_label(stack), spec.check(), values)
    return spec
