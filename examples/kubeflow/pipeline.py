"""Guarded training on Kubeflow Pipelines v2 with mlstate.

[ExitHandler: snapshot -> train] -> restore_on_failure

The snapshot runs first inside the exit handler and training waits for it.
The exit task always runs after the group. KFP lets an exit task depend on
no other task, so it receives only pipeline parameters and the group's
final status; the restore step finds the restore point this run recorded
itself (--from-this-workflow, by the run ID). It restores nothing when the
group succeeded, or when the run failed before its snapshot changed
anything.

Compile:  python pipeline.py            (writes guarded_training.yaml)
Needs:    pip install 'kfp>=2.7,<3' kfp-kubernetes
Backend:  dsl.PipelineTaskFinalStatus needs a backend that supports it:
          Vertex AI, or an open-source KFP backend that includes
          kubeflow/pipelines#11953 (merged June 2025); older open-source
          backends refuse the run ("task final status not supported yet").

This file has not been compiled here (the kfp package is not installable
in this project's environment); guarded_training.ir.yaml is the compiled
form it must produce, written by hand and checked by
`go test ./workflowtemplates`.
"""

from kfp import compiler, components, dsl, kubernetes

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
snapshot = components.load_component_from_file(f"{HERE}/components/snapshot.yaml")

STORE_SECRET = "mlstate-store"  # keys aws_access_key_id, aws_secret_access_key
STORE_ENV = {"aws_access_key_id": "AWS_ACCESS_KEY_ID", "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY"}

# A Python image with mlstate's restore binary copied in (see Dockerfile.restore).
RESTORE_IMAGE = "registry.example.com/ml/mlstate-restore-py:v0.1.0"


@dsl.component(base_image=RESTORE_IMAGE)
def restore_on_failure(status: dsl.PipelineTaskFinalStatus, store: str, pipeline: str, run_id: str):
    """Restore what this run snapshotted, unless the guarded group succeeded."""
    import subprocess

    # restore itself skips a successful state (SUCCEEDED on Vertex AI,
    # COMPLETE on the open-source backend) and a run without a snapshot.
    subprocess.run(
        [
            "/usr/local/bin/restore",
            "--store", store,
            "--pipeline", pipeline,
            "--from-this-workflow",
            "--workflow-uid", run_id,
            "--workflow-status", status.state,
            "--outputs-dir", "/tmp/outputs",
        ],
        check=True,
    )


@dsl.container_component
def train(fail: bool):
    """Stand-in for a training job on the checkpoints PVC (mounted at /checkpoints)."""
    return dsl.ContainerSpec(
        image="busybox:1.36",
        command=["sh", "-c"],
        args=[
            'echo "epoch $(date +%s)" >> /checkpoints/progress.txt; '
            'if [ "$0" = True ] || [ "$0" = true ]; then echo garbage > /checkpoints/progress.txt; exit 1; fi',
            fail,
        ],
    )


@dsl.pipeline(name="guarded-training", description="Snapshot, train, restore on failure.")
def guarded_training(
    objects: str,  # Kanister targets, e.g. pvc/kubeflow-user-example-com/checkpoints
    checkpoints_pvc: str = "checkpoints",
    store: str = "s3://mlstate?endpoint=http://minio.minio.svc:9000",
    pipeline: str = "resnet-demo",
    fail: bool = False,
):
    restore = restore_on_failure(store=store, pipeline=pipeline, run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER)
    restore.set_caching_options(False)
    kubernetes.use_secret_as_env(restore, secret_name=STORE_SECRET, secret_key_to_env=STORE_ENV)

    with dsl.ExitHandler(exit_task=restore, name="guarded"):
        snap = snapshot(
            store=store,
            pipeline=pipeline,
            objects=objects,
            blueprint="mlstate-stage",
            run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        )
        snap.set_caching_options(False)  # a snapshot has side effects; never reuse one
        kubernetes.use_secret_as_env(snap, secret_name=STORE_SECRET, secret_key_to_env=STORE_ENV)

        t = train(fail=fail).after(snap)
        t.set_caching_options(False)
        kubernetes.mount_pvc(t, pvc_name=checkpoints_pvc, mount_path="/checkpoints")


if __name__ == "__main__":
    compiler.Compiler().compile(guarded_training, "guarded_training.yaml")
