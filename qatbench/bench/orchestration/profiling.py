"""Per-op profiles inside a run, and the ``mixed_int8`` variant they propose.

With ``[run] profile = true`` every job whose first repeat is ``ok`` is profiled right
after it, if its target declares ``Capability.PROFILE``: one path for every target, the
profile child (``targets.profile_worker``), which calls the target's ``profile`` (the
host CPU cuts one-op models; a phone reads benchmark_model's op tables). A profile the
timing job already carries (a phone with ``op_profiling = true`` ran it beside its
timed run) is stored as it is, not run twice. Lines go to ``profile.parquet``
(``storage.profiles``).

``mixed_int8`` jobs run after every other job of their pass. Before the first is built
the float32 and int8 profiles of the model propose the op types to keep float
(``statistics.op_profiles.propose_keep_float``), written as ``keep_float_ops.json``
beside the model's build; the build child then converts it, and the jobs time it like
any variant. A proposal is only a proposal: the report gives its measured outcome.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from qatbench.atomic import atomic_write_json
from qatbench.bench.orchestration.launcher import call_child
from qatbench.bench.statistics.op_profiles import profile_pairs, propose_keep_float
from qatbench.bench.storage.layout import (
    PROFILE_NOTES_FILE,
    artifacts_dir,
    profile_work_dir,
)
from qatbench.bench.storage.profiles import add_profile, profile_frame, read_profiles
from qatbench.qat.artifacts import MixedProposal, ModelBuild, VariantArtifact
from qatbench.targets.base import Capability, ProfileSpec, capabilities_of
from qatbench.targets.op_profile import OpProfile
from qatbench.targets.profile_worker import ProfileRequest, ProfileResult
from qatbench.targets.registry import create_target

MIXED = "mixed_int8"
PROFILE_TIMEOUT_FACTOR = 4  # a profile times every op: allow it several jobs' timeouts


def mixed_last(work: Sequence[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """(repeat, job) with each pass's mixed_int8 jobs after its other jobs (they need
    the other variants' profiles); otherwise the order is kept."""
    return sorted(work, key=lambda item: (item[0], item[1].variant == MIXED))


def profile_spec(config: Any, threads: int) -> ProfileSpec:
    """The run's timing rules on ``threads`` threads, with ``[run] profile_op_s``."""
    return ProfileSpec.model_validate({**config.spec(threads).model_dump(),
                                       "op_s": config.run.profile_op_s})


def profile_in_child(request: ProfileRequest, timeout_s: float, *, python: str | None = None
                     ) -> ProfileResult:
    """Profile one model in a child (kind ``profile``: ``targets/profile_worker.py``)."""
    return call_child(request, timeout_s=timeout_s, python=python)


def profile_lines(profile: OpProfile, key: dict[str, Any]) -> pd.DataFrame:
    ops = [{"op_index": op.op_index, "op_type": op.op_type, "name": op.name,
            "delegated": op.delegated, "p50_ms": op.p50_ms, "n_samples": op.n_samples,
            "note": op.note} for op in profile.ops]
    return profile_frame({**key, "source": profile.source}, ops, profile.whole_p50_ms,
                         profile.delegate)


class RunProfiler:
    """Profiles a run's jobs and builds its mixed_int8 variant from the profiles."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self._profilable: dict[str, bool] = {}

    @property
    def run_dir(self) -> Path:
        return self.context.store.run_dir

    def can_profile(self, target: str) -> bool:
        """Whether ``target`` declares ``Capability.PROFILE`` (built, never probed)."""
        if target not in self._profilable:
            try:
                made = create_target(target, self.context.target_options(target))
                self._profilable[target] = Capability.PROFILE in capabilities_of(made)
            except Exception:  # a broken plug-in: not ours to profile
                self._profilable[target] = False
        return self._profilable[target]

    def after_job(self, job: Any, build: ModelBuild, row: dict[str, Any]) -> None:
        """Profile ``job`` if the run asks for it and its row is ok; a profile that
        fails is said in ``profile_notes.json`` (the report shows it), never hidden."""
        note = self._profile(job, build, row)
        if note:
            path = self.run_dir / PROFILE_NOTES_FILE
            notes = json.loads(path.read_text()) if path.exists() else []
            atomic_write_json(path, [*notes, {"job": job.label, "note": note}])

    def _profile(self, job: Any, build: ModelBuild, row: dict[str, Any]) -> str:
        if row.get("status") != "ok":
            return ""
        extra = json.loads(row.get("extra") or "{}")
        key = {"run_id": self.context.store.run_id, "model": job.model,
               "variant": job.variant, "target": job.target, "device": row.get("device", ""),
               "threads": job.threads, "fingerprint": row.get("fingerprint"),
               "model_file": row.get("model_file")}
        if extra.get("op_profile"):  # a phone's op tables, from its profiled run
            profile = OpProfile.from_json(Path(extra["op_profile"]).read_text())
            add_profile(self.run_dir, profile_lines(profile, key))
            return ""
        if extra.get("op_profile_error"):
            return f"per-op profile failed: {extra['op_profile_error']}"
        artifact = build.variants.get(job.variant)
        if not self.context.config.run.profile or artifact is None or not artifact.ok \
                or not self.can_profile(job.target):
            return ""
        options = self.context.target_options(job.target)
        work = profile_work_dir(self.run_dir, job.slug)
        request = ProfileRequest(
            target=job.target, model=str(artifact.path), work_dir=str(work),
            result_path=str(work / "profile.json"),
            spec=profile_spec(self.context.config, job.threads), target_options=options,
            run_id=self.context.store.run_id, job=f"{job.slug}-profile")
        result = profile_in_child(request, self.context.config.run.timeout_s
                                  * PROFILE_TIMEOUT_FACTOR, python=options.python)
        if result.profile is None:
            lines = result.error.strip().splitlines()
            return f"per-op profile failed: {lines[0] if lines else 'no reason given'}"
        add_profile(self.run_dir, profile_lines(result.profile, key))
        return ""

    def proposal(self, model: str) -> MixedProposal:
        """The op types to keep float in ``model``: ``[training] keep_float_ops``, else
        from the first target (in the run's order) with float32 and int8 profiles."""
        configured = self.context.config.budget_for(model).keep_float_ops  # model's own too
        if configured:
            return MixedProposal(list(configured), source="[training] keep_float_ops")
        profiles = read_profiles(self.run_dir)
        pairs = [p for p in profile_pairs(profiles[profiles["model"] == model])
                 if p.int8_variant == "ptq_int8"] or \
            list(profile_pairs(profiles[profiles["model"] == model]))
        order = {t: i for i, t in enumerate(self.context.config.run.targets)}
        pairs.sort(key=lambda p: order.get(str(p.key["target"]), len(order)))
        if not pairs:
            return MixedProposal([], source=f"no float32 and int8 profiles of {model}")
        pair = pairs[0]
        reasons = propose_keep_float(pair)
        return MixedProposal(list(reasons), reasons, source=(
            f"float32 vs {pair.int8_variant} on {pair.key['target']} "
            f"x{pair.key['threads']} ({pair.key['source']})"))

    def provide(self, model: str, variants: Sequence[str], provider: Any) -> ModelBuild:
        """The build for a pass's group of jobs; for mixed_int8, propose first."""
        if MIXED not in variants:
            return provider(model, variants)
        out_dir = artifacts_dir(self.run_dir, model)
        existing = ModelBuild.load(out_dir)
        if existing is not None and MIXED in existing.variants:
            return provider(model, variants)
        proposal = self.proposal(model)
        if not proposal.ops:
            base = existing or ModelBuild(model, "", None, "")
            reason = (f"mixed_int8 not built: the profiles ({proposal.source}) show no op "
                      "type slower in int8 than in float, nor left outside the delegate "
                      "only in int8 -- nothing to keep float")
            return ModelBuild(base.model, base.weights, base.eval_path, base.accuracy_note,
                              {**base.variants, MIXED: VariantArtifact(MIXED, error=reason,
                                                                      skipped=True)},
                              data_note=base.data_note)
        out_dir.mkdir(parents=True, exist_ok=True)
        proposal.save(out_dir)
        return provider(model, variants)
