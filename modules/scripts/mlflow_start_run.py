# The training workflow's start-run step (modules/training_runtime.py): creates the MLflow run the
# JobSet resumes (MLFLOW_RUN_ID), with the lineage tags set before training, and leaves its id in
# /tmp/run-id, the step's output parameter.

import os
import mlflow

mlflow.set_experiment(os.environ["MLFLOW_EXPERIMENT_NAME"])
tags = {"hybrid-ai.io/job": os.environ["JOB"], "hybrid-ai.io/workflow": os.environ["WORKFLOW"],
        "data_version": os.environ["DATA_VERSION"], "image": os.environ["TRAINING_IMAGE"],
        "image_digest": os.environ["TRAINING_IMAGE"].rpartition("@")[2]}
run = mlflow.start_run(run_name=os.environ["WORKFLOW"], tags=tags)
mlflow.end_run(status="SCHEDULED")
with open("/tmp/run-id", "w") as out:
    out.write(run.info.run_id)
