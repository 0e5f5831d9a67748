"""The timing side imports without TensorFlow (or PyTorch): a device-lab host never pays
for either framework."""

from __future__ import annotations

import subprocess
import sys

BLOCK_TF = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'tensorflow', 'tf_keras', 'keras',
                                   'tensorflow_model_optimization',
                                   'torch', 'torchao', 'litert_torch'}:
            raise ImportError(f'{name} is blocked in this test')
        return None
sys.meta_path.insert(0, _Block())
"""


def run_without_tensorflow(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TF + code], capture_output=True,
                          text=True, timeout=120)


def test_targets_and_bench_import_without_tensorflow() -> None:
    code = """
import importlib, pkgutil
import qatbench.targets, qatbench.bench
names = []
for package in (qatbench.targets, qatbench.bench):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):
        importlib.import_module(info.name)
        names.append(info.name)
assert len(names) > 10, names
print('imported', 'tensorflow' in sys.modules)
"""
    result = run_without_tensorflow(code)
    assert result.returncode == 0, result.stderr
    assert "imported False" in result.stdout


def test_cli_lists_targets_without_tensorflow() -> None:
    result = run_without_tensorflow(
        "from qatbench.bench.cli import app\n"
        "app(['targets'], standalone_mode=False)\n")
    assert result.returncode == 0, result.stderr
    assert "cpu-xnnpack" in result.stdout
