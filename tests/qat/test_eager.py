"""A few batches are predicted, and a few steps fitted, op by op (``qat.eager``): the same
outputs in the same structure as ``model.predict`` -- one array, a list, a dict -- and
the same training as the traced ``fit``."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tf_keras")

import tf_keras as keras

from qatbench.qat import eager


def _two_outputs(as_dict: bool) -> keras.Model:
    image = keras.Input((6,), name="image")
    count = keras.Input((1,), name="count")
    hidden = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()([image, count]))
    first = keras.layers.Dense(3, name="first")(hidden)
    second = keras.layers.Dense(2, name="second")(hidden)
    outputs = {"first": first, "second": second} if as_dict else [first, second]
    return keras.Model({"image": image, "count": count}, outputs)


def _inputs(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"image": rng.normal(size=(n, 6)).astype(np.float32),
            "count": rng.integers(0, 5, size=(n, 1)).astype(np.float32)}


@pytest.mark.parametrize("n", [1, 7, 16])  # one partial batch, several, exactly four
def test_a_few_batches_give_predicts_outputs_in_predicts_structure(n: int) -> None:
    single = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    x = np.random.default_rng(1).normal(size=(n, 4)).astype(np.float32)
    got = eager.predict(single, x, batch_size=4)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, single.predict(x, batch_size=4, verbose=0), rtol=1e-6)

    listed = _two_outputs(as_dict=False)
    got_list = eager.predict(listed, _inputs(n), batch_size=4)
    want_list = listed.predict(_inputs(n), batch_size=4, verbose=0)
    assert isinstance(got_list, list) and len(got_list) == 2
    for got_one, want_one in zip(got_list, want_list, strict=True):
        assert got_one.shape == want_one.shape == (n, got_one.shape[1])
        np.testing.assert_allclose(got_one, want_one, rtol=1e-6, atol=1e-7)

    named = _two_outputs(as_dict=True)
    got_dict = eager.predict(named, _inputs(n), batch_size=4)
    want_dict = named.predict(_inputs(n), batch_size=4, verbose=0)
    assert set(got_dict) == set(want_dict) == {"first", "second"}
    for key in want_dict:
        np.testing.assert_allclose(got_dict[key], want_dict[key], rtol=1e-6, atol=1e-7)


def test_more_batches_than_the_eager_limit_go_through_predict(monkeypatch) -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    calls = []
    monkeypatch.setattr(model, "predict", lambda x, **kw: calls.append(kw) or np.zeros((0,)))
    eager.predict(model, np.zeros((4 * (eager.MAX_EAGER_BATCHES + 1), 4), np.float32), 4)
    assert calls == [{"batch_size": 4, "verbose": 0}]
    eager.predict(model, np.zeros((4 * eager.MAX_EAGER_BATCHES, 4), np.float32), 4)
    assert len(calls) == 1  # at the limit: op by op


def test_a_fit_of_a_few_steps_runs_eagerly_and_a_long_one_is_traced() -> None:
    assert eager.fit_steps(10, batch_size=4, epochs=2) == 6  # 3 batches (one partial) x 2
    assert eager.fit_steps(9, batch_size=3, epochs=1) == 3
    assert eager.runs_eagerly(eager.MAX_EAGER_STEPS)
    assert not eager.runs_eagerly(eager.MAX_EAGER_STEPS + 1)


def test_eager_and_traced_fits_train_the_same_weights() -> None:
    """Two plain SGD steps without shuffling: op by op or traced, the arithmetic is the
    same, so the weights agree to float32 rounding."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 5)).astype(np.float32)
    y = rng.normal(size=(8, 2)).astype(np.float32)
    weights = []
    for run_eagerly in (True, False):
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"),
                                  keras.layers.Dense(2)])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse",
                      run_eagerly=run_eagerly)
        model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    for eager_weights, traced_weights in zip(*weights, strict=True):
        np.testing.assert_allclose(eager_weights, traced_weights, rtol=1e-5, atol=1e-6)
