#!/usr/bin/env python3
"""Generate librosa reference fixtures for Kindred's Rust feature-parity tests.

This script is the single source of truth for the files under
``engine/tests/data/librosa/``.  It computes, with librosa 1.0.0 (pinned with all
its dependencies in ``scripts/requirements.txt``), the signal front end of
``shared/SPEC.md`` section 1 on one 3 s window (66 150 samples at 22 050 Hz) per
signal, and writes them as ``.npy`` files that the Rust tests load and compare
against the engine's own implementation.

Usage
-----
::

    ~/.pyenv/versions/3.12.1/bin/python -m venv .venv
    .venv/bin/pip install -r scripts/requirements.txt
    .venv/bin/python scripts/librosa_fixtures.py              # regenerate all fixtures
    .venv/bin/python scripts/librosa_fixtures.py --check      # only load back and verify
    .venv/bin/python scripts/librosa_fixtures.py --refresh-sources [--deb-root DIR]
        # re-cut the real-music excerpts (source.ogg) from the Debian packages

Without ``--refresh-sources`` the committed ``source.ogg`` excerpts are reused, so
regenerating the fixtures needs neither the network nor the Debian packages.  With
it, the original files are read from ``--deb-root`` (default
``/tmp/kindred-debs/root``); if they are missing there the script runs
``apt-get download <pkg>=<version>`` and ``dpkg-deb -x`` into that directory (never
into the repository).  Note that libsndfile gives every new Ogg stream a random
serial number, so re-encoding changes the bytes of ``source.ogg`` (not its decoded
samples); this is why the excerpts are only re-cut on request.

Layout (one directory per signal)
---------------------------------
``<signal>/audio.npy``     float32 [66150]    exact 22 050 Hz mono input samples
``<signal>/power.npy``     float32 [257, 259] ``|stft|**2`` (only sines, noise, by_product)
``<signal>/mel.npy``       float32 [128, 259] ``log10(1 + 10 * melspectrogram(S=power))``
``<signal>/chroma.npy``    float32 [12, 259]  ``chroma_stft(S=power, tuning=0.0)``
``<signal>/cens.npy``      float32 [12, 259]  librosa's CENS post-processing of ``chroma``
``<signal>/onset.npy``     float32 [259]      ``onset_strength(S=power_to_db(mel_power))``
``<signal>/tempogram.npy`` float32 [384, 259] ``tempogram(onset_envelope=onset, win_length=384)``
``<recording>/source.ogg``  6 s excerpt of a real recording at its native rate and
                            channel count (Ogg Vorbis), plus ``COPYING.txt``.
``manifest.json``           signals, descriptions, files (shape, dtype, sha256),
                            parameters, library versions, provenance and licences.

Exact calls (P = power, M = mel power), all with sr=22050, n_fft=512, hop=256::

    P = np.abs(librosa.stft(y, n_fft=512, hop_length=256, window="hann",
                            center=True, pad_mode="constant")) ** 2
    M = librosa.feature.melspectrogram(S=P, sr=22050, n_fft=512, hop_length=256,
                                       n_mels=128, htk=False, norm="slaney")
    mel = np.log10(1 + 10 * M)
    chroma = librosa.feature.chroma_stft(S=P, sr=22050, n_fft=512, hop_length=256,
                                         tuning=0.0)
    cens = cens_from_chroma(chroma)          # see below
    onset = librosa.onset.onset_strength(
        S=librosa.power_to_db(M, ref=1.0, amin=1e-10, top_db=80.0),
        sr=22050, hop_length=256, n_fft=512)
    tempogram = librosa.feature.tempogram(onset_envelope=onset, sr=22050,
                                          hop_length=256, win_length=384)

Every window is computed independently (its own STFT with centre zero padding,
its own ``top_db`` reference, its own onset/tempogram padding).  All arithmetic is
librosa's own dtype path (float32 input samples -> complex64 STFT -> float32
power, mel, chroma, CENS, onset); the one exception is the tempogram, which
librosa computes in float64 (its float64 Hann window promotes the float32 onset
envelope before the autocorrelation) and which is stored rounded to float32.

librosa 1.0.0 facts verified in its source (and asserted at run time below)
--------------------------------------------------------------------------
* ``stft``: ``pad_mode`` defaults to ``"constant"`` (zero padding) with
  ``center=True``; 66 150 samples give 1 + 66150 // 256 = 259 frames.
* ``chroma_cens(C=...)``: ``C`` is a *constant-Q spectrogram*, not a chromagram;
  it is routed through ``chroma_cqt`` (``cq_to_chroma`` folding, ``threshold``,
  ``norm=None``).  So passing our STFT chroma as ``C`` is not the documented
  meaning, and we **replicate the internals** (``cens_from_chroma``): L1 norm per
  frame (``util.normalize(norm=1)``), quantise with thresholds 0.4/0.2/0.1/0.05 and
  weights 0.25 (strict ``>``), smooth with ``filters.get_window("hann", 41 + 2,
  fftbins=False)`` normalised to sum 1 using ``scipy.ndimage.convolve(...,
  mode="constant")`` along time, L2 norm per frame.  As a cross-check, the script
  also calls ``chroma_cens(C=chroma, bins_per_octave=12, n_octaves=1)``: with 12
  input bins starting at C1 ``cq_to_chroma`` is exactly the float32 identity, so
  that route must agree bit for bit, and the script asserts it does.
* ``onset_strength(..., n_fft=512)``: ``n_fft`` is forwarded through ``**kwargs``
  to ``onset_strength_multi``, whose centring pad is ``lag + n_fft // (2 *
  hop_length)`` = 1 + 1 = 2 leading zero frames, then trimmed to ``S.shape[-1]`` =
  259 frames.  (The default ``n_fft=2048`` would give 1 + 4 = 5.)  The script
  re-derives the envelope by hand (flux ``max(0, S[:, t] - S[:, t-1])``, mean over
  bands, 2 leading zeros, trim) and asserts equality.
* ``power_to_db(ref=1.0, amin=1e-10, top_db=80)``: ``10*log10(max(amin, S)) -
  10*log10(max(amin, ref))``, then ``max(log_spec, log_spec.max() - top_db)`` with
  the maximum taken over the whole window (silence -> -100 dB everywhere).
* ``tempogram``: Hann analysis window of 384 with ``fftbins=True`` (periodic);
  ``center=True`` pads ``win_length // 2`` = 192 frames on each side with
  ``np.pad(mode="linear_ramp", end_values=[0, 0])`` (a linear ramp from the edge
  value down to 0, *not* zeros: with W = 192 and edge value e, right pad k = 0..W-1
  is e*(W-1-k)/W, the padded array keeping the float32 dtype; the left edge is
  always 0 because of the onset's leading zeros, so the left pad is zeros; zero
  padding instead would change the tempogram by up to 0.36 on the noise fixture
  and about 0.2 on the recordings), frames with hop 1, keeps the first 259 frames,
  multiplies by the window, autocorrelates with ``scipy.fft.rfft/irfft`` at
  ``next_fast_len(2*384-1) = 768`` points, keeps lags 0..383, then max-norm per
  frame.
* ``util.normalize`` (used by chroma, CENS and tempogram): the norm is computed in
  float64 (``np.abs(S).astype(float)``) and the division result is stored in the
  input dtype (float32); frames whose norm is below ``threshold = tiny(S)`` (for
  float32 input 1.1754944e-38) are left *un-normalised* (``fill=None``), so an
  all-zero frame stays all zero.  ``chroma_stft`` uses ``norm=inf`` (max-norm) and
  the chroma filter bank ``filters.chroma(ctroct=5.0, octwidth=2, norm=2,
  base_c=True)``.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy
import scipy.fft
import scipy.ndimage
import scipy.signal
import soundfile as sf

import librosa

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "engine" / "tests" / "data" / "librosa"

SR = 22050
N_FFT = 512
HOP = 256
N_MELS = 128
WINDOW_SAMPLES = 3 * SR  # 66150
N_FRAMES = 1 + WINDOW_SAMPLES // HOP  # 259
TEMPOGRAM_WIN = 384
CENS_WIN_LEN_SMOOTH = 41
ONSET_LEADING_ZEROS = 1 + N_FFT // (2 * HOP)  # lag + centring = 2
SIZE_LIMIT_BYTES = 9_500_000

# Signals that also get power.npy (to keep the fixtures small).
WITH_POWER = {"sines", "noise", "by_product"}

EXPECTED_SHAPES = {
    "audio.npy": (WINDOW_SAMPLES,),
    "power.npy": (N_FFT // 2 + 1, N_FRAMES),
    "mel.npy": (N_MELS, N_FRAMES),
    "chroma.npy": (12, N_FRAMES),
    "cens.npy": (12, N_FRAMES),
    "onset.npy": (N_FRAMES,),
    "tempogram.npy": (TEMPOGRAM_WIN, N_FRAMES),
}


# --------------------------------------------------------------------------
# Synthetic signals (each exactly one 3 s window, float32, 22 050 Hz)
# --------------------------------------------------------------------------

def _t() -> np.ndarray:
    return np.arange(WINDOW_SAMPLES, dtype=np.float64) / SR


def sig_silence() -> np.ndarray:
    return np.zeros(WINDOW_SAMPLES, dtype=np.float32)


SINE_FREQS = (220.0, 440.0 * 2.0 ** (4.0 / 12.0), 1000.0)


def sig_sines() -> np.ndarray:
    t = _t()
    y = sum(0.3 * np.sin(2.0 * np.pi * f * t) for f in SINE_FREQS)
    return y.astype(np.float32)


def sig_chirp() -> np.ndarray:
    y = librosa.chirp(fmin=50.0, fmax=8000.0, sr=SR, length=WINDOW_SAMPLES, linear=False)
    return (0.5 * y).astype(np.float32)


def sig_noise() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(-0.5, 0.5, WINDOW_SAMPLES).astype(np.float32)


CLICK_BPM = 123.0


def sig_clicks() -> np.ndarray:
    times = np.arange(0.0, WINDOW_SAMPLES / SR, 60.0 / CLICK_BPM)
    y = librosa.clicks(times=times, sr=SR, length=WINDOW_SAMPLES)
    return y.astype(np.float32)


# C major, F major, G major, C major triads (MIDI), each with the root an octave down.
CHORDS = (
    ("C", (48, 60, 64, 67)),
    ("F", (53, 65, 69, 72)),
    ("G", (55, 67, 71, 74)),
    ("C", (48, 60, 64, 67)),
)
CHORD_SECONDS = 0.75
N_PARTIALS = 4


def sig_chords() -> np.ndarray:
    seg = int(round(CHORD_SECONDS * SR))  # 16537.5 -> 16538; last segment trimmed
    y = np.zeros(WINDOW_SAMPLES, dtype=np.float64)
    fade = int(0.01 * SR)
    env = np.ones(seg)
    env[:fade] = np.linspace(0.0, 1.0, fade)
    env[-fade:] = np.linspace(1.0, 0.0, fade)
    t = np.arange(seg) / SR
    for i, (_, notes) in enumerate(CHORDS):
        start = i * seg
        tone = np.zeros(seg)
        for m in notes:
            f0 = 440.0 * 2.0 ** ((m - 69) / 12.0)
            for k in range(1, N_PARTIALS + 1):
                if k * f0 < SR / 2:
                    tone += np.sin(2.0 * np.pi * k * f0 * t) / k
        tone *= env
        stop = min(start + seg, WINDOW_SAMPLES)
        y[start:stop] += tone[: stop - start]
    y *= 0.8 / np.max(np.abs(y))
    return y.astype(np.float32)


def sig_clipped() -> np.ndarray:
    y = np.clip(3.0 * np.sin(2.0 * np.pi * 440.0 * _t()), -1.0, 1.0)
    return y.astype(np.float32)


SYNTHETIC = {
    "silence": (sig_silence, "all zeros"),
    "sines": (sig_sines, "sum of sines at 220 Hz, 440*2^(4/12) Hz (C#5, 554.37 Hz) and "
              "1000 Hz, amplitude 0.3 each, phase 0 (computed in float64, stored float32)"),
    "chirp": (sig_chirp, "logarithmic chirp 50 Hz -> 8 kHz over 3 s, "
              "0.5 * librosa.chirp(fmin=50, fmax=8000, sr=22050, length=66150, linear=False)"),
    "noise": (sig_noise, "white noise, numpy.random.default_rng(0).uniform(-0.5, 0.5, 66150)"),
    "clicks": (sig_clicks, "librosa.clicks(times=arange(0, 3, 60/123), sr=22050, length=66150): "
               "1 kHz 0.1 s clicks at 123 BPM, first click at t=0"),
    "chords": (sig_chords, "chord progression C-F-G-C (root an octave below + triad, "
               "4 harmonic partials with 1/k amplitudes), 0.75 s each (16538 samples, last "
               "trimmed), 10 ms linear fades, peak-normalised to 0.8"),
    "clipped": (sig_clipped, "clip(3 * sin(2*pi*440*t), -1, 1): hard-clipped full-scale 440 Hz"),
}


# --------------------------------------------------------------------------
# Real recordings (Debian packages listed in shared/REAL-MUSIC.md)
# --------------------------------------------------------------------------

REAL = {
    "by_product": {
        "description": "Endgame: Singularity soundtrack, 'By-Product' by Max McCracken "
                       "(ambient electronic), 6 s excerpt from 30 s",
        "style": "ambient electronic",
        "package": "singularity-music",
        "package_version": "007-2",
        "path_in_package": "usr/share/games/singularity/music/By-Product.ogg",
        "licence": "CC-BY-SA-3.0",
        "attribution": "\"By-Product\" by Max McCracken, (C) 2007-2008, 2012 Max McCracken, "
                       "from Endgame: Singularity (Debian package singularity-music 007-2), "
                       "licensed CC BY-SA 3.0. Modified: 6 s excerpt (30 s - 36 s), "
                       "re-encoded to Ogg Vorbis.",
        "copying_files": ["usr/share/doc/singularity-music/copyright",
                          "usr/share/doc/singularity-music/README"],
        "excerpt_start_s": 30.0,
        "excerpt_duration_s": 6.0,
    },
    "drascula_track2": {
        "description": "Drascula: The Vampire Strikes Back music pack, track 2 "
                       "(90s adventure-game synth score), 6 s excerpt from 30 s",
        "style": "90s adventure-game synth score",
        "package": "drascula-music",
        "package_version": "1.0+ds4-2",
        "path_in_package": "usr/share/scummvm/drascula/audio/track2.ogg",
        "licence": "Drascula-License (BSD-like, DFSG-free; see COPYING.txt)",
        "attribution": "Drascula: The Vampire Strikes Back (Music Pack), track 2, "
                       "Copyright (C) 1996-2008 Alcachofa Soft S.L. (Debian package "
                       "drascula-music 1.0+ds4-2). This is a MODIFIED version: a 6 s excerpt "
                       "(30 s - 36 s) re-encoded to Ogg Vorbis.",
        "copying_files": ["usr/share/doc/drascula-music/copyright",
                          "usr/share/doc/drascula-music/readme_audio.txt"],
        "excerpt_start_s": 30.0,
        "excerpt_duration_s": 6.0,
    },
}


def ensure_deb(deb_root: Path, package: str, version: str, path_in_package: str) -> Path:
    """Return the original file, downloading/extracting the .deb into deb_root if needed."""
    target = deb_root / path_in_package
    if target.exists():
        return target
    deb_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=tmp, check=True)
        debs = list(Path(tmp).glob(f"{package}_*.deb"))
        if len(debs) != 1:
            raise RuntimeError(f"apt-get download {package}={version} gave {debs}")
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(deb_root)], check=True)
    if not target.exists():
        raise FileNotFoundError(target)
    return target


def cut_source(name: str, meta: dict, deb_root: Path) -> None:
    """Cut the excerpt at native rate/channels into <name>/source.ogg + COPYING.txt."""
    orig = ensure_deb(deb_root, meta["package"], meta["package_version"], meta["path_in_package"])
    for rel in meta["copying_files"]:
        ensure_deb(deb_root, meta["package"], meta["package_version"], rel)
    info = sf.info(str(orig))
    sr = info.samplerate
    start = int(round(meta["excerpt_start_s"] * sr))
    frames = int(round(meta["excerpt_duration_s"] * sr))
    data, _ = sf.read(str(orig), start=start, frames=frames, dtype="float32", always_2d=True)
    assert data.shape == (frames, info.channels), data.shape
    d = OUT_DIR / name
    d.mkdir(parents=True, exist_ok=True)
    sf.write(str(d / "source.ogg"), data, sr, format="OGG", subtype="VORBIS")
    parts = [
        f"Excerpt used as a test fixture by Kindred: {meta['attribution']}\n",
        f"Original file: {meta['path_in_package']} in Debian package "
        f"{meta['package']} {meta['package_version']}.\n",
        "The original copyright and licence files of the package follow, unchanged.\n",
    ]
    for rel in meta["copying_files"]:
        parts.append(f"\n===== {rel} =====\n")
        parts.append((deb_root / rel).read_text(encoding="utf-8"))
    (d / "COPYING.txt").write_text("".join(parts), encoding="utf-8")


def load_real(name: str) -> tuple[np.ndarray, dict]:
    """Decode source.ogg, downmix (mean of channels), resample to 22 050 Hz (soxr_hq)."""
    path = OUT_DIR / name / "source.ogg"
    info = sf.info(str(path))
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)  # [frames, channels]
    y = librosa.to_mono(data.T)  # mean over channels, float32
    y = librosa.resample(y, orig_sr=sr, target_sr=SR, res_type="soxr_hq")
    assert y.dtype == np.float32, y.dtype
    if y.shape[0] < WINDOW_SAMPLES:
        raise RuntimeError(f"{name}: only {y.shape[0]} samples after resampling")
    window = np.ascontiguousarray(y[:WINDOW_SAMPLES])
    extra = {
        "source_file": "source.ogg",
        "source_sample_rate": int(sr),
        "source_channels": int(info.channels),
        "source_frames": int(data.shape[0]),
        "source_format": f"{info.format} / {info.subtype} (libsndfile {sf.__libsndfile_version__})",
        "pipeline": "soundfile.read(source.ogg, dtype='float32') -> librosa.to_mono (mean of "
                    "channels) -> librosa.resample(orig_sr, 22050, res_type='soxr_hq') -> "
                    "first 66150 samples",
        "resampled_length": int(y.shape[0]),
    }
    return window, extra


# --------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------

def cens_from_chroma(chroma: np.ndarray, win_len_smooth: int = CENS_WIN_LEN_SMOOTH) -> np.ndarray:
    """librosa.feature.chroma_cens's post-processing (librosa 1.0.0), verbatim, on a given chroma.

    chroma_cens(C=...) takes a constant-Q spectrogram, so the steps after its
    ``chroma_cqt`` call are replicated here line for line.
    """
    chroma = librosa.util.normalize(chroma, norm=1, axis=-2)
    quant_steps = [0.4, 0.2, 0.1, 0.05]
    quant_weights = [0.25, 0.25, 0.25, 0.25]
    chroma_quant = np.zeros_like(chroma)
    for step, weight in zip(quant_steps, quant_weights):
        chroma_quant += (chroma > step) * weight
    win = librosa.filters.get_window("hann", win_len_smooth + 2, fftbins=False)
    win /= np.sum(win)
    win = librosa.util.expand_to(win, ndim=chroma_quant.ndim, axes=-1)
    cens = scipy.ndimage.convolve(chroma_quant, win, mode="constant")
    return librosa.util.normalize(cens, norm=2, axis=-2)


def compute_features(y: np.ndarray) -> dict[str, np.ndarray]:
    """All front-end features for one 66 150-sample window (see module docstring)."""
    assert y.dtype == np.float32 and y.shape == (WINDOW_SAMPLES,)
    assert inspect.signature(librosa.stft).parameters["pad_mode"].default == "constant"
    P = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP, window="hann",
                            center=True, pad_mode="constant")) ** 2
    M = librosa.feature.melspectrogram(S=P, sr=SR, n_fft=N_FFT, hop_length=HOP,
                                       n_mels=N_MELS, htk=False, norm="slaney")
    mel = np.log10(1 + 10 * M)
    chroma = librosa.feature.chroma_stft(S=P, sr=SR, n_fft=N_FFT, hop_length=HOP, tuning=0.0)
    cens = cens_from_chroma(chroma)
    S_db = librosa.power_to_db(M, ref=1.0, amin=1e-10, top_db=80.0)
    onset = librosa.onset.onset_strength(S=S_db, sr=SR, hop_length=HOP, n_fft=N_FFT)
    tempogram = librosa.feature.tempogram(onset_envelope=onset, sr=SR, hop_length=HOP,
                                          win_length=TEMPOGRAM_WIN)

    # --- cross-checks of the librosa facts claimed in the docstring -------
    # CENS through librosa's own entry point with an identity "CQT" (12 bins from C1).
    cq = librosa.filters.cq_to_chroma(12, bins_per_octave=12, n_chroma=12)
    assert np.array_equal(cq, np.eye(12)), "cq_to_chroma(12 bins) is not the identity"
    cens_lib = librosa.feature.chroma_cens(C=chroma, sr=SR, hop_length=HOP,
                                           bins_per_octave=12, n_octaves=1, n_chroma=12)
    assert cens_lib.dtype == cens.dtype and np.array_equal(cens_lib, cens), \
        "replicated CENS differs from chroma_cens(C=identity-mapped chroma)"
    # Onset: explicit flux, 2 leading zeros (lag 1 + n_fft // (2 * hop)), trim to 259.
    flux = np.maximum(0.0, S_db[:, 1:] - S_db[:, :-1]).mean(axis=0)
    manual = np.concatenate([np.zeros(ONSET_LEADING_ZEROS, dtype=flux.dtype), flux])[:N_FRAMES]
    assert np.allclose(onset, manual, rtol=1e-6, atol=1e-6 * max(1.0, float(np.abs(manual).max()))), \
        "onset_strength does not match explicit flux with 2 leading frames"

    # Tempogram: explicit linear_ramp padding (192 frames each side, ramping to 0),
    # periodic Hann(384), autocorrelation via rfft/irfft, lags 0..383, max-norm.
    half = TEMPOGRAM_WIN // 2
    padded = np.pad(onset, (half, half), mode="linear_ramp", end_values=(0, 0))
    frames = np.lib.stride_tricks.sliding_window_view(padded, TEMPOGRAM_WIN)[:N_FRAMES].T
    hann = scipy.signal.get_window("hann", TEMPOGRAM_WIN, fftbins=True)
    x = frames * hann[:, None]
    ac = scipy.fft.irfft(np.abs(scipy.fft.rfft(x, n=768, axis=0)) ** 2, n=768, axis=0)
    ac = ac[:TEMPOGRAM_WIN]
    peak = np.max(np.abs(ac), axis=0, keepdims=True)
    ac = ac / np.where(peak < np.finfo(ac.dtype).tiny, 1.0, peak)
    assert np.allclose(tempogram, ac, rtol=0, atol=1e-9), "tempogram replication failed"

    feats = {"power": P, "mel": mel, "chroma": chroma, "cens": cens,
             "onset": onset, "tempogram": tempogram}
    for k, v in feats.items():
        # librosa's tempogram is float64: its Hann window (get_window) is float64, so
        # ``odf_frame * ac_window`` promotes the float32 onset envelope.  It is stored as
        # float32 like everything else; all other features are float32 already.
        expected = np.float64 if k == "tempogram" else np.float32
        assert v.dtype == expected, (k, v.dtype)
        assert np.all(np.isfinite(v)), k
    return feats


# --------------------------------------------------------------------------
# Writing, manifest, verification
# --------------------------------------------------------------------------

def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_signal(name: str, y: np.ndarray) -> list[str]:
    d = OUT_DIR / name
    d.mkdir(parents=True, exist_ok=True)
    feats = compute_features(y)
    arrays = {"audio": y}
    arrays.update(feats)
    if name not in WITH_POWER:
        arrays.pop("power")
    written = []
    for key, arr in arrays.items():
        fname = f"{key}.npy"
        np.save(d / fname, np.ascontiguousarray(arr, dtype=np.float32), allow_pickle=False)
        written.append(fname)
    for stale in ("power.npy",):
        if stale not in written and (d / stale).exists():
            (d / stale).unlink()
    return written


def file_entries(name: str, files: list[str]) -> dict:
    d = OUT_DIR / name
    out = {}
    for f in files:
        p = d / f
        entry = {"bytes": p.stat().st_size, "sha256": sha256(p)}
        if f.endswith(".npy"):
            a = np.load(p, allow_pickle=False)
            entry.update({"shape": list(a.shape), "dtype": str(a.dtype)})
        out[f] = entry
    return out


def versions() -> dict:
    import numba
    import soxr
    return {
        "python": platform.python_version(),
        "librosa": librosa.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "soxr": soxr.__version__,
        "soundfile": sf.__version__,
        "libsndfile": sf.__libsndfile_version__,
        "numba": numba.__version__,
    }


PARAMETERS = {
    "sample_rate": SR,
    "window_samples": WINDOW_SAMPLES,
    "windowing": "one 3 s window per signal, starting at sample 0; each computed independently",
    "n_frames": N_FRAMES,
    "stft": "np.abs(librosa.stft(y, n_fft=512, hop_length=256, window='hann', center=True, "
            "pad_mode='constant'))**2",
    "mel": "np.log10(1 + 10*M), M = librosa.feature.melspectrogram(S=P, sr=22050, n_fft=512, "
           "hop_length=256, n_mels=128, htk=False, norm='slaney')",
    "chroma": "librosa.feature.chroma_stft(S=P, sr=22050, n_fft=512, hop_length=256, tuning=0.0)",
    "cens": "librosa.feature.chroma_cens post-processing replicated on chroma (L1 norm, quantise "
            "> 0.4/0.2/0.1/0.05 with weights 0.25, hann(43, fftbins=False)/sum convolved along "
            "time with scipy.ndimage.convolve mode='constant', L2 norm); bit-identical to "
            "chroma_cens(C=chroma, bins_per_octave=12, n_octaves=1, n_chroma=12)",
    "onset": "librosa.onset.onset_strength(S=librosa.power_to_db(M, ref=1.0, amin=1e-10, "
             "top_db=80.0), sr=22050, hop_length=256, n_fft=512); 2 leading zero frames",
    "tempogram": "librosa.feature.tempogram(onset_envelope=onset, sr=22050, hop_length=256, "
                 "win_length=384) (center=True with linear_ramp padding to 0, window='hann' "
                 "periodic, norm=inf)",
    "power_files_only_for": sorted(WITH_POWER),
}


def verify(manifest: dict) -> None:
    """Load every fixture back and check shapes, dtypes, hashes and a few invariants."""
    for name, sig in manifest["signals"].items():
        d = OUT_DIR / name
        for f, entry in sig["files"].items():
            p = d / f
            assert p.exists(), p
            assert sha256(p) == entry["sha256"], f"{p}: hash mismatch"
            if f.endswith(".npy"):
                a = np.load(p, allow_pickle=False)
                assert a.dtype == np.float32, (p, a.dtype)
                assert a.shape == EXPECTED_SHAPES[f], (p, a.shape)
                assert a.flags.c_contiguous and np.all(np.isfinite(a)), p
        onset = np.load(d / "onset.npy")
        assert np.all(onset[:ONSET_LEADING_ZEROS] == 0.0), (name, onset[:4])
        feats = {k: np.load(d / f"{k}.npy") for k in ("mel", "chroma", "cens", "tempogram")}
        if name == "silence":
            for k, a in feats.items():
                assert np.all(a == 0.0), f"silence/{k} not all zero"
            assert np.all(onset == 0.0)
        else:
            cmax = feats["chroma"].max(axis=0)  # all-zero frames (e.g. between clicks) stay 0
            assert np.allclose(cmax[cmax > 0], 1.0, atol=1e-6), f"{name}: chroma not max-normed"
            n2 = np.linalg.norm(feats["cens"].astype(np.float64), axis=0)
            assert np.allclose(n2[n2 > 0], 1.0, atol=1e-5), f"{name}: cens not L2-normed"
            tg = feats["tempogram"]
            nz = tg.max(axis=0) > 0
            assert np.allclose(tg[0, nz], 1.0, atol=1e-6), f"{name}: tempogram lag 0 != 1"
    clicks_onset = np.load(OUT_DIR / "clicks" / "onset.npy")
    assert clicks_onset[0] == 0.0 and clicks_onset[1] == 0.0 and clicks_onset[2] > 0.0, \
        f"clicks onset should have exactly 2 leading zeros: {clicks_onset[:5]}"
    print("verify: all fixtures load back with the expected shapes/dtypes/hashes; "
          f"clicks onset[:5] = {np.array2string(clicks_onset[:5], precision=3)}")


def total_size() -> int:
    return sum(p.stat().st_size for p in OUT_DIR.rglob("*") if p.is_file())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only verify the existing fixtures")
    ap.add_argument("--refresh-sources", action="store_true",
                    help="re-cut source.ogg excerpts from the Debian packages")
    ap.add_argument("--deb-root", type=Path, default=Path("/tmp/kindred-debs/root"),
                    help="where the Debian packages are (or will be) extracted")
    args = ap.parse_args()

    manifest_path = OUT_DIR / "manifest.json"
    if args.check:
        verify(json.loads(manifest_path.read_text()))
        print(f"total size under {OUT_DIR.relative_to(REPO)}: {total_size()} bytes")
        return 0

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    manifest = {
        "generator": "scripts/librosa_fixtures.py",
        "versions": versions(),
        "parameters": PARAMETERS,
        "signals": {},
    }

    for name, (fn, desc) in SYNTHETIC.items():
        y = fn()
        assert y.dtype == np.float32 and y.shape == (WINDOW_SAMPLES,), name
        files = write_signal(name, y)
        manifest["signals"][name] = {"kind": "synthetic", "description": desc,
                                     "files": file_entries(name, files)}
        print(f"{name}: {', '.join(files)}")

    for name, meta in REAL.items():
        if args.refresh_sources or not (OUT_DIR / name / "source.ogg").exists():
            cut_source(name, meta, args.deb_root)
        y, extra = load_real(name)
        files = write_signal(name, y) + ["source.ogg", "COPYING.txt"]
        entry = {"kind": "real", "description": meta["description"], "style": meta["style"],
                 "package": meta["package"], "package_version": meta["package_version"],
                 "path_in_package": meta["path_in_package"], "licence": meta["licence"],
                 "attribution": meta["attribution"],
                 "excerpt_start_s": meta["excerpt_start_s"],
                 "excerpt_duration_s": meta["excerpt_duration_s"],
                 "window_index": 0}
        entry.update(extra)
        entry["files"] = file_entries(name, files)
        manifest["signals"][name] = entry
        print(f"{name}: {', '.join(files)} (native {extra['source_sample_rate']} Hz, "
              f"{extra['source_channels']} ch)")

    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    verify(manifest)

    size = total_size()
    print(f"total size under {OUT_DIR.relative_to(REPO)}: {size} bytes ({size / 1e6:.2f} MB)")
    if size >= SIZE_LIMIT_BYTES:
        print(f"ERROR: fixtures exceed {SIZE_LIMIT_BYTES} bytes", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
