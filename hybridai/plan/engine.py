"""Runs the stack's Pulumi program in-process and records what it registers.

The program is the one `pulumi up` runs (`hybridai.program.run`); only the monitor differs. The
recording monitor sees each registration exactly as the Pulumi engine would — type, name, parent,
provider, protect flag, dependencies, inputs — and placement is read from the resource graph: each
resource belongs to the Target its provider (or, for components, its nearest ancestor) sits under.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
import threading
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pulumi
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

from hybridai import recorded
from hybridai.capacity import CapacityPlan
from hybridai.config import StackConfigError, StackSpec
from hybridai.config.base import NO_VALUE, Problem, stack_name_problem
from hybridai.config.codec import decode_config, encode_config, stack_file_label
from hybridai.config.errors import FILE
from hybridai.plan.mocks import PlanMocks
from hybridai.program import prepare, read_stack_file, run
from hybridai.recorded import Resource
from hybridai.supply.images import ImageLock, read_lock

class PlanError(Exception):
    """The program ran but its resource graph can't be planned (a bug, not bad input)."""


@dataclass
class Plan:
    stack: str
    blueprint: str
    resources: list[Resource] = field(default_factory=list)
    spec: StackSpec | None = None
    """The validated stack spec (its cost assumptions price the plan)."""
    capacity: CapacityPlan | None = None
    """The stack's capacity plan, as the program decided it."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """The stack outputs the program exports (`pulumi stack output`), secrets still marked."""
    warnings: list[str] = field(default_factory=list)
    """What the program warned of (`pulumi.log.warn`: `pulumi up` shows the same lines)."""
    as_of: datetime | None = None
    """When the plan's inputs last changed (`inputs_as_of`): the time its evidence holds as of."""
    image_lock: ImageLock | None = None
    """The project's images.lock (None: it has none): the digests the plan's images are checked against."""


ORGANIZATION = "organization"
"""The Pulumi organization the offline plan runs in (`pulumi.get_organization()`): the name a
self-managed backend gives every stack's organization; StackReferences are named in it."""

SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"
"""The reproducible-builds variable: seconds since the epoch that dated artifacts carry instead of now."""


def inputs_as_of(project_dir: Path, stack_file: Path) -> datetime:
    """The time a plan's inputs are as of, the same on every machine for the same inputs:
    $SOURCE_DATE_EPOCH when set, else the commit time of the project's checked-out commit, else
    the stack file's modification time (a project outside git)."""
    if (epoch := os.environ.get(SOURCE_DATE_EPOCH, "").strip()).isdigit():
        return datetime.fromtimestamp(int(epoch), timezone.utc)
    try:
        shown = subprocess.run(["git", "-C", str(project_dir), "log", "-1", "--format=%ct"], capture_output=True, text=True, timeout=10)
        if shown.returncode == 0 and shown.stdout.strip().isdigit():
            return datetime.fromtimestamp(int(shown.stdout.strip()), timezone.utc)
    except (OSError, subprocess.SubprocessError):
        pass  # no git here: the stack file's time below
    return datetime.fromtimestamp(int(stack_file.stat().st_mtime), timezone.utc)


class RecordingMonitor(MockMonitor):
    """MockMonitor that keeps every registration. Never raises (see PlanMocks)."""

    def __init__(self, mocks: PlanMocks, on_register: Callable[[str], None] | None = None):
        super().__init__(mocks)
        self.recorded: list[Resource] = []
        self.errors = mocks.errors
        self._on_register = on_register
        self._lock = threading.Lock()
        self.thread_loops: set[asyncio.AbstractEventLoop] = set()
        self.stack_outputs: dict[str, Any] = {}

    def RegisterResourceOutputs(self, request):  # noqa: N802 - the gRPC method name
        # The root stack's outputs are what `pulumi.export` publishes (`pulumi stack output`).
        try:
            if "::pulumi:pulumi:Stack::" in request.urn:
                self.stack_outputs = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
        except Exception as err:  # noqa: BLE001 - never raise inside the monitor
            self.errors.append(f"recording stack outputs: {err!r}")
        return super().RegisterResourceOutputs(request)

    def RegisterResource(self, request):  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        # The SDK gave this worker thread an event loop of its own: closed when the plan ends.
        self.thread_loops.add(asyncio.get_event_loop())
        try:
            inputs = rpc.deserialize_properties(request.object)
            if request.type == "pulumi:providers:kubernetes" and holds_credentials(inputs.get("kubeconfig")):
                # Never a token in an artifact: inline kubeconfig content with credentials is recorded as a secret.
                inputs["kubeconfig"] = {rpc._special_sig_key: rpc._special_secret_sig, "value": inputs["kubeconfig"]}
            resource = Resource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent or None,
                # A provider reference is "<urn>::<id>"; the URN alone is what stays stable.
                provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
                protect=bool(request.protect) if request.HasField("protect") else False,
                retain_on_delete=bool(request.retainOnDelete) if request.HasField("retainOnDelete") else False,
                dependencies=sorted(set(request.dependencies)),
                inputs=inputs,
                custom=bool(request.custom),
                aliases=[_alias(a) for a in request.aliases],
                delete_before_replace=bool(request.deleteBeforeReplace),
                replace_on_changes=sorted(request.replaceOnChanges),
                ignore_changes=sorted(request.ignoreChanges),
                version=request.version or None,
            )
            with self._lock:
                self.recorded.append(resource)
            if self._on_register:
                self._on_register(request.type)
        except Exception as err:  # noqa: BLE001 - never raise inside the monitor
            self.errors.append(f"recording {request.type} {request.name}: {err!r}")
        return response


def _alias(alias: Any) -> dict[str, Any]:
    if alias.HasField("urn"):
        return {"urn": alias.urn}
    spec = alias.spec
    return {"name": spec.name, "type": spec.type, "parentUrn": spec.parentUrn, "noParent": spec.noParent}


def project_name(project_dir: Path) -> str:
    return yaml.safe_load((project_dir / "Pulumi.yaml").read_text())["name"]


def run_plan(stack: str, project_dir: Path, on_register: Callable[[str], None] | None = None) -> Plan:
    """Validate the stack file, then run the program under the mock monitor, independent of the
    environment (see `independent_environment`).

    Raises StackConfigError (before anything runs) for bad input, PlanError for a graph that
    can't be planned.
    """
    label = stack_file_label(stack)
    if (problem := stack_name_problem(stack)) is not None:
        raise StackConfigError(label, [Problem(FILE, "stack_name", problem, NO_VALUE)])
    path = project_dir / "stacks" / f"Pulumi.{stack}.yaml"
    stack_file = read_stack_file(path, label)
    return run_config(stack, stack_file.config, stack_file.secret_keys, project_dir, inputs_as_of(project_dir, path), label, on_register)


def run_config(
    stack: str,
    config: dict[str, Any],
    secret_keys: list[str],
    project_dir: Path,
    as_of: datetime,
    label: str,
    on_register: Callable[[str], None] | None = None,
    references: Mapping[str, Mapping[str, Any]] | None = None,
) -> Plan:
    """Plan a stack from its config as read from a stack file (`StackFile.config`): a stack of the
    project's or one generated from a fleet (hybridai/plan/fleet.py), whose `pulumi.StackReference`s
    read `references` (stack name → outputs). Errors as `run_plan`, reported against `label`."""
    wire = encode_config(config)
    with independent_environment():
        spec, capacity = prepare(stack, decode_config(wire), label)
        outputs: dict[str, Any] = {}
        warned: list[str] = []
        resources = execute(
            run, project=project_name(project_dir), stack=stack, config=wire, secret_keys=secret_keys, on_register=on_register, outputs=outputs, warnings=warned, references=references
        )
    return Plan(stack=stack, blueprint=spec.blueprint, resources=resources, spec=spec, capacity=capacity, outputs=outputs, warnings=warned, as_of=as_of, image_lock=read_lock(project_dir))


HIDDEN_ENVIRONMENT = re.compile(r"^(KUBECONFIG|KUBERNETES_.*|KUBE_.*|HELM_.*|PULUMI_.*|AWS_.*|AZURE_.*|ARM_.*|GOOGLE_.*|CLOUDSDK_.*|GCP_.*)$")
"""Environment variables the Pulumi SDKs read, which would make a plan depend on the machine:
PULUMI_CONFIG, PULUMI_CONFIG_<KEY> and PULUMI_CONFIG_SECRET_KEYS (config the SDK falls back to),
PULUMI_K8S_* and KUBECONFIG (defaults of the Kubernetes provider: a kubeconfig path or inline
content with a token would be recorded as a provider input), PULUMI_* switches of the SDK, AWS_*
(the AWS provider's region and profile), and the families other providers read."""


@contextmanager
def independent_environment() -> Iterator[None]:
    """While the program runs in this process, hide every variable HIDDEN_ENVIRONMENT matches and
    restore them afterwards: two machines plan the same commit identically, and nothing of the
    machine (a kubeconfig, a token) reaches an artifact."""
    hidden = {name: value for name, value in os.environ.items() if HIDDEN_ENVIRONMENT.match(name)}
    for name in hidden:
        del os.environ[name]
    try:
        yield
    finally:
        for name in [n for n in os.environ if HIDDEN_ENVIRONMENT.match(n)]:
            del os.environ[name]  # set while the program ran: not the machine's
        os.environ.update(hidden)


_KUBECONFIG_CREDENTIALS = re.compile(r"""["']?\b(token|id-token|refresh-token|access-token|client-key-data|client-secret|password)["']?\s*:""")


def holds_credentials(kubeconfig: Any) -> bool:
    """Whether a provider's kubeconfig input is inline content with credentials in it (a token, a
    client key, a password) rather than a path or exec-based authentication."""
    return isinstance(kubeconfig, str) and bool(_KUBECONFIG_CREDENTIALS.search(kubeconfig))


def _run_and_publish(program: Callable[[], object]) -> None:
    """Run the program, then register the root stack's outputs as `pulumi up` does once the
    program returns. Under mocks the SDK registers them when the mock stack is made, before the
    program exports anything, so the stack is finished again here (SDK internals: Stack._finish)."""
    program()
    root = pulumi.runtime.settings.get_root_resource()
    if root is not None and getattr(root, "outputs", None):
        root._outputs_registered = False
        root._finish()


def execute(
    program: Callable[[], object],
    *,
    project: str,
    stack: str,
    config: dict[str, str] | None = None,
    secret_keys: list[str] | None = None,
    outputs: dict[str, Any] | None = None,
    on_register: Callable[[str], None] | None = None,
    warnings: list[str] | None = None,
    references: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Resource]:
    """Run a Pulumi program under the recording monitor; its resources, placed, sorted by URN, and
    what it warned of (`pulumi.log.warn`) appended to `warnings`."""
    mocks = PlanMocks(references)
    monitor = RecordingMonitor(mocks, on_register)
    # Each plan runs on an event loop and executor of its own (the SDK sends registrations to the
    # monitor from the loop's default executor, and each worker thread makes a loop of its own).
    # All of them are closed when the plan ends: left open, they are collected at interpreter exit
    # after their sockets and print tracebacks, and a later plan in the process would inherit them.
    loop = asyncio.new_event_loop()
    workers = ThreadPoolExecutor(thread_name_prefix="hybridai-plan")
    loop.set_default_executor(workers)
    asyncio.set_event_loop(loop)
    try:
        # A stack of its own: the SDK keeps the root stack resource (and the outputs exported to it)
        # across runs in one process, and set_mocks makes a new one only when there is none.
        pulumi.runtime.settings.set_root_resource(None)
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor, organization=ORGANIZATION, logger=_collecting_logger(warnings if warnings is not None else []))
        pulumi.runtime.set_all_config(config or {}, secret_keys or [])
        # The SDK awaits what the program returns; programs and test lambdas may return a resource.
        pulumi.runtime.test(lambda: _run_and_publish(program))()
    finally:
        workers.shutdown(wait=True)
        for thread_loop in monitor.thread_loops:
            thread_loop.close()
        asyncio.set_event_loop(None)
        loop.close()
    if monitor.errors:
        raise PlanError("the program registered resources the plan could not record:\n  " + "\n  ".join(monitor.errors))

    if outputs is not None:
        outputs.update(monitor.stack_outputs)
    resources = sorted(monitor.recorded, key=lambda r: r.urn)
    place(resources)
    return resources


class _Collect(logging.Handler):
    def __init__(self, into: list[str]):
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


def _collecting_logger(into: list[str]) -> logging.Logger:
    """The logger the SDK's mock engine logs the program's messages to: its warnings (and errors)
    collected into `into`, nothing printed (the CLI says them once)."""
    logger = logging.getLogger("hybridai.plan.program")
    logger.handlers[:] = [_Collect(into)]
    logger.propagate = False
    return logger


def place(resources: list[Resource]) -> None:
    """Place every resource (see hybridai.recorded.place); one outside any Target is a bug."""
    unplaced = recorded.place(resources)
    if unplaced:
        raise PlanError("resources outside any Target (no placement):\n  " + "\n  ".join(unplaced))
