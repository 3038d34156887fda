"""Every metric runs on a generator of each family (a tiny random one, with the stand-in feature
networks of the other metric tests); ppl2_wend is ppl_wend without the face crop; each family
has its official sample counts."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from metrics import fid as fid_module
from metrics import linear_separability as ls_module
from metrics import registry
from metrics.ppl import compute_ppl
from metrics.registry import MetricOptions, evaluate
from tests.metrics.stand_ins import (
    random_linear_generator,
    write_tfrecord_dataset,
    write_tiny_inception_graph,
)
from tests.tiny_networks import tiny_generator
from tf_stylegan.errors import UserError

RES = 16


@pytest.fixture(scope="module", params=["stylegan", "stylegan2"])
def Gs(request):
    return tiny_generator(request.param, RES)


def squared_l2(a, b):
    return tf.reduce_sum(tf.square(a - b), axis=[1, 2, 3])


def test_fid_and_kid(Gs, tmp_path, monkeypatch):
    inception = str(tmp_path / "classify_image_graph_def.pb")
    write_tiny_inception_graph(inception)
    images = np.random.RandomState(5).randint(0, 256, [8, RES, RES, 3]).astype(np.uint8)
    write_tfrecord_dataset(str(tmp_path / "tiny"), images)
    # scipy's sqrtm of 2048x2048 covariances takes half a minute here; test_frechet.py tests it.
    monkeypatch.setattr(fid_module, "frechet_distance",
                        lambda m1, s1, m2, s2: float(np.sum((m1 - m2) ** 2)))
    opts = MetricOptions(dataset_dir=str(tmp_path / "tiny"), inception=inception, num_samples=8,
                         batch_size=4, cache_dir=None, progress=False)
    fid = evaluate("fid50k", Gs, opts)["results"]
    kid = evaluate("kid50k", Gs, opts)["results"]
    assert fid["num_fakes"] == kid["num_fakes"] == 8
    assert np.isfinite(fid["fid50k"]) and fid["fid50k"] > 0 and np.isfinite(kid["kid50k"])


def test_ppl_metrics_and_ppl2_wend(Gs):
    opts = MetricOptions(num_samples=16, batch_size=4, distance_fn=squared_l2, progress=False)
    values = {name: evaluate(name, Gs, opts)["results"][name]
              for name in ("ppl_zfull", "ppl_wfull", "ppl_zend", "ppl_wend", "ppl2_wend")}
    assert all(np.isfinite(v) and v > 0 for v in values.values()), values
    # ppl2_wend: W, endpoints, the whole image (official crop=False), whatever opts.crop says.
    whole = compute_ppl(Gs, squared_l2, num_samples=16, space="w", sampling="end", crop=False,
                        batch_size=4, progress=False)
    assert values["ppl2_wend"] == pytest.approx(whole, rel=1e-6)
    assert values["ppl2_wend"] != pytest.approx(values["ppl_wend"], rel=1e-3)  # crop on there
    cropped = evaluate("ppl2_wend", Gs, MetricOptions(crop=True, **{
        k: getattr(opts, k) for k in ("num_samples", "batch_size", "distance_fn", "progress")}))
    assert cropped["results"]["ppl2_wend"] == pytest.approx(whole, rel=1e-6)


# The PPL metrics' official (num_samples, minibatch): NVlabs/stylegan metric_base.py 100,000 in
# minibatches of 16; NVlabs/stylegan2 metric_defaults.py 50,000 in minibatches of 4.
PPL_PLAN = {"stylegan": (100000, 16), "stylegan2": (50000, 4)}


def test_official_sample_counts(Gs):
    opts = MetricOptions()
    for name in ("ppl_zfull", "ppl_wfull", "ppl_zend", "ppl_wend"):
        assert registry.sample_plan(name, Gs, opts) == PPL_PLAN[Gs.config.family]
    assert registry.sample_plan("ppl2_wend", Gs, opts) == (50000, 4)  # a StyleGAN2 metric
    assert registry.sample_plan("fid50k", Gs, opts) == (50000, 8)
    # A linear stand-in (a StyleGAN config) takes StyleGAN's.
    linear = random_linear_generator(resolution=RES)
    assert registry.sample_plan("ppl_wend", linear, opts) == PPL_PLAN["stylegan"]
    assert "ppl2_wend" in registry.list_metrics()


def test_a_metric_registered_from_outside_needs_num_samples():
    def outside_metric(Gs, opts):
        return {"outside_metric": 0.0}

    linear = random_linear_generator(resolution=RES)
    registry.register_metric(outside_metric)
    try:
        with pytest.raises(UserError, match="outside_metric has no official sample count"):
            registry.sample_plan("outside_metric", linear, MetricOptions())
        assert registry.sample_plan("outside_metric", linear, MetricOptions(num_samples=5)) == \
            (5, 8)
    finally:
        registry.unregister_metric("outside_metric")
    assert "outside_metric" not in registry.list_metrics()
    with pytest.raises(UserError, match="Unknown metric"):
        registry.unregister_metric("outside_metric")


def test_ls(Gs, tmp_path, monkeypatch):
    rng = np.random.RandomState(2)
    inputs = keras.Input((RES, RES, 3))
    dense = keras.layers.Dense(1, use_bias=False)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([rng.standard_normal([RES * RES * 3, 1]).astype(np.float32)])
    model.save(str(tmp_path / "00-linear.keras"))
    monkeypatch.setenv(ls_module.CLASSIFIERS_ENV, str(tmp_path))
    record = evaluate("ls", Gs, MetricOptions(num_samples=200, batch_size=100, progress=False))
    result = record["results"]
    assert result["attributes"] == ["00-linear"]
    assert np.isfinite(result["ls_z"]) and np.isfinite(result["ls_w"])
