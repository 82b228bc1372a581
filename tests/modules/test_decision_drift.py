"""The drift check's program (modules/scripts/decision_drift.py) on fixture decisions: features read
from request bodies as KServe's protocols carry them, baselines binned at the training deciles, the
population stability index finding a shifted distribution and not the same one, the p95 of hand-
computed latencies, a version without a baseline reported as such, and the archive read by window.
(That the file compiles and reaches the plan as written: tests/modules/test_scripts.py.)"""
from __future__ import annotations

import gzip
import io
import json
import sys
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from hybridai.config.decisions import MIN_DECISIONS
from hybridai.config.drift import DEFAULT_THRESHOLD, PSI_BINS, PSI_EPSILON, psi_ceiling
from hybridai.modules.drift_monitor import OUTPUTS
from hybridai.modules.scripts import decision_drift as dd

START = datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc)
END = START + timedelta(hours=1)
MODELS = [
    {"key": "m0", "namespace": "fraud", "name": "fraud-score", "registry_model": "fraud-score", "version": 12},
    {"key": "m1", "namespace": "credit-serving", "name": "credit-limit", "registry_model": "credit-limit", "version": 5},
]


def record(model: dict, features: list[float], at: datetime, latency_ms: float | None = 20, version: int | None = None, complete: bool = True) -> dict:
    """A decision as the sink writes it (modules/decision_log.py's RECORD_FIELDS), a v1 request."""
    return {
        "id": "7f3c",
        # KServe's CloudEvent time, to the nanosecond
        "time": at.strftime("%Y-%m-%dT%H:%M:%S.123456789Z"),
        "cluster": "dc1",
        "namespace": model["namespace"],
        "team": model["namespace"],
        "inference_service": model["name"],
        "model": model["registry_model"],
        "model_version": str(version if version is not None else model["version"]),
        "request": {"instances": [features]},
        "response": {"predictions": [0.1]},
        "latency_ms": latency_ms,
        "complete": complete,
    }


def training_reference(rng: np.random.Generator, n: int = 5000) -> dict:
    """What a training run logs as `drift/reference.json`: its inputs as a request to the model."""
    return {"instances": np.column_stack([rng.normal(0, 1, n), rng.exponential(2, n), rng.integers(0, 2, n)]).tolist()}


@pytest.fixture
def baseline() -> dict:
    rng = np.random.default_rng(7)
    features = dd.make_baseline(dd.columns_of(dd.instances_of(training_reference(rng))), PSI_BINS, MIN_DECISIONS)
    return {"format": dd.BASELINE_FORMAT, "model": "fraud-score", "version": 12, "run_id": "r1", "features": features}


def decisions(rng: np.random.Generator, model: dict, n: int, shift: float = 0.0) -> list[dict]:
    rows = np.column_stack([rng.normal(shift, 1, n), rng.exponential(2, n), rng.integers(0, 2, n)]).tolist()
    return [record(model, row, START + timedelta(seconds=i % 3600)) for i, row in enumerate(rows)]


# --- Features -----------------------------------------------------------------------------------


def test_v1_instances_are_features_by_position_or_name() -> None:
    # GIVEN v1 bodies: positional instances, named ones (a nested list and a string inside), a scalar
    body = {"instances": [[1, 2.5, True], {"age": 41, "income": 5.5, "name": "x", "history": [1, 2]}, 7]}
    # THEN each instance's numbers are its features, strings left out, booleans as 0/1
    assert dd.instances_of(body) == [{"[0]": 1.0, "[1]": 2.5, "[2]": 1.0}, {"age": 41.0, "income": 5.5, "history[0]": 1.0, "history[1]": 2.0}, {"value": 7.0}]
    # AND a body that isn't a request (text, a response, an object without instances) has none
    assert dd.instances_of("not json") == [] and dd.instances_of({"predictions": [1]}) == [] and dd.instances_of({"instances": ["a"]}) == []


def test_v2_tensors_are_rows_and_a_wide_input_is_summarized() -> None:
    # GIVEN a v2 request: a [2, 3] tensor, a [2, 100] one (wider than MAX_COLUMNS), text, a [2] vector
    body = {
        "inputs": [
            {"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]},
            {"name": "img", "shape": [2, 100], "datatype": "FP32", "data": [[float(v) for v in range(100)], [float(v) for v in range(100, 200)]]},
            {"name": "note", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]},
            {"name": "amount", "shape": [2], "datatype": "FP64", "data": [10.0, 20.0]},
        ]
    }
    rows = dd.instances_of(body)
    # THEN each row is an instance: narrow inputs value by value, the wide one by mean and deviation
    assert [set(r) for r in rows] == [{"x[0]", "x[1]", "x[2]", "img:mean", "img:std", "amount"}] * 2
    assert (rows[1]["x[2]"], rows[0]["img:mean"], rows[1]["img:mean"], rows[1]["amount"]) == (6.0, 49.5, 149.5, 20.0)
    assert rows[0]["img:std"] == pytest.approx(np.std(np.arange(100)))


# --- The baseline and the index -----------------------------------------------------------------


def test_a_baseline_bins_each_feature_at_its_deciles_with_a_bin_beyond_each_end(baseline: dict) -> None:
    features = baseline["features"]
    # THEN each reference feature is in it, with its count and a share per bin summing to one
    assert set(features) == {"[0]", "[1]", "[2]"} and {f["count"] for f in features.values()} == {5000}
    for feature in features.values():
        assert len(feature["shares"]) == len(feature["edges"]) + 1 and sum(feature["shares"]) == pytest.approx(1)
    # AND a continuous feature has its 10 deciles and nothing below or above the training range
    continuous = features["[0]"]["shares"]
    assert len(continuous) == PSI_BINS + 2 and continuous[0] == continuous[-1] == 0 and all(s == pytest.approx(0.1, abs=0.002) for s in continuous[1:-1])
    # AND a binary one a bin per value (never an interpolated edge between them)
    binary = features["[2]"]
    assert binary["edges"][:2] == [0.0, 1.0] and len(binary["shares"]) == 4


def test_a_feature_constant_in_training_still_shows_a_change() -> None:
    # GIVEN a feature that was always 0 in training
    base = dd.make_baseline({"flag": [0.0] * 1000}, PSI_BINS, MIN_DECISIONS)
    # WHEN a tenth of the decisions carry 1, THEN its index is well over the default threshold
    assert dd.drift_of(base, {"flag": [0.0] * 900 + [1.0] * 100}, PSI_EPSILON, MIN_DECISIONS)["flag"] > DEFAULT_THRESHOLD
    # AND all zeros again is no drift at all
    assert dd.drift_of(base, {"flag": [0.0] * 1000}, PSI_EPSILON, MIN_DECISIONS)["flag"] == pytest.approx(0)


def test_psi_by_hand_and_its_ceiling() -> None:
    # GIVEN two bins at 50/50 in training and 80/20 among the decisions
    expected, actual = np.array([0.5, 0.5]), np.array([0.8, 0.2])
    # THEN the index is (0.8−0.5)·ln(0.8/0.5) + (0.2−0.5)·ln(0.2/0.5)
    assert dd.psi(expected, actual, PSI_EPSILON) == pytest.approx(0.3 * np.log(1.6) + 0.3 * np.log(2.5))
    # AND the configured ceiling is the index of every decision in a bin training never filled
    deciles = np.array([0.0] + [0.1] * 10 + [0.0])
    assert dd.psi(deciles, np.array([1.0] + [0.0] * 11), PSI_EPSILON) == pytest.approx(psi_ceiling())


def test_a_shifted_distribution_drifts_and_the_same_one_does_not(baseline: dict) -> None:
    # GIVEN an hour of fraud-score's decisions from the training distribution, and one whose first
    # feature moved by one standard deviation
    rng = np.random.default_rng(11)
    same = dd.sample(decisions(rng, MODELS[0], 5000), MODELS[:1], START, END, 20000)
    shifted = dd.sample(decisions(rng, MODELS[0], 5000, shift=1.0), MODELS[:1], START, END, 20000)
    # WHEN compared with the version's baseline
    base = {"m0": (dd.RECORDED, baseline)}
    quiet = dd.results(MODELS[:1], same, base, PSI_EPSILON, MIN_DECISIONS, 1)["m0"]
    drifted = dd.results(MODELS[:1], shifted, base, PSI_EPSILON, MIN_DECISIONS, 1)["m0"]
    # THEN the same distribution stays far below the threshold, the shifted one far above it
    assert quiet["compared"] == drifted["compared"] == 1 and quiet["features"] == drifted["features"] == 3
    assert quiet["drift"] < 0.05 < DEFAULT_THRESHOLD < 0.5 < drifted["drift"]
    # AND only the moved feature drifted
    indexes = dd.drift_of(baseline["features"], shifted["m0"].columns, PSI_EPSILON, MIN_DECISIONS)
    assert max(indexes, key=indexes.get) == "[0]" and indexes["[1]"] < 0.05 and indexes["[2]"] < 0.05


def test_too_few_decisions_are_not_compared(baseline: dict) -> None:
    # GIVEN fewer decisions in the window than a stable index needs
    rng = np.random.default_rng(3)
    few = dd.sample(decisions(rng, MODELS[0], MIN_DECISIONS - 1, shift=3.0), MODELS[:1], START, END, 20000)
    out = dd.results(MODELS[:1], few, {"m0": (dd.RECORDED, baseline)}, PSI_EPSILON, MIN_DECISIONS, 1)["m0"]
    # THEN nothing is compared (no index is emitted), and latency is still reported
    assert (out["compared"], out["features"], out["drift"], out["baseline"]) == (0, 0, 0.0, dd.RECORDED)
    assert out["timed"] == MIN_DECISIONS - 1


# --- Latency --------------------------------------------------------------------------------------


def test_p95_is_the_nearest_rank_of_hand_computed_latencies() -> None:
    # GIVEN 20 latencies 10, 20, …, 200 ms: 95 % of 20 is 19, so the 19th smallest
    assert dd.p95([float(v) for v in range(200, 0, -10)]) == 190.0
    # AND of 1..100 ms the 95th; of one decision, itself
    assert dd.p95([float(v) for v in range(1, 101)]) == 95.0 and dd.p95([42.0]) == 42.0


def test_p95_counts_complete_decisions_only_in_seconds() -> None:
    # GIVEN 19 decisions of 10..190 ms, one of 2000 ms, and one that never got its response
    model = MODELS[0]
    records = [record(model, [0.0], START, latency_ms=float(v)) for v in range(10, 200, 10)] + [record(model, [0.0], START, latency_ms=2000.0)]
    records.append(record(model, [0.0], START, latency_ms=None, complete=False))
    out = dd.results(MODELS[:1], dd.sample(records, MODELS[:1], START, END, 100), {}, PSI_EPSILON, MIN_DECISIONS, 1)["m0"]
    # THEN 21 decisions were sampled, 20 timed, and their p95 (the 19th of 20) is 190 ms = 0.19 s
    assert (out["decisions"], out["timed"], out["p95"]) == (21, 20, 0.19)


# --- A version without a baseline, and what the step writes --------------------------------------


def test_a_version_without_a_baseline_is_reported_as_such_not_an_error(tmp_path: Path, baseline: dict) -> None:
    # GIVEN both models' decisions; fraud-score has a baseline, credit-limit none, and a third
    # version's baseline couldn't be read
    rng = np.random.default_rng(5)
    third = {"key": "m2", "namespace": "fraud", "name": "fraud-lite", "registry_model": "fraud-lite", "version": 1}
    models = [*MODELS, third]
    records = decisions(rng, MODELS[0], 1000) + decisions(rng, MODELS[1], 1000) + decisions(rng, third, 1000)
    baselines = {"m0": (dd.RECORDED, baseline), "m1": (dd.MISSING, None), "m2": (dd.UNREADABLE, None)}
    # WHEN the check computes and writes its outputs
    out = dd.results(models, dd.sample(records, models, START, END, 20000), baselines, PSI_EPSILON, MIN_DECISIONS, 1765101600)
    dd.write_outputs(out, tmp_path)
    # THEN the versions without one say so (0: none, -1: unreadable), compared nothing, and still have latency
    assert {k: (v["baseline"], v["compared"], v["features"]) for k, v in out.items()} == {"m0": (1, 1, 3), "m1": (0, 0, 0), "m2": (-1, 0, 0)}
    assert all(v["decisions"] == 1000 and v["p95"] == 0.02 for v in out.values())
    # AND every output parameter the WorkflowTemplate reads is a file holding a number Argo parses
    files = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert set(files) == {f"{m['key']}-{o}" for m in models for o in OUTPUTS}
    assert all(float(v) == float(v) for v in files.values())
    assert (files["m1-baseline"], files["m1-compared"], files["m2-baseline"], files["m0-checked"], files["m0-p95"]) == ("0", "0", "-1", "1765101600", "0.02")


def test_only_the_watched_versions_decisions_in_the_window_are_sampled_up_to_the_limit() -> None:
    model = MODELS[0]
    records = [
        record(model, [1.0], START - timedelta(seconds=1)),  # before the window
        record(model, [2.0], END),  # at its end: outside
        record(model, [3.0], START, version=11),  # the previous version
        {**record(model, [4.0], START), "inference_service": "other"},
        {**record(model, [5.0], START), "time": None},  # no time: its object's window counts
        *[record(model, [float(v)], START + timedelta(minutes=v)) for v in range(10, 20)],
    ]
    taken = dd.sample(records, MODELS, START, END, 8)
    # THEN the untimed record and the in-window ones are taken, 8 at most; nothing of credit-limit
    assert taken["m0"].columns["[0]"] == [5.0, *map(float, range(10, 17))] and taken["m1"].decisions == 0


# --- The archive ----------------------------------------------------------------------------------


class FakeArchive:
    """list_objects_v2 and get_object as boto3's S3 client answers them, over objects in memory."""

    def __init__(self, objects: dict[str, tuple[datetime, list[dict]]]):
        self.objects = {k: (t, gzip.compress("".join(json.dumps(r) + "\n" for r in rs).encode())) for k, (t, rs) in objects.items()}
        self.listed: list[str] = []
        self.read: list[str] = []

    def list_objects_v2(self, Bucket: str, Prefix: str, ContinuationToken: str | None = None) -> dict:  # noqa: N803 - boto3's names
        self.listed.append(Prefix)
        keys = sorted(k for k in self.objects if k.startswith(Prefix))
        # one object per page, so the paging is exercised
        index = int(ContinuationToken or 0)
        page = [{"Key": k, "LastModified": self.objects[k][0], "Size": len(self.objects[k][1])} for k in keys[index : index + 1]]
        return {"Contents": page, **({"NextContinuationToken": str(index + 1)} if index + 1 < len(keys) else {})} if page else {}

    def get_object(self, Bucket: str, Key: str) -> dict:  # noqa: N803
        self.read.append(Key)
        return {"Body": Stream(self.objects[Key][1])}


class Stream:
    """A response body as botocore's StreamingBody gives it: read and close, no seeking."""

    def __init__(self, data: bytes):
        self._data, self.closed = io.BytesIO(data), False

    def read(self, amt: int | None = None) -> bytes:
        return self._data.read(amt)

    def close(self) -> None:
        self.closed = True


def test_the_archive_is_read_by_the_windows_days_and_write_times() -> None:
    model = MODELS[0]
    lag = timedelta(minutes=15)
    archive = FakeArchive(
        {
            "decision/dc1/2026/12/07/101000-a.json.gz": (START + timedelta(minutes=10), [record(model, [1.0], START)]),
            "decision/dc1/2026/12/07/110500-b.json.gz": (END + timedelta(minutes=5), [record(model, [2.0], END - timedelta(minutes=5))]),
            "decision/dc1/2026/12/07/093000-c.json.gz": (START - timedelta(minutes=30), [record(model, [3.0], START - timedelta(minutes=35))]),
            "decision/dc1/2026/12/07/120000-d.json.gz": (END + timedelta(hours=1), [record(model, [4.0], END + timedelta(minutes=50))]),
            "decision/other/2026/12/07/101000-e.json.gz": (START + timedelta(minutes=10), [record(model, [5.0], START)]),
        }
    )
    # WHEN the check lists the window's objects
    objects = dd.archive_objects(archive, "hybridai-audit", "decision/dc1/", START, END, lag)
    # THEN it lists the day before and the window's day, under its cluster's prefix only, every page
    assert archive.listed[0] == "decision/dc1/2026/12/06/" and set(archive.listed) == {"decision/dc1/2026/12/06/", "decision/dc1/2026/12/07/"}
    # AND keeps the objects written from the window's start until the lag after its end
    assert sorted(o["Key"] for o in objects) == ["decision/dc1/2026/12/07/101000-a.json.gz", "decision/dc1/2026/12/07/110500-b.json.gz"]
    # AND their records come back whole, line by line
    records = list(dd.archive_records(archive, "hybridai-audit", objects, max_bytes=10**9, seed=1))
    assert sorted(r["request"]["instances"][0][0] for r in records) == [1.0, 2.0]


def test_reading_stops_at_the_byte_budget_in_a_random_but_repeatable_order() -> None:
    model = MODELS[0]
    archive = FakeArchive({f"decision/dc1/2026/12/07/10{i:02d}00-x.json.gz": (START + timedelta(minutes=i), [record(model, [float(i)], START)]) for i in range(20)})
    objects = dd.archive_objects(archive, "b", "decision/dc1/", START, END, timedelta(minutes=15))
    size = objects[0]["Size"]
    # WHEN read with a budget of three objects, twice with one seed and once with another
    first = [r["request"]["instances"][0][0] for r in dd.archive_records(archive, "b", objects, 3 * size, seed=1)]
    again = [r["request"]["instances"][0][0] for r in dd.archive_records(archive, "b", objects, 3 * size, seed=1)]
    other = [r["request"]["instances"][0][0] for r in dd.archive_records(archive, "b", objects, 3 * size, seed=2)]
    # THEN three objects are read, the same three for the same seed, not simply the first three
    assert len(first) == 3 and first == again and first != other
    assert first != [0.0, 1.0, 2.0] or other != [0.0, 1.0, 2.0]


# --- The two steps, their clients replaced ---------------------------------------------------------


class FakeMlflow:
    """The few MlflowClient calls the steps make, over one run's artifacts."""

    def __init__(self, artifacts: dict[str, dict], run_id: str = "r1"):
        self.artifacts, self.run_id, self.logged = artifacts, run_id, {}

    def search_model_versions(self, filter_string: str) -> list:
        return [types.SimpleNamespace(version="11", run_id="r0"), types.SimpleNamespace(version="12", run_id=self.run_id)]

    def list_artifacts(self, run_id: str, path: str) -> list:
        return [types.SimpleNamespace(path=p) for p in self.artifacts if p.startswith(path + "/")] if run_id == self.run_id else []

    def get_model_version(self, name: str, version: str):  # noqa: ANN201
        return types.SimpleNamespace(run_id=self.run_id)

    def log_dict(self, run_id: str, dictionary: dict, artifact_file: str) -> None:
        self.logged[(run_id, artifact_file)] = dictionary


@pytest.fixture
def mlflow_module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN201
    """`mlflow.artifacts.download_artifacts` (the image's MLflow; not a test dependency) over the fake's artifacts."""
    client: dict = {}

    def download_artifacts(run_id: str, artifact_path: str, dst_path: str) -> str:
        path = Path(dst_path) / Path(artifact_path).name
        path.write_text(json.dumps(client["fake"].artifacts[artifact_path]))
        return str(path)

    module = types.ModuleType("mlflow")
    module.artifacts = types.SimpleNamespace(download_artifacts=download_artifacts)
    monkeypatch.setitem(sys.modules, "mlflow", module)
    return client


def test_the_baseline_step_records_the_registered_versions_baseline(monkeypatch: pytest.MonkeyPatch, mlflow_module: dict) -> None:
    # GIVEN a run that registered fraud-score version 12 and logged its reference sample
    fake = FakeMlflow({dd.REFERENCE: training_reference(np.random.default_rng(2), 2000)})
    mlflow_module["fake"] = fake
    monkeypatch.setattr(dd, "mlflow_client", lambda username, password: fake)
    # WHEN the baseline step runs
    dd.baseline_step({"MLFLOW_USERNAME_FILE": "/x/u", "MLFLOW_PASSWORD_FILE": "/x/p", "MLFLOW_RUN_ID": "r1", "REGISTERED_MODEL": "fraud-score", "DRIFT_BINS": "10", "DRIFT_MIN_VALUES": "500"})
    # THEN the run has the version's baseline: the format, the version, each feature's bins
    [((run, path), logged)] = fake.logged.items()
    assert (run, path) == ("r1", dd.BASELINE) and (logged["format"], logged["model"], logged["version"]) == (dd.BASELINE_FORMAT, "fraud-score", 12)
    assert set(logged["features"]) == {"[0]", "[1]", "[2]"} and json.loads(json.dumps(logged)) == logged


def test_the_baseline_step_without_a_reference_records_none(monkeypatch: pytest.MonkeyPatch, mlflow_module: dict, capsys: pytest.CaptureFixture) -> None:
    fake = FakeMlflow({})
    monkeypatch.setattr(dd, "mlflow_client", lambda username, password: fake)
    dd.baseline_step({"MLFLOW_USERNAME_FILE": "/x/u", "MLFLOW_PASSWORD_FILE": "/x/p", "MLFLOW_RUN_ID": "r1", "REGISTERED_MODEL": "fraud-score", "DRIFT_BINS": "10", "DRIFT_MIN_VALUES": "500"})
    # THEN nothing is logged and the step says why (a success: the check will report the version as missing)
    assert fake.logged == {} and "no drift baseline" in capsys.readouterr().out


def test_baseline_of_tells_missing_from_unreadable(mlflow_module: dict, baseline: dict) -> None:
    # GIVEN a run with the baseline, one without, one whose file is no baseline, and MLflow refusing
    with_it, without = FakeMlflow({dd.BASELINE: baseline}), FakeMlflow({dd.REFERENCE: {}})
    broken = FakeMlflow({dd.BASELINE: {"features": []}})

    class Refusing(FakeMlflow):
        def get_model_version(self, name: str, version: str):  # noqa: ANN201
            raise RuntimeError("403 Permission denied")

    results = []
    for fake in (with_it, without, broken, Refusing({})):
        mlflow_module["fake"] = fake
        results.append(dd.baseline_of(fake, "fraud-score", 12)[0])
    assert results == [dd.RECORDED, dd.MISSING, dd.UNREADABLE, dd.UNREADABLE]


def test_the_check_step_reads_its_configuration_and_writes_its_outputs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, baseline: dict) -> None:
    # GIVEN the window ending 15 minutes before now, and an archive object of it
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    rng = np.random.default_rng(9)
    rows = [record(MODELS[0], r, now - timedelta(minutes=30)) for r in np.column_stack([rng.normal(2, 1, 600), rng.exponential(2, 600), rng.integers(0, 2, 600)]).tolist()]
    archive = FakeArchive({f"decision/dc1/{now:%Y/%m/%d}/x.json.gz": (now - timedelta(minutes=20), rows)})
    monkeypatch.setattr(dd, "mlflow_client", lambda username, password: None)
    monkeypatch.setattr(dd, "baseline_of", lambda client, model, version: (dd.RECORDED, baseline) if model == "fraud-score" else (dd.MISSING, None))
    monkeypatch.setattr(dd, "archive_client", lambda key_id, secret_key, endpoint, region: archive)
    env = {
        "MODELS": json.dumps(MODELS), "LAG_SECONDS": "900", "WINDOW_SECONDS": "3600", "DRIFT_MIN_VALUES": "500", "DRIFT_EPSILON": "0.0001",
        "MLFLOW_USERNAME_FILE": "/x/u", "MLFLOW_PASSWORD_FILE": "/x/p", "ARCHIVE_KEY_ID_FILE": "/y/i", "ARCHIVE_SECRET_KEY_FILE": "/y/s", "ARCHIVE_ENDPOINT": "https://s3", "ARCHIVE_REGION": "us-east-1", "ARCHIVE_BUCKET": "b",
        "ARCHIVE_PREFIX": "decision/dc1/", "MAX_READ_BYTES": "1000000", "MAX_DECISIONS": "20000", "OUTPUT_DIR": str(tmp_path),
    }
    # WHEN the step runs
    dd.check_step(env)
    # THEN fraud-score's shifted inputs drifted, credit-limit (no decisions, no baseline) reports so
    assert float((tmp_path / "m0-drift").read_text()) > 1 and (tmp_path / "m0-decisions").read_text() == "600"
    assert [(tmp_path / f"m1-{o}").read_text() for o in ("baseline", "compared", "decisions", "timed")] == ["0", "0", "0", "0"]
