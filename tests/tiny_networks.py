"""The tiny networks of the tests, of any registered family, and the tiny training setup.

- `tiny_config(family, resolution, **fields)`: the family's network config with widths of at
  most 16 (a few thousand weights), any field overridable;
- `tiny_generator` / `tiny_networks`: G (and D) built from it, with seeded Keras weights,
  random noise weights and a random `dlatent_avg` (both zero at init, officially, which would
  hide the noise inputs and make truncation a no-op); `projector_generator`: the projector's;
- `make_tiny_dataset` and `tiny_training_config`: an 8x8 labelled TFRecord dataset and a
  training config of a few steps on it;
- `random_lpips`: an LPIPS-VGG16 with random weights, for the projector.

Tests whose expected numbers depend on a size pass it explicitly.
"""

import os

import keras
import numpy as np

from data.writer import write_arrays
from metrics.lpips import LPIPS
from tf_stylegan.families import get_family
from training.training_config import TrainingConfig

# Widths shared by every tiny network: fmap_base 64 with fmap_max 16 gives 16 maps at 4-8 px,
# then 8, 4, ... (`nf`); 16-dimensional z and w; 2 mapping layers.
TINY_NETWORK = dict(fmap_base=64, fmap_max=16, latent_size=16, dlatent_size=16,
                    mapping_fmaps=16, mapping_layers=2)


def tiny_config(family="stylegan", resolution=16, **fields):
    """The config of a tiny `family` network at `resolution` (`TINY_NETWORK` widths)."""
    return get_family(family).config_class(resolution=resolution, **{**TINY_NETWORK, **fields})


def randomize(G, seed=0, noise_weight=0.5, avg_scale=0.3):
    """Gives G's noise weights (StyleGAN: one per channel; StyleGAN2: one `noise_strength` per
    layer) `N(0, 1) * noise_weight` and its `dlatent_avg` `N(0, 1) * avg_scale`, drawn from
    `RandomState(seed)`; returns G."""
    rng = np.random.RandomState(seed)
    for v in G.variables:
        if "noise" in v.path and v.trainable:
            v.assign(np.asarray(rng.randn(*v.shape), np.float32) * noise_weight)
    G.dlatent_avg.assign(rng.randn(G.config.dlatent_size).astype(np.float32) * avg_scale)
    return G


def tiny_networks(family="stylegan", resolution=16, *, seed=0, noise_weight=0.5, avg_scale=0.3,
                  randomized=True, **fields):
    """(G, D) of `tiny_config(family, resolution, **fields)`, their Keras weights seeded by
    `seed` (the same weights whichever tests ran before); G `randomize`d unless
    `randomized=False`."""
    family = get_family(family)
    cfg = tiny_config(family.name, resolution, **fields)
    keras.utils.set_random_seed(seed)
    G = family.generator_class(cfg)
    if randomized:
        randomize(G, seed, noise_weight, avg_scale)
    return G, family.discriminator_class(cfg)


def tiny_generator(family="stylegan", resolution=16, **kwargs):
    """G of `tiny_networks(family, resolution, **kwargs)`."""
    return tiny_networks(family, resolution, **kwargs)[0]


def projector_generator(family="stylegan", resolution=16, **kwargs):
    """The tiny generators the projector tests' thresholds were set on: fmap_base 32, noise
    weights `N(0, 0.1**2)` (the noise maps change the image, their gradients are not zero) and a
    `dlatent_avg` `N(0, 1)` (it cannot pass for the projector's own w_avg)."""
    return tiny_generator(family, resolution, fmap_base=32, noise_weight=0.1, avg_scale=1.0,
                          **kwargs)


# --- Training --------------------------------------------------------------------------------
def make_tiny_dataset(directory, resolution=8, num_images=48, num_classes=3, seed=0):
    """Writes blob images (a bright square whose position depends on the class) + labels."""
    rng = np.random.RandomState(seed)
    classes = rng.randint(0, num_classes, size=num_images)
    images = np.zeros([num_images, 1, resolution, resolution], np.uint8)
    half = resolution // 2
    for i, c in enumerate(classes):
        y, x = divmod(int(c), 2)
        images[i, 0, y * half:(y + 1) * half, x * half:(x + 1) * half] = 200
        images[i, 0] += rng.randint(0, 40, size=[resolution, resolution]).astype(np.uint8)
    labels = np.eye(num_classes, dtype=np.float32)[classes]
    write_arrays(os.fspath(directory), images, labels, progress=False)
    return os.fspath(directory)


def tiny_training_config(data_dir, dataset, family="stylegan", **overrides):
    """A training config of a few steps of minibatch 8 on the tiny dataset, conditioned on its
    labels, with `TINY_NETWORK` networks of `family`. Dict-valued overrides update the field.

    A growing family (StyleGAN) grows 4 -> 8 (32 images per phase and per fade-in, ticks of 64
    images). Any other trains on the 4x4 level of the 8x8 dataset (the smallest networks, whose
    traces take seconds; `resolution=8` adds the up/down blocks) in one pass per step
    (`minibatch_gpu=4` makes one device accumulate 2 passes), with the official lazy
    regularization (path length every 4 steps, R1 every 16) and ticks of 8 steps.
    """
    fields = dict(family=family, dataset=dataset, data_dir=os.fspath(data_dir),
                  network=dict(TINY_NETWORK), total_kimg=0.256, grid_size=[4, 2], seed=123,
                  cond=True)
    if get_family(family).progressive:
        fields.update(
            schedule_preset="1gpu",
            schedule=dict(lod_initial_resolution=4, lod_training_kimg=0.032,
                          lod_transition_kimg=0.032, minibatch_base=8, minibatch_dict={},
                          G_lrate_dict={}, D_lrate_dict={}, tick_kimg_base=0.064,
                          tick_kimg_dict={}))
    else:
        fields.update(resolution=4, minibatch_gpu=8,
                      schedule=dict(minibatch_base=8, tick_kimg_base=0.064, tick_kimg_dict={}))
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(fields.get(key), dict):
            fields[key] = {**fields[key], **value}
        else:
            fields[key] = value
    return TrainingConfig(**fields)


# --- LPIPS -----------------------------------------------------------------------------------
def random_lpips(seed=1):
    """LPIPS-VGG16 with random weights: Keras' VGG16 kernel init, small random biases and
    random non-negative "lin" weights.

    Keras starts the biases at zero; with small random biases (the trained VGG16 has biases
    too) the random features respond to absolute intensities, so that a smaller distance also
    means closer pixels (with zero biases, projections reached a 4x smaller distance at a
    larger pixel error).
    """
    keras.utils.set_random_seed(seed)
    model = LPIPS()
    rng = np.random.RandomState(seed)
    for layer in model.features.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.standard_normal(layer.bias.shape).astype(np.float32) * 0.1)
    for w in model.lin:
        w.assign(np.abs(rng.standard_normal(w.shape)).astype(np.float32))
    return model
