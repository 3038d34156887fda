"""Float64 numpy transcriptions of NVIDIA's official StyleGAN2 ops and networks, for the tests.

Written from the official formulas (NVlabs/stylegan2 `dnnlib/tflib/ops/upfirdn_2d.py`:
`_upfirdn_2d_ref`, `upsample_2d`, `downsample_2d`, `upsample_conv_2d`, `conv_downsample_2d`;
`training/networks_stylegan2.py`: `modulated_conv2d_layer`, `apply_bias_act`, `G_mapping`,
`G_synthesis_stylegan2`, `D_stylegan2`), independently of `tf_stylegan`. Images and features are
NHWC, weights [k, k, in, out] as stored. The networks read a dict of official variables (names
and layouts as in the pickles: `const` [1, C, 4, 4], `noise{i}` [1, 1, H, W]), so the same code
runs on the official fixture and on random official-layout variables of any architecture.
"""

import math

import numpy as np

SQRT2 = math.sqrt(2)
# [1,3,3,1] x [1,3,3,1] / 64, written out (official `_setup_kernel`).
K = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0


def lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


# --- ops -----------------------------------------------------------------------------------------

def np_upfirdn(x, kernel, up=1, down=1, pad0=0, pad1=0):
    """Official `_upfirdn_2d_ref`: zero insertion, pad (negative = crop), true convolution with
    the kernel (VALID), keep every `down`-th pixel."""
    x = np.asarray(x, np.float64)
    n, h, w, c = x.shape
    y = np.zeros((n, h * up, w * up, c))
    y[:, ::up, ::up] = x
    y = np.pad(y, [(0, 0), (max(pad0, 0), max(pad1, 0)), (max(pad0, 0), max(pad1, 0)), (0, 0)])
    y = y[:, max(-pad0, 0):y.shape[1] - max(-pad1, 0), max(-pad0, 0):y.shape[2] - max(-pad1, 0)]
    kh, kw = kernel.shape
    oh, ow = y.shape[1] - kh + 1, y.shape[2] - kw + 1
    out = np.zeros((n, oh, ow, c))
    for a in range(kh):
        for b in range(kw):
            # True convolution: output pixel (i, j) takes y[i + a, j + b] * kernel[kh-1-a, kw-1-b].
            out += y[:, a:a + oh, b:b + ow] * kernel[kh - 1 - a, kw - 1 - b]
    return out[:, ::down, ::down]


def np_upsample(x):
    """Official `upsample_2d` with [1,3,3,1]: K * 4, up 2, pads (2, 1)."""
    return np_upfirdn(x, K * 4, up=2, pad0=2, pad1=1)


def np_downsample(x):
    """Official `downsample_2d` with [1,3,3,1]: K, pads (1, 1), down 2."""
    return np_upfirdn(x, K, down=2, pad0=1, pad1=1)


def np_conv(x, w, stride=1, pad=(0, 0)):
    """Cross-correlation (tf.nn.conv2d), zero padding `pad` = (before, after), VALID after it."""
    x = np.pad(np.asarray(x, np.float64), [(0, 0), pad, pad, (0, 0)])
    k = w.shape[0]
    oh, ow = x.shape[1] - k + 1, x.shape[2] - k + 1
    out = np.zeros((x.shape[0], oh, ow, w.shape[3]))
    for a in range(k):
        for b in range(k):
            out += np.einsum("nhwc,co->nhwo", x[:, a:a + oh, b:b + ow], w[a, b])
    return out[:, ::stride, ::stride]


def np_conv_same(x, w):
    return np_conv(x, w, pad=(w.shape[0] // 2, w.shape[0] // 2))


def np_upsample_conv(x, w):
    """Official `upsample_conv_2d`, literally: flip the kernel and swap in/out, transposed
    convolution with stride 2 (VALID: output (H-1)*2 + k), then the FIR x4 with pads
    ((p+1)//2 + 1, p//2 + 1), p = 4 - 2 - (k - 1)."""
    x = np.asarray(x, np.float64)
    k = w.shape[0]
    f = np.transpose(w[::-1, ::-1], [0, 1, 3, 2])  # [k, k, out, in]
    n, h, wd, _ = x.shape
    out = np.zeros((n, (h - 1) * 2 + k, (wd - 1) * 2 + k, w.shape[3]))
    for i in range(h):  # conv2d_transpose scatters each input pixel through the filter
        for j in range(wd):
            for a in range(k):
                for b in range(k):
                    out[:, 2 * i + a, 2 * j + b] += x[:, i, j] @ f[a, b].T
    p = (4 - 2) - (k - 1)
    return np_upfirdn(out, K * 4, pad0=(p + 1) // 2 + 1, pad1=p // 2 + 1)


def np_upsample_conv_equivalent(x, w):
    """The same op as zero-insert x2 -> pad (k//2 + 2, k//2 + 1) -> FIR x4 -> VALID
    cross-correlation with the weight as stored (stylegan2-ada-pytorch's generic path)."""
    k = w.shape[0]
    return np_conv(np_upfirdn(x, K * 4, up=2, pad0=k // 2 + 2, pad1=k // 2 + 1), w)


def np_conv_downsample(x, w):
    """Official `conv_downsample_2d`: FIR with pads ((p+1)//2, p//2), p = 2 + k - 1, then a
    stride-2 VALID cross-correlation."""
    p = 2 + w.shape[0] - 1
    return np_conv(np_upfirdn(x, K, pad0=(p + 1) // 2, pad1=p // 2), w, stride=2)


def np_modconv(x, w_lat, weight, mod_w, mod_b, demodulate=True, up=False):
    """Official `modulated_conv2d_layer` in the per-sample weight form (fused_modconv=True):
    s = w @ mod_w / sqrt(dlatent) + mod_b + 1; W' = W / sqrt(k k I) * s; demodulated
    W'' = W' * rsqrt(sum_{kh,kw,i} W'^2 + 1e-8); each sample convolved with its own weight."""
    k, _, in_ch, _ = weight.shape
    s = np.asarray(w_lat, np.float64) @ (mod_w / math.sqrt(w_lat.shape[1])) + mod_b + 1.0
    base = np.asarray(weight, np.float64) / math.sqrt(k * k * in_ch)
    outs = []
    for n in range(x.shape[0]):
        wn = base * s[n][None, None, :, None]
        if demodulate:
            wn = wn / np.sqrt(np.sum(wn**2, axis=(0, 1, 2)) + 1e-8)
        xn = x[n:n + 1]
        outs.append(np_upsample_conv(xn, wn) if up else np_conv_same(xn, wn))
    return np.concatenate(outs)


def np_mbstd(x, group_size=4):
    """Official `minibatch_stddev_layer` (one new feature, strided groups of min(4, N))."""
    n, h, w, c = x.shape
    g = min(group_size, n)
    m = n // g
    out = np.zeros((n, h, w, 1))
    for grp in range(m):
        members = [grp + k * m for k in range(g)]
        out[members] = np.sqrt(x[members].var(axis=0) + 1e-8).mean()
    return np.concatenate([x, out], axis=-1)


# --- networks on official variables --------------------------------------------------------------

def np_mapping(v, z, num_layers, lrmul=0.01):
    """Official StyleGAN2 `G_mapping` (no labels): pixel norm, dense layers with gain 1, bias
    times lrmul, then lrelu times sqrt(2); w broadcast to `num_layers` rows."""
    x = np.asarray(z, np.float64)
    x = x / np.sqrt(np.mean(x**2, axis=1, keepdims=True) + 1e-8)
    i = 0
    while f"G_mapping/Dense{i}/weight" in v:
        w = v[f"G_mapping/Dense{i}/weight"]
        x = x @ (w * lrmul / math.sqrt(w.shape[0])) + v[f"G_mapping/Dense{i}/bias"] * lrmul
        x = lrelu(x) * SQRT2
        i += 1
    return np.repeat(x[:, None], num_layers, axis=1)


def _clip(x, clamp):
    return x if clamp is None else np.clip(x, -clamp, clamp)


def np_synthesis(v, w, resolution, architecture="skip", clamp=None):
    """Official `G_synthesis_stylegan2` with the stored noise (`randomize_noise=False`).

    `clamp`: stylegan2-ada-pytorch's `conv_clamp` (`networks.py:301-304, 323, 404-409`): every
    synthesis layer's `bias_act` clips to +-clamp * gain after its gain sqrt(2) * gain (gain =
    sqrt(1/2) for the second layer of a "resnet" block, whose skip gets sqrt(1/2) and no clip),
    every ToRGB's output to +-clamp."""
    R = int(math.log2(resolution))
    p = "G_synthesis/"

    def layer(x, scope, idx, up=False, gain=1.0):
        x = np_modconv(x, w[:, idx], v[p + scope + "/weight"], v[p + scope + "/mod_weight"],
                       v[p + scope + "/mod_bias"], demodulate=True, up=up)
        noise = np.transpose(v[f"{p}noise{idx}"], [0, 2, 3, 1])  # [1, H, W, 1]
        x = x + noise * v[p + scope + "/noise_strength"]
        return _clip(lrelu(x + v[p + scope + "/bias"]) * SQRT2 * gain,
                     None if clamp is None else clamp * gain)

    def torgb(x, y, r):
        scope = f"{p}{2**r}x{2**r}/ToRGB"
        t = np_modconv(x, w[:, 2 * r - 3], v[scope + "/weight"], v[scope + "/mod_weight"],
                       v[scope + "/mod_bias"], demodulate=False) + v[scope + "/bias"]
        t = _clip(t, clamp)
        return t if y is None else y + t

    const = np.transpose(v[p + "4x4/Const/const"], [0, 2, 3, 1])
    x = np.repeat(const.astype(np.float64), w.shape[0], axis=0)
    x = layer(x, "4x4/Conv", 0)
    y = torgb(x, None, 2) if architecture == "skip" else None
    for r in range(3, R + 1):
        s = f"{2**r}x{2**r}"
        t = x
        x = layer(x, s + "/Conv0_up", 2 * r - 5, up=True)
        if architecture == "resnet":  # stylegan2-ada-pytorch's form: the gains inside
            x = layer(x, s + "/Conv1", 2 * r - 4, gain=1 / SQRT2)
            skip = v[f"{p}{s}/Skip/weight"]
            x = x + np_upsample_conv(t, skip / math.sqrt(skip.shape[2])) / SQRT2
        else:
            x = layer(x, s + "/Conv1", 2 * r - 4)
        if architecture == "skip":
            y = np_upsample(y)
        if architecture == "skip" or r == R:
            y = torgb(x, y, r)
    return y


def np_discriminator(v, images, architecture="resnet", labels=None, clamp=None, cmap=None):
    """Official `D_stylegan2` (mbstd group 4, one feature).

    `clamp`: stylegan2-ada-pytorch's `conv_clamp` (`networks.py:165-168, 574-578`): every
    convolution but the skips clips to +-clamp * gain after its gain sqrt(2) * gain (gain =
    sqrt(1/2) for `Conv1_down` of a "resnet" block, whose skip gets sqrt(1/2) and no clip).
    `cmap` [N, C]: stylegan2-ada-pytorch's conditional projection `sum(out * cmap) / sqrt(C)`
    (`networks.py:663-665`), instead of the label column."""
    R = int(math.log2(images.shape[1]))

    def conv(x, scope, down=False, act=True, bias=True, gain=1.0):
        w = v[scope + "/weight"]
        w = w / math.sqrt(w.shape[0] * w.shape[1] * w.shape[2])
        x = np_conv_downsample(x, w) if down else np_conv_same(x, w)
        if bias:
            x = x + v[scope + "/bias"]
        if not act:
            return x * gain
        return _clip(lrelu(x) * SQRT2 * gain, None if clamp is None else clamp * gain)

    def fromrgb(x, y, r):
        t = conv(y, f"{2**r}x{2**r}/FromRGB")
        return t if x is None else x + t

    x, y = None, np.asarray(images, np.float64)
    for r in range(R, 2, -1):
        s = f"{2**r}x{2**r}"
        if architecture == "skip" or r == R:
            x = fromrgb(x, y, r)
        t = x
        x = conv(x, s + "/Conv0")
        if architecture == "resnet":  # stylegan2-ada-pytorch's form: the gains inside
            x = conv(x, s + "/Conv1_down", down=True, gain=1 / SQRT2)
            x = x + conv(t, s + "/Skip", down=True, act=False, bias=False, gain=1 / SQRT2)
        else:
            x = conv(x, s + "/Conv1_down", down=True)
        if architecture == "skip":
            y = np_downsample(y)
    if architecture == "skip":
        x = fromrgb(x, y, 2)
    x = conv(np_mbstd(x), "4x4/Conv")
    x = np.transpose(x, [0, 3, 1, 2]).reshape(x.shape[0], -1)  # official NCHW flatten
    w = v["4x4/Dense0/weight"]
    x = lrelu(x @ (w / math.sqrt(w.shape[0])) + v["4x4/Dense0/bias"]) * SQRT2
    w = v["Output/weight"]
    x = x @ (w / math.sqrt(w.shape[0])) + v["Output/bias"]
    if cmap is not None:
        return np.sum(x * cmap, axis=1, keepdims=True) / math.sqrt(cmap.shape[1])
    if labels is not None:
        x = np.sum(x * labels, axis=1, keepdims=True)
    return x


# --- random official-layout variables ---------------------------------------------------------

def nf_official(stage, fmap_base, fmap_max, fmap_min=1):
    return int(np.clip(int(fmap_base / 2.0**stage), fmap_min, fmap_max))


def random_official_generator(rng, resolution, fmap_base, fmap_max, latent=16, mapping_layers=2,
                              architecture="skip", channels=3):
    """Variables of an official `G_main` (own, `G_mapping/...`, `G_synthesis/...`), randomised
    with the official weight storage (N(0, 1), mapping N(0, 1/0.01)) and non-zero biases,
    style biases, noise strengths, noise maps and dlatent_avg."""
    R = int(math.log2(resolution))
    nf = lambda s: nf_official(s, fmap_base, fmap_max)

    def f32(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    own = {"lod": np.float32(0), "dlatent_avg": f32(latent)}
    mapping = {}
    for i in range(mapping_layers):
        mapping[f"Dense{i}/weight"] = f32(latent, latent, scale=100.0)
        mapping[f"Dense{i}/bias"] = f32(latent, scale=10.0)
    synth = {f"noise{i}": f32(1, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2))
             for i in range(2 * R - 3)}
    synth["4x4/Const/const"] = f32(1, nf(1), 4, 4)

    def modconv(scope, k, cin, cout, noise=True):
        synth[scope + "/weight"] = f32(k, k, cin, cout)
        synth[scope + "/mod_weight"] = f32(latent, cin)
        synth[scope + "/mod_bias"] = f32(cin, scale=0.2)
        if noise:
            synth[scope + "/noise_strength"] = f32(scale=0.3)
        synth[scope + "/bias"] = f32(cout, scale=0.2)

    modconv("4x4/Conv", 3, nf(1), nf(1))
    if architecture == "skip":
        modconv("4x4/ToRGB", 1, nf(1), channels, noise=False)
    for r in range(3, R + 1):
        s = f"{2**r}x{2**r}"
        modconv(s + "/Conv0_up", 3, nf(r - 2), nf(r - 1))
        modconv(s + "/Conv1", 3, nf(r - 1), nf(r - 1))
        if architecture == "resnet":
            synth[s + "/Skip/weight"] = f32(1, 1, nf(r - 2), nf(r - 1))
        if architecture == "skip" or r == R:
            modconv(s + "/ToRGB", 1, nf(r - 1), channels, noise=False)
    return own, mapping, synth


def random_official_discriminator(rng, resolution, fmap_base, fmap_max, architecture="resnet",
                                  channels=3):
    """Variables of an official `D_stylegan2`, randomised with non-zero biases."""
    R = int(math.log2(resolution))
    nf = lambda s: nf_official(s, fmap_base, fmap_max)

    def f32(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    v = {}

    def conv(scope, k, cin, cout, bias=True):
        v[scope + "/weight"] = f32(k, k, cin, cout)
        if bias:
            v[scope + "/bias"] = f32(cout, scale=0.2)

    for r in range(R, 2, -1):
        s = f"{2**r}x{2**r}"
        if architecture == "skip" or r == R:
            conv(s + "/FromRGB", 1, channels, nf(r - 1))
        conv(s + "/Conv0", 3, nf(r - 1), nf(r - 1))
        conv(s + "/Conv1_down", 3, nf(r - 1), nf(r - 2))
        if architecture == "resnet":
            conv(s + "/Skip", 1, nf(r - 1), nf(r - 2), bias=False)
    if architecture == "skip":
        conv("4x4/FromRGB", 1, channels, nf(1))
    conv("4x4/Conv", 3, nf(1) + 1, nf(1))
    v["4x4/Dense0/weight"] = f32(16 * nf(1), nf(0))
    v["4x4/Dense0/bias"] = f32(nf(0), scale=0.2)
    v["Output/weight"] = f32(nf(0), 1)
    v["Output/bias"] = f32(1, scale=0.2)
    return v
