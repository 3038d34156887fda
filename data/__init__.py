"""StyleGAN datasets: the official multi-resolution TFRecord format, written and read.

One concept per module:

- `data.records`: the record format (Example encoding/decoding, the pyramid, file names).
- `data.image_files`: decoding image files, mode conversion, fitting to a size, writing PNGs.
- `data.labels`: label rows (one-hot, labels files, subfolder classes, `.labels` files).
- `data.writer`: `TFRecordExporter` and the threaded `write_dataset` / `write_arrays`.
- `data.sources`: the `create_*` builders behind `dataset_tool.py` (image folders, MNIST, ...).
- `data.reader`: `TFRecordDataset`, the tf.data reader used by training and the metrics.
- `data.inspection`: `info` / `display` / `extract` / `compare` of `dataset_tool.py`.

This package depends only on the `tf_stylegan` library (files, images, errors, progress), numpy,
TensorFlow, PIL and the optional source libraries; `training/` and `metrics/` import it.
"""
