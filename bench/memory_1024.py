"""The "mem1024" worker: peak memory of generating at 1024x1024 with official widths.

Builds a family's generator with its official defaults at resolution 1024 (StyleGAN:
`NetworkConfig`, NVlabs/stylegan; StyleGAN2: `StyleGAN2Config`, config F) in a fresh process
and generates one image (batch 1); reports the process's peak RSS (VmHWM).
"""

from __future__ import annotations

import time

from bench.measurement import emit, vm_hwm_mb

__all__ = ["worker_mem1024"]


def worker_mem1024(spec):
    """Prints the "mem1024" record of the family `spec["family"]` (default "stylegan")."""
    import tensorflow as tf

    from tf_stylegan.families import get_family

    family = get_family(spec.get("family", "stylegan"))
    t0 = time.perf_counter()
    G = family.generator_class(family.config_class(resolution=1024))
    img = G(tf.random.normal([1, G.config.latent_size]), training=False)
    shape = list(img.numpy().shape)
    emit({"kind": "mem1024", "family": family.name, "resolution": 1024, "batch": 1,
          "image_shape": shape, "seconds": time.perf_counter() - t0,
          "params": int(G.count_params()), "peak_rss_mb": vm_hwm_mb()})
