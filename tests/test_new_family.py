"""A third network family through the registry alone (docs/architecture.md, "Where new things
plug in"): its own config class and Keras networks (here StyleGAN2's, subclassed), one
`register_family`, and no other change: it trains, its snapshots load as its own classes,
generate.py renders them, and the metrics plan its sample counts from its defaults."""

import dataclasses
import os
from typing import ClassVar

import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from PIL import Image

import generate
from metrics import registry
from tests.tiny_networks import make_tiny_dataset, tiny_training_config
from tf_stylegan.config import StyleGAN2Config
from tf_stylegan.errors import UserError
from tf_stylegan.families import (
    NetworkFamily,
    get_family,
    list_families,
    register_family,
    unregister_family,
)
from tf_stylegan.files import read_jsonl
from tf_stylegan.images import to_uint8
from tf_stylegan.networks import StyleGAN2Discriminator, StyleGAN2Generator
from tf_stylegan.snapshot import load_snapshot
from training.loop import Trainer


@dataclasses.dataclass(frozen=True)
class ToyConfig(StyleGAN2Config):
    family: ClassVar[str] = "toy"


@keras.saving.register_keras_serializable(package="toy_family")
class ToyGenerator(StyleGAN2Generator):
    config_class = ToyConfig


@keras.saving.register_keras_serializable(package="toy_family")
class ToyDiscriminator(StyleGAN2Discriminator):
    config_class = ToyConfig


@pytest.fixture
def toy():
    family = register_family(NetworkFamily(
        name="toy", config_class=ToyConfig, generator_class=ToyGenerator,
        discriminator_class=ToyDiscriminator, schedule="stylegan2",
        metric_defaults={"ppl_wend": (1234, 2)}))
    try:
        yield family
    finally:
        unregister_family("toy")
    assert "toy" not in list_families()
    with pytest.raises(UserError, match="unknown network family 'toy'"):
        get_family("toy")


def test_a_registered_family_trains_snapshots_generates_and_is_measured(toy, tmp_path):
    assert get_family("toy") is toy and "toy" in list_families()
    make_tiny_dataset(tmp_path / "data" / "tiny")
    cfg = tiny_training_config(tmp_path / "data", "tiny", "toy", total_kimg=0.032,
                               schedule={"tick_kimg_base": 0.032})
    t = Trainer(cfg, run_dir=str(tmp_path / "run"), progress=False, log=lambda line: None)
    assert (type(t.networks.G), type(t.networks.D)) == (ToyGenerator, ToyDiscriminator)
    before = {v.path: v.numpy() for v in t.networks.G.trainable_variables}
    t.train()  # one tick of 4 steps, the lazy regularization of step 0 included
    stats = read_jsonl(tmp_path / "run" / "stats.jsonl")
    assert len(stats) == 1 and stats[0]["kimg"] == 0.032
    assert stats[0]["Updates/G_reg"] == 1 and stats[0]["Updates/D_reg"] == 1
    assert all(np.isfinite(v) for k, v in stats[0].items() if k.startswith("Loss/"))
    assert any(np.abs(v.numpy() - before[v.path]).max() > 0
               for v in t.networks.G.trainable_variables)

    # The snapshot loads as the family's own classes.
    (snap,) = [f for f in os.listdir(tmp_path / "run") if f.startswith("network-snapshot-")]
    path = tmp_path / "run" / snap
    G, D, Gs, info = load_snapshot(path, with_info=True)
    assert info["family"] == "toy"
    assert (type(G), type(D), type(Gs)) == (ToyGenerator, ToyDiscriminator, ToyGenerator)
    z = tf.constant(np.random.RandomState(5).randn(1, 16), tf.float32)
    labels = tf.one_hot([1], 3)
    np.testing.assert_array_equal(Gs(z, labels, noise="const"),
                                  t.networks.Gs(z, labels, noise="const"))

    # generate.py renders it: psi 0.5 on every layer (its config's defaults), stored noise.
    r = CliRunner().invoke(generate.cli, ["images", "--network", str(path), "--seeds", "5",
                                          "--class-idx", "1", "--noise", "const",
                                          "--outdir", str(tmp_path / "images")])
    assert r.exit_code == 0, r.output
    w = Gs.mapping(z, labels).numpy()
    avg = Gs.dlatent_avg.numpy()
    expected = np.asarray(to_uint8(Gs.synthesis(avg + 0.5 * (w - avg), noise="const")))[0]
    got = np.asarray(Image.open(tmp_path / "images" / "seed0005.png"))
    assert np.abs(got.astype(int) - expected[:, :, 0].astype(int)).max() <= 1

    # The metrics take the family's sample counts where it has its own, else the official ones.
    opts = registry.MetricOptions()
    assert registry.sample_plan("ppl_wend", Gs, opts) == (1234, 2)
    assert registry.sample_plan("fid50k", Gs, opts) == (50000, 8)
