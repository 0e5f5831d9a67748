"""A PyTorch source is checked before anything trains: the table's keys and
``--framework torch`` (no torch needed), and -- through `qatbench run`, as a user meets
it -- modules that cannot become int8 files refused with exit 2, their file and line or
ops, and the fix."""

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


def test_a_litert_torch_tensor_name_gives_its_module_path() -> None:
    """Names as litert-torch 0.10 writes them (read from a converted digits CNN)."""
    from qatbench.qat.pytorch.source import module_path

    fused = ("user.DigitsCNN/torch.nn.modules.container.Sequential_features/"
             "torch.nn.modules.activation.ReLU_2;;user.DigitsCNN/torch.nn.modules.container."
             "Sequential_features/torch.nn.modules.conv.Conv2d_0;1")
    assert module_path(fused) == "features.2"  # the op's last module: the fused ReLU
    assert module_path("user.Net/torch.nn.modules.normalization.LayerNorm_norm_a;3") == \
        "norm_a"
    assert module_path("user.DigitsCNN;2") == ""  # the root module's own op


def test_framework_torch_makes_a_torch_source(tmp_path: Path) -> None:
    name, source = ad_hoc_source("net.py:make", "d.npz", tmp_path, "torch")
    assert (name, source.kind, source.data) == ("net", "torch", str(tmp_path / "d.npz"))
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


    class Determinant(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(64, 40)

        def forward(self, x):
            blocks = self.head(torch.flatten(x, 1)).reshape(-1, 10, 2, 2)
            return torch.linalg.det(blocks)  # no LiteRT lowering


    def determinant():
        return Determinant()


    class Normed(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(64, 16)
            self.norm = nn.LayerNorm(16)  # PT2EQuantizer annotates no LayerNorm
            self.head = nn.Linear(16, 10)

        def forward(self, x):
            return self.head(self.norm(self.body(torch.flatten(x, 1))))


    def normed():
        return Normed()
''')
CONFIG = """
[run]
variants = ["float32", "ptq_int8", "qat_int8"]
targets = ["cpu-ref"]
[models.branchy]
torch = "nets.py:branchy"
data = "d.npz"
[models.determinant]
torch = "nets.py:determinant"
data = "d.npz"
[models.normed]
torch = "nets.py:normed"
data = "d.npz"
"""


@pytest.mark.slow
def test_modules_that_cannot_become_int8_files_are_refused_before_training(tmp_path: Path
                                                                            ) -> None:
    """One run, three modules, every problem at once (exit 2, no run directory): a
    branch on a tensor's value (torch.export), an op with no LiteRT lowering (litert-torch),
    an op PT2E leaves float (the int8 file would not be full-integer) -- each with the
    module's file and line or the ops, and the fix."""
    pytest.importorskip("torch")
    (tmp_path / "nets.py").write_text(BRANCHY)
    (tmp_path / "qatbench.toml").write_text(CONFIG)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((40, 1, 8, 8), dtype=np.float32),
             y=np.arange(40) % 10)
    result = subprocess.run(
        [sys.executable, "-m", "qatbench", "run", "--config", "qatbench.toml",
         "--out", str(tmp_path / "results")],
        capture_output=True, text=True, cwd=tmp_path, timeout=900)
    printed = result.stdout + result.stderr
    nets = tmp_path / "nets.py"
    assert result.returncode == 2, printed[-3000:]
    assert "models.branchy.torch: torch.export cannot capture the module" in printed
    assert "data-dependent control flow" in printed
    assert f"{nets}:13" in printed  # the user's own line
    assert "torch.where or torch.cond" in printed  # the fix
    assert "models.determinant.torch: litert-torch cannot convert op aten._linalg_det" \
        in printed
    assert f"{nets}:29" in printed
    assert ("models.normed.torch: litert-torch's PT2E quantizer leaves ops float in "
            "module(s) norm: ") in printed
    assert "RSQRT" in printed  # LayerNorm's ops, as the file has them
    assert not (tmp_path / "results").exists()  # refused before a run directory exists


DATA = textwrap.dedent('''
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    X = np.random.default_rng(0).random((50, 1, 8, 8), dtype=np.float32)
    Y = np.arange(50) % 5


    def as_dataset():
        return TensorDataset(torch.from_numpy(X), torch.from_numpy(Y))


    def as_loader():
        return DataLoader(as_dataset(), batch_size=16)
''')


@pytest.mark.parametrize("function", ["as_dataset", "as_loader"])
def test_a_data_function_may_return_a_torch_dataset_or_loader(tmp_path: Path, function: str
                                                              ) -> None:
    pytest.importorskip("torch")
    from qatbench.qat.pytorch.source import load_data

    (tmp_path / "data.py").write_text(DATA)
    source = ModelSource(torch="nets.py:make", data=f"data.py:{function}").resolved(tmp_path)
    data = load_data(source, "net", 0, None)
    x = np.concatenate([data.x_train, data.x_eval])
    y = np.concatenate([data.y_train, data.y_eval])
    expected = np.random.default_rng(0).random((50, 1, 8, 8), dtype=np.float32)
    assert x.shape == (50, 1, 8, 8) and len(data.x_eval) == 10  # eval_fraction 0.2
    # the same samples with the same labels, in the split's order
    order = [int(np.flatnonzero((expected == sample).all(axis=(1, 2, 3)))[0]) for sample in x]
    assert sorted(order) == list(range(50))
    assert list(y) == [index % 5 for index in order]


def test_channels_last_images_are_moved_to_nchw_for_an_nchw_module() -> None:
    torch = pytest.importorskip("torch")
    from qatbench.models.datasets import Dataset
    from qatbench.qat.pytorch.source import in_module_layout

    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(),
                                 torch.nn.Linear(4 * 6 * 6, 2))
    rng = np.random.default_rng(1)
    x = rng.random((6, 8, 8, 3), dtype=np.float32)  # N, H, W, C
    data = Dataset("d", x[:4], np.array([0, 1, 0, 1]), x[4:], np.array([1, 0]), 2)
    moved, note = in_module_layout(module, data, "net")
    assert moved.x_train.shape == (4, 3, 8, 8)
    assert moved.x_train[2, 1, 5, 7] == x[2, 5, 7, 1]  # channel 1 at row 5, column 7
    assert moved.x_eval[1, 2, 0, 3] == x[5, 0, 3, 2]
    assert "moved to NCHW" in note
    same, nothing = in_module_layout(module, moved, "net")  # already the module's layout
    assert same is moved and nothing == ""
