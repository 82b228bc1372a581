# Drift and latency per model version from the decision trail, in two steps of one program so the
# training baseline and the decisions it is compared with are read into features the same way:
#
# DRIFT_STEP=baseline (the training workflow's step after register, modules/training_runtime.py):
#   the run's `drift/reference.json` — a sample of its training inputs written as a request to the
#   model (`{"instances": [...]}` or the v2 protocol's `{"inputs": [...]}`) — binned per feature at
#   its deciles, logged to the run as `drift/baseline.json`, the baseline of the version it registered.
# DRIFT_STEP=check (the CronWorkflow beside the decision sink, modules/drift_monitor.py): samples a
#   window of each watched model version's decisions from the write-once archive, computes each
#   feature's population stability index against the version's baseline and the p95 of the decisions'
#   latency, and writes them as the step's output parameters, which Argo exports as Prometheus
#   metrics. A version without a baseline is reported as such, never an error.
#
# Configuration comes as environment variables (no credential among them); the MLflow login and the
# archive's reader key are mounted files, handed to the clients inside this process only.

from __future__ import annotations

import gzip
import io
import json
import math
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

BASELINE_FORMAT = "hybrid-ai.io/drift-baseline/v1"
REFERENCE = "drift/reference.json"
BASELINE = "drift/baseline.json"
MAX_COLUMNS = 64
"""An input with more values per instance (an image, an embedding) is watched through its mean and
standard deviation; narrower ones value by value."""


# --- Features: what a request body says about each instance, by feature name ---------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def _flat(value: Any) -> list[float]:
    """The numbers of a (nested) list, in order; anything else is left out."""
    if isinstance(value, list):
        return [n for item in value for n in _flat(item)]
    number = _number(value)
    return [] if number is None else [number]


def _values(name: str, values: list[float], out: dict[str, float]) -> None:
    """One input's values of one instance: each as its own feature, or summarized when wide."""
    if len(values) > MAX_COLUMNS:
        array = np.asarray(values)
        out[f"{name}:mean"] = float(array.mean())
        out[f"{name}:std"] = float(array.std())
    else:
        for j, value in enumerate(values):
            out[f"{name}[{j}]"] = value


def _instance(instance: Any) -> dict[str, float]:
    """A v1 instance: a number, a list of numbers (features by position) or an object (by name)."""
    out: dict[str, float] = {}
    if isinstance(instance, dict):
        for key, value in instance.items():
            number = _number(value)
            if number is not None:
                out[str(key)] = number
            elif isinstance(value, list):
                _values(str(key), _flat(value), out)
    elif isinstance(instance, list):
        _values("", _flat(instance), out)
    elif (number := _number(instance)) is not None:
        out["value"] = number
    return out


def _v2_rows(tensor: dict) -> list[dict[str, float]]:
    """A v2 (Open Inference Protocol) input tensor, row by row along its first dimension."""
    name, shape, data = str(tensor.get("name", "input")), tensor.get("shape") or [], _flat(tensor.get("data", []))
    if tensor.get("datatype") == "BYTES" or not data:
        return []
    rows = int(shape[0]) if shape and isinstance(shape[0], int) and shape[0] > 0 else 1
    if len(data) % rows:
        return []
    width = len(data) // rows
    out = []
    for i in range(rows):
        row: dict[str, float] = {}
        values = data[i * width : (i + 1) * width]
        if len(shape) <= 1 and width == 1:
            row[name] = values[0]
        else:
            _values(name, values, row)
        out.append(row)
    return out


def instances_of(body: Any) -> list[dict[str, float]]:
    """Each instance of a request body as its numeric features: KServe's v1 protocol
    (`{"instances": [...]}`) or v2 (`{"inputs": [{"name", "shape", "datatype", "data"}]}`, a
    tensor's rows being the instances). Strings and anything else are left out."""
    if not isinstance(body, dict):
        return []
    if isinstance(body.get("instances"), list):
        return [f for f in (_instance(i) for i in body["instances"]) if f]
    inputs = body.get("inputs")
    if isinstance(inputs, list) and all(isinstance(t, dict) for t in inputs):
        rows: list[dict[str, float]] = []
        for tensor in inputs:
            for i, row in enumerate(_v2_rows(tensor)):
                if i == len(rows):
                    rows.append({})
                rows[i].update(row)
        return [r for r in rows if r]
    return []


def columns_of(instances: Iterable[dict[str, float]]) -> dict[str, list[float]]:
    columns: dict[str, list[float]] = {}
    for instance in instances:
        for name, value in instance.items():
            columns.setdefault(name, []).append(value)
    return columns


# --- The baseline and the index --------------------------------------------------------------------


def bin_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Where a feature's bins start: its training minimum, its quantiles 1/bins … (bins − 1)/bins
    (values it holds, merged where equal) and just above its maximum. Values below the training
    range and above it get a bin each: a feature that was constant in training still shows a change."""
    quantiles = np.quantile(values, np.linspace(0, 1, bins + 1)[:-1], method="inverted_cdf")
    return np.unique(np.append(quantiles, np.nextafter(values.max(), np.inf)))


def shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The share of `values` in each bin: below the first edge, between each two, from the last."""
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return counts / max(len(values), 1)


def make_baseline(columns: dict[str, list[float]], bins: int, least: int) -> dict[str, dict]:
    """Each feature with at least `least` reference values: its bin edges and the share of the
    reference in each bin (edges and shares only: no training record is kept in the baseline)."""
    features = {}
    for name, values in sorted(columns.items()):
        array = np.asarray(values, dtype=float)
        if len(array) < least:
            continue
        edges = bin_edges(array, bins)
        features[name] = {"edges": edges.tolist(), "shares": shares(array, edges).tolist(), "count": int(len(array))}
    return features


def psi(expected: np.ndarray, actual: np.ndarray, epsilon: float) -> float:
    """Population stability index, Σ (actual − expected) · ln(actual / expected), each share at
    least `epsilon` so an empty bin on either side keeps it finite."""
    e, a = np.maximum(expected, epsilon), np.maximum(actual, epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def drift_of(baseline: dict[str, dict], columns: dict[str, list[float]], epsilon: float, least: int) -> dict[str, float]:
    """The index of each baseline feature that has at least `least` values among the decisions."""
    out = {}
    for name, feature in baseline.items():
        values = np.asarray(columns.get(name, ()), dtype=float)
        if len(values) >= least:
            edges = np.asarray(feature["edges"], dtype=float)
            out[name] = psi(np.asarray(feature["shares"], dtype=float), shares(values, edges), epsilon)
    return out


def p95(latencies: list[float]) -> float:
    """The 95th percentile: the smallest latency that at least 95 % of the decisions took no longer than."""
    return float(np.percentile(np.asarray(latencies, dtype=float), 95, method="inverted_cdf"))


# --- Sampling the window's decisions ---------------------------------------------------------------


class Sample:
    """What a check keeps of one model version's decisions: the values of each feature (of
    `limit` instances at most: a request may carry a batch) and the latencies."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.decisions = 0
        self.instances = 0
        self.columns: dict[str, list[float]] = {}
        self.latencies_ms: list[float] = []

    def add(self, record: dict) -> None:
        self.decisions += 1
        for instance in instances_of(record.get("request")):
            if self.instances >= self.limit:
                break
            self.instances += 1
            for name, value in instance.items():
                self.columns.setdefault(name, []).append(value)
        latency = _number(record.get("latency_ms"))
        if record.get("complete") and latency is not None and latency >= 0:
            self.latencies_ms.append(latency)


def parse_time(text: Any) -> datetime | None:
    """A record's RFC 3339 time (KServe writes nanoseconds: Python keeps microseconds)."""
    if not isinstance(text, str):
        return None
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        rest = digits[:6] + rest[len(digits) :]
        text = f"{head}.{rest}"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def sample(records: Iterable[dict], models: list[dict], start: datetime, end: datetime, max_decisions: int) -> dict[str, Sample]:
    """Each watched model version's decisions made in [start, end) (a record without a readable
    time counts as its archive object's), `max_decisions` at most, from `records` in the order
    given; stops reading once every version has its sample."""
    wanted = {(m["namespace"], m["name"], str(m["version"])): m["key"] for m in models}
    samples = {m["key"]: Sample(max_decisions) for m in models}
    full = 0
    for record in records:
        key = wanted.get((record.get("namespace"), record.get("inference_service"), str(record.get("model_version"))))
        if key is None:
            continue
        moment = parse_time(record.get("time"))
        if moment is not None and not start <= moment < end:
            continue
        taken = samples[key]
        if taken.decisions >= max_decisions:
            continue
        taken.add(record)
        if taken.decisions == max_decisions:
            full += 1
            if full == len(samples):
                break
    return samples


def archive_objects(s3: Any, bucket: str, prefix: str, start: datetime, end: datetime, lag: timedelta) -> list[dict]:
    """The archive objects that can hold decisions of [start, end): written from `start` until
    `lag` after `end`, under the day prefixes (UTC) those times span, the day before included."""
    objects, day = [], (start - timedelta(days=1)).date()
    while day <= (end + lag).date():
        token = None
        while True:
            page = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}{day:%Y/%m/%d}/", **({"ContinuationToken": token} if token else {}))
            objects += [o for o in page.get("Contents", []) if start <= o["LastModified"] <= end + lag]
            token = page.get("NextContinuationToken")
            if not token:
                break
        day += timedelta(days=1)
    return objects


def archive_records(s3: Any, bucket: str, objects: list[dict], max_bytes: int, seed: int) -> Iterator[dict]:
    """The records of `objects` (gzipped JSON lines), whole objects in a random order (`seed`),
    until `max_bytes` of objects have been read."""
    order = sorted(objects, key=lambda o: o["Key"])
    random.Random(seed).shuffle(order)
    read = 0
    for item in order:
        if read >= max_bytes:
            print(f"read {read} bytes of the archive, the most a check reads (maxReadMib): the rest of the window is left", file=sys.stderr)
            return
        read += int(item.get("Size", 0))
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"]
        try:
            for line in io.TextIOWrapper(gzip.GzipFile(fileobj=body), encoding="utf-8"):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        continue
        finally:
            body.close()


# --- One check: every watched version's numbers ----------------------------------------------------

RECORDED, MISSING, UNREADABLE = 1, 0, -1
"""A version's baseline: compared with, none recorded, or not readable (MLflow refused or is down)."""


def results(models: list[dict], samples: dict[str, Sample], baselines: dict[str, tuple[int, dict | None]], epsilon: float, least: int, checked: int) -> dict[str, dict[str, float]]:
    """The output parameters of each model version (by its key): the largest feature index (`drift`,
    0 when not `compared`), the baseline's state, the features compared, the decisions sampled, the
    p95 latency in seconds of those with a latency (`timed`), and when the check ran."""
    out = {}
    for model in models:
        key = model["key"]
        taken = samples[key]
        state, baseline = baselines.get(key, (MISSING, None))
        indexes = drift_of(baseline["features"], taken.columns, epsilon, least) if baseline else {}
        out[key] = {
            "drift": max(indexes.values()) if indexes else 0.0,
            "compared": 1 if indexes else 0,
            "baseline": state,
            "features": len(indexes),
            "decisions": taken.decisions,
            "timed": len(taken.latencies_ms),
            "p95": p95(taken.latencies_ms) / 1000 if taken.latencies_ms else 0.0,
            "checked": checked,
        }
        worst = sorted(indexes.items(), key=lambda kv: -kv[1])[:5]
        print(json.dumps({"model": model["name"], "version": model["version"], **out[key], "worst_features": dict(worst)}))
    return out


def write_outputs(values: dict[str, dict[str, float]], folder: Path) -> None:
    """One file per output parameter, `<key>-<name>`, as the step's outputs read them (Python's
    shortest exact form of each number, which Argo parses as a float)."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, numbers in values.items():
        for name, value in numbers.items():
            (folder / f"{key}-{name}").write_text(str(value))


# --- The clients: MLflow and the archive, credentials from mounted files --------------------------


def _read(path: Path) -> str:
    return path.read_text().strip()


def mlflow_client(username: Path, password: Path) -> Any:
    """MLflow's client with the login of the mounted Secret's two files, set for this process only:
    nothing in the pod's environment."""
    os.environ["MLFLOW_TRACKING_USERNAME"] = _read(username)
    os.environ["MLFLOW_TRACKING_PASSWORD"] = _read(password)
    from mlflow import MlflowClient

    return MlflowClient()


def baseline_of(client: Any, model: str, version: int) -> tuple[int, dict | None]:
    """A registry version's baseline: the one its run recorded, none, or not readable."""
    import mlflow

    try:
        run_id = client.get_model_version(model, str(version)).run_id
        if not run_id or BASELINE not in {a.path for a in client.list_artifacts(run_id, "drift")}:
            return MISSING, None
        with tempfile.TemporaryDirectory() as folder:
            path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=BASELINE, dst_path=folder)
            baseline = json.loads(Path(path).read_text())
    except Exception as error:  # noqa: BLE001 — any failure to read is reported, never fatal
        print(f"{model} version {version}: baseline not readable: {error}", file=sys.stderr)
        return UNREADABLE, None
    if baseline.get("format") != BASELINE_FORMAT or not isinstance(baseline.get("features"), dict):
        print(f"{model} version {version}: {BASELINE} is not a {BASELINE_FORMAT} baseline", file=sys.stderr)
        return UNREADABLE, None
    return RECORDED, baseline


def archive_client(key_id: Path, secret_key: Path, endpoint: str, region: str) -> Any:
    """boto3's S3 client for the archive, with the reader key of the mounted Secret's two files
    passed to it directly."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=_read(key_id),
        aws_secret_access_key=_read(secret_key),
        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 5}),
    )


# --- The two steps ----------------------------------------------------------------------------------


def baseline_step(env: dict[str, str]) -> None:
    """Records the baseline of the version this run registered, from its reference sample."""
    client = mlflow_client(Path(env["MLFLOW_USERNAME_FILE"]), Path(env["MLFLOW_PASSWORD_FILE"]))
    run_id, name = env["MLFLOW_RUN_ID"], env["REGISTERED_MODEL"]
    versions = [v for v in client.search_model_versions(f"name = '{name}'") if v.run_id == run_id]
    if not versions:
        print(f"run {run_id} registered no version of {name}: no baseline to record")
        return
    version = max(int(v.version) for v in versions)
    if REFERENCE not in {a.path for a in client.list_artifacts(run_id, "drift")}:
        print(f"{name} version {version}: the run logged no {REFERENCE}, so the version has no drift baseline (the check reports it as missing)")
        return
    import mlflow

    with tempfile.TemporaryDirectory() as folder:
        reference = json.loads(Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=REFERENCE, dst_path=folder)).read_text())
    features = make_baseline(columns_of(instances_of(reference)), int(env["DRIFT_BINS"]), int(env["DRIFT_MIN_VALUES"]))
    if not features:
        print(f"{name} version {version}: {REFERENCE} holds no numeric feature with {env['DRIFT_MIN_VALUES']} values: no baseline recorded")
        return
    baseline = {"format": BASELINE_FORMAT, "model": name, "version": version, "run_id": run_id, "features": features}
    client.log_dict(run_id, baseline, BASELINE)
    print(f"{name} version {version}: baseline of {len(features)} features recorded as runs:/{run_id}/{BASELINE}")


def check_step(env: dict[str, str]) -> None:
    """Samples the window's decisions of each watched version and writes the step's outputs."""
    models = json.loads(env["MODELS"])
    lag = timedelta(seconds=int(env["LAG_SECONDS"]))
    end = datetime.now(timezone.utc).replace(second=0, microsecond=0) - lag
    start = end - timedelta(seconds=int(env["WINDOW_SECONDS"]))
    least, epsilon = int(env["DRIFT_MIN_VALUES"]), float(env["DRIFT_EPSILON"])
    client = mlflow_client(Path(env["MLFLOW_USERNAME_FILE"]), Path(env["MLFLOW_PASSWORD_FILE"]))
    baselines = {m["key"]: baseline_of(client, m["registry_model"], m["version"]) for m in models}
    s3 = archive_client(Path(env["ARCHIVE_KEY_ID_FILE"]), Path(env["ARCHIVE_SECRET_KEY_FILE"]), env["ARCHIVE_ENDPOINT"], env["ARCHIVE_REGION"])
    bucket = env["ARCHIVE_BUCKET"]
    objects = archive_objects(s3, bucket, env["ARCHIVE_PREFIX"], start, end, lag)
    print(f"window {start:%Y-%m-%dT%H:%M}Z – {end:%H:%M}Z: {len(objects)} archive objects")
    records = archive_records(s3, bucket, objects, int(env["MAX_READ_BYTES"]), seed=int(end.timestamp()))
    samples = sample(records, models, start, end, int(env["MAX_DECISIONS"]))
    write_outputs(results(models, samples, baselines, epsilon, least, int(time.time())), Path(env["OUTPUT_DIR"]))


if __name__ == "__main__":
    step = os.environ.get("DRIFT_STEP")
    if step == "baseline":
        baseline_step(dict(os.environ))
    elif step == "check":
        check_step(dict(os.environ))
    else:
        sys.exit(f"DRIFT_STEP is {step!r}: `baseline` or `check`")
