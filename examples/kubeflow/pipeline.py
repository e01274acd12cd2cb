"""Guarded training on Kubeflow Pipelines v2 with mlstate.

snapshot -> [ExitHandler: train] -> restore_on_failure

The snapshot runs first, outside the exit handler: if it fails, nothing was
changed and there is nothing to restore. The exit task always runs after the
training group; it restores the snapshot only when the group did not
succeed (KFP hands it the group's final status).

Compile:  python pipeline.py            (writes guarded_training.yaml)
Needs:    pip install kfp==2.* kfp-kubernetes
"""

from kfp import compiler, components, dsl, kubernetes

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
snapshot = components.load_component_from_file(f"{HERE}/components/snapshot.yaml")

STORE_SECRET = "mlstate-store"  # keys aws_access_key_id, aws_secret_access_key
STORE_ENV = {"aws_access_key_id": "AWS_ACCESS_KEY_ID", "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY"}

# A Python image with mlstate's restore binary copied in (see Dockerfile.restore).
RESTORE_IMAGE = "registry.example.com/ml/mlstate-restore-py:v0.1.0"


@dsl.component(base_image=RESTORE_IMAGE)
def restore_on_failure(
    status: dsl.PipelineTaskFinalStatus,
    snapshot_outputs: dsl.Input[dsl.Artifact],
    store: str,
    pipeline: str,
    run_id: str,
):
    """Restore the snapshot taken before training, unless training succeeded."""
    import pathlib
    import subprocess

    if status.state == "SUCCEEDED":
        print("training succeeded; nothing to restore")
        return
    restore_point = pathlib.Path(snapshot_outputs.path, "restore-point").read_text().strip()
    print(f"training ended {status.state}; restoring {restore_point}")
    subprocess.run(
        [
            "/usr/local/bin/restore",
            "--store", store,
            "--pipeline", pipeline,
            "--restore-point", restore_point,
            "--skip-stage",
            "--workflow-uid", run_id,
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
    store: str = "s3://mlstate?endpoint=http://minio.minio.svc:9000",
    pipeline: str = "resnet-demo",
    objects: str = "pvc/ml/checkpoints",
    fail: bool = False,
):
    snap = snapshot(
        store=store,
        pipeline=pipeline,
        objects=objects,
        run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
    )
    snap.set_caching_options(False)  # a snapshot has side effects; never reuse one
    kubernetes.use_secret_as_env(snap, secret_name=STORE_SECRET, secret_key_to_env=STORE_ENV)

    restore = restore_on_failure(
        snapshot_outputs=snap.outputs["outputs"],
        store=store,
        pipeline=pipeline,
        run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
    )
    restore.set_caching_options(False)
    kubernetes.use_secret_as_env(restore, secret_name=STORE_SECRET, secret_key_to_env=STORE_ENV)

    with dsl.ExitHandler(exit_task=restore, name="guarded"):
        t = train(fail=fail)
        t.set_caching_options(False)
        kubernetes.mount_pvc(t, pvc_name="checkpoints", mount_path="/checkpoints")


if __name__ == "__main__":
    compiler.Compiler().compile(guarded_training, "guarded_training.yaml")
