#!/usr/bin/env python3
"""Time librosa 1.0.0 on Kindred's signal front end (the baseline for the Rust engine).

Usage
-----
::

    .venv/bin/python scripts/librosa_bench.py                  # per-window timing
    .venv/bin/python scripts/librosa_bench.py --runs 100        # more repetitions
    .venv/bin/python scripts/librosa_bench.py path/to/track.ogg # + whole-file throughput

Per-window timing: computes, for one 3 s window (66 150 float32 samples at
22 050 Hz; by default ``engine/tests/data/librosa/by_product/audio.npy``, or white
noise if the fixtures are absent), exactly the features of
``scripts/librosa_fixtures.py``: STFT power (n_fft 512, hop 256), 128-band Slaney
mel + ``log10(1 + 10 S)``, chroma_stft (tuning 0), CENS post-processing, onset
strength (dB mel, n_fft 512) and the autocorrelation tempogram (win 384).  After
``--warmup`` untimed runs (numba JIT, FFT plan caches) it times ``--runs`` runs and
prints the median per stage and in total, ending with the machine-readable line::

    librosa_per_window_ms=<median total, ms>

Whole-file timing (optional positional ``FILE``): times
``librosa.load(FILE, sr=22050, mono=True, res_type='soxr_hq')`` plus the features
of every non-overlapping 3 s window from sample 0 (last partial window dropped; a
file shorter than 3 s is zero-padded to one window, as in SPEC.md section 1), each
window computed independently, and prints::

    librosa_file_seconds=<audio duration> librosa_file_wall_s=<elapsed>
    librosa_x_realtime=<duration / elapsed>

Threads: by default the BLAS thread pools (OpenBLAS inside numpy/scipy, used by
the ``np.einsum(..., optimize=True)`` filter-bank products) are limited to ONE
thread with threadpoolctl (``--threads 1``), so the number is a single-core
baseline comparable with a single-threaded engine and stable on a busy 2-core
machine: with the default two OpenBLAS threads and other processes on the cores
we measured 60 ms per window instead of about 7-13 ms (thread oversubscription).
``--threads 0`` keeps the libraries' defaults.  The FFTs (numpy/scipy pocketfft)
are single-threaded either way.  Report the machine and its load with the number:
timings are not portable.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import librosa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from librosa_fixtures import (  # noqa: E402  (shared constants and the CENS port)
    HOP,
    N_FFT,
    N_MELS,
    OUT_DIR,
    SR,
    TEMPOGRAM_WIN,
    WINDOW_SAMPLES,
    cens_from_chroma,
)

STAGES = ("stft", "mel", "chroma", "cens", "onset", "tempogram")


def features_timed(y: np.ndarray) -> dict[str, float]:
    """Compute all features for one window; return seconds per stage."""
    t = {}
    t0 = time.perf_counter()
    P = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP, window="hann",
                            center=True, pad_mode="constant")) ** 2
    t1 = time.perf_counter()
    M = librosa.feature.melspectrogram(S=P, sr=SR, n_fft=N_FFT, hop_length=HOP,
                                       n_mels=N_MELS, htk=False, norm="slaney")
    mel = np.log10(1 + 10 * M)
    t2 = time.perf_counter()
    chroma = librosa.feature.chroma_stft(S=P, sr=SR, n_fft=N_FFT, hop_length=HOP, tuning=0.0)
    t3 = time.perf_counter()
    cens = cens_from_chroma(chroma)
    t4 = time.perf_counter()
    onset = librosa.onset.onset_strength(
        S=librosa.power_to_db(M, ref=1.0, amin=1e-10, top_db=80.0),
        sr=SR, hop_length=HOP, n_fft=N_FFT)
    t5 = time.perf_counter()
    tg = librosa.feature.tempogram(onset_envelope=onset, sr=SR, hop_length=HOP,
                                   win_length=TEMPOGRAM_WIN)
    t6 = time.perf_counter()
    del mel, cens, tg
    for name, a, b in zip(STAGES, (t0, t1, t2, t3, t4, t5), (t1, t2, t3, t4, t5, t6)):
        t[name] = b - a
    t["total"] = t6 - t0
    return t


def bench_window(y: np.ndarray, runs: int, warmup: int) -> float:
    for _ in range(warmup):
        features_timed(y)
    samples = [features_timed(y) for _ in range(runs)]
    for k in (*STAGES, "total"):
        med = statistics.median(s[k] for s in samples) * 1e3
        print(f"  {k:>10s}: {med:8.3f} ms (median of {runs})")
    total = statistics.median(s["total"] for s in samples) * 1e3
    print(f"librosa_per_window_ms={total:.3f}")
    return total


def bench_file(path: Path) -> None:
    t0 = time.perf_counter()
    y, sr = librosa.load(str(path), sr=SR, mono=True, res_type="soxr_hq")
    t1 = time.perf_counter()
    if y.shape[0] < WINDOW_SAMPLES:
        y = np.pad(y, (0, WINDOW_SAMPLES - y.shape[0]))
    n_win = y.shape[0] // WINDOW_SAMPLES
    for i in range(n_win):
        features_timed(np.ascontiguousarray(y[i * WINDOW_SAMPLES:(i + 1) * WINDOW_SAMPLES]))
    t2 = time.perf_counter()
    dur = librosa.get_duration(path=str(path))
    wall = t2 - t0
    print(f"file={path} windows={n_win} load_s={t1 - t0:.3f} features_s={t2 - t1:.3f}")
    print(f"librosa_file_seconds={dur:.3f} librosa_file_wall_s={wall:.3f}")
    print(f"librosa_x_realtime={dur / wall:.1f}")


def main() -> int:
    ap = argparse.ArgumentParser(description="librosa front-end timing baseline")
    ap.add_argument("file", nargs="?", type=Path, help="optional audio file for x real-time")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads (threadpoolctl); 0 = library default")
    args = ap.parse_args()

    if args.threads > 0:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=args.threads)
        print(f"BLAS/OpenMP thread pools limited to {args.threads} thread(s)")

    fixture = OUT_DIR / "by_product" / "audio.npy"
    if fixture.exists():
        y = np.load(fixture)
        src = str(fixture.relative_to(OUT_DIR.parent.parent.parent.parent))
    else:
        y = np.random.default_rng(0).uniform(-0.5, 0.5, WINDOW_SAMPLES).astype(np.float32)
        src = "white noise (fixtures absent)"
    assert y.dtype == np.float32 and y.shape == (WINDOW_SAMPLES,)
    print(f"librosa {librosa.__version__}, numpy {np.__version__}; window: {src}")
    bench_window(y, args.runs, args.warmup)
    if args.file is not None:
        bench_file(args.file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
