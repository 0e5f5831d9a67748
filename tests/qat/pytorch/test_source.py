"""A PyTorch source is checked before anything trains: the table's keys (no torch needed),
and a module torch.export cannot capture refused with exit 2, its file and line, and the
fix -- as a user meets it, through `qatbench run --model file.py:fn --framework torch`."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from qatbench.models.sources import ModelSource, ad_hoc_source

REPO = Path(__file__).resolve().parents[3]


def test_a_torch_table_names_a_function_and_may_be_trained_here(tmp_path: Path) -> None:
    source = ModelSource(torch="net.py:make", data="d.npz", trained=False).resolved(tmp_path)
    assert source.kind == "torch"
    assert source.torch == f"{tmp_path / 'net.py'}:make"  # absolute, for the build child
    with pytest.raises(ValidationError, match="exactly one of"):
        ModelSource(torch="net.py:make", build="net.py:make")
    with pytest.raises(ValidationError, match=r"returning a torch\.nn\.Module"):
        ModelSource(torch="net.pt")


def test_a_torch_table_without_data_or_its_file_is_a_problem(tmp_path: Path) -> None:
    problems = ModelSource(torch="missing.py:make").resolved(tmp_path).file_problems("net")
    assert any(p.startswith("models.net.torch: ") and "does not exist" in p for p in problems)
    assert any("declares no input shape" in p for p in problems)


def test_framework_torch_makes_a_torch_source(tmp_path: Path) -> None:
    name, source = ad_hoc_source("net.py:make", "d.npz", tmp_path, "torch")
    assert (name, source.kind, source.data) == ("make", "torch", str(tmp_path / "d.npz"))
    with pytest.raises(ValueError, match="module:function"):
        ad_hoc_source("net.pt", None, tmp_path, "torch")


BRANCHY = textwrap.dedent('''
    import torch
    from torch import nn


    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(64, 10)

        def forward(self, x):
            x = torch.flatten(x, 1)
            if x.sum() > 0:  # a branch on a tensor's value
                return self.head(x)
            return -self.head(x)


    def branchy():
        return Branchy()
''')


@pytest.mark.slow
def test_data_dependent_control_flow_is_refused_before_training(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    (tmp_path / "branchy.py").write_text(BRANCHY)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((40, 1, 8, 8), dtype=np.float32),
             y=np.arange(40) % 10)
    result = subprocess.run(
        [sys.executable, "-m", "qatbench", "run", "--model", "branchy.py:branchy",
         "--framework", "torch", "--data", "d.npz", "--targets", "cpu-ref",
         "--out", str(tmp_path / "results")],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)
    printed = result.stdout + result.stderr
    assert result.returncode == 2, printed[-3000:]
    assert "models.branchy.torch: torch.export cannot capture the module" in printed
    assert "data-dependent control flow" in printed
    assert f"{tmp_path / 'branchy.py'}:13" in printed  # the user's own line
    assert "torch.where or torch.cond" in printed  # the fix
    assert not (tmp_path / "results").exists()  # refused before a run directory exists
