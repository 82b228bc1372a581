"""hybridai/data/gpu-health.yaml and its reader: XID classes from NVIDIA's Xid Catalog, NCCL floors."""
from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from hybridai import catalog
from hybridai.catalog import GpuHealth, _load


def test_the_xids_the_issue_names_are_classified_with_the_catalogs_buckets() -> None:
    # GIVEN the data WHEN each XID is looked up THEN it lands in its class, with the catalog's buckets
    health = catalog.gpu_health()
    expected = {
        13: "application", 31: "application", 43: "application", 48: "ecc-double-bit", 63: "row-remap-event", 64: "row-remap-failure",
        74: "nvlink", 79: "fallen-off-the-bus", 92: "ecc-single-bit-rate", 94: "ecc-contained", 95: "ecc-uncontained", 119: "gsp", 120: "gsp",
    }
    assert {xid: health.xid_class(xid) for xid in expected} == expected
    assert health.xid_class(45) is None
    buckets = {xid: cls.xids[xid].immediate for cls in health.xid_classes.values() for xid in cls.xids}
    assert (buckets[79], buckets[95], buckets[64], buckets[119], buckets[94], buckets[63]) == ("RESTART_BM", "RESET_GPU", "RESET_GPU", "RESET_GPU", "RESTART_APP", "IGNORE")


def test_actions_follow_the_immediate_bucket() -> None:
    # GIVEN every class WHEN its action is read against its XIDs' immediate buckets
    health = catalog.gpu_health()
    for name, cls in health.xid_classes.items():
        buckets = {x.immediate for x in cls.xids.values()}
        # THEN a RESTART_BM class reboots, a RESET_GPU one resets, RESTART_APP/IGNORE ones need nothing
        if "RESTART_BM" in buckets:
            assert cls.action == "reboot", name
        elif "RESET_GPU" in buckets:
            assert cls.action == "reset", name
        elif buckets <= {"RESTART_APP", "IGNORE"}:
            assert cls.action == "none", name
        # and whatever needs the node acted on pages
        assert (cls.severity == "critical") == (cls.action != "none"), name


def test_nccl_floors_exist_only_where_sourced() -> None:
    health = catalog.gpu_health()
    assert health.nccl_floor("H100-80GB", "nvswitch").bus_bandwidth_gbps == 368  # 80 % of 460
    assert health.nccl_floor("A100-80GB", "nvswitch").bus_bandwidth_gbps == 184  # 80 % of 230
    assert health.nccl_floor("H100-80GB", "pcie") is None
    assert health.nccl_floor("L40S-48GB", "pcie") is None


def test_a_floor_for_an_unknown_gpu_is_refused() -> None:
    # GIVEN the data with a floor for a GPU model gpus.yaml doesn't know
    data = copy.deepcopy(_load("gpu-health.yaml"))
    data["nccl_floors"]["B300-288GB"] = {"nvswitch": {"gpus": 8, "bus_bandwidth_gbps": 700}}
    # WHEN it is read THEN it is refused, naming the model
    with pytest.raises(ValidationError, match="B300-288GB"):
        GpuHealth.model_validate(data)


def test_an_xid_in_two_classes_is_refused() -> None:
    data = copy.deepcopy(_load("gpu-health.yaml"))
    data["xid_classes"]["gsp"]["xids"][79] = {"mnemonic": "X", "immediate": "RESET_GPU", "investigatory": "X"}
    with pytest.raises(ValidationError, match="XID 79 is in two classes"):
        GpuHealth.model_validate(data)


def test_an_unknown_action_is_refused() -> None:
    data = copy.deepcopy(_load("gpu-health.yaml"))
    data["xid_classes"]["gsp"]["action"] = "pray"
    with pytest.raises(ValidationError):
        GpuHealth.model_validate(data)
