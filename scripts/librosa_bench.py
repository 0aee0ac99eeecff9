#!/usr/bin/env python3
"""Time librosa 1.0.0 on Kindred's signal front end (the baseline for the Rust engine).

Usage
-----
::

    .venv/bin/python scripts/librosa_bench.py                  # per-window timing
    .venv/bin/python scripts/librosa_bench.py --runs 100        # more repetitions
    .venv/bin/python scripts/librosa_bench.py path/to/track.ogg # + whole-file throughput
    .venv/bin/python scripts/librosa_bench.py --window synthetic --json   # as cargo xtask bench
    .venv/bin/python scripts/librosa_bench.py --runs 0 --parallel 2 --json track.mp3

Per-window timing: computes, for one 3 s window (66 150 float32 samples at
22 050 Hz; by default ``engine/tests/data/librosa/by_product/audio.npy``, or white
noise if the fixtures are absent; with ``--window synthetic`` the chord-with-pulse
window of ``engine/benches/features.rs`` ``test_window``, the same float32 formula,
so both sides time the same samples), exactly the features of
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
window computed independently.  After one untimed run (when ``--warmup`` > 0) it
times ``--file-runs`` runs and prints the median::

    librosa_file_seconds=<audio duration> librosa_file_wall_s=<elapsed>
    librosa_x_realtime=<duration / elapsed>

With ``--parallel N`` (N > 1) it then also runs N worker processes (forked, each
warmed up, each with the same thread limits) that start together on the same file,
and prints ``librosa_x_realtime_parallel=<N * duration / wall of all N>``: the
multi-core figure to compare with the engine analysing N files on N threads.
``--runs 0`` skips the per-window timing.

``--json`` ends the output with one line holding a flat JSON object (what
``cargo xtask bench`` reads): ``librosa``, ``window``, ``threads``,
``per_window_ms`` and ``stage_<name>_ms`` (when timed), and with a file ``file``,
``file_seconds``, ``file_wall_s``, ``file_x_realtime`` and, with ``--parallel``,
``parallel``, ``file_wall_s_parallel`` and ``file_x_realtime_parallel``.

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
import json
import multiprocessing as mp
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


def synthetic_window() -> np.ndarray:
    """The window of ``test_window`` in ``engine/benches/features.rs``, in float32 as there.

    ``t = i / 22050``; ``pulse = exp(-fract(2 t) * 20)``; ``chord`` = sum of
    ``sin(TAU * f * t)`` for f = 261.6, 329.6, 392.0 Hz (added in that order);
    sample = ``pulse * chord * 0.2``.  numpy's float32 ``sin``/``exp`` may differ from
    Rust's libm in the last bit, which does not matter for timing.
    """
    f32 = np.float32
    t = np.arange(WINDOW_SAMPLES, dtype=f32) / f32(SR)
    t2 = t * f32(2.0)
    pulse = np.exp(-(t2 - np.trunc(t2)) * f32(20.0))
    tau = f32(2.0 * np.pi)
    chord = np.zeros(WINDOW_SAMPLES, dtype=f32)
    for f in (261.6, 329.6, 392.0):
        chord = chord + np.sin(tau * f32(f) * t)
    y = pulse * chord * f32(0.2)
    assert y.dtype == np.float32
    return y


def bench_window(y: np.ndarray, runs: int, warmup: int) -> dict[str, float]:
    """Median ms per stage and in total (key ``total``) over ``runs`` timed runs."""
    for _ in range(warmup):
        features_timed(y)
    samples = [features_timed(y) for _ in range(runs)]
    medians = {}
    for k in (*STAGES, "total"):
        medians[k] = statistics.median(s[k] for s in samples) * 1e3
        print(f"  {k:>10s}: {medians[k]:8.3f} ms (median of {runs})")
    print(f"librosa_per_window_ms={medians['total']:.3f}")
    return medians


def analyse_file(path: Path) -> tuple[int, float, float]:
    """Load + features of every window of ``path``; (windows, load s, features s)."""
    t0 = time.perf_counter()
    y, sr = librosa.load(str(path), sr=SR, mono=True, res_type="soxr_hq")
    t1 = time.perf_counter()
    if y.shape[0] < WINDOW_SAMPLES:
        y = np.pad(y, (0, WINDOW_SAMPLES - y.shape[0]))
    n_win = y.shape[0] // WINDOW_SAMPLES
    for i in range(n_win):
        features_timed(np.ascontiguousarray(y[i * WINDOW_SAMPLES:(i + 1) * WINDOW_SAMPLES]))
    t2 = time.perf_counter()
    return n_win, t1 - t0, t2 - t1


def bench_file(path: Path, runs: int, warmup: bool) -> dict:
    """Median whole-file time of ``runs`` runs (after one untimed run if ``warmup``)."""
    if warmup:
        analyse_file(path)
    results = [analyse_file(path) for _ in range(max(runs, 1))]
    n_win, load_s, feat_s = sorted(results, key=lambda r: r[1] + r[2])[len(results) // 2]
    dur = librosa.get_duration(path=str(path))
    wall = load_s + feat_s
    print(f"file={path} windows={n_win} load_s={load_s:.3f} features_s={feat_s:.3f} "
          f"(median of {len(results)})")
    print(f"librosa_file_seconds={dur:.3f} librosa_file_wall_s={wall:.3f}")
    print(f"librosa_x_realtime={dur / wall:.1f}")
    return {"file": str(path), "file_seconds": dur, "file_wall_s": wall,
            "file_x_realtime": dur / wall}


def _parallel_worker(path: Path, barrier, warmup: bool, spans) -> None:
    """One of the ``--parallel`` processes: warm up, wait for the others, time one file and
    put its (start, end) on ``spans``."""
    if warmup:
        analyse_file(path)
    barrier.wait()
    t0 = time.perf_counter()  # CLOCK_MONOTONIC: comparable between processes
    analyse_file(path)
    spans.put((t0, time.perf_counter()))


def bench_file_parallel(path: Path, procs: int, warmup: bool, seconds: float) -> dict:
    """``procs`` processes analysing ``path`` at once; x real time over all of them."""
    ctx = mp.get_context("fork")  # inherits librosa, the thread limits and the JIT caches
    barrier, queue = ctx.Barrier(procs), ctx.Queue()
    workers = [ctx.Process(target=_parallel_worker, args=(path, barrier, warmup, queue))
               for _ in range(procs)]
    for w in workers:
        w.start()
    spans = [queue.get() for _ in workers]
    for w in workers:
        w.join()
    wall = max(b for _, b in spans) - min(a for a, _ in spans)
    x = procs * seconds / wall
    print(f"librosa_parallel={procs} librosa_file_wall_s_parallel={wall:.3f}")
    print(f"librosa_x_realtime_parallel={x:.1f}")
    return {"parallel": procs, "file_wall_s_parallel": wall, "file_x_realtime_parallel": x}


def main() -> int:
    ap = argparse.ArgumentParser(description="librosa front-end timing baseline")
    ap.add_argument("file", nargs="?", type=Path, help="optional audio file for x real-time")
    ap.add_argument("--runs", type=int, default=50,
                    help="timed per-window runs (0 = skip the per-window timing)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--window", choices=("fixture", "synthetic"), default="fixture",
                    help="fixture: by_product/audio.npy; synthetic: features.rs test_window")
    ap.add_argument("--file-runs", type=int, default=3, help="timed whole-file runs (median)")
    ap.add_argument("--parallel", type=int, default=1,
                    help="also time N processes analysing FILE at once (N > 1)")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads (threadpoolctl); 0 = library default")
    ap.add_argument("--json", action="store_true",
                    help="end with one line of flat JSON holding the results")
    args = ap.parse_args()

    if args.threads > 0:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=args.threads)
        print(f"BLAS/OpenMP thread pools limited to {args.threads} thread(s)")

    result: dict = {"librosa": librosa.__version__, "threads": args.threads}
    if args.runs > 0:
        fixture = OUT_DIR / "by_product" / "audio.npy"
        if args.window == "synthetic":
            y = synthetic_window()
            src = "synthetic (engine/benches/features.rs test_window)"
        elif fixture.exists():
            y = np.load(fixture)
            src = str(fixture.relative_to(OUT_DIR.parent.parent.parent.parent))
        else:
            y = np.random.default_rng(0).uniform(-0.5, 0.5, WINDOW_SAMPLES).astype(np.float32)
            src = "white noise (fixtures absent)"
        assert y.dtype == np.float32 and y.shape == (WINDOW_SAMPLES,)
        print(f"librosa {librosa.__version__}, numpy {np.__version__}; window: {src}")
        medians = bench_window(y, args.runs, args.warmup)
        result["window"] = args.window
        result["per_window_ms"] = medians["total"]
        result.update({f"stage_{k}_ms": medians[k] for k in STAGES})
    if args.file is not None:
        if args.runs == 0 and args.warmup > 0:
            features_timed(synthetic_window())  # JIT and plan caches, as the window runs do
        result.update(bench_file(args.file, args.file_runs, args.warmup > 0))
        if args.parallel > 1:
            result.update(bench_file_parallel(args.file, args.parallel, args.warmup > 0,
                                              result["file_seconds"]))
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
