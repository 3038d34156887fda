"""Shared helpers of the training-loop tests: a tiny TFRecord dataset and tiny configs."""

import os

import numpy as np

from data.writer import write_arrays
from training.training_config import TrainingConfig

TINY_NETWORK = dict(fmap_base=64, fmap_max=16, latent_size=16, dlatent_size=16, mapping_fmaps=16,
                    mapping_layers=2)


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


def tiny_config(data_dir, dataset, **overrides):
    """A config that grows 4 -> 8 in a few steps of minibatch 8, conditioned on the labels."""
    fields = dict(
        dataset=dataset, data_dir=os.fspath(data_dir), network=dict(TINY_NETWORK),
        schedule_preset="1gpu",
        schedule=dict(lod_initial_resolution=4, lod_training_kimg=0.032,
                      lod_transition_kimg=0.032, minibatch_base=8, minibatch_dict={},
                      G_lrate_dict={}, D_lrate_dict={}, tick_kimg_base=0.064,
                      tick_kimg_dict={}),
        total_kimg=0.256, grid_size=[4, 2], seed=123, cond=True,
    )
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(fields.get(key), dict):
            fields[key] = {**fields[key], **value}
        else:
            fields[key] = value
    return TrainingConfig(**fields)


# StyleGAN2 networks of the same size (StyleGAN2Config fields).
TINY_STYLEGAN2_NETWORK = dict(fmap_base=64, fmap_max=16, latent_size=16, dlatent_size=16,
                              mapping_fmaps=16, mapping_layers=2)


def tiny_stylegan2_config(data_dir, dataset, **overrides):
    """A StyleGAN2 config on the 4x4 level of the 8x8 dataset (the smallest networks, whose
    traces take seconds; `resolution=8` adds the up/down blocks): global minibatch 8 in one
    pass (`minibatch_gpu=4` makes one device accumulate 2 passes), the official lazy
    regularization (path length every 4 steps, R1 every 16), ticks of 8 steps, conditioned on
    the labels."""
    fields = dict(
        family="stylegan2", dataset=dataset, data_dir=os.fspath(data_dir), resolution=4,
        network=dict(TINY_STYLEGAN2_NETWORK),
        schedule=dict(minibatch_base=8, tick_kimg_base=0.064, tick_kimg_dict={}),
        minibatch_gpu=8, total_kimg=0.256, grid_size=[4, 2], seed=123, cond=True,
    )
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(fields.get(key), dict):
            fields[key] = {**fields[key], **value}
        else:
            fields[key] = value
    return TrainingConfig(**fields)
