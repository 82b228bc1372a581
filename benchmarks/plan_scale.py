"""Plan time of a growing edge fleet, against the Pulumi SDK registering the same resources bare.

For 10, 50 and 200 edge sites (manufacturing-prod's plant, cloud pool and sites, repeated), it
times in one run:
  plan  — `hybridai plan` without the disk: validate the stack, run the blueprint under the
          recording monitor, place, price, check policy and render every artifact;
  bare  — the same Pulumi program registering the same resources through the SDK alone: its
          stock MockMonitor (with the plan's mocks for plausible outputs), nothing recorded,
          placed, priced, checked or rendered;
  floor — the recorded resources replayed as generic `pulumi.CustomResource`s (no provider
          classes, no program logic): what registering that many resources costs at the least;
and reports plan ÷ bare (hybrid-ai's overhead over the SDK) and plan ÷ floor, with the time per
resource, whose flatness across fleet sizes shows linear growth.

    .venv/bin/python benchmarks/plan_scale.py [--sites 10 50 200] [--repeat 3]
"""
from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pulumi
import yaml
from pulumi.runtime.mocks import MockMonitor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hybridai.config.codec import encode_config  # noqa: E402
from hybridai.plan import Resource, run_plan  # noqa: E402
from hybridai.plan.artifacts import render  # noqa: E402
from hybridai.plan.mocks import PlanMocks  # noqa: E402
from hybridai.program import run  # noqa: E402


def fleet_project(sites: int) -> Path:
    """A scratch project whose stack has `sites` edge sites (manufacturing-prod's, repeated)."""
    project = Path(tempfile.mkdtemp(prefix=f"hybridai-bench-{sites}-"))
    (project / "stacks").mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project)
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.manufacturing-prod.yaml").read_text())
    templates = document["config"]["hybrid-ai:sites"]
    fleet = []
    for i in range(sites):
        site = copy.deepcopy(templates[i % len(templates)])
        site.update(name=f"site-{i:03d}", context=f"plant-a-site-{i:03d}", nodes=[f"site{i:03d}-gpu-{n:02d}" for n in range(len(site["nodes"]))])
        fleet.append(site)
    document["config"]["hybrid-ai:sites"] = fleet
    # Every site backed up, as manufacturing-prod backs up each of its lines.
    document["config"]["hybrid-ai:backups"]["sites"] = [site["name"] for site in fleet]
    (project / "stacks" / "Pulumi.fleet.yaml").write_text(yaml.safe_dump(document))
    return project


class _Echo(pulumi.runtime.Mocks):
    """Outputs = inputs; invokes answered with the least a program needs (availability zones)."""

    def new_resource(self, args):
        return f"{args.name}-id", args.inputs

    def call(self, args):
        return ({"names": ["zone-a", "zone-b", "zone-c"]} if args.token.endswith("getAvailabilityZones") else {}), []


def _timed(program, config: dict[str, str] | None = None, mocks: pulumi.runtime.Mocks | None = None) -> float:
    mocks = mocks or _Echo()
    loop = asyncio.new_event_loop()
    workers = ThreadPoolExecutor()
    loop.set_default_executor(workers)
    asyncio.set_event_loop(loop)
    start = time.perf_counter()
    try:
        pulumi.runtime.set_mocks(mocks, project="hybrid-ai", stack="fleet", preview=False, monitor=MockMonitor(mocks))
        pulumi.runtime.set_all_config(config or {})
        pulumi.runtime.test(program)()
        return time.perf_counter() - start
    finally:
        workers.shutdown(wait=True)
        asyncio.set_event_loop(None)
        loop.close()


def bare(project: Path) -> float:
    """Seconds the SDK takes to run the stack's program with nothing of hybrid-ai's around it."""
    config = encode_config(yaml.safe_load((project / "stacks" / "Pulumi.fleet.yaml").read_text())["config"])
    # The program needs plausible outputs (an EKS endpoint for its kubeconfig): the plan's mocks,
    # behind the SDK's stock monitor.
    return _timed(lambda: run() and None, config, PlanMocks())


def floor(resources: list[Resource]) -> float:
    """Seconds the SDK takes to register `resources` as generic resources, nothing recorded."""
    order = _topological(resources)

    def program() -> None:
        made: dict[str, pulumi.Resource] = {}
        for r in order:
            opts = pulumi.ResourceOptions(parent=made.get(r.parent), provider=made.get(r.provider), protect=r.protect)
            if r.type.startswith("pulumi:providers:"):
                made[r.urn] = pulumi.ProviderResource(r.type.rsplit(":", 1)[-1], r.name, r.inputs, opts)
            elif r.custom:
                made[r.urn] = pulumi.CustomResource(r.type, r.name, r.inputs, opts)
            else:
                made[r.urn] = pulumi.ComponentResource(r.type, r.name, r.inputs, opts)

    return _timed(program)


def _topological(resources: list[Resource]) -> list[Resource]:
    by_urn = {r.urn: r for r in resources}
    done: set[str] = set()
    out: list[Resource] = []

    def visit(r: Resource) -> None:
        if r.urn in done:
            return
        for dep in (r.parent, r.provider):
            if dep in by_urn:
                visit(by_urn[dep])
        done.add(r.urn)
        out.append(r)

    for r in resources:
        visit(r)
    return out


def plan(project: Path) -> tuple[float, list[Resource], int]:
    start = time.perf_counter()
    result = run_plan("fleet", project)
    files = render(result)
    return time.perf_counter() - start, result.resources, len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the median is reported")
    args = parser.parse_args()
    # Imports (provider SDKs, pydantic schemas) are paid once per process, by whichever runs first.
    warm = fleet_project(1)
    plan(warm)
    bare(warm)
    shutil.rmtree(warm)
    print(f"{'sites':>5} {'resources':>9} {'files':>6} {'plan s':>7} {'bare s':>7} {'floor s':>7} {'plan/bare':>9} {'plan/floor':>10} {'ms/res plan':>11} {'bare':>6} {'floor':>6}")
    for sites in args.sites:
        project = fleet_project(sites)
        plans, bares, floors = [], [], []
        for _ in range(args.repeat):
            gc.collect()
            seconds, resources, files = plan(project)
            plans.append(seconds)
            gc.collect()
            bares.append(bare(project))
            gc.collect()
            floors.append(floor(resources))
        p, b, f, n = statistics.median(plans), statistics.median(bares), statistics.median(floors), len(resources)
        print(
            f"{sites:>5} {n:>9} {files:>6} {p:>7.2f} {b:>7.2f} {f:>7.2f} {p / b:>9.2f} {p / f:>10.2f} {1000 * p / n:>11.2f} {1000 * b / n:>6.2f} {1000 * f / n:>6.2f}",
            flush=True,
        )
        shutil.rmtree(project)


if __name__ == "__main__":
    main()
