"""Generator and discriminator: official parameter counts, shapes, truncation, mixing, noise,
progressive growing and `.keras` round trips."""

import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan as sg
from tf_stylegan.layers import downscale2d, upscale2d

SMALL = dict(fmap_base=128, fmap_max=32, latent_size=32, dlatent_size=32, mapping_fmaps=32)


def small_config(resolution=16, **kw):
    return sg.NetworkConfig(resolution=resolution, **{**SMALL, **kw})


def nonzero_noise_weights(G):
    # Noise weights start at zero (official init); make the noise visible for these tests.
    for e in G.synthesis.epilogues:
        e.noise.weight.assign(tf.fill(e.noise.weight.shape, 0.5))


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


def test_config_validation():
    with pytest.raises(ValueError, match="power of two"):
        sg.NetworkConfig(resolution=48)
    with pytest.raises(ValueError, match="fused_scale"):
        sg.NetworkConfig(fused_scale="sometimes")
    with pytest.raises(ValueError, match="dlatent_size must be 64"):
        sg.NetworkConfig(mapping_layers=0, latent_size=32, dlatent_size=32, label_size=4)
    with pytest.raises(ValueError, match="Unknown"):
        sg.NetworkConfig.from_dict({"resolution": 32, "colour": 1})
    cfg = sg.NetworkConfig(resolution=256)
    assert cfg.num_layers == 14 and cfg.nf(1) == 512 and cfg.nf(8) == 32
    assert sg.NetworkConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("resolution,label_size,channels", [(8, 0, 3), (16, 3, 1), (32, 0, 3)])
def test_output_shapes_and_ranges(resolution, label_size, channels):
    cfg = small_config(resolution, label_size=label_size, num_channels=channels)
    G, D = sg.Generator(cfg), sg.Discriminator(cfg)
    z = tf.random.normal([4, 32])
    labels = tf.one_hot([0, 1, 2, 0], label_size) if label_size else None
    w = G.mapping(z, labels)
    assert w.shape == (4, cfg.num_layers, 32)
    images = G(z, labels, truncation_psi=0.7)
    assert images.shape == (4, resolution, resolution, channels)
    assert np.all(np.isfinite(images)) and np.abs(images).max() < 50
    scores = D(images, labels)
    assert scores.shape == (4, 1) and np.all(np.isfinite(scores))
    if label_size:
        with pytest.raises(ValueError, match="labels"):
            G(z)


def test_label_projection_picks_the_labelled_output():
    cfg = small_config(8, label_size=3)
    D = sg.Discriminator(cfg)
    x = tf.random.normal([4, 8, 8, 3])
    raw = D.dense1.weight  # scores for every class: run without the projection
    all_scores = []
    for k in range(3):
        all_scores.append(D(x, tf.one_hot([k] * 4, 3)).numpy()[:, 0])
    mixed = D(x, tf.one_hot([0, 1, 2, 1], 3)).numpy()[:, 0]
    np.testing.assert_allclose(mixed, [all_scores[0][0], all_scores[1][1], all_scores[2][2],
                                       all_scores[1][3]], rtol=1e-5)
    assert raw.shape[1] == 3


def test_truncation():
    G = sg.Generator(small_config(16))
    G.dlatent_avg.assign(tf.random.normal([32]))
    z = tf.random.normal([3, 32])
    w = G.mapping(z)
    np.testing.assert_array_equal(G.truncate(w, 1.0, 8), w)  # psi = 1 is the identity
    t0 = G.truncate(w, 0.0, 4).numpy()
    np.testing.assert_allclose(t0[:, :4], np.broadcast_to(G.dlatent_avg.numpy(), (3, 4, 32)),
                               rtol=1e-6)
    np.testing.assert_allclose(t0[:, 4:], w.numpy()[:, 4:], rtol=1e-6, atol=1e-6)  # only cut
    t5 = G.truncate(w, 0.5, None).numpy()
    avg = G.dlatent_avg.numpy()
    np.testing.assert_allclose(t5, avg + 0.5 * (w.numpy() - avg), rtol=1e-5, atol=1e-6)
    # G() applies the config's default psi 0.7 / cutoff 8 at inference.
    a = G(z, noise="const").numpy()
    b = G.synthesis(G.truncate(w, 0.7, 8), noise="const").numpy()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    c = G(z, truncation_psi=1.0, noise="const").numpy()
    np.testing.assert_allclose(c, G.synthesis(w, noise="const"), rtol=1e-5, atol=1e-6)


def test_style_mixing_changes_only_layers_after_crossover():
    G = sg.Generator(small_config(32, style_mixing_prob=1.0))
    z = tf.random.normal([2, 32])
    w = G.mapping(z)
    seen = set()
    for s in range(20):
        seed = tf.constant([s, 7], tf.int32)
        mixed = G.mix_styles(w, z, resolution=16, seed=seed).numpy()
        same = np.all(mixed == w.numpy(), axis=(0, 2))
        cutoff = int(np.argmin(same))  # first layer taken from the second latent
        assert cutoff >= 1 and np.all(same[:cutoff]) and not np.any(same[cutoff:])
        # Layers past the current resolution (16 px: 6 layers) never see the crossover.
        assert cutoff < 6
        # Everything from the crossover on is one other latent, broadcast over layers.
        np.testing.assert_array_equal(mixed[:, cutoff:], mixed[:, -1:].repeat(8 - cutoff, 1))
        seen.add(cutoff)
    assert len(seen) > 2  # the crossover is random
    G0 = sg.Generator(small_config(16, style_mixing_prob=0.0))
    w0 = G0.mapping(z)
    np.testing.assert_array_equal(G0.mix_styles(w0, z, seed=tf.constant([1, 2])), w0)


def test_training_pass_updates_dlatent_avg_and_never_truncates():
    G = sg.Generator(small_config(8, style_mixing_prob=0.0))
    z = tf.random.normal([4, 32])
    w = G.mapping(z).numpy()
    seed = tf.constant([3, 4], tf.int32)
    out = G(z, training=True, truncation_psi=0.0, seed=seed, noise="const").numpy()
    np.testing.assert_allclose(G.dlatent_avg.numpy(), (1 - 0.995) * w[:, 0].mean(0), rtol=1e-4,
                               atol=1e-7)
    np.testing.assert_allclose(out, G.synthesis(w, noise="const"), rtol=1e-5, atol=1e-6)


def test_noise_modes():
    G = sg.Generator(small_config(16))
    z = tf.random.normal([2, 32])
    # Zero-init noise weights: no noise mode changes anything.
    np.testing.assert_allclose(G(z, noise="random"), G(z, noise="none"), rtol=1e-6, atol=1e-6)
    nonzero_noise_weights(G)
    const1, const2 = G(z, noise="const").numpy(), G(z, noise="const").numpy()
    np.testing.assert_array_equal(const1, const2)  # stored buffers: deterministic
    r1, r2 = G(z, noise="random").numpy(), G(z, noise="random").numpy()
    assert np.abs(r1 - r2).max() > 1e-3
    seed = tf.constant([5, 6], tf.int32)
    np.testing.assert_array_equal(G(z, noise="random", seed=seed), G(z, noise="random", seed=seed))
    # Explicit per-layer noise equal to the buffers reproduces "const".
    w = G.mapping(z)
    explicit = [b.numpy() for b in G.synthesis.noise_buffers]
    np.testing.assert_allclose(G.synthesis(w, noise=explicit), G.synthesis(w, noise="const"),
                               rtol=1e-6, atol=1e-6)
    # Noise in one layer only changes the image; noise in none leaves it alone.
    zeros = [np.zeros_like(b) for b in explicit]
    base = G.synthesis(w, noise=zeros).numpy()
    np.testing.assert_allclose(base, G.synthesis(w, noise="none"), rtol=1e-6, atol=1e-6)
    one = list(zeros)
    one[-1] = explicit[-1]
    assert np.abs(G.synthesis(w, noise=one).numpy() - base).max() > 1e-4
    assert [b.shape[1] for b in G.synthesis.noise_buffers] == [4, 4, 8, 8, 16, 16]


def test_fade_in_endpoints_generator():
    G = sg.Generator(small_config(16))
    nonzero_noise_weights(G)
    w = G.mapping(tf.random.normal([2, 32]))
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
    D = sg.Discriminator(small_config(16))
    x = tf.random.normal([4, 16, 16, 3])
    low = D(downscale2d(x)).numpy()
    np.testing.assert_allclose(D(x, alpha=tf.constant(0.0)), low, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(D(x, alpha=tf.constant(1.0)), D(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="resolution"):
        D(tf.random.normal([4, 32, 32, 3]))


def test_lower_levels_do_not_run_higher_layers():
    # At 8x8 the 16x16 and 32x32 layers must not run: break their weights and nothing changes.
    G = sg.Generator(small_config(32))
    D = sg.Discriminator(small_config(32))
    w = G.mapping(tf.random.normal([4, 32]))
    before = G.synthesis(w, noise="const", resolution=8).numpy()
    x = tf.random.normal([4, 8, 8, 3])
    d_before = D(x).numpy()
    for layer in G.synthesis.convs[3:] + G.synthesis.to_rgb[2:]:
        layer.weight.assign(tf.fill(layer.weight.shape, np.nan))
    for layer in D.conv0[1:] + D.conv1_down[1:] + D.from_rgb[2:]:
        layer.weight.assign(tf.fill(layer.weight.shape, np.nan))
    np.testing.assert_array_equal(G.synthesis(w, noise="const", resolution=8), before)
    np.testing.assert_array_equal(D(x), d_before)


@pytest.mark.parametrize("overrides", [
    {},  # config F
    dict(use_styles=False, use_pixel_norm=True, use_instance_norm=False, mapping_layers=0,
         const_input_layer=False, style_mixing_prob=0.0, use_noise=False),  # config B
])
def test_keras_round_trip(tmp_path, overrides):
    # Config B maps z straight to w: with labels, w = [z, embedding] is twice as wide.
    cfg = small_config(16, label_size=2, **overrides,
                       **({"dlatent_size": 64} if overrides else {}))
    G, D = sg.Generator(cfg), sg.Discriminator(cfg)
    G.dlatent_avg.assign(tf.random.normal([G.dlatent_avg.shape[0]]))
    if cfg.use_noise:
        nonzero_noise_weights(G)
    z, labels = tf.random.normal([4, 32]), tf.one_hot([0, 1, 1, 0], 2)
    G.save(tmp_path / "G.keras")
    D.save(tmp_path / "D.keras")
    G2 = sg.Generator.from_config(G.get_config())
    assert G2.config == cfg
    import keras

    G3 = keras.saving.load_model(tmp_path / "G.keras", safe_mode=True)
    D3 = keras.saving.load_model(tmp_path / "D.keras", safe_mode=True)
    assert isinstance(G3, sg.Generator) and isinstance(D3, sg.Discriminator)
    images = G(z, labels, noise="const").numpy()
    np.testing.assert_array_equal(G3(z, labels, noise="const"), images)
    np.testing.assert_array_equal(D3(images, labels), D(images, labels))
    np.testing.assert_array_equal(G3.dlatent_avg.numpy(), G.dlatent_avg.numpy())


def test_traditional_generator_config_b():
    # Table 1 config B: no mapping, no styles, dense input from z, pixel norm, no noise.
    cfg = small_config(16, use_styles=False, use_pixel_norm=True, use_instance_norm=False,
                       mapping_layers=0, const_input_layer=False, use_noise=False)
    G = sg.Generator(cfg)
    assert G.mapping.count_params_trainable() == 0
    assert all(e.style_mod is None and e.noise is None for e in G.synthesis.epilogues)
    z = tf.random.normal([2, 32])
    w = G.mapping(z).numpy()
    np.testing.assert_allclose(w[:, 0], z / np.sqrt(np.mean(z**2, 1, keepdims=True) + 1e-8),
                               rtol=1e-5)
    assert G(z).shape == (2, 16, 16, 3)


def test_generator_runs_under_tf_function_with_tensor_alpha():
    G = sg.Generator(small_config(16))
    traces = []

    @tf.function
    def step(z, alpha):
        traces.append(1)
        return G(z, resolution=16, alpha=alpha, training=True, seed=tf.constant([1, 2]))

    z = tf.random.normal([4, 32])
    for a in (0.1, 0.5, 0.9):
        step(z, tf.constant(a))
    assert len(traces) == 1
