"""Plan time of a growing edge fleet planned as one stack against the same fleet planned as a hub and
a stack per site (`hybridai fleet plan`), cold and with one site changed.

For each fleet size (manufacturing-prod's plant, cloud pool and sites, repeated, as
benchmarks/plan_scale.py makes them) it measures in one run:
  single — `hybridai plan` without the disk (validate, run, place, price, check, render): one
           process, every site in one stack (skipped above --single-max sites: it grows faster
           than linearly, see plan_scale.py);
  cold   — `plan_fleet` into a new folder: the hub, then every site in --jobs worker processes,
           each member's artifacts written;
  warm   — one site's config changed, planned again into the same folder: the hub and that site
           planned, every other site's plan kept (its input hash unchanged);
and reports single ÷ cold and cold ÷ warm, the time per site, and the peak resident memory of the
main process (which also plans the single stack) and of the largest worker.

    .venv/bin/python benchmarks/fleet_scale.py [--sites 10 50 100] [--jobs 2] [--single-max 50]
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from plan_scale import fleet_project  # noqa: E402

from hybridai.plan import run_plan  # noqa: E402
from hybridai.plan.artifacts import render  # noqa: E402
from hybridai.plan.fleet import default_jobs, plan_fleet  # noqa: E402

STACK = "fleet"


def single(project: Path) -> float:
    start = time.perf_counter()
    render(run_plan(STACK, project))
    return time.perf_counter() - start


def fleet(project: Path, out: Path, jobs: int) -> tuple[float, dict, float]:
    """Seconds, totals and the largest worker's peak resident memory (MB) of one fleet plan."""
    start = time.perf_counter()
    result = plan_fleet(STACK, project, out, jobs)
    seconds = time.perf_counter() - start
    if result.failed:
        raise SystemExit(f"{result.failed[0].stack} failed: {result.failed[0].error}")
    return seconds, result.totals(), max(m.peak_mb for m in result.members)


def change_one_site(project: Path) -> None:
    path = project / "stacks" / f"Pulumi.{STACK}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["hybrid-ai:sites"][0]["cacheSize"] = "64Gi"
    path.write_text(yaml.safe_dump(document))


def peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--jobs", type=int, default=default_jobs())
    parser.add_argument("--single-max", type=int, default=50, help="largest fleet also planned as one stack")
    args = parser.parse_args()
    warm_up = fleet_project(1)
    single_imports = single(warm_up)  # imports paid once, before anything is timed
    del single_imports
    shutil.rmtree(warm_up)
    print(f"jobs {args.jobs}")
    print(f"{'sites':>5} {'resources':>9} {'single s':>8} {'cold s':>7} {'warm s':>7} {'single/cold':>11} {'cold/warm':>9} {'s/site cold':>11} {'warm planned':>12} {'main MB':>7} {'worker MB':>9}")
    for sites in args.sites:
        project = fleet_project(sites)
        out = Path(tempfile.mkdtemp(prefix="hybridai-fleet-bench-")) / "plan"
        alone = single(project) if sites <= args.single_max else None
        cold, totals, worker_mb = fleet(project, out, args.jobs)
        change_one_site(project)
        warm, again, _ = fleet(project, out, args.jobs)
        shown = f"{alone:>8.2f}" if alone is not None else f"{'—':>8}"
        ratio = f"{alone / cold:>11.2f}" if alone is not None else f"{'—':>11}"
        print(
            f"{sites:>5} {totals['resources']:>9} {shown} {cold:>7.2f} {warm:>7.2f} {ratio} {cold / warm:>9.2f} {cold / sites:>11.3f} {again['planned']:>12} "
            f"{peak_mb(resource.RUSAGE_SELF):>7.0f} {worker_mb:>9.0f}",
            flush=True,
        )
        shutil.rmtree(out.parent)
        shutil.rmtree(project)


if __name__ == "__main__":
    main()
