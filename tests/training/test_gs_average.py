"""The Gs moving average of a step covers only the G variables the step updates: exact (bit for
bit the full average of every variable), proportional to the level (the traced step reads and
writes none of the higher levels' Gs variables), and unchanged for StyleGAN2, whose step
updates every variable."""

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_networks import make_tiny_dataset, tiny_training_config
from training.distribute import make_strategy
from training.loop import Trainer
from training.step import ReplicaBatch
from training.trained_networks import variables_by_name

# The tiny G's variables of the 16x16 and 32x32 blocks (synthesis/epilogue4..7 are the four
# layers of those two blocks); none of them is used below 16x16.
HIGH_LEVELS = ("conv16x16", "epilogue4/", "epilogue5/", "to_rgb16",
               "conv32x32", "epilogue6/", "epilogue7/", "to_rgb32")
BLOCK32 = ("conv32x32", "epilogue6/", "epilogue7/", "to_rgb32")


@pytest.fixture(scope="module")
def data32(tmp_path_factory):
    """A data dir holding a tiny 32x32 labelled dataset `t32`."""
    root = tmp_path_factory.mktemp("data32")
    make_tiny_dataset(root / "t32", resolution=32, num_images=16)
    return root


def _config(data_dir):
    # Training starts at 8x8: 4 steps of 8 images per phase, so a run goes 8x8 stable, then
    # (from 40 images, schedule evaluated every 4 steps) the 8 -> 16 fade-in.
    return tiny_training_config(data_dir, "t32", G_smoothing_kimg=0.05,
                                schedule={"lod_initial_resolution": 8})


def _values(model):
    return {name: v.numpy() for name, v in variables_by_name(model).items()}


def _assigned_Gs_variables(trainer, resolution, batch, variant=()):
    """Names of the Gs variables that the traced step of this level assigns (an
    AssignVariableOp on the variable's handle in the step's graph; under MirroredStrategy on
    any replica's copy)."""
    t = trainer

    def dataset_fn(ctx):
        return t.dataset.iterate(resolution, batch, shuffle=False, input_context=ctx)

    reals, labels = next(iter(t.strategy.distribute_datasets_from_function(dataset_fn)))
    fn = t.step.function(resolution, batch, variant)
    graph = fn.get_concrete_function(reals, labels, tf.constant(1.0),
                                     tf.constant([1, 2], tf.int32)).graph
    inside = {id(external): internal for external, internal in graph.captures}
    out = set()
    for name, v in variables_by_name(t.networks.Gs).items():
        tf_var = v.value
        copies = getattr(tf_var, "values", None) or (tf_var,)  # one per replica if mirrored
        for copy in copies:
            handle = inside.get(id(copy.handle))
            if handle is not None and any(op.type == "AssignVariableOp"
                                          for op in handle.consumers()):
                out.add(name)
    return out


def test_partial_average_equals_the_full_average_bit_for_bit(data32):
    partial = Trainer(_config(data32), progress=False)
    full = Trainer(_config(data32), progress=False)
    full.step.average_all = True  # the official form: every trainable G variable averaged
    # The 4x4 ToRGB as a run that started at 4x4 leaves it: trained there (G moved, Gs lags),
    # used in the 8x8 steps (the fade-in lerp), no longer used from 16x16 on, where Gs must
    # go on converging to G's value.
    rgb4 = "synthesis/to_rgb4/weight"
    for t in (partial, full):
        v = variables_by_name(t.networks.G)[rgb4]
        v.assign(v.numpy() + np.random.RandomState(5).normal(0, 0.1, v.shape))
    init = _values(partial.networks.G)
    Gs_rgb4 = []
    for steps in (5, 3):  # 5 steps at 8x8, then 3 in the 8 -> 16 fade-in
        partial.run_steps(steps)
        full.run_steps(steps)
        for net in ("Gs", "G", "D"):
            a, b = _values(partial.networks.network(net)), _values(full.networks.network(net))
            for name in a:
                np.testing.assert_array_equal(a[name], b[name], err_msg=f"{net}/{name}")
        Gs_rgb4.append(_values(partial.networks.Gs)[rgb4])
    assert np.abs(Gs_rgb4[1] - Gs_rgb4[0]).max() > 1e-3  # averaged at 16x16 too
    fade = partial.schedule(40)  # the schedule of the last 3 steps
    assert fade.resolution == 16 and 0 < fade.alpha < 1, fade
    assert dict(partial.step.trace_counts) == {8: 1, 16: 1}
    # Not a comparison of untouched networks: Gs has moved off its start and lags G.
    G, Gs = _values(partial.networks.G), _values(partial.networks.Gs)
    w = "synthesis/conv8x8/weight"
    assert np.abs(Gs[w] - init[w]).max() > 1e-4 and np.abs(Gs[w] - G[w]).max() > 1e-4
    # The 32x32 block, unused so far: Gs is exactly G, which is exactly its initial value.
    unused = [name for name in G if name.startswith("synthesis/") and any(
        k in name for k in BLOCK32) and not name.endswith("noise/noise")]
    assert len(unused) == 12, unused
    for name in unused:
        np.testing.assert_array_equal(Gs[name], G[name], err_msg=name)
        np.testing.assert_array_equal(G[name], init[name], err_msg=name)


def _G_loss_gradient_names(t, resolution, batch):
    """Names of G's trainable variables with a gradient of G's loss at this level, computed
    eagerly here (what Adam updates)."""
    reals, labels = next(iter(t.dataset.iterate(resolution, batch, shuffle=False)))
    variables = t.networks.G.trainable_variables
    with tf.GradientTape() as tape:
        loss, _ = t.losses.G_loss(ReplicaBatch(batch), resolution, reals, labels,
                                  tf.constant(0.5), tf.constant([3, 4], tf.int32))
        total = tf.reduce_sum(loss)
    grads = tape.gradient(total, variables)
    ids = {id(v) for v, g in zip(variables, grads) if g is not None}
    return {name for name, v in variables_by_name(t.networks.G).items() if id(v) in ids}


def test_low_level_step_touches_only_its_level(data32):
    t = Trainer(_config(data32), progress=False)
    Gs_names = set(variables_by_name(t.networks.Gs))
    trainable = {name for name, v in variables_by_name(t.networks.Gs).items() if v.trainable}
    at8 = _assigned_Gs_variables(t, 8, 8)
    at32 = _assigned_Gs_variables(t, 32, 8)
    # At 32x32 the step averages every variable but the 4x4 and 8x8 ToRGBs (not used there,
    # and Gs is still G there); at 8x8 fewer, and none of the 16x16 and 32x32 blocks'
    # trainables: exactly those with a gradient of G's loss at 8x8, plus the copied
    # non-trainables (dlatent_avg, noise buffers).
    low_rgb = {f"synthesis/to_rgb{r}/{w}" for r in (4, 8) for w in ("weight", "bias")}
    assert at32 == Gs_names - low_rgb
    assert len(at8) < len(at32)
    assert not {n for n in at8 & trainable if any(k in n for k in HIGH_LEVELS)}
    assert at8 & trainable == _G_loss_gradient_names(t, 8, 8)
    assert at8 - trainable == Gs_names - trainable
    assert {"mapping/dense0/weight", "synthesis/conv8x8/weight",
            "synthesis/to_rgb8/weight"} <= at8


def test_low_level_step_touches_only_its_level_mirrored(data32):
    t = Trainer(_config(data32), strategy=make_strategy(2), progress=False)
    trainable = {name for name, v in variables_by_name(t.networks.Gs).items() if v.trainable}
    at8 = _assigned_Gs_variables(t, 8, 8)
    # The per-replica gradients keep None for the unused variables: the same set as on one
    # device (see the test above), no higher level's variable.
    assert not {n for n in at8 & trainable if any(k in n for k in HIGH_LEVELS)}
    assert {"mapping/dense0/weight", "synthesis/conv8x8/weight",
            "synthesis/to_rgb8/weight", "dlatent_avg"} <= at8


def test_stylegan2_step_averages_every_variable(tiny_data):
    t = Trainer(tiny_training_config(tiny_data, "tiny", "stylegan2"), progress=False)
    variant = t.step.variant(0)
    assert variant == ("G_reg", "D_reg")  # G, G_reg, Gs, D, D_reg: G's phases come before Gs
    assert _assigned_Gs_variables(t, 4, 8, variant) == set(variables_by_name(t.networks.Gs))
