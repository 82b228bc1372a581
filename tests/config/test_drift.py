"""The drift settings (`models[].drift`, `logging.decisions.drift`): bad input refused at its key,
the defaults as documented, which models a stack watches, and the Secrets the checks read."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from hybridai.config.credentials import credential_needs
from hybridai.config.decisions import DriftCheckSettings
from hybridai.config.drift import DEFAULT_THRESHOLD, ModelDrift, psi_ceiling
from hybridai.program import prepare
from tests.helpers import at, problems_of, stack_values

BAD_INPUT = [
    # case, path, value, loc, type
    ("a threshold of zero", ["models", 0, "drift", "threshold"], 0, ("models", 0, "drift", "threshold"), "greater_than"),
    ("a threshold no decile-binned feature can reach", ["models", 0, "drift", "threshold"], 17, ("models", 0, "drift", "threshold"), "less_than"),
    ("a window shorter than the sink's archive batches", ["models", 0, "drift", "windowMinutes"], 5, ("models", 0, "drift", "windowMinutes"), "greater_than_equal"),
    ("a window longer than a week", ["models", 0, "drift", "windowMinutes"], 7 * 24 * 60 + 1, ("models", 0, "drift", "windowMinutes"), "less_than_equal"),
    ("a schedule that isn't five-field cron", ["models", 0, "drift", "schedule", "cron"], "hourly", ("models", 0, "drift", "schedule", "cron"), "cron"),
    ("a schedule in an unknown zone", ["models", 0, "drift", "schedule", "timeZone"], "Europe/Frankfurt", ("models", 0, "drift", "schedule", "timeZone"), "time_zone"),
    ("an unknown drift key", ["models", 0, "drift", "limit"], 0.2, ("models", 0, "drift", "limit"), "extra_forbidden"),
    ("fewer sampled decisions than an index needs", ["logging", "decisions", "drift", "maxDecisions"], 100, ("logging", "decisions", "drift", "maxDecisions"), "greater_than_equal"),
    ("a read budget under 64 MiB", ["logging", "decisions", "drift", "maxReadMib"], 1, ("logging", "decisions", "drift", "maxReadMib"), "greater_than_equal"),
    ("a reader Secret that isn't a DNS label", ["logging", "decisions", "drift", "archiveReaderSecret"], "Reader_Key", ("logging", "decisions", "drift", "archiveReaderSecret"), "dns_label"),
]


@pytest.mark.parametrize("case,path,value,loc,kind", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_rejected_at_its_key(case: str, path: list, value: Any, loc: tuple, kind: str) -> None:
    # GIVEN finance-prod with one drift value changed (its blocks written out where the example leaves them to defaults)
    values = copy.deepcopy(stack_values("finance-prod"))
    values["models"][0].setdefault("drift", {"schedule": {"cron": "0 * * * *"}})
    values["logging"].setdefault("decisions", {"drift": {}})
    node, key = at(values, path)
    node[key] = value
    # WHEN it is prepared THEN the problem is reported at its key, before anything is registered
    assert (loc, kind) in problems_of("finance-prod", values)


def test_the_defaults_are_an_hourly_check_of_the_last_hour_at_the_conventional_threshold() -> None:
    drift = ModelDrift()
    assert (drift.threshold, drift.window_minutes, drift.schedule.cron, drift.schedule.time_zone) == (DEFAULT_THRESHOLD, 60, "0 * * * *", "UTC")
    assert 0.1 < DEFAULT_THRESHOLD == 0.25 < psi_ceiling() < 17
    check = DriftCheckSettings()
    assert (check.archive_reader_secret, check.mlflow_secret, check.max_decisions, check.max_read_bytes) == ("decision-archive-reader", "drift-monitor-mlflow", 20000, 4096 * 1024**2)


def test_a_stack_watches_its_registry_models_that_log_decisions() -> None:
    # GIVEN finance-prod, with credit-limit a trial (not production) served from a raw URI
    values = copy.deepcopy(stack_values("finance-prod"))
    del values["models"][1]["registry"]
    values["models"][1].update({"storageUri": "s3://models/credit-limit/5", "production": False})
    spec, _ = prepare("finance-prod", values)
    # THEN only the registry model is watched (a baseline belongs to a registry version)
    assert [m.name for m in spec.drift_watched()] == ["fraud-score"]
    # AND without MLflow (the baselines' registry) nothing is
    assert spec.model_copy(update={"mlops": None}).drift_watched() == []


def test_the_checks_read_two_secrets_in_the_sinks_namespace_and_a_prod_stack_sources_them() -> None:
    # GIVEN finance-prod
    spec, _ = prepare("finance-prod", stack_values("finance-prod"))
    needs = {(n.placement, n.namespace, n.name, n.keys, n.at) for n in credential_needs(spec) if n.name in ("decision-archive-reader", "drift-monitor-mlflow")}
    # THEN the checks' reader key and MLflow login are read in the sink's namespace on dc1, at their keys
    assert needs == {
        ("onprem", "decisions", "decision-archive-reader", ("access-key-id", "secret-access-key"), ("logging", "decisions", "drift", "archiveReaderSecret")),
        ("onprem", "decisions", "drift-monitor-mlflow", ("password", "username"), ("logging", "decisions", "drift", "mlflowSecret")),
    }
    # AND a prod stack without their sources is refused, naming each
    values = copy.deepcopy(stack_values("finance-prod"))
    values["secrets"]["sources"] = [s for s in values["secrets"]["sources"] if s["name"] not in ("decision-archive-reader", "drift-monitor-mlflow")]
    assert problems_of("finance-prod", values) == {(("secrets", "sources"), "credential_source_required")}
    # AND the writer key can't be named as the reader (one Secret, two readers in one namespace)
    values = copy.deepcopy(stack_values("finance-prod"))
    values["logging"]["decisions"] = {"drift": {"archiveReaderSecret": "audit-archive"}}
    assert (("logging", "decisions", "drift", "archiveReaderSecret"), "secret_shared") in problems_of("finance-prod", values)
