# The training workflow's register step (modules/training_runtime.py): registers the run's model
# with its lineage tags, and copies the version to its stable address in the artifact store.

import os
import mlflow
from mlflow import MlflowClient
from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

run_id, name = os.environ["MLFLOW_RUN_ID"], os.environ["REGISTERED_MODEL"]
client = MlflowClient()
run = client.get_run(run_id)
lineage = {"run_id": run_id, "data_version": run.data.tags["data_version"], "image_digest": run.data.tags["image_digest"],
           "workflow": os.environ["WORKFLOW"]}
version = mlflow.register_model(f"runs:/{run_id}/model", name, tags=lineage)
# The address serving names: registry/<model>/<version>/ of the artifact store (docs/mlops.md).
local = mlflow.artifacts.download_artifacts(f"models:/{name}/{version.version}")
MlflowArtifactsRepository(f"mlflow-artifacts:/registry/{name}/{version.version}").log_artifacts(local)
print(f"registered {name} version {version.version}")
