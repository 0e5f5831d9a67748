"""Integer inputs: an Embedding + Conv1D classifier on int32 token ids, through
``qatbench run`` and through TensorFlow's own converter by hand. Prints the figures
behind the README's "Integer inputs" paragraph; asserts nothing.

The model is trained here (tf_keras, seeded) to tell whether most of a 16-token
sequence comes from the lower half of a 50-token vocabulary, saved as ``.h5`` and run as
``[models.tokens] keras = ...`` with explicit train / eval splits at the default budget
(float32 and ptq_int8; QAT of Embedding is not supported by tfmot's default scheme).
By hand: ``TFLiteConverter.from_keras_model`` to float32, and full-integer with int8
output calibrated on the same first ``representative_samples`` (200) training
sequences; top-1 on TensorFlow's interpreter on the builtin kernels ``cpu-ref`` runs.

    python benchmarks/token_model.py

About 2 minutes on 2 cores.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

VOCAB, LENGTH, CALIBRATION = 50, 16, 200


def tokens(rng: object, samples: int) -> tuple[object, object]:
    import numpy as np

    x = rng.integers(0, VOCAB, (samples, LENGTH)).astype(np.int32)  # type: ignore[attr-defined]
    return x, (np.sum(x < VOCAB // 2, axis=1) > LENGTH // 2).astype(np.int64)


def top1(content: bytes, x: object, y: object) -> float:
    import numpy as np
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(
        model_content=content, experimental_op_resolver_type=tf.lite.experimental
        .OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    (source,), (sink,) = interpreter.get_input_details(), interpreter.get_output_details()
    hits = 0
    for sample, label in zip(x, y, strict=True):  # type: ignore[call-overload]
        interpreter.set_tensor(source["index"], sample[np.newaxis])
        interpreter.invoke()
        hits += int(np.argmax(interpreter.get_tensor(sink["index"])[0]) == label)
    return hits / len(y)  # type: ignore[arg-type]


def main() -> int:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import numpy as np
    import pandas as pd
    import tensorflow as tf
    import tf_keras as keras

    from qatbench.bench.storage.environment import cpu_flags, cpu_model

    print(f"{datetime.date.today()}  {cpu_model()}  {os.cpu_count()} cores  "
          f"{platform.machine()}  CPU flags: {cpu_flags() or 'unknown'}")
    rng = np.random.default_rng(0)
    x_train, y_train = tokens(rng, 2000)
    x_eval, y_eval = tokens(rng, 500)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((LENGTH,), dtype="int32", name="tokens")
    hidden = keras.layers.Embedding(VOCAB, 8)(inputs)
    hidden = keras.layers.Conv1D(8, 3, activation="relu")(hidden)
    hidden = keras.layers.GlobalAveragePooling1D()(hidden)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden), name="tokens")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train, y_train, epochs=20, batch_size=32, verbose=0)

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    by_hand = {"float32": top1(converter.convert(), x_eval, y_eval)}
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: (
        [x_train[i:i + 1]] for i in range(CALIBRATION))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8  # float inputs only: the ids stay int32
    converter.inference_output_type = tf.int8
    by_hand["ptq_int8"] = top1(converter.convert(), x_eval, y_eval)

    with tempfile.TemporaryDirectory(prefix="qatbench-tokens-") as scratch:
        work = Path(scratch)
        model.save(work / "tokens.h5")
        np.savez(work / "tokens.npz", x_train=x_train, y_train=y_train, x_eval=x_eval,
                 y_eval=y_eval)
        (work / "qatbench.toml").write_text(textwrap.dedent('''
            [models.tokens]
            keras = "tokens.h5"
            data = "tokens.npz"
        '''))
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "qatbench", "run", "--config", "qatbench.toml",
                        "--out", "results", "--variants", "float32,ptq_int8", "--targets",
                        "cpu-ref,cpu-xnnpack"], cwd=work, check=True, capture_output=True)
        wall = time.perf_counter() - started
        (run,) = (work / "results").iterdir()
        frame = pd.read_parquet(run / "results.parquet")
    print(f"token model (Embedding {VOCAB}x8 + Conv1D, int32 ids, {len(y_eval)} eval "
          f"sequences), `qatbench run` {wall:.0f} s; one run of each figure:")
    for _, row in frame.sort_values(["variant", "target"]).iterrows():
        print(f"  {row['variant']:9s} {row['target']:12s} top-1 {row['accuracy_top1']:.1%} "
              f"[{row['accuracy_top1_ci_low']:.1%}, {row['accuracy_top1_ci_high']:.1%}]  "
              f"p50 {row['latency_ms_p50']:.3g} ms  status {row['status']}")
    for variant, value in by_hand.items():
        print(f"  by hand (TFLiteConverter, builtin kernels) {variant:9s} top-1 {value:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
