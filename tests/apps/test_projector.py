"""The projector (apps/projector.py) on tiny StyleGAN and StyleGAN2 networks and an LPIPS with
random weights (the tests that use a network run on both families).

Expected values come from the official formulas (NVlabs/stylegan2 projector.py) written out
here, from float64 numpy transcriptions, or from the generator itself, never from the projector.
"""

import math

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from apps import projector as proj
from metrics.lpips import LPIPS_ENV, save_lpips_npz
from tests.tiny_networks import projector_generator, random_lpips
from tf_stylegan.errors import UserError
from tf_stylegan.families import list_families

FAMILIES = list_families()  # "stylegan", "stylegan2"


@pytest.fixture(scope="module")
def lpips():
    return random_lpips()


@pytest.fixture(scope="module", params=FAMILIES)
def G16(request):
    return projector_generator(request.param, 16)


@pytest.fixture(scope="module")
def projector16(G16, lpips):
    return proj.Projector(G16, lpips)


def generated_targets(G, seeds, noise_seed=100):
    """Images the network makes from the w of `seeds` and random noise maps; and those w."""
    z = np.stack([np.random.RandomState(s).randn(G.config.latent_size) for s in seeds])
    w = G.mapping(tf.constant(z, tf.float32))
    rng = np.random.RandomState(noise_seed)
    noise = [rng.randn(len(seeds), s, s, 1).astype(np.float32)
             for s in G.synthesis.noise_shapes()]
    return G.synthesis(w, noise=noise).numpy(), w.numpy()


# --- The official formulas (projector.py, Projector.step), written out ------------------------
def official_learning_rate(step, num_steps):
    t = step / num_steps
    lr_ramp = min(1.0, (1.0 - t) / 0.25)
    lr_ramp = 0.5 - 0.5 * math.cos(lr_ramp * math.pi)
    lr_ramp = lr_ramp * min(1.0, t / 0.05)
    return 0.1 * lr_ramp


def official_noise_strength(step, num_steps, w_std):
    t = step / num_steps
    return w_std * 0.05 * max(0.0, 1.0 - t / 0.75) ** 2


def numpy_noise_regularization(maps):
    """float64 transcription of the official multi-scale regulariser, per target."""
    total = np.zeros(len(maps[0]))
    for v in maps:
        v = np.asarray(v, np.float64)
        while True:
            total += (np.mean(v * np.roll(v, 1, axis=2), axis=(1, 2, 3)) ** 2
                      + np.mean(v * np.roll(v, 1, axis=1), axis=(1, 2, 3)) ** 2)
            if v.shape[1] <= 8:
                break
            n, h, w, c = v.shape
            v = v.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
    return total


def numpy_normalized(v):
    v = np.asarray(v, np.float64)
    centered = v - v.mean(axis=(1, 2, 3), keepdims=True)
    return centered / np.sqrt(np.mean(centered**2, axis=(1, 2, 3), keepdims=True))


def test_learning_rate_schedule_at_chosen_steps():
    by_hand = {0: 0.0, 10: 0.02, 25: 0.05, 50: 0.1, 500: 0.1, 750: 0.1, 875: 0.05}
    for step, value in by_hand.items():
        assert proj.learning_rate_at(step, 1000) == pytest.approx(value, abs=1e-12)
    for step in (0, 1, 10, 25, 49, 50, 51, 300, 750, 751, 800, 875, 950, 999):
        assert proj.learning_rate_at(step, 1000) == pytest.approx(
            official_learning_rate(step, 1000), rel=1e-12, abs=1e-15)
    for step in range(20):
        assert proj.learning_rate_at(step, 20) == pytest.approx(official_learning_rate(step, 20))


def test_noise_strength_schedule_at_chosen_steps():
    by_hand = {0: 0.1, 150: 0.064, 375: 0.025, 750: 0.0, 900: 0.0, 999: 0.0}
    for step, value in by_hand.items():
        assert proj.noise_strength_at(step, 1000, 2.0) == pytest.approx(value, abs=1e-12)
    for step in (0, 1, 100, 374, 600, 749, 750, 751, 999):
        assert proj.noise_strength_at(step, 1000, 3.5) == pytest.approx(
            official_noise_strength(step, 1000, 3.5), rel=1e-12, abs=1e-15)


def test_noise_regularization_matches_a_float64_numpy_transcription():
    rng = np.random.RandomState(0)
    maps = []
    for size in (4, 8, 16, 32):
        white = rng.randn(2, size, size, 1)
        # Spatially correlated maps, so every scale's autocorrelation term is far from zero.
        smooth = (white + np.roll(white, 1, axis=1) + np.roll(white, 1, axis=2)) / 3 + 0.1
        maps.append(smooth.astype(np.float32))
    got = proj.noise_regularization(maps).numpy()
    expected = numpy_noise_regularization(maps)
    assert got.shape == (2,)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # Per target: the second target's maps do not enter the first one's value.
    np.testing.assert_allclose(proj.noise_regularization([m[:1] for m in maps]).numpy(),
                               expected[:1], rtol=1e-5)
    # The pyramid stops after the first scale <= 8: a 16x16 map has exactly two terms.
    v = maps[2][:1].astype(np.float64)
    half = v.reshape(1, 8, 2, 8, 2, 1).mean(axis=(2, 4))
    two_terms = sum(np.mean(x * np.roll(x, 1, axis=a)) ** 2 for x in (v, half) for a in (1, 2))
    np.testing.assert_allclose(proj.noise_regularization([maps[2][:1]]).numpy(), [two_terms],
                               rtol=1e-5)


def test_lpips_input_is_0_255_box_downsampled_to_256_and_rgb():
    rng = np.random.RandomState(1)
    big = rng.uniform(-1, 1, [1, 512, 512, 1]).astype(np.float32)
    got = proj.lpips_input(big).numpy()
    expected = ((big.astype(np.float64) + 1) * 127.5).reshape(1, 256, 2, 256, 2, 1)
    expected = expected.mean(axis=(2, 4))
    assert got.shape == (1, 256, 256, 3)
    for c in range(3):
        np.testing.assert_allclose(got[..., c], expected[..., 0], rtol=1e-5, atol=1e-3)
    small = rng.uniform(-1, 1, [2, 32, 32, 3]).astype(np.float32)
    np.testing.assert_allclose(proj.lpips_input(small).numpy(), (small + 1) * 127.5, rtol=1e-6)


def test_w_avg_and_w_std_come_from_10000_mapped_latents_seeded_123(G16, projector16):
    z = np.random.RandomState(123).randn(10000, 16).astype(np.float32)
    w = G16.mapping(tf.constant(z))[:, 0].numpy().astype(np.float64)  # [10000, 16]
    w_avg = w.mean(axis=0)
    w_std = math.sqrt(np.sum((w - w_avg) ** 2) / 10000)  # RMS norm, not a per-dimension std
    assert projector16.w_avg.shape == (1, 1, 16)
    np.testing.assert_allclose(projector16.w_avg[0, 0], w_avg, rtol=1e-5, atol=1e-6)
    assert projector16.w_std == pytest.approx(w_std, rel=1e-5)
    assert not np.allclose(projector16.w_avg[0, 0], G16.dlatent_avg.numpy(), atol=0.1)


def test_the_noise_maps_are_the_synthesis_noise_inputs(G16, projector16):
    # The official layouts at 16 px: StyleGAN has a noise input per layer (two per resolution);
    # StyleGAN2 one per convolution, noise0..noise4 (4x4 Conv, then Conv0_up and Conv1 of 8x8
    # and of 16x16), and none of its own for the last ToRGB's w row; its progressive revision
    # (configs B-D) has the same convolutions.
    expected = {"stylegan": [4, 4, 8, 8, 16, 16], "stylegan2": [4, 8, 8, 16, 16],
                "stylegan2-revised": [4, 8, 8, 16, 16]}
    sizes = expected[G16.config.family]
    assert G16.config.num_layers == 6 and G16.synthesis.noise_shapes() == sizes
    targets, _ = generated_targets(G16, [1])
    (state,) = projector16.project(targets, num_steps=1)
    assert [tuple(v.shape) for v in state.noise] == [(1, s, s, 1) for s in sizes]
    # Each map is an input of the synthesis: changing one changes the projected image.
    image = projector16.synthesize(state.w, state.noise).numpy()
    for i in range(len(sizes)):
        noise = [-v if j == i else v for j, v in enumerate(state.noise)]
        assert np.abs(projector16.synthesize(state.w, noise).numpy() - image).max() > 1e-4


def test_each_step_follows_the_schedules_and_renormalises_the_noise(G16, projector16, lpips):
    targets, _ = generated_targets(G16, [1, 2])
    num_steps, seeds = 8, [11, 12]
    states = list(projector16.project(targets, num_steps=num_steps, seed=seeds))
    assert [s.step for s in states] == list(range(num_steps))
    sizes = G16.synthesis.noise_shapes()
    for s in states:
        assert s.learning_rate == pytest.approx(official_learning_rate(s.step, num_steps))
        assert s.noise_strength == pytest.approx(
            official_noise_strength(s.step, num_steps, projector16.w_std))
        assert s.w.shape == (2, 6, 16) and [v.shape[1] for v in s.noise] == sizes
        for v in s.noise:  # zero mean and unit variance per target, after every step
            v = v.numpy().astype(np.float64)
            np.testing.assert_allclose(v.mean(axis=(1, 2, 3)), [0, 0], atol=1e-6)
            np.testing.assert_allclose(v.var(axis=(1, 2, 3)), [1, 1], rtol=1e-5)

    # Step 0 by hand: each target's RandomState(seed) draws its noise maps in layer order, then
    # the w noise; images from w_avg + w noise, tiled; loss = LPIPS + 1e5 * regulariser.
    first = states[0]
    for i, seed in enumerate(seeds):
        rng = np.random.RandomState(seed)
        maps = [rng.randn(1, s, s, 1).astype(np.float32) for s in sizes]
        w_in = projector16.w_avg + rng.randn(1, 1, 16) * official_noise_strength(0, 8, 1.0) \
            * projector16.w_std
        w_in = np.tile(w_in.astype(np.float32), [1, 6, 1])
        images = G16.synthesis(tf.constant(w_in), noise=maps)
        dist = lpips(((images + 1) * 127.5, (targets[i:i + 1] + 1) * 127.5)).numpy()
        np.testing.assert_allclose(first.dist[i], dist[0], rtol=1e-4)
        loss = dist[0] + 1e5 * numpy_noise_regularization(maps)[0]
        np.testing.assert_allclose(first.loss[i], loss, rtol=1e-4)
        # The learning rate of step 0 is 0: w stays at w_avg and the maps are only renormalised.
        np.testing.assert_array_equal(first.w[i].numpy(), np.tile(projector16.w_avg[0], [6, 1]))
        for v, m in zip(first.noise, maps):
            np.testing.assert_allclose(v[i:i + 1].numpy(), numpy_normalized(m), atol=1e-5)
    # The single w is tiled to every layer; later steps move it.
    last = states[-1].w.numpy()
    np.testing.assert_array_equal(last, np.repeat(last[:, :1], 6, axis=1))
    assert np.abs(last - first.w.numpy()).max() > 1e-3


def official_adam(x, g, m, v, t, lr, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """One step of TF1's `tf.train.AdamOptimizer` (the official projector's, its default
    arguments), in float64: t counts from 1, the bias corrections go into the step size."""
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    lr_t = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
    return x - lr_t * m / (np.sqrt(v) + epsilon), m, v


def test_the_steps_after_step_0_are_the_official_adam_updates(G16, projector16, lpips):
    # Step 0 has learning rate 0, yet it counts as Adam's first step and feeds its moments: the
    # later steps are those of one Adam from step 0 on, replayed here from the official update
    # with gradients of the official loss taken in this test.
    targets, _ = generated_targets(G16, [3])
    num_steps, checked, seed = 8, 5, 7
    states = [s for _, s in zip(range(checked), projector16.project(targets, num_steps, seed))]
    sizes = G16.synthesis.noise_shapes()
    rng = np.random.RandomState(seed)
    x = [projector16.w_avg.astype(np.float64)] + [rng.randn(1, s, s, 1) for s in sizes]
    m, v = [np.zeros_like(a) for a in x], [np.zeros_like(a) for a in x]
    target = tf.constant((targets + 1) * 127.5, tf.float32)
    for step, state in enumerate(states):
        strength = official_noise_strength(step, num_steps, projector16.w_std)
        w_noise = rng.randn(1, 1, 16) * strength
        variables = [tf.Variable(a.astype(np.float32)) for a in x]
        with tf.GradientTape() as tape:
            w = tf.tile(variables[0] + w_noise.astype(np.float32), [1, 6, 1])
            images = G16.synthesis(w, noise=variables[1:])
            loss = lpips(((images + 1) * 127.5, target)) \
                + 1e5 * proj.noise_regularization(variables[1:])
        grads = [g.numpy().astype(np.float64) for g in tape.gradient(loss, variables)]
        lr = official_learning_rate(step, num_steps)
        for i in range(len(x)):
            x[i], m[i], v[i] = official_adam(x[i], grads[i], m[i], v[i], step + 1, lr)
        x[1:] = [numpy_normalized(a) for a in x[1:]]
        # Measured: up to 3.6e-6 (w) and 5.4e-6 (noise maps) after step 4, both families.
        np.testing.assert_allclose(state.w.numpy(), np.tile(x[0], [1, 6, 1]), atol=5e-5,
                                   err_msg=f"w after step {step}")
        for i, got in enumerate(state.noise):
            np.testing.assert_allclose(got.numpy(), x[1 + i], atol=5e-5,
                                       err_msg=f"noise{i} after step {step}")
    assert np.abs(states[-1].w.numpy() - states[0].w.numpy()).max() > 0.1  # steps of about lr


def test_a_batch_of_targets_equals_one_target_at_a_time(G16, projector16):
    targets, _ = generated_targets(G16, [3, 4, 5])
    seeds = [5, 9, 5]
    batch = list(projector16.project(targets, num_steps=5, seed=seeds))
    for i in range(3):
        alone = list(projector16.project(targets[i:i + 1], num_steps=5, seed=seeds[i]))
        # Step 0 (learning rate 0) is the same computation on another batch shape: tight.
        np.testing.assert_allclose(batch[0].dist[i:i + 1], alone[0].dist, rtol=1e-4)
        np.testing.assert_allclose(batch[0].w[i:i + 1].numpy(), alone[0].w.numpy(), atol=1e-6)
        for vb, va in zip(batch[0].noise, alone[0].noise):
            np.testing.assert_allclose(vb[i:i + 1].numpy(), va.numpy(), atol=1e-5)
        # Later steps: Adam moves each coordinate by about the learning rate (0.1) in the
        # direction of its gradient's sign, so float32 rounding differences between the batched
        # and the single convolutions (~1e-7) can move a coordinate whose gradient is near zero
        # by a fraction of a step (2.5e-3 seen with some initial weights). A target that shared
        # another's w, noise or statistics would be off by whole steps (~0.1) or more.
        for b, a in zip(batch[1:], alone[1:]):
            np.testing.assert_allclose(b.dist[i:i + 1], a.dist, rtol=1e-2)
            np.testing.assert_allclose(b.w[i:i + 1].numpy(), a.w.numpy(), atol=1e-2)
            for vb, va in zip(b.noise, a.noise):
                np.testing.assert_allclose(vb[i:i + 1].numpy(), va.numpy(), atol=1e-2)
    # Targets 0 and 2 share a seed but not an image: they went different ways.
    w = batch[-1].w.numpy()
    assert np.abs(w[0] - w[2]).max() > 1e-3


def test_w_plus_optimises_one_w_per_layer(G16, lpips):
    projector = proj.Projector(G16, lpips, w_plus=True)
    targets, _ = generated_targets(G16, [6])
    states = list(projector.project(targets, num_steps=3))
    first, last = states[0].w.numpy(), states[-1].w.numpy()
    np.testing.assert_array_equal(first, np.tile(projector.w_avg, [1, 6, 1]))
    steps = last[0] - first[0]  # [6, 16]
    assert np.abs(steps[1:] - steps[:1]).max() > 1e-4  # the layers moved independently


@pytest.mark.parametrize("family", FAMILIES)
def test_projection_recovers_an_image_the_network_generated(lpips, family):
    G = projector_generator(family, 32)
    projector = proj.Projector(G, lpips)
    target, w_true = generated_targets(G, [7])
    states = list(projector.project(target, num_steps=100, seed=1))
    start = projector.synthesize(states[0].w, states[0].noise)  # w_avg, the initial maps
    final = projector.synthesize(states[-1].w, states[-1].noise)
    d_start = float(projector.distance(start, target)[0])
    d_final = float(projector.distance(final, target)[0])
    rms = lambda x: float(np.sqrt(np.mean((np.asarray(x) - target) ** 2)))  # noqa: E731
    print(f"{family}: LPIPS {d_start:.4f} -> {d_final:.4f}, pixel RMS {rms(start):.4f} -> "
          f"{rms(final):.4f}")
    assert d_final < 0.25 * d_start
    assert rms(final) < 0.6 * rms(start)
    assert states[-1].dist[0] == pytest.approx(d_final, rel=0.05)


@pytest.mark.parametrize("family", FAMILIES)
def test_conditional_grayscale_networks_need_a_label(lpips, family):
    G = projector_generator(family, 16, label_size=3, num_channels=1, seed=2)
    with pytest.raises(UserError, match="conditional"):
        proj.Projector(G, lpips)
    label = [0.0, 1.0, 0.0]
    projector = proj.Projector(G, lpips, labels=label, num_samples=500)
    z = np.random.RandomState(123).randn(500, 16).astype(np.float32)
    w = G.mapping(tf.constant(z), tf.constant(np.tile([label], [500, 1]), tf.float32))
    np.testing.assert_allclose(projector.w_avg[0, 0], w[:, 0].numpy().mean(axis=0), rtol=1e-5,
                               atol=1e-6)
    target = G.synthesis(w[:1], noise="const").numpy()  # [1, 16, 16, 1]
    (state,) = projector.project(target, num_steps=1)
    assert state.dist.shape == (1,) and np.isfinite(state.dist).all()


def test_bad_input_gives_user_errors(projector16, lpips):
    with pytest.raises(UserError, match="at least 16x16"):
        proj.Projector(projector_generator("stylegan", 8), lpips)
    with pytest.raises(UserError, match=r"targets must be images \[N, 16, 16, 3\]"):
        next(projector16.project(np.zeros([1, 16, 16, 1])))
    with pytest.raises(UserError, match="one seed or one per target"):
        next(projector16.project(np.zeros([2, 16, 16, 3]), seed=[1, 2, 3]))
    with pytest.raises(UserError, match="num_steps"):
        next(projector16.project(np.zeros([1, 16, 16, 3]), num_steps=0))


def test_projected_w_files(tmp_path):
    G16 = projector_generator("stylegan", 16)
    rng = np.random.RandomState(0)
    w = rng.randn(2, 6, 16).astype(np.float32)
    noise = [rng.randn(2, s, s, 1).astype(np.float32) for s in G16.synthesis.noise_shapes()]
    path = tmp_path / "projected_w.npz"
    proj.save_projected_w(path, w, noise)
    assert sorted(np.load(path).files) == ["noise0", "noise1", "noise2", "noise3", "noise4",
                                           "noise5", "w"]
    w2, noise2 = proj.load_projected_w(path, G16)
    np.testing.assert_array_equal(w2, w)
    for a, b in zip(noise2, noise):
        np.testing.assert_array_equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["projected_w.npz"]  # no temporary left

    other = projector_generator("stylegan", 32)
    with pytest.raises(UserError, match=r"projected_w.npz: w is \[2, 6, 16\], this network "
                                        r"takes \[N, 8, 16\]"):
        proj.load_projected_w(path, other)
    # A StyleGAN2 network of the same w shape has one noise map fewer (none per layer).
    with pytest.raises(UserError, match=r"projected_w.npz: noise maps of sizes .*this network "
                                        r"takes 5 maps of sizes \[4, 8, 8, 16, 16\]"):
        proj.load_projected_w(path, projector_generator("stylegan2", 16))
    bad = tmp_path / "bad.npz"
    np.savez(bad, w=w, noise0=noise[0], noise2=noise[2])
    with pytest.raises(UserError, match=r"bad.npz: unexpected arrays \['noise2'\]"):
        proj.load_projected_w(bad)
    np.savez(bad, z=w)
    with pytest.raises(UserError, match="bad.npz: no array 'w'"):
        proj.load_projected_w(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not an npz")
    with pytest.raises(UserError, match="junk.npz: not a readable .npz"):
        proj.load_projected_w(junk)


def test_targets_are_fitted_as_dataset_tool_fits_images(tmp_path):
    rng = np.random.RandomState(3)
    wide = rng.randint(0, 256, [20, 40, 3], dtype=np.uint8)  # H 20, W 40
    PIL.Image.fromarray(wide).save(tmp_path / "wide.png")
    got = proj.load_target(tmp_path / "wide.png", 16, 3)
    crop = PIL.Image.fromarray(wide).crop((10, 0, 30, 20)).resize((16, 16),
                                                                  PIL.Image.LANCZOS)
    np.testing.assert_array_equal(got, np.asarray(crop))
    got = proj.load_target(tmp_path / "wide.png", 16, 1, transform="stretch")
    gray = PIL.Image.fromarray(wide).convert("L").resize((16, 16), PIL.Image.LANCZOS)
    np.testing.assert_array_equal(got[..., 0], np.asarray(gray))
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(UserError, match="bad.png: cannot decode image"):
        proj.load_target(tmp_path / "bad.png", 16, 3)


def test_lpips_weights_missing_or_bad_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.delenv(LPIPS_ENV, raising=False)
    with pytest.raises(UserError) as e:
        proj.load_lpips_weights(None)
    message = str(e.value)
    assert "--lpips" in message and "python -m metrics.lpips convert" in message
    assert "README.md" in message and "\n" not in message
    with pytest.raises(UserError, match=r"not found.*nope.npz.*metrics.lpips convert"):
        proj.load_lpips_weights(str(tmp_path / "nope.npz"))
    monkeypatch.setenv(LPIPS_ENV, str(tmp_path / "env.npz"))
    with pytest.raises(UserError, match="env.npz"):
        proj.load_lpips_weights(None)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"junk")
    with pytest.raises(UserError, match="junk.npz: not a readable .npz"):
        proj.load_lpips_weights(str(junk))


def test_lpips_weights_load_from_the_environment(tmp_path, monkeypatch, lpips):
    path = tmp_path / "lpips.npz"
    save_lpips_npz(lpips, str(path))
    monkeypatch.setenv(LPIPS_ENV, str(path))
    loaded = proj.load_lpips_weights(None)
    x = np.random.RandomState(0).uniform(0, 255, [2, 16, 16, 3]).astype(np.float32)
    np.testing.assert_allclose(loaded((x, x[::-1])).numpy(), lpips((x, x[::-1])).numpy(),
                               rtol=1e-6)
