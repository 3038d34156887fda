"""An independent float64 numpy transcription of the official geometric execution
(stylegan2-ada-pytorch augment.py:269-301, written from the facts, not from our code): the batch
margin, a reflect pad by it, zero-insertion 2x upsampling with sym6,
affine_grid + grid_sample (bilinear, zeros, align_corners=False) in normalized coordinates,
and the cropped, decimating sym6 low-pass. Images are NCHW here, as in the official code."""

import numpy as np

SYM6 = np.array([
    0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
    0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
    -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148])
HZ = SYM6 / SYM6.sum()


def _translate(tx, ty):
    return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], np.float64)


def _scale(sx, sy):
    return np.diag([sx, sy, 1.0])


def margin_pad(g_inv, h, w):
    cx, cy = (w - 1) / 2, (h - 1) / 2
    corners = np.array([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]]).T
    pts = np.concatenate([g @ corners for g in g_inv], axis=1)[:2]  # [2, B*4]
    m = np.concatenate([(-pts).max(1), pts.max(1)]) + np.array([6 - cx, 6 - cy] * 2)
    m = np.minimum(np.maximum(m, 0), [w - 1, h - 1] * 2)
    x0, y0, x1, y1 = np.ceil(m).astype(int)
    return x0, y0, x1, y1


def _upsample_axis(x, axis):
    x = np.moveaxis(x, axis, -1)
    z = np.zeros(x.shape[:-1] + (2 * x.shape[-1],))
    z[..., ::2] = x
    z = np.pad(z, [(0, 0)] * (z.ndim - 1) + [(6, 5)])
    f = 2 * HZ
    out = np.apply_along_axis(lambda r: np.convolve(r, f, mode="valid"), -1, z)
    return np.moveaxis(out, -1, axis)


def _downsample_axis(x, axis):
    x = np.moveaxis(x, axis, -1)[..., 1:-1]
    out = np.apply_along_axis(lambda r: np.correlate(r, HZ, mode="valid"), -1, x)[..., ::2]
    return np.moveaxis(out, -1, axis)


def _grid_sample(img, grid):
    """img [C, Hi, Wi], grid [Ho, Wo, 2] normalized (x, y): bilinear, zeros outside."""
    _, hi, wi = img.shape
    ix = ((grid[..., 0] + 1) * wi - 1) / 2
    iy = ((grid[..., 1] + 1) * hi - 1) / 2
    x0, y0 = np.floor(ix).astype(int), np.floor(iy).astype(int)
    out = np.zeros((img.shape[0],) + ix.shape)
    for dy in (0, 1):
        for dx in (0, 1):
            xs, ys = x0 + dx, y0 + dy
            wgt = (1 - np.abs(ix - xs)) * (1 - np.abs(iy - ys))
            ok = (xs >= 0) & (xs < wi) & (ys >= 0) & (ys < hi)
            vals = img[:, np.clip(ys, 0, hi - 1), np.clip(xs, 0, wi - 1)]
            out += np.where(ok, vals * wgt, 0)
    return out


def geometric(x, g_inv):
    """x [B, C, H, W], g_inv [B, 3, 3] -> [B, C, H, W] (float64)."""
    b, c, h, w = x.shape
    x0, y0, x1, y1 = margin_pad(g_inv, h, w)
    padded = np.pad(x.astype(np.float64), [(0, 0), (0, 0), (y0, y1), (x0, x1)], mode="reflect")
    up = _upsample_axis(_upsample_axis(padded, 3), 2)
    hu, wu = up.shape[2:]
    ho, wo = 2 * h + 12, 2 * w + 12
    xn = (2 * np.arange(wo) + 1) / wo - 1
    yn = (2 * np.arange(ho) + 1) / ho - 1
    base = np.stack([*np.meshgrid(xn, yn), np.ones((ho, wo))], axis=-1)  # [Ho, Wo, 3]
    out = []
    for i in range(b):
        g = _translate((x0 - x1) / 2, (y0 - y1) / 2) @ g_inv[i]
        g = _scale(2, 2) @ g @ _scale(0.5, 0.5)
        g = _translate(-0.5, -0.5) @ g @ _translate(0.5, 0.5)
        g = _scale(2 / wu, 2 / hu) @ g @ _scale(wo / 2, ho / 2)
        grid = base @ g[:2].T
        out.append(_grid_sample(up[i], grid))
    return _downsample_axis(_downsample_axis(np.stack(out), 3), 2)
