"""The `gpuHealth` block: NVSentinel's drain wait within its limits, on only with cert-manager."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from hybridai.config.gpu_health import MAX_TRAINING_DRAIN_MINUTES
from hybridai.program import prepare
from tests.helpers import problems_of, stack_values


def values(stack: str, **gpu_health: Any) -> dict[str, Any]:
    config = copy.deepcopy(stack_values(stack))
    config["gpuHealth"] = gpu_health
    return config


@pytest.mark.parametrize(
    "settings,loc,kind",
    [
        # NVSentinel's node-drainer needs a positive number of minutes
        ({"trainingDrainMinutes": 0}, ("gpuHealth", "trainingDrainMinutes"), "greater_than_equal"),
        # a faulted node doesn't hold its training pods past a day
        ({"trainingDrainMinutes": MAX_TRAINING_DRAIN_MINUTES + 1}, ("gpuHealth", "trainingDrainMinutes"), "less_than_equal"),
        ({"trainingDrainMinutes": "an hour"}, ("gpuHealth", "trainingDrainMinutes"), "int_parsing"),
        # a namespace the platform can't give it
        ({"namespace": "monitoring"}, ("gpuHealth", "namespace"), "namespace_taken"),
        ({"namespace": "kube-system"}, ("gpuHealth", "namespace"), "namespace_reserved"),
        ({"drainMinutes": 5}, ("gpuHealth", "drainMinutes"), "extra_forbidden"),
    ],
)
def test_bad_gpu_health_settings_are_refused_at_their_key(settings: dict, loc: tuple, kind: str) -> None:
    # GIVEN healthcare-prod with one bad gpuHealth setting WHEN validated THEN the problem is at its key
    assert (loc, kind) in problems_of("healthcare-prod", values("healthcare-prod", **settings))


def test_nvsentinel_turned_on_without_cert_manager_is_refused() -> None:
    # GIVEN a stack without `tls` (no cert-manager) that turns NVSentinel on
    config = values("healthcare-dev", enabled=True)
    del config["tls"]
    # THEN it is refused at gpuHealth.enabled, saying why
    assert (("gpuHealth", "enabled"), "gpu_health_needs_tls") in problems_of("healthcare-dev", config)


def test_by_default_it_runs_where_the_stack_has_tls_in_its_own_privileged_namespace() -> None:
    spec = prepare("healthcare-prod", stack_values("healthcare-prod"))[0]
    assert spec.gpu_health.runs(spec.tls is not None) is True
    assert spec.platform_namespaces()["nvsentinel"] == "privileged"
    # AND turned off, no namespace is set aside for it
    spec = prepare("healthcare-prod", values("healthcare-prod", enabled=False))[0]
    assert "nvsentinel" not in spec.platform_namespaces()
