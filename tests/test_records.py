"""The shared feature spec: what the writer encodes, the parser returns."""

import numpy as np
import tensorflow as tf

from data_prep.records import FEATURE_SPEC, ClipMeta, decode_frames, encode_clip, parse_clip


def test_encode_parse_round_trip():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(5, 16, 12, 3), dtype=np.uint8)
    frames[:] = frames[:, :1, :1]  # flat colours survive JPEG almost exactly
    meta = ClipMeta(label=1, video_id="000_003", dataset="ffpp", method="Deepfakes",
                    split="train", source_path="/x/000_003.mp4", clip_index=2,
                    frame_indices=[10, 11, 12, 13, 14])
    parsed = parse_clip(tf.constant(encode_clip(frames, meta)))
    assert set(parsed) == set(FEATURE_SPEC)
    assert int(parsed["label"]) == 1 and int(parsed["num_frames"]) == 5
    assert parsed["video_id"].numpy() == b"000_003"
    assert list(parsed["frame_indices"].numpy()) == [10, 11, 12, 13, 14]
    decoded = decode_frames(parsed["frames"]).numpy()
    assert decoded.shape == (5, 16, 12, 3)
    assert np.abs(decoded.astype(int) - frames.astype(int)).max() <= 3
