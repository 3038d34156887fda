"""A record corrupted in the middle of a level file stops training with an error naming it."""

import os

import pytest

from tests.tiny_networks import make_tiny_dataset, tiny_training_config
from training.loop import Trainer


def test_corrupt_record_names_the_file(tmp_path):
    make_tiny_dataset(tmp_path / "tiny")
    path = os.path.join(tmp_path, "tiny", "tiny-r02.tfrecords")
    data = bytearray(open(path, "rb").read())
    # TFRecord framing: uint64 length, uint32 CRC, payload, uint32 CRC. Flip a payload byte of
    # the third record (the reader checks the first one when it opens the dataset): the
    # framing stays valid, the payload CRC no longer matches.
    offset = 0
    for _ in range(2):
        offset += 16 + int.from_bytes(data[offset:offset + 8], "little")
    length = int.from_bytes(data[offset:offset + 8], "little")
    data[offset + 12 + length // 2] ^= 0xFF
    with open(path, "wb") as f:
        f.write(bytes(data))
    trainer = Trainer(tiny_training_config(tmp_path, "tiny"), progress=False, log=lambda s: None)
    with pytest.raises(ValueError, match=r"tiny-r02.tfrecords: corrupt record.*--verify"):
        trainer.run_steps(8)
