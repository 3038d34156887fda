"""Generator and discriminator of each family: config checks, shapes, truncation, style mixing,
noise, labels, tracing, mixed precision and `.keras` round trips (written once for both
families); then StyleGAN's own: official parameter counts, progressive growing and the Table 1
configurations. StyleGAN2's own: test_stylegan2_networks.py; numbers against the official
code: tests/tf_stylegan/test_legacy.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan as sg
from tests.tiny_networks import tiny_config
from tf_stylegan.errors import UserError
from tf_stylegan.families import get_family
from tf_stylegan.layers import downscale2d, upscale2d

FAMILIES = ["stylegan", "stylegan2"]
CLASSES = {"stylegan": (sg.Generator, sg.Discriminator),
           "stylegan2": (sg.StyleGAN2Generator, sg.StyleGAN2Discriminator)}
# The official inference defaults: G_style psi 0.7 on the 8 coarsest layers, G_main 0.5 on all.
TRUNCATION = {"stylegan": (0.7, 8), "stylegan2": (0.5, None)}
# The noise maps at 16 px: StyleGAN one per layer, StyleGAN2 one per convolution (none on the
# constant's ToRGB row).
NOISE_SIZES = {"stylegan": [4, 4, 8, 8, 16, 16], "stylegan2": [4, 8, 8, 16, 16]}


def networks(family, resolution=16, **fields):
    cfg = tiny_config(family, resolution, **fields)
    G_class, D_class = CLASSES[family]
    return G_class(cfg), D_class(cfg)


def set_noise_weights(G, value=0.5):
    # Noise weights start at zero (official init); make the noise visible for these tests.
    for v in G.trainable_variables:
        if "noise" in v.path:
            v.assign(tf.fill(v.shape, value))


# --- Both families ---------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_config_validation(family):
    config_class = get_family(family).config_class
    with pytest.raises(UserError, match="power of two"):
        config_class(resolution=48)
    with pytest.raises(UserError, match="dlatent_size must be 64"):
        config_class(mapping_layers=0, latent_size=32, dlatent_size=32, label_size=4)
    with pytest.raises(UserError, match=rf"Unknown {config_class.__name__} keys: \['colour'\]"):
        config_class.from_dict({"resolution": 32, "colour": 1})
    cfg = config_class(resolution=256)
    assert config_class.from_dict(cfg.to_dict()) == cfg
    other = "stylegan2" if family == "stylegan" else "stylegan"
    with pytest.raises(TypeError, match=f"must be a {config_class.__name__}"):
        CLASSES[family][0](tiny_config(other, 8))


@pytest.mark.parametrize("family,resolution,label_size,channels,fields", [
    ("stylegan", 8, 0, 3, {}), ("stylegan", 16, 3, 1, {}), ("stylegan", 32, 0, 3, {}),
    ("stylegan2", 16, 0, 3, dict(g_architecture="skip", d_architecture="resnet")),
    ("stylegan2", 16, 3, 1, dict(g_architecture="orig", d_architecture="orig")),
    ("stylegan2", 16, 0, 3, dict(g_architecture="resnet", d_architecture="skip")),
])
def test_output_shapes_and_ranges(family, resolution, label_size, channels, fields):
    G, D = networks(family, resolution, label_size=label_size, num_channels=channels, **fields)
    z = tf.random.normal([4, 16])
    labels = tf.one_hot([0, 1, 2, 0], label_size) if label_size else None
    assert G.mapping(z, labels).shape == (4, G.config.num_layers, 16)
    images = G(z, labels, truncation_psi=0.7)
    assert images.shape == (4, resolution, resolution, channels)
    assert np.all(np.isfinite(images)) and np.abs(images).max() < 50
    scores = D(images, labels)
    assert scores.shape == (4, 1) and np.all(np.isfinite(scores))
    if label_size:
        # (The mappings raise a plain ValueError, the discriminator head a UserError.)
        with pytest.raises(ValueError, match="conditional.*pass labels"):
            G(z)
        with pytest.raises(UserError, match="labels"):
            D(images)


@pytest.mark.parametrize("family", FAMILIES)
def test_label_projection_picks_the_labelled_output(family):
    _, D = networks(family, 8, label_size=3)
    x = tf.random.normal([4, 8, 8, 3])
    all_scores = [D(x, tf.one_hot([k] * 4, 3)).numpy()[:, 0] for k in range(3)]
    mixed = D(x, tf.one_hot([0, 1, 2, 1], 3)).numpy()[:, 0]
    np.testing.assert_allclose(mixed, [all_scores[0][0], all_scores[1][1], all_scores[2][2],
                                       all_scores[1][3]], rtol=1e-5)
    output = getattr(D, D.OUTPUT_ATTRIBUTE)  # one score per class, before the projection
    assert output.weight.shape[1] == 3


@pytest.mark.parametrize("family", FAMILIES)
def test_truncation(family):
    G, _ = networks(family, 16)
    G.dlatent_avg.assign(tf.random.normal([16]))
    z = tf.random.normal([3, 16])
    w = G.mapping(z)
    avg = G.dlatent_avg.numpy()
    np.testing.assert_array_equal(G.truncate(w, 1.0, 8), w)  # psi = 1 is the identity
    t0 = G.truncate(w, 0.0, 4).numpy()
    np.testing.assert_allclose(t0[:, :4], np.broadcast_to(avg, (3, 4, 16)), rtol=1e-6)
    np.testing.assert_allclose(t0[:, 4:], w.numpy()[:, 4:], rtol=1e-6, atol=1e-6)  # only cut
    t5 = G.truncate(w, 0.5, None).numpy()
    np.testing.assert_allclose(t5, avg + 0.5 * (w.numpy() - avg), rtol=1e-5, atol=1e-6)
    # G() applies the official default psi / cutoff at inference, written out here.
    psi, cutoff = TRUNCATION[family]
    expected = avg + psi * (w.numpy() - avg)
    if cutoff is not None:
        expected[:, cutoff:] = w.numpy()[:, cutoff:]
    np.testing.assert_allclose(G(z, noise="const"), G.synthesis(expected, noise="const"),
                               rtol=1e-5, atol=1e-6)
    no_truncation = G.synthesis(w, noise="const").numpy()
    np.testing.assert_allclose(G(z, truncation_psi=1.0, noise="const"), no_truncation,
                               rtol=1e-5, atol=1e-6)
    assert np.abs(G(z, noise="const").numpy() - no_truncation).max() > 1e-3


@pytest.mark.parametrize("family", FAMILIES)
def test_style_mixing_uses_every_crossover(family):
    G, _ = networks(family, 16, style_mixing_prob=1.0)
    z = tf.random.normal([2, 16])
    w = G.mapping(z)
    seen = set()
    for s in range(40):
        mixed = G.mix_styles(w, z, seed=tf.constant([s, 9], tf.int32)).numpy()
        same = np.all(mixed == w.numpy(), axis=(0, 2))
        cutoff = int(np.argmin(same))  # first layer taken from the second latent
        assert 1 <= cutoff < 6 and np.all(same[:cutoff]) and not np.any(same[cutoff:])
        # Everything from the crossover on is one other latent, broadcast over layers.
        np.testing.assert_array_equal(mixed[:, cutoff:], mixed[:, -1:].repeat(6 - cutoff, 1))
        seen.add(cutoff)
    assert seen == {1, 2, 3, 4, 5}  # crossover in [1, num_layers), at random
    G0, _ = networks(family, 16, style_mixing_prob=0.0)
    w0 = G0.mapping(z)
    np.testing.assert_array_equal(G0.mix_styles(w0, z, seed=tf.constant([1, 2])), w0)


@pytest.mark.parametrize("family", FAMILIES)
def test_training_pass_updates_dlatent_avg_and_never_truncates(family):
    G, _ = networks(family, 8, style_mixing_prob=0.0)
    z = tf.random.normal([4, 16])
    w = G.mapping(z).numpy()
    out = G(z, training=True, truncation_psi=0.0, seed=tf.constant([3, 4]), noise="const")
    np.testing.assert_allclose(G.dlatent_avg.numpy(), (1 - 0.995) * w[:, 0].mean(0), rtol=1e-4,
                               atol=1e-7)
    np.testing.assert_allclose(out, G.synthesis(w, noise="const"), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_noise_inputs(family):
    G, _ = networks(family, 16)
    s = G.synthesis
    assert s.noise_shapes() == NOISE_SIZES[family]
    assert [b.shape for b in s.noise_buffers] == [(1, n, n, 1) for n in NOISE_SIZES[family]]
    w = G.mapping(tf.random.normal([2, 16]))
    # Zero-init noise weights: no noise mode changes anything.
    np.testing.assert_allclose(s(w, noise="random"), s(w, noise="none"), rtol=1e-6, atol=1e-6)
    set_noise_weights(G)
    const = s(w, noise="const").numpy()
    np.testing.assert_array_equal(s(w, noise="const"), const)  # stored buffers: deterministic
    r1, r2 = s(w, noise="random").numpy(), s(w, noise="random").numpy()
    assert np.abs(r1 - r2).max() > 1e-3
    seed = tf.constant([5, 6], tf.int32)
    np.testing.assert_array_equal(s(w, noise="random", seed=seed), s(w, noise="random", seed=seed))
    # Explicit per-layer noise equal to the buffers reproduces "const".
    explicit = [b.numpy() for b in s.noise_buffers]
    np.testing.assert_allclose(s(w, noise=explicit), const, rtol=1e-6, atol=1e-6)
    # Noise in one layer only changes the image; noise in none leaves it alone.
    zeros = [np.zeros_like(b) for b in explicit]
    base = s(w, noise=zeros).numpy()
    np.testing.assert_allclose(base, s(w, noise="none"), rtol=1e-6, atol=1e-6)
    one = list(zeros)
    one[-1] = explicit[-1]
    assert np.abs(s(w, noise=one).numpy() - base).max() > 1e-4
    # (StyleGAN's synthesis raises a plain ValueError, StyleGAN2's a UserError.)
    with pytest.raises(ValueError, match=f"lists 2 tensors.*needs {len(explicit)}"):
        s(w, noise=explicit[:2])


@pytest.mark.parametrize("family,fields", [
    ("stylegan", {}),  # config F
    ("stylegan", dict(use_styles=False, use_pixel_norm=True, use_instance_norm=False,
                      mapping_layers=0, const_input_layer=False, style_mixing_prob=0.0,
                      use_noise=False, dlatent_size=32)),  # config B: w = [z, label embedding]
    ("stylegan2", dict(g_architecture="skip", d_architecture="resnet")),
    ("stylegan2", dict(g_architecture="orig", d_architecture="orig")),
    ("stylegan2", dict(g_architecture="resnet", d_architecture="skip")),
])
def test_keras_round_trip(tmp_path, family, fields):
    G, D = networks(family, 8, label_size=2, **fields)
    cfg = G.config
    G.dlatent_avg.assign(tf.random.normal([G.dlatent_avg.shape[0]]))
    set_noise_weights(G)
    z, labels = tf.random.normal([4, 16]), tf.one_hot([0, 1, 1, 0], 2)
    G.save(tmp_path / "G.keras")
    D.save(tmp_path / "D.keras")
    assert type(G).from_config(G.get_config()).config == cfg
    G2 = keras.saving.load_model(tmp_path / "G.keras", safe_mode=True)
    D2 = keras.saving.load_model(tmp_path / "D.keras", safe_mode=True)
    assert (type(G2), type(D2)) == CLASSES[family]
    assert G2.config == D2.config == cfg
    images = G(z, labels, noise="const").numpy()
    np.testing.assert_array_equal(G2(z, labels, noise="const"), images)
    np.testing.assert_array_equal(D2(images, labels), D(images, labels))
    np.testing.assert_array_equal(G2.dlatent_avg.numpy(), G.dlatent_avg.numpy())


@pytest.mark.parametrize("family", FAMILIES)
def test_training_pass_traces_once_under_tf_function(family):
    G, D = networks(family, 8)
    traces = []

    @tf.function
    def step(z, seed):
        traces.append(1)
        return D(G(z, training=True, seed=seed))

    for s in range(3):
        assert step(tf.random.normal([4, 16]), tf.constant([s, 0])).shape == (4, 1)
    assert len(traces) == 1


@pytest.mark.parametrize("family", FAMILIES)
def test_runs_under_mixed_precision(family):
    policy = keras.mixed_precision.DTypePolicy("mixed_bfloat16")
    cfg = tiny_config(family, 8)
    G_class, D_class = CLASSES[family]
    G, D = G_class(cfg, dtype=policy), D_class(cfg, dtype=policy)
    images = G(tf.random.normal([4, 16]))
    assert images.dtype == tf.bfloat16 and images.shape == (4, 8, 8, 3)
    assert D(images).shape == (4, 1)
    assert all(v.dtype == "float32" for v in G.weights)


# --- StyleGAN: official counts, progressive growing, Table 1 ---------------------------------
@pytest.mark.large
@pytest.mark.parametrize("resolution,expected", [
    (1024, (2_101_248, 24_118_379, 26_219_627, 23_087_249)),
    (256, (2_101_248, 23_984_981, 26_086_229, 23_052_353)),
    (128, (2_101_248, 23_742_610, 25_843_858, 22_941_313)),
])
def test_official_parameter_counts(resolution, expected):
    # The totals the official `print_layers` prints for G_style / D_basic (built, never run).
    cfg = sg.NetworkConfig(resolution=resolution)
    G, D = sg.Generator(cfg), sg.Discriminator(cfg)
    got = (G.mapping.count_params_trainable(), G.synthesis.count_params_trainable(),
           G.count_params_trainable(), D.count_params_trainable())
    assert got == expected


def test_per_layer_counts_at_1024():
    cfg = sg.NetworkConfig(resolution=1024)
    s = sg.Synthesis(cfg)

    def count(*layers):
        return sum(int(np.prod(v.shape)) for layer in layers for v in layer.trainable_weights)

    # 4x4/Const = const + noise weight + bias + StyleMod (official print_layers row).
    assert int(np.prod(s.const.shape)) + count(s.epilogues[0]) == 534_528
    assert count(s.convs[0], s.epilogues[1]) == 2_885_632
    assert count(s.convs[-2], s.epilogues[-2]) == 21_056  # 1024 Conv0_up
    assert count(s.convs[-1], s.epilogues[-1]) == 18_752  # 1024 Conv1
    assert count(*s.to_rgb) == 7_659
    D = sg.Discriminator(cfg)
    assert count(D.conv4x4) == 2_364_416 and count(D.dense0) == 4_194_816
    assert count(*D.from_rgb) == 10_176


def test_stylegan_config():
    with pytest.raises(UserError, match="fused_scale"):
        sg.NetworkConfig(fused_scale="sometimes")
    cfg = sg.NetworkConfig(resolution=256)
    assert cfg.num_layers == 14 and cfg.nf(1) == 512 and cfg.nf(8) == 32


def test_style_mixing_stays_below_the_current_level():
    # Growing: at 16 px of a 32 px network (6 of 8 layers) the crossover is in [1, 6), and the
    # layers past the current resolution never see it.
    G, _ = networks("stylegan", 32, style_mixing_prob=1.0)
    z = tf.random.normal([2, 16])
    w = G.mapping(z)
    seen = set()
    for s in range(20):
        mixed = G.mix_styles(w, z, resolution=16, seed=tf.constant([s, 7], tf.int32)).numpy()
        same = np.all(mixed == w.numpy(), axis=(0, 2))
        cutoff = int(np.argmin(same))
        assert 1 <= cutoff < 6 and np.all(same[:cutoff]) and not np.any(same[cutoff:])
        np.testing.assert_array_equal(mixed[:, cutoff:], mixed[:, -1:].repeat(8 - cutoff, 1))
        seen.add(cutoff)
    assert len(seen) > 2  # the crossover is random


def test_fade_in_endpoints_generator():
    G, _ = networks("stylegan", 16)
    set_noise_weights(G)
    w = G.mapping(tf.random.normal([2, 16]))
    low = G.synthesis(w, noise="const", resolution=8).numpy()
    high = G.synthesis(w, noise="const", resolution=16).numpy()
    assert low.shape == (2, 8, 8, 3) and high.shape == (2, 16, 16, 3)
    a0 = G.synthesis(w, noise="const", resolution=16, alpha=tf.constant(0.0)).numpy()
    a1 = G.synthesis(w, noise="const", resolution=16, alpha=tf.constant(1.0)).numpy()
    np.testing.assert_allclose(a0, upscale2d(low), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a1, high, rtol=1e-5, atol=1e-6)
    half = G.synthesis(w, noise="const", resolution=16, alpha=0.5).numpy()
    np.testing.assert_allclose(half, 0.5 * (a0 + a1), rtol=1e-4, atol=1e-5)


def test_fade_in_endpoints_discriminator():
    _, D = networks("stylegan", 16)
    x = tf.random.normal([4, 16, 16, 3])
    low = D(downscale2d(x)).numpy()
    np.testing.assert_allclose(D(x, alpha=tf.constant(0.0)), low, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(D(x, alpha=tf.constant(1.0)), D(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="resolution"):
        D(tf.random.normal([4, 32, 32, 3]))


def test_lower_levels_do_not_run_higher_layers():
    # At 8x8 the 16x16 and 32x32 layers must not run: break their weights and nothing changes.
    G, D = networks("stylegan", 32)
    w = G.mapping(tf.random.normal([4, 16]))
    before = G.synthesis(w, noise="const", resolution=8).numpy()
    x = tf.random.normal([4, 8, 8, 3])
    d_before = D(x).numpy()
    for layer in G.synthesis.convs[3:] + G.synthesis.to_rgb[2:]:
        layer.weight.assign(tf.fill(layer.weight.shape, np.nan))
    for layer in D.conv0[1:] + D.conv1_down[1:] + D.from_rgb[2:]:
        layer.weight.assign(tf.fill(layer.weight.shape, np.nan))
    np.testing.assert_array_equal(G.synthesis(w, noise="const", resolution=8), before)
    np.testing.assert_array_equal(D(x), d_before)


def test_traditional_generator_config_b():
    # Table 1 config B: no mapping, no styles, dense input from z, pixel norm, no noise.
    G, _ = networks("stylegan", 16, use_styles=False, use_pixel_norm=True,
                    use_instance_norm=False, mapping_layers=0, const_input_layer=False,
                    use_noise=False)
    assert G.mapping.count_params_trainable() == 0
    assert all(e.style_mod is None and e.noise is None for e in G.synthesis.epilogues)
    z = tf.random.normal([2, 16])
    w = G.mapping(z).numpy()
    np.testing.assert_allclose(w[:, 0], z / np.sqrt(np.mean(z**2, 1, keepdims=True) + 1e-8),
                               rtol=1e-5)
    assert G(z).shape == (2, 16, 16, 3)


def test_generator_runs_under_tf_function_with_tensor_alpha():
    G, _ = networks("stylegan", 16)
    traces = []

    @tf.function
    def step(z, alpha):
        traces.append(1)
        return G(z, resolution=16, alpha=alpha, training=True, seed=tf.constant([1, 2]))

    z = tf.random.normal([4, 16])
    for a in (0.1, 0.5, 0.9):
        step(z, tf.constant(a))
    assert len(traces) == 1
