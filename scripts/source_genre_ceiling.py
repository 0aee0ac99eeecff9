#!/usr/bin/env python3
"""How separable are the real-music packages from one another? (issue 8's source-genre target)

Usage
-----
::

    .venv/bin/python scripts/source_genre_ceiling.py .cache/dataset-l
    .venv/bin/python scripts/source_genre_ceiling.py .cache/dataset-l --model models/kindred-6d.onnx

Reads a dataset built with ``kindred-train dataset --real`` (its ``dataset.json`` and
feature caches, format in ``trainer/src/data/cache.rs``) and scores source-genre triplets
exactly: for every anchor passage, every positive (a passage of *another file* of the same
package, as in ``kindred-train evaluate``) against every negative (a passage of another
package of the same set). Only the unshifted copy of each passage takes part (tempo ratio 1,
no pitch shift), so no triplet can pair a passage with its own copy.

Each passage is described by the per-passage mean and standard deviation over time of the 128
mel rows, z-scored over all real passages: a timbre and loudness statistic with nothing
learned. The script prints its score on the held-out test packages, on the validation
packages, on all packages together and on random 4-package sets drawn from all of them: the
spread says how much a source-genre score depends on which packages are held out. It also
scores the statistic projected by linear discriminants fitted on the training packages (with
the packages, or the files, as classes): what a linear metric learned on them gives. With
``--classifier`` (needs scikit-learn, as in ``scripts/requirements.txt``) it trains a
non-linear classifier of the training packages on each window's mel statistics (a 256-64
MLP) and scores its hidden layer, its logits and its class probabilities, averaged over a
passage's windows: whether fitting the training sources transfers to unseen ones. With
``--model`` (needs ``onnxruntime==1.31.1`` in the venv) it also scores the model's genre
slice (track embedding = mean of the window embeddings) on the same sets, the training
packages included.
"""

import argparse
import json
from pathlib import Path

import numpy as np

HEADER = 64
MEL_ROWS = 128
# SPEC §2: dimension s owns the embedding's values [64·s, 64·(s+1)); genre is s = 0.
GENRE = slice(0, 64)


def windows(path: Path) -> np.ndarray:
    """The cache's windows as ``[windows, rows, frames]`` float32."""
    raw = path.read_bytes()
    if raw[:8] != b"KNDFCACH":
        raise SystemExit(f"{path}: not a Kindred feature cache")
    n, mel, cens, tgram, frames = np.frombuffer(raw[12:32], "<u4")
    return np.frombuffer(raw, "<f4", offset=HEADER).reshape(n, mel + cens + tgram, frames)


def window_statistics(x: np.ndarray) -> np.ndarray:
    """Each window's mean and standard deviation over time of the mel rows, ``[windows, 256]``."""
    mel = x[:, :MEL_ROWS]
    return np.concatenate([mel.mean(2), mel.std(2)], 1)


def genre_slices(model: Path, caches: list[np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    out = []
    for x in caches:
        n, _, frames = x.shape
        cens = np.zeros((n, 1, 16, frames), np.float32)
        cens[:, 0, :12] = x[:, MEL_ROWS : MEL_ROWS + 12]
        inputs = [x[:, None, :MEL_ROWS].copy(), cens, x[:, None, MEL_ROWS + 12 :].copy()]
        emb = session.run(None, dict(zip(names, inputs)))[0].mean(0)
        out.append(emb[GENRE])
    return np.array(out)


def discriminants(x: np.ndarray, classes: np.ndarray, keep: int, ridge: float = 1.0):
    """The ``keep`` leading linear discriminants of ``x`` for ``classes`` (ridge-regularised)."""
    mean = x.mean(0)
    within = np.zeros((x.shape[1], x.shape[1]))
    between = np.zeros_like(within)
    for c in np.unique(classes):
        xc = x[classes == c]
        mc = xc.mean(0)
        within += (xc - mc).T @ (xc - mc)
        between += len(xc) * np.outer(mc - mean, mc - mean)
    within, between = within / len(x), between / len(x)
    values, vectors = np.linalg.eig(np.linalg.solve(within + ridge * np.eye(len(within)), between))
    return vectors[:, np.argsort(-values.real)[:keep]].real


def classifier_views(caches, package, train) -> dict[str, np.ndarray]:
    """A 256-64 MLP classifying the training packages from each window's mel statistics; per
    passage, the mean over its windows of the hidden layer, the logits and the probabilities."""
    from sklearn.neural_network import MLPClassifier

    per_window = [window_statistics(x) for x in caches]
    owner = np.concatenate([np.full(len(w), i) for i, w in enumerate(per_window)])
    x = np.concatenate(per_window)
    fit = train[owner]
    x = (x - x[fit].mean(0)) / (x[fit].std(0) + 1e-6)
    mlp = MLPClassifier((256, 64), alpha=1e-3, max_iter=60, random_state=0)
    mlp.fit(x[fit], package[owner][fit])
    print(f"classifier: {mlp.score(x[fit], package[owner][fit]):.1%} of training windows right")
    hidden = x
    for weights, bias in zip(mlp.coefs_[:-1], mlp.intercepts_[:-1]):
        hidden = np.maximum(hidden @ weights + bias, 0)
    logits = hidden @ mlp.coefs_[-1] + mlp.intercepts_[-1]
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    views = {"hidden layer": hidden, "logits": logits, "probabilities": probabilities}
    return {
        f"classifier of the training packages, {name}": np.array(
            [v[owner == i].mean(0) for i in range(len(caches))]
        )
        for name, v in views.items()
    }


def triplet_score(dist, package, audio_file, chosen) -> float:
    """Exact triplet score of the passages whose package is in ``chosen``; ``dist`` holds the
    distances between all passages."""
    idx = np.where(np.isin(package, chosen))[0]
    dist = dist[np.ix_(idx, idx)]
    pk, src = package[idx], audio_file[idx]
    per_anchor = []
    for a in range(len(idx)):
        pos = (pk == pk[a]) & (src != src[a])
        neg = pk != pk[a]
        if pos.any() and neg.any():
            per_anchor.append((dist[a, pos][:, None] < dist[a, neg][None]).mean())
    return float(np.mean(per_anchor))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--classifier", action="store_true", help="also the MLP check (scikit-learn)")
    ap.add_argument("--subsets", type=int, default=400, help="random 4-package sets drawn")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    records = json.loads((args.dataset / "dataset.json").read_text())["records"]
    records = [
        r
        for r in records
        if r.get("real")
        and r["windows"] > 0
        and r["real"]["semitones"] == 0
        and r["real"]["tempo_ratio"] == 1.0
    ]
    if not records:
        raise SystemExit(f"{args.dataset}: no real recordings (build it with --real)")
    caches = [windows(args.dataset / r["cache"]) for r in records]
    package = np.array([r["genre"] for r in records])
    audio_file = np.array([r["audio_source"] for r in records])
    split = {r["genre"]: r["split"] for r in records}
    stats = np.array([window_statistics(x).mean(0) for x in caches])
    stats = (stats - stats.mean(0)) / (stats.std(0) + 1e-6)
    described = {"mel statistics": stats}
    train = np.array([split[p] == "train" for p in package])
    trained_packages = len(set(package[train]))
    for name, classes in (("packages", package), ("files", audio_file)):
        projection = discriminants(stats[train], classes[train], trained_packages - 1)
        described[f"mel statistics, discriminants of the training {name}"] = stats @ projection
    if args.classifier:
        described.update(classifier_views(caches, package, train))
    if args.model:
        described[f"genre slice of {args.model.name}"] = genre_slices(args.model, caches)

    packages = sorted(split)
    sets = {
        name: [p for p in packages if split[p] == name]
        for name in ("test", "validation", "train")
    }
    sets["all packages"] = packages
    rng = np.random.default_rng(args.seed)
    drawn = [list(rng.choice(packages, 4, replace=False)) for _ in range(args.subsets)]
    print(f"{len(records)} unshifted passages of {len(packages)} packages")
    for what, vectors in described.items():
        print(f"\n{what}")
        dist = np.array([np.linalg.norm(vectors - v, axis=1) for v in vectors])
        by_set = {name: triplet_score(dist, package, audio_file, c) for name, c in sets.items()}
        for name, score in by_set.items():
            print(f"  {name:14s} ({len(sets[name]):2d} packages): {score:.3f}")
        scores = np.array([triplet_score(dist, package, audio_file, c) for c in drawn])
        test = by_set["test"]
        p10, p50, p90 = np.percentile(scores, [10, 50, 90])
        print(
            f"  random 4-package sets ({args.subsets}): mean {scores.mean():.3f}, "
            f"10/50/90 % {p10:.3f} / {p50:.3f} / {p90:.3f}, "
            f"≥ 0.85 in {(scores >= 0.85).mean():.1%}, at or below the test set's in "
            f"{(scores <= test).mean():.1%}"
        )


if __name__ == "__main__":
    main()
