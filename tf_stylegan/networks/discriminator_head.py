"""The 4x4 head that ends the discriminator of every family (official `D_basic`, `D_stylegan2`).

Minibatch standard deviation (Karras et al. 2018, "Progressive Growing of GANs", section 3),
a 3x3 convolution, a dense layer on the features flattened in the official NCHW order, and a
linear output layer with one column per label (or one column without labels). A conditional
discriminator scores with the column of the image's one-hot label, `sum(out * labels, axis=1)`
(the projection of both official TF code bases).
"""

import tensorflow as tf

from tf_stylegan.errors import UserError
from tf_stylegan.layers import MinibatchStddev


class DiscriminatorHead:
    """Mixin of a `ConfigModel` discriminator: builds and runs the 4x4 head.

    The families differ in how their layers scale (StyleGAN's equalized layers put the gain in
    the weight, StyleGAN2's after the activation), so each passes its own conv and dense
    layers to `build_head`. The layers stay attributes of the network itself, under the names
    its checkpoints and `.keras` files use: `minibatch_stddev` (`mbstd`), `conv4x4`, `dense0`,
    and the output layer's attribute `OUTPUT_ATTRIBUTE` ("dense1" for StyleGAN, "output_dense"
    for StyleGAN2).
    """

    OUTPUT_ATTRIBUTE = "dense1"

    def head_channels(self) -> int:
        """Channels entering the 4x4 conv: nf(1), plus the minibatch-stddev features."""
        cfg = self.config
        extra = cfg.mbstd_num_features if cfg.mbstd_group_size > 1 else 0
        return cfg.nf(1) + extra

    def build_head(self, conv4x4, dense0, output):
        """Sets the head's layers, in the order their weights are listed.

        Args:
            conv4x4: the 3x3 convolution, built for `head_channels()` inputs, nf(1) outputs.
            dense0: the dense layer 16 * nf(1) -> nf(0) (built here).
            output: the linear layer nf(0) -> max(label_size, 1) (built here).
        """
        cfg = self.config
        self.mbstd = None
        if cfg.mbstd_group_size > 1:
            self.mbstd = MinibatchStddev(cfg.mbstd_group_size, cfg.mbstd_num_features,
                                         name="minibatch_stddev", dtype=self.dtype_policy)
        self.conv4x4 = conv4x4
        self.dense0 = dense0
        self.dense0.build((None, 16 * cfg.nf(1)))
        setattr(self, self.OUTPUT_ATTRIBUTE, output)
        output.build((None, cfg.nf(0)))

    def head(self, x, labels):
        """Scores [N, 1] from the 4x4 features x [N, 4, 4, nf(1)]."""
        cfg = self.config
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv4x4(x)  # [N, 4, 4, nf(1)]
        # The official dense layer flattens NCHW: keep its row order (channel-major).
        x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, 16 * cfg.nf(1)])
        x = getattr(self, self.OUTPUT_ATTRIBUTE)(self.dense0(x))
        if cfg.label_size:
            if labels is None:
                raise UserError(
                    f"This network is conditional (label_size={cfg.label_size}): pass labels."
                )
            x = self.score_labels(x, labels)
        return x

    def score_labels(self, out, labels):
        """The score [N, 1] of a conditional network from its output layer's `out`: the
        column of each image's one-hot label, `sum(out * labels, axis=1)`."""
        return tf.reduce_sum(out * tf.cast(labels, out.dtype), axis=1, keepdims=True)

    def check_images(self, images, size=None):
        """Raises UserError unless `images` is NHWC [N, r, r, num_channels], with r = `size`
        when one is given."""
        cfg = self.config
        shape = images.shape
        ok = (shape.rank == 4 and shape[1] == shape[2] and shape[3] == cfg.num_channels
              and (size is None or shape[1] == size))
        if not ok:
            r = "r" if size is None else size
            raise UserError(
                f"{type(self).__name__} expects NHWC images [N, {r}, {r}, {cfg.num_channels}]. "
                f"Received: shape={shape}"
            )
