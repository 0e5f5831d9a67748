"""Custom layers: ``[models.NAME] imports`` (and ``--import``) import the user's module
before the model loads, so the classes it registers resolve; without it, the error names
the class and the key."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest

from qatbench.models.sources import ModelSource, ad_hoc_source

LAYERS = textwrap.dedent('''
    """A layer registered with Keras 3 (the file's) and its tf_keras twin (for QAT),
    under the same registered name."""
    import keras
    import tf_keras

    PACKAGE = "{package}"


    @keras.saving.register_keras_serializable(package=PACKAGE, name="Scale")
    class Scale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],), initializer="ones", name="w")

        def call(self, x):
            return x * self.w * self.factor

        def get_config(self):
            return {{**super().get_config(), "factor": self.factor}}


    @tf_keras.saving.register_keras_serializable(package=PACKAGE, name="Scale")
    class TfScale(tf_keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],), initializer="ones", name="w")

        def call(self, x):
            return x * self.w * self.factor

        def get_config(self):
            return {{**super().get_config(), "factor": self.factor}}
''')

MAKE = textwrap.dedent('''
    import sys
    sys.path.insert(0, sys.argv[1])
    import keras
    import numpy as np
    import {module} as layers

    inputs = keras.Input((3,), name="x")
    scale = layers.Scale(3.0, name="scale")
    model = keras.Model(inputs, scale(inputs), name="wild")
    scale.set_weights([np.array([1.0, 2.0, -1.0], dtype="float32")])
    model.save(sys.argv[2])
''')


def test_imports_paths_resolve_against_the_config_and_missing_files_are_named(
        tmp_path: Path) -> None:
    (tmp_path / "layers").mkdir()
    (tmp_path / "layers" / "mine.py").write_text("")
    source = ModelSource(keras="m.keras", imports=["wild_layers", "layers/mine.py",
                                                   "layers/gone.py"]).resolved(tmp_path)
    assert source.imports == ["wild_layers", str(tmp_path / "layers" / "mine.py"),
                              str(tmp_path / "layers" / "gone.py")]
    problems = source.file_problems("net")
    assert [p for p in problems if p.startswith("models.net.imports")] == [
        f"models.net.imports: {tmp_path / 'layers' / 'gone.py'} does not exist (a module "
        "name, or a .py file relative to the config)"]
    _, ad_hoc = ad_hoc_source("m.keras", None, tmp_path, imports=["layers/mine.py"])
    assert ad_hoc.imports == [str(tmp_path / "layers" / "mine.py")]


def test_a_registered_custom_layer_loads_through_imports_and_is_named_without(
        tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from qatbench.qat.keras3 import prove_rebuild
    from qatbench.qat.user_model import SourceError, load_model

    module = f"wild_layers_{uuid.uuid4().hex[:8]}"  # registered nowhere in this process
    package = module
    (tmp_path / f"{module}.py").write_text(LAYERS.format(package=package))
    path = tmp_path / "wild.keras"
    made = subprocess.run([sys.executable, "-c", MAKE.format(module=module), str(tmp_path),
                           str(path)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_USE_LEGACY_KERAS": "1"})
    assert made.returncode == 0, made.stderr[-2000:]

    without = ModelSource(keras=str(path))
    with pytest.raises(SourceError) as refused:
        load_model(without, "wild")
    message = str(refused.value)
    assert message.startswith("models.wild.keras:")
    assert f"{package}>Scale" in message and "imports = [" in message and "--import" in message
    assert len(message) < 600  # advice, not Keras' deserialisation text

    loaded = load_model(ModelSource(keras=str(path), imports=[str(tmp_path / f"{module}.py")]),
                        "wild")
    x = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.model.predict(x, verbose=0),
                               x * np.array([1.0, 2.0, -1.0]) * 3.0, rtol=1e-6)
    assert prove_rebuild(loaded.keras3, loaded.model, x).holds
