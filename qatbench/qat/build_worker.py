"""The child's work that builds one zoo model's variants (kind ``build``).

Run by the child entry (``targets/child.py``), which writes the returned manifest.

Building in a child keeps TensorFlow out of the process that schedules timing jobs,
keeps TF's logging out of the progress display (it goes to ``build.log``), and turns a
converter crash into failed rows for that model only.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from qatbench.models.zoo import get_model_spec
from qatbench.qat.artifacts import BuildRequest, ModelBuild, VariantArtifact
from qatbench.qat.pipeline import build_variants, error_text
from qatbench.targets.child import Served

# sources built outside the Keras core, by the source's kind: string references (as the
# child's KINDS), so the core never imports the framework packages that sit above it
SOURCE_BUILDERS = {"torch": "qatbench.qat.pytorch.build:build_torch_model"}


def source_builder(kind: str) -> Any:
    """The build function of a source kind in ``SOURCE_BUILDERS``."""
    import importlib

    module, name = SOURCE_BUILDERS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def serve(request: BuildRequest) -> Served:
    """The ``build`` kind for the child entry: the result is the build's manifest."""
    return Served(lambda: build(request), lambda error: failed_build(request, error))


def failed_build(request: BuildRequest, error: Exception) -> ModelBuild | None:
    """A crashed build as its manifest: every variant's row names the error itself (the
    user's model, data or loop), not only "the child failed" (the traceback stays in the
    log). A manifest already written is kept (``None``)."""
    if ModelBuild.load(Path(request.out_dir)) is not None:
        return None
    text = error_text(error)
    return ModelBuild(request.model, "", None, "", {
        v: VariantArtifact(v, error=f"building {request.model}: {text}")
        for v in request.variants})


def enable_op_determinism() -> bool:
    """TensorFlow's deterministic kernels, so that two builds of one cache key give the
    same bytes (measured: two fresh processes, identical float32/PTQ/QAT files)."""
    try:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        return True
    except Exception:  # an old TensorFlow without the switch: say so in the manifest
        return False


def build(request: BuildRequest) -> ModelBuild:
    """Build (or collect) the request's variants; the manifest to write."""
    budget, source = request.budget, request.source
    out_dir = Path(request.out_dir)
    if source is not None and source.tflite is not None:
        from qatbench.qat.foreign import collect_files

        # files made elsewhere: nothing is built, TensorFlow never imported
        return collect_files(request.model, source, request.variants, out_dir, budget)
    if source is not None and source.kind in SOURCE_BUILDERS:
        # a PyTorch module: its own framework's build, the same manifest
        return source_builder(source.kind)(request.model, source, request.variants, out_dir,
                                           budget)
    determinism = enable_op_determinism()
    if budget.strategy != "default":
        from qatbench.qat.train import placement_for

        # before anything else runs in TensorFlow (a user's model loads next): a
        # multi-worker strategy configures the collectives at program start-up
        placement_for(budget.strategy)
    if source is not None:
        from qatbench.qat.train import seed_everything
        from qatbench.qat.user_model import prepare_user_model

        # the user's builder initialises its weights now: from the run's seed, not from
        # whatever random state the imports before it left
        seed_everything(budget.seed)
        spec = prepare_user_model(request.model, source, budget.seed).spec()
    else:
        spec = get_model_spec(request.model)
    built = build_variants(spec, request.variants, out_dir, budget,
                           Path(request.imagenet_dir) if request.imagenet_dir else None)
    return replace(built, op_determinism=determinism)
