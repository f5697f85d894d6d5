"""Image, audio and array pipelines, and the serialisable preprocessing that applies them."""

from __future__ import annotations

import json
import struct
import sys

import numpy as np
import pytest
import torch
from data_builders import make_cfg, write_class_folders, write_wav
from PIL import Image

import workbench.data.preprocessing as preprocessing_module
from workbench.data import check_dataset, prepare_data
from workbench.data.audio import AudioError, LogMel, encode_wav, mel_filterbank, read_audio, resample
from workbench.data.image import augment_uint8, decode_uint8
from workbench.data.preprocessing import AudioProcessor, Preprocessing, describe_inputs
from workbench.errors import WorkbenchError


@pytest.mark.parametrize(
    ("mode", "value"),
    [("L", 128), ("RGBA", (10, 20, 30, 255)), ("P", 3), ("CMYK", (0, 255, 0, 0)), ("I;16", 65535), ("I", 30000), ("1", 1), ("F", 0.5)],
)
def test_any_mode_becomes_rgb_uint8(tmp_path, mode, value):
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I", "F") else "x.png")
    Image.new(mode, (10, 6), value).save(path)
    array = decode_uint8(path, 4, grayscale=False, max_pixels=10_000)
    assert array.shape == (4, 4, 3) and array.dtype == np.uint8


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    Image.new("I;16", (4, 4), 32896).save(tmp_path / "x.png")
    assert decode_uint8(tmp_path / "x.png", 4, grayscale=True, max_pixels=100)[0, 0, 0] == 128


def test_transparent_pixels_become_white_and_grayscale_keeps_one_channel(tmp_path):
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(tmp_path / "x.png")
    assert decode_uint8(tmp_path / "x.png", 4, grayscale=False, max_pixels=100).min() == 255
    assert decode_uint8(tmp_path / "x.png", 4, grayscale=True, max_pixels=100).shape == (4, 4, 1)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (8, 4), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 4, 4))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    image.save(tmp_path / "x.jpg", exif=exif, quality=95)
    upright = Image.fromarray(decode_uint8(tmp_path / "x.jpg", 4, False, 100))
    assert upright.size == (4, 4)
    top = np.asarray(upright)[0].mean(0)
    assert top[2] > top[0], "after rotation the blue half is on top"


def test_resize_keeps_aspect_by_cropping_the_centre(tmp_path):
    image = Image.new("RGB", (30, 10), (255, 0, 0))
    image.paste((0, 255, 0), (10, 0, 20, 10))  # green middle third
    image.save(tmp_path / "x.png")
    array = decode_uint8(tmp_path / "x.png", 5, False, 1000)
    assert array.shape == (5, 5, 3) and array[..., 1].min() > 200


def test_augmentation_keeps_shape_and_range():
    array = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    out = augment_uint8(array, torch.Generator().manual_seed(0))
    assert out.shape == (3, 8, 8) and 0.0 <= float(out.min()) and float(out.max()) <= 1.0


@pytest.mark.parametrize(("bits", "tag"), [(8, 1), (16, 1), (24, 1), (32, 1), (32, 3)])
def test_wav_formats_read_back(tmp_path, bits, tag):
    rate, values = 8000, np.array([0.0, 0.5, -0.5, 0.25], dtype=np.float64)
    stereo = np.stack([values, -values], axis=1)
    if tag == 3:
        payload = stereo.astype("<f4").tobytes()
    elif bits == 8:
        payload = np.round(stereo * 127 + 128).astype(np.uint8).tobytes()
    else:
        ints = np.round(stereo * (2 ** (bits - 1) - 1)).astype("<i4")
        payload = b"".join(int(v).to_bytes(bits // 8, "little", signed=True) for v in ints.ravel())
    width = bits // 8
    fmt = struct.pack("<HHIIHH", tag, 2, rate, rate * 2 * width, 2 * width, bits)
    data = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"LIST" + struct.pack("<I", 3) + b"abc\0"
    data += b"data" + struct.pack("<I", len(payload)) + payload
    (tmp_path / "x.wav").write_bytes(b"RIFF" + struct.pack("<I", len(data)) + data)
    samples, read_rate = read_audio(tmp_path / "x.wav")
    assert read_rate == rate and samples.shape == (4, 2)
    np.testing.assert_allclose(samples[:, 0], values, atol=1 / 120)
    np.testing.assert_allclose(samples[:, 1], -values, atol=1 / 120)


def test_flac_without_soundfile_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "soundfile", None)  # make "import soundfile" fail
    (tmp_path / "x.flac").write_bytes(b"fLaC....")
    with pytest.raises(AudioError, match="pip install soundfile"):
        read_audio(tmp_path / "x.flac")


def test_resample_keeps_a_tone_and_its_loudness():
    rate = 8000
    t = torch.arange(rate) / rate
    signal = torch.sin(2 * torch.pi * 440 * t)
    up = resample(signal, rate, 16000)
    assert up.numel() == 16000
    spectrum = torch.fft.rfft(up).abs()
    assert int(spectrum.argmax()) == 440  # 1 s of signal: bin k is k Hz
    assert abs(float(up.pow(2).mean()) - 0.5) < 0.01


def test_log_mel_shape_and_fixed_duration():
    mel = LogMel(16000, 1.0, 40)
    short = mel(np.zeros((4000, 2), np.float32), 8000)  # 0.5 s stereo at 8 kHz: resampled, padded
    long = mel(np.random.default_rng(0).standard_normal(48000).astype(np.float32), 16000)  # cropped
    assert short.shape == long.shape == (40, mel.frames) == (40, 101)
    bank = mel_filterbank(16000, 400, 40)
    assert bank.shape == (40, 201) and bool((bank.sum(1) > 0).all())


def test_audio_processor_standardises_and_round_trips(tmp_path):
    paths = [str(write_wav(tmp_path / f"{f}.wav", freq=f)) for f in (300, 600, 900)]
    processor = AudioProcessor(16000, 0.5, 16)
    processor.fit(paths)
    encoded = torch.stack([processor.encode(p) for p in paths])
    assert encoded.shape == (3, 1, 16, 51)
    assert abs(float(encoded.mean())) < 1e-4 and abs(float(encoded.std()) - 1) < 1e-2
    loaded = AudioProcessor.from_dict(json.loads(json.dumps(processor.to_dict())))
    assert torch.allclose(loaded.encode(paths[0]), encoded[0])
    samples, rate = read_audio(paths[1])
    assert torch.allclose(loaded.encode((samples, rate)), encoded[1])


def test_encode_wav_round_trip(tmp_path):
    wave = np.linspace(-1, 1, 50)
    (tmp_path / "x.wav").write_bytes(encode_wav(wave, 22050))
    samples, rate = read_audio(tmp_path / "x.wav")
    assert rate == 22050 and np.allclose(samples[:, 0], wave, atol=1e-4)


def prepared_manifest(tmp_path, rows=8, **overrides):
    """A manifest with every field kind: image, caption file, inline text, sound and a feature vector."""
    lines = ["label,image,caption,note,sound,features"]
    for i in range(rows):
        label = "ab"[i % 2]
        Image.new("RGB", (12, 8), (30 * i, 100 if label == "a" else 200, 50)).save(tmp_path / f"i{i}.png")
        (tmp_path / f"c{i}.txt").write_text(f"{label} caption number {i}", encoding="utf-8")
        write_wav(tmp_path / f"s{i}.wav", freq=200 + 50 * i)
        np.save(tmp_path / f"f{i}.npy", np.arange(5, dtype=np.float64) * i)
        lines.append(f"{label},i{i}.png,c{i}.txt,inline note {i},s{i}.wav,f{i}.npy")
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = make_cfg(tmp_path, image_size=8, audio_seconds=0.25, audio_n_mels=8, val_fraction=0.25, **overrides)
    return prepare_data(cfg, seed=0)


def test_prepared_items_have_every_field(tmp_path):
    data = prepared_manifest(tmp_path)
    item = data.train[0]
    assert item["image"].shape == (3, 8, 8) and item["image"].dtype == torch.float32
    assert item["caption"].dtype == torch.int64 and item["caption"].dim() == 1
    assert item["note"].dtype == torch.int64
    assert item["sound"].shape == (1, 8, 26)
    assert item["features"].shape == (5,) and item["features"].dtype == torch.float32
    assert isinstance(item["label"], int) and item["index"] == data.train.sample_indices[0]
    caption_vocabulary = data.preprocessing.processors["caption"].tokenizer.vocab_size
    note_vocabulary = data.preprocessing.processors["note"].tokenizer.vocab_size
    assert data.preprocessing.input_specs() == {
        "image": {"kind": "image", "channels": 3, "size": 8,
                  "mean": data.preprocessing.processors["image"].mean.flatten().tolist(),
                  "std": data.preprocessing.processors["image"].std.flatten().tolist(),
                  "input_shape": [3, 8, 8], "dtype": "float32"},
        "caption": {"kind": "text", "vocab_size": caption_vocabulary, "max_length": 32, "input_shape": [32],
                    "dtype": "int64"},
        "note": {"kind": "text", "vocab_size": note_vocabulary, "max_length": 32, "input_shape": [32], "dtype": "int64"},
        "sound": {"kind": "audio", "n_mels": 8, "frames": 26, "sample_rate": 16000, "input_shape": [1, 8, 26],
                  "dtype": "float32"},
        "features": {"kind": "array", "shape": [5], "input_shape": [5], "dtype": "float32"},
    }
    for name, spec in data.preprocessing.input_specs().items():  # the shape each sample's tensor has
        assert str(item[name].dtype) == f"torch.{spec['dtype']}", name
        if spec["kind"] != "text":  # text: at most max_length tokens, padded per batch
            assert list(item[name].shape) == spec["input_shape"], name


def test_described_inputs_are_the_fitted_preprocessing_without_its_statistics(tmp_path):
    data = prepared_manifest(tmp_path)
    index, train = data.report.index, data.report.splits["train"]
    cfg = make_cfg(tmp_path, image_size=8, audio_seconds=0.25, audio_n_mels=8, val_fraction=0.25)
    described = describe_inputs(index, train, cfg)
    fitted = data.preprocessing.input_specs()
    assert described["image"] == {**fitted["image"], "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
    assert {name: spec for name, spec in described.items() if name != "image"} == \
        {name: spec for name, spec in fitted.items() if name != "image"}


def test_described_inputs_follow_the_config_and_the_processors(tmp_path, monkeypatch):
    data = prepared_manifest(tmp_path)
    index, train = data.report.index, data.report.splits["train"]
    cfg = make_cfg(tmp_path, image_size=20, audio_seconds=0.25, audio_n_mels=12, text_max_length=5)
    described = describe_inputs(index, train, cfg)
    assert described["image"]["input_shape"] == [3, 20, 20]
    assert described["sound"]["input_shape"][:2] == [1, 12]
    assert described["caption"]["max_length"] == 5 and described["caption"]["input_shape"] == [5]
    # A processor that encodes differently is described differently: the description is the processor's.
    monkeypatch.setattr(preprocessing_module.ImageProcessor, "channels", property(lambda self: 4))
    assert describe_inputs(index, train, cfg)["image"]["input_shape"] == [4, 20, 20]


def test_training_statistics_normalise_the_training_split(tmp_path):
    data = prepared_manifest(tmp_path)
    images = torch.stack([data.train[i]["image"] for i in range(len(data.train))])
    assert images.mean(dim=(0, 2, 3)).abs().max() < 1e-4
    features = torch.stack([data.train[i]["features"] for i in range(len(data.train))])
    assert features[:, 1:].mean(0).abs().max() < 1e-5  # per-feature standardisation of vectors
    assert torch.allclose(features[:, 1:].std(0, unbiased=False), torch.ones(4), atol=1e-4)


def test_preprocessing_round_trips_and_encodes_new_input_like_training(tmp_path):
    data = prepared_manifest(tmp_path)
    saved = json.dumps(data.preprocessing.to_dict(), ensure_ascii=False)
    loaded = Preprocessing.from_dict(json.loads(saved))
    assert loaded.input_specs() == data.preprocessing.input_specs()
    item = data.train[0]
    sample = data.report.index.samples[item["index"]]
    for name in ("image", "sound", "features"):
        assert torch.allclose(loaded.encode(name, sample.values[name]), item[name], atol=1e-6), name
    assert torch.equal(loaded.encode("caption", data.report.index.text(sample, "caption")), item["caption"])
    assert torch.equal(loaded.encode("note", sample.values["note"]), item["note"])
    with Image.open(sample.values["image"]) as image:
        assert torch.allclose(loaded.encode("image", image), item["image"], atol=1e-6)
    assert torch.allclose(loaded.encode("features", np.load(sample.values["features"])), item["features"])


def test_preprocessing_save_and_load(tmp_path):
    data = prepared_manifest(tmp_path)
    data.preprocessing.save(tmp_path / "out" / "preprocessing.json")
    loaded = Preprocessing.load(tmp_path / "out" / "preprocessing.json")
    assert loaded.to_dict() == data.preprocessing.to_dict()


def test_grayscale_field_has_one_channel(tmp_path):
    data = prepared_manifest(tmp_path, grayscale=["image"])
    assert data.train[0]["image"].shape == (1, 8, 8)
    assert data.preprocessing.input_specs()["image"]["channels"] == 1


def test_decoded_images_are_cached_within_the_budget(tmp_path, monkeypatch):
    write_class_folders(tmp_path, per_class=4, captions=False)
    data = prepare_data(make_cfg(tmp_path, image_size=8), seed=0)
    calls = []
    real = preprocessing_module.decode_uint8
    monkeypatch.setattr(preprocessing_module, "decode_uint8", lambda *a: calls.append(a) or real(*a))
    for _ in range(2):
        for i in range(len(data.train)):
            data.train[i]
    assert calls == [], "training images were decoded while fitting and come from the cache"
    for i in range(len(data.val)):
        data.val[i]
        data.val[i]
    assert len(calls) == len(data.val), "each validation image is decoded once"
    data.preprocessing.set_cache_budget(0)
    data.train[0]
    data.train[0]
    assert len(calls) == len(data.val) + 2, "without a budget nothing is cached"


def test_unknown_field_is_a_user_error(tmp_path):
    write_class_folders(tmp_path, per_class=3, captions=False)
    data = prepare_data(make_cfg(tmp_path, image_size=8), seed=0)
    with pytest.raises(WorkbenchError, match="unknown field 'depth'"):
        data.preprocessing.encode("depth", "x.npy")


def test_prepare_refuses_an_untrainable_dataset(tmp_path):
    write_class_folders(tmp_path, classes=("only",), per_class=3)
    with pytest.raises(WorkbenchError, match="at least 2 classes"):
        prepare_data(make_cfg(tmp_path), seed=0)


def test_report_is_reused_by_prepare(tmp_path):
    write_class_folders(tmp_path, per_class=3)
    cfg = make_cfg(tmp_path, image_size=8)
    report = check_dataset(tmp_path, cfg, seed=0)
    data = prepare_data(cfg, seed=0, report=report)
    assert data.report is report and data.class_names == ["cat", "dog"]
    assert sorted(data.train.sample_indices + data.val.sample_indices) == list(range(6))
