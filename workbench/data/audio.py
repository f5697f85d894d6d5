"""Audio fields: WAV reading and writing, resampling, fixed duration and log-mel spectrograms.

WAV is parsed here (integer PCM of 8-32 bits and float, plain or WAVE_FORMAT_EXTENSIBLE),
since the standard ``wave`` module of Python 3.11 rejects float files. FLAC and other
formats go through ``soundfile`` when that optional package is installed.
"""

from __future__ import annotations

import functools
import math
import struct
from pathlib import Path

import numpy as np
import torch

_PCM = 1
_FLOAT = 3
_EXTENSIBLE = 0xFFFE


class AudioError(ValueError):
    """A file that cannot be read as audio; the message says why."""


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """``(samples, sample_rate)``: float32 samples in [-1, 1], shape (frames, channels)."""
    path = Path(path)
    if path.suffix.lower() == ".wav":
        return _read_wav(path.read_bytes())
    try:
        import soundfile
    except ImportError:
        raise AudioError(f"{path.suffix} audio needs the optional 'soundfile' package (pip install soundfile); or convert it to .wav") from None
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises its own error types for every kind of bad file
        raise AudioError(f"cannot read audio: {exc}") from None
    return samples, int(rate)


def _read_wav(data: bytes) -> tuple[np.ndarray, int]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("not a WAV file (no RIFF/WAVE header)")
    position, fmt, payload = 12, None, None
    while position + 8 <= len(data):
        chunk_id, size = data[position : position + 4], struct.unpack_from("<I", data, position + 4)[0]
        body = data[position + 8 : position + 8 + size]
        if chunk_id == b"fmt ":
            fmt = body
        elif chunk_id == b"data":
            payload = body
            if len(body) < size:
                raise AudioError(f"WAV data is truncated ({len(body)} of {size} bytes)")
            break
        position += 8 + size + (size & 1)  # chunks are padded to even sizes
    if fmt is None or len(fmt) < 16 or payload is None:
        raise AudioError("WAV file has no 'fmt ' or 'data' chunk")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack_from("<H", fmt, 24)[0]  # the sub-format GUID starts with the real tag
    if channels == 0 or rate == 0 or block_align == 0:
        raise AudioError("WAV header has zero channels, rate or block size")
    width = bits // 8
    if width == 0 or block_align < channels * width:
        raise AudioError(f"WAV header is inconsistent ({channels} channels of {bits} bits in {block_align}-byte frames)")
    frames = len(payload) // block_align
    if frames == 0:
        raise AudioError("WAV file holds no audio frames")
    raw = np.frombuffer(payload[: frames * block_align], dtype=np.uint8).reshape(frames, block_align)
    raw = raw[:, : channels * width].reshape(frames, channels, width)
    if tag == _FLOAT and bits in (32, 64):
        samples = raw.reshape(frames, channels * width).copy().view(f"<f{width}").astype(np.float32)
    elif tag == _PCM and bits == 8:
        samples = (raw[..., 0].astype(np.float32) - 128.0) / 128.0  # 8-bit WAV is unsigned
    elif tag == _PCM and bits in (16, 24, 32):
        # Place the little-endian bytes at the top of an int32 so that every width scales alike.
        padded = np.zeros((frames, channels, 4), dtype=np.uint8)
        padded[..., 4 - width :] = raw
        samples = padded.view("<i4")[..., 0].astype(np.float32) / 2.0**31
    else:
        raise AudioError(f"unsupported WAV encoding (format tag {tag}, {bits} bits)")
    return np.ascontiguousarray(samples.reshape(frames, channels)), int(rate)


def encode_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV bytes for float samples in [-1, 1], shape (frames,) or (frames, channels)."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim == 1:
        samples = samples[:, None]
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    channels = samples.shape[1]
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16, _PCM, channels,
        sample_rate, sample_rate * channels * 2, channels * 2, 16, b"data", len(pcm),
    )  # fmt: skip
    return header + pcm


def resample(signal: torch.Tensor, source_rate: int, target_rate: int) -> torch.Tensor:
    """Band-limited resampling of a 1-D signal by cutting or extending its spectrum."""
    if source_rate == target_rate or signal.numel() == 0:
        return signal
    n_in = signal.numel()
    n_out = max(1, round(n_in * target_rate / source_rate))
    spectrum = torch.fft.rfft(signal.double())
    resized = torch.zeros(n_out // 2 + 1, dtype=spectrum.dtype)
    keep = min(spectrum.numel(), resized.numel())
    resized[:keep] = spectrum[:keep]
    return (torch.fft.irfft(resized, n=n_out) * (n_out / n_in)).float()


@functools.cache
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters, evenly spaced on the HTK mel scale up to Nyquist."""

    def to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def to_hz(mel: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)

    bin_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = to_hz(np.linspace(0.0, to_mel(np.array(sample_rate / 2)), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bin_hz[None, :] - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - bin_hz[None, :]) / np.maximum(upper - centre, 1e-9)
    return torch.from_numpy(np.maximum(0.0, np.minimum(rising, falling))).float()


class LogMel:
    """Mono waveform -> fixed-size log-mel spectrogram: 25 ms windows every 10 ms."""

    def __init__(self, sample_rate: int, seconds: float, n_mels: int):
        self.sample_rate = sample_rate
        self.n_samples = max(1, round(sample_rate * seconds))
        self.n_mels = n_mels
        self.n_fft = max(16, round(0.025 * sample_rate))
        self.hop = max(1, round(0.010 * sample_rate))

    @property
    def frames(self) -> int:
        return 1 + self.n_samples // self.hop  # torch.stft with center=True

    def waveform(self, samples: np.ndarray, rate: int) -> torch.Tensor:
        """Mono, resampled, cropped or zero-padded (at the end) to the fixed duration."""
        samples = np.asarray(samples, dtype=np.float32)
        mono = torch.from_numpy(samples.mean(axis=1) if samples.ndim == 2 else samples)
        mono = resample(mono, rate, self.sample_rate)[: self.n_samples]
        return torch.nn.functional.pad(mono, (0, self.n_samples - mono.numel()))

    def __call__(self, samples: np.ndarray, rate: int) -> torch.Tensor:
        """float32 (n_mels, frames)."""
        window = torch.hann_window(self.n_fft)
        spectrum = torch.stft(
            self.waveform(samples, rate), self.n_fft, self.hop, window=window, center=True, return_complex=True
        )
        mel = mel_filterbank(self.sample_rate, self.n_fft, self.n_mels) @ spectrum.abs().pow(2)
        return torch.log(mel + 1e-6)


def tone(frequencies: list[float], seconds: float, sample_rate: int, rng: np.random.Generator, noise: float) -> np.ndarray:
    """A short sum of decaying sine tones plus white noise (the sample dataset's sounds)."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    envelope = np.exp(-3.0 * t / seconds)
    wave = sum(np.sin(2 * math.pi * f * t + rng.uniform(0, 2 * math.pi)) for f in frequencies) / max(1, len(frequencies))
    return 0.6 * envelope * wave + noise * rng.standard_normal(t.size)
