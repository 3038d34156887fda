"""Tiny StyleGAN and StyleGAN2 generators and an LPIPS-VGG16 with random weights, for the
projector tests."""

import keras
import numpy as np

from metrics.lpips import LPIPS
from tf_stylegan.families import get_family


def tiny_generator(resolution=16, noise_weight=0.1, label_size=0, num_channels=3, seed=0,
                   family="stylegan"):
    """A StyleGAN (v1) or StyleGAN2 generator of a few thousand weights, with non-zero noise
    weights.

    The noise weights (StyleGAN: one per channel, StyleGAN2: one scalar `noise_strength` per
    layer) are zero at init (official); they are randomised here so that the noise maps change
    the image and the projector's noise gradients are not zero. The `dlatent_avg` is randomised
    too, so that it cannot pass for the projector's own w_avg.
    """
    family = get_family(family)
    cfg = family.config_class(resolution=resolution, fmap_base=32, fmap_max=16, latent_size=16,
                           dlatent_size=16, mapping_fmaps=16, mapping_layers=2,
                           label_size=label_size, num_channels=num_channels)
    keras.utils.set_random_seed(seed)  # the same weights whichever tests ran before
    G = family.generator_class(cfg)
    rng = np.random.RandomState(seed)
    for v in G.variables:
        if "noise" in v.path and v.trainable:
            v.assign(np.asarray(rng.randn(*v.shape), np.float32) * noise_weight)
    G.dlatent_avg.assign(rng.randn(cfg.dlatent_size).astype(np.float32))
    return G


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
