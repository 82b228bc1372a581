"""The plan writes each backed-up cluster's restore runbook under restore/<cluster>/runbook.md."""
from __future__ import annotations

from pathlib import Path

from hybridai.plan.artifacts import PLAN_FOLDERS, check_out, write
from tests.conftest import planned


def test_every_backed_up_cluster_gets_a_runbook_and_nothing_else_does() -> None:
    # GIVEN manufacturing-prod: the plant cluster, the EKS pool and three lines back up
    _, files = planned("manufacturing-prod")
    runbooks = {p.parts[1] for p in files if p.parts[0] == "restore"}
    assert runbooks == {"plant-dc", "training", "line-1", "line-2", "line-3"}
    assert all(p.name == "runbook.md" for p in files if p.parts[0] == "restore")
    # AND the bootstrap target of line-3 (no Velero) has none
    assert not any(p.parts[:2] == ("restore", "line-3-bootstrap") for p in files)


def test_runbook_names_the_store_the_schedules_and_the_exact_restore_commands() -> None:
    # GIVEN healthcare-prod's on-prem cluster
    _, files = planned("healthcare-prod")
    text = files[Path("restore/dc1/runbook.md")]
    # THEN where the backups are and what each schedule holds, how often, how long
    assert "bucket `hc-prod-backups`, prefix `dc1`, on the on-prem object store https://s3.hospital.example" in text
    assert "| `team-radiology` | `radiology` | every 24 h | 35 days | file-system |" in text
    assert "| `platform` | `argo`, `cert-manager`, `decisions`, `envoy-ai-gateway-system`, `envoy-gateway-system`, `external-secrets`, `gpu-burn-in`, `gpu-operator`, `inference-gateway`, `jobset-system`, `keda`, `kserve`, `kueue-system`, `log-collector`, `logging`, `mlflow`, `monitoring`, `nvsentinel`, `wva-system` | every 24 h | 35 days | file-system |" in text
    # AND how to list the backups, restore one namespace, and the whole platform (platform first)
    assert "velero --namespace velero backup get --selector velero.io/schedule-name=team-clinical-notes" in text
    assert "velero --namespace velero restore create --from-schedule team-clinical-notes --include-namespaces clinical-notes --wait" in text
    whole = text.split("## Restore the whole platform")[1].split("## Check")[0]
    commands = [line for line in whole.splitlines() if line.startswith("velero ")]
    assert commands[0] == "velero --namespace velero restore create --from-schedule platform --wait"
    assert len(commands) == 6 and all("--from-schedule team-" in c for c in commands[1:])


def test_eks_runbook_names_the_encrypted_bucket_and_its_region() -> None:
    _, files = planned("finance-prod")
    text = files[Path("restore/training/runbook.md")]
    assert "bucket `fin-prod-training-backup-210987654321`, prefix `training`, on AWS S3 in eu-central-1, encrypted with the KMS key `alias/fin-prod-training-backup`" in text


def test_a_plan_folder_with_runbooks_is_one_a_plan_may_replace(tmp_path: Path) -> None:
    # GIVEN a plan written with its restore/ folder, WHEN planned again into it, THEN it is accepted
    plan, _ = planned("healthcare-dev")
    out = tmp_path / "plan"
    write(plan, out)
    assert (out / "restore" / "lab" / "runbook.md").is_file()
    assert PLAN_FOLDERS["restore"] == ("runbook.md",)
    check_out(out)
    # AND a file of another kind under restore/ is foreign: the folder is refused
    (out / "restore" / "lab" / "notes.txt").write_text("mine")
    try:
        check_out(out)
    except Exception as error:  # noqa: BLE001 - the plan's own error type, asserted by its message
        assert "restore/lab/notes.txt" in str(error)
    else:
        raise AssertionError("a foreign file under restore/ was accepted")
