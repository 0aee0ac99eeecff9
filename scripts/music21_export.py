#!/usr/bin/env python3
"""Export a documented, seeded subset (balanced over genres, and over eras within a genre) of the music21 corpus to MIDI for `kindred-train dataset`.

Usage:
    .venv/bin/python scripts/music21_export.py OUT_DIR [--per-genre 12] [--seed 0]
    .venv/bin/python scripts/music21_export.py OUT_DIR --only bach/bwv1.6.mxl,...  # fixtures

Writes OUT_DIR/midi/<id>.mid and OUT_DIR/pieces.json (one record per piece: corpus path,
title, composer, genre, era, year and how they were derived, written key, beat length, licence).

Requirements are pinned in scripts/requirements-music21.txt (music21 ships its corpus).

Labels, and why they are true:
  * genre: the corpus collection's form (Bach chorales → "chorale", Palestrina mass movements
    → "mass", Monteverdi madrigal books → "madrigal", the trecento PMFC volume 6 → "madrigal"
    and volume 12 → "mass", Ryan's Mammoth Collection's ABC `R:` rhythm field → "reel" / "jig"
    / "hornpipe" / "strathspey", the Essen collection → "folk song", string-quartet opus
    directories → "string quartet", piano works → "piano piece", Josquin's secular works →
    "chanson", songs with piano → "lied").
  * era: from the year of composition (or publication) recorded in SOURCES below, cut at
    medieval < 1400 ≤ renaissance < 1600 ≤ baroque < 1750 ≤ classical < 1820 ≤ romantic
    < 1900 ≤ 20th c.; folk collections (oral tradition, no composition date) are
    "traditional".
  * key: music21's Krumhansl–Schmuckler analysis of the whole score (symbolic, exact pitches);
    the first key signature is recorded for reference only (see `written_key`). Renders
    transpose from this key, so the rendered key is exact to the extent this key is.
  * beat: the first time signature's beat (music21 `TimeSignature.beatDuration`), in quarter
    notes: 1 in 4/4, 1.5 in 6/8, 2 in 2/2. Rendered BPM counts these beats per minute.

Licence: music21's corpus/license.txt (copied into pieces.json): the encodings are distributed
with the encoders' permission and the works are out of copyright in the US; some encodings
are non-commercial (the Essen collection: non-commercial distribution and use, see
corpus/essenFolksong/license.txt). The dataset card repeats this per source.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import re
import signal
import sys

import music21
from music21 import converter, corpus, key as m21key, meter

ERA_CUTS = [(1400, "medieval"), (1600, "renaissance"), (1750, "baroque"), (1820, "classical"),
            (1900, "romantic")]


def era_of(year: int | None) -> str:
    if year is None:
        return "traditional"
    for cut, name in ERA_CUTS:
        if year < cut:
            return name
    return "20th c."


# (glob relative to the corpus dir, genre, composer, year or None, note on the derivation)
SOURCES = [
    ("bach/bwv*.mxl", "chorale", "J. S. Bach", 1730, "Bach chorale harmonisations, c. 1723-1750"),
    ("palestrina/*.krn", "mass", "G. P. da Palestrina", 1570, "Palestrina mass movements, c. 1554-1594"),
    ("trecento/PMFC_12*.xml", "mass", "various (trecento)", 1380, "PMFC vol. 12 mass movements, 14th c."),
    ("monteverdi/madrigal.3.*.mxl", "madrigal", "C. Monteverdi", 1592, "Madrigals book 3, published 1592"),
    ("monteverdi/madrigal.4.*.mxl", "madrigal", "C. Monteverdi", 1603, "Madrigals book 4, published 1603"),
    ("monteverdi/madrigal.5.*.mxl", "madrigal", "C. Monteverdi", 1605, "Madrigals book 5, published 1605"),
    ("trecento/PMFC_06*.xml", "madrigal", "various (trecento)", 1360, "PMFC vol. 6 Italian madrigals, 14th c."),
    ("josquin/*.abc", "chanson", "Josquin des Prez", 1500, "Josquin's secular works, c. 1480-1520"),
    ("haydn/opus1no1/*.mxl", "string quartet", "J. Haydn", 1762, "String Quartet op. 1 no. 1, c. 1762"),
    ("haydn/opus74no1/*.mxl", "string quartet", "J. Haydn", 1793, "String Quartet op. 74 no. 1, 1793"),
    ("mozart/k80/*.mxl", "string quartet", "W. A. Mozart", 1770, "String Quartet K. 80, 1770"),
    ("mozart/k155/*.mxl", "string quartet", "W. A. Mozart", 1772, "String Quartet K. 155, 1772"),
    ("mozart/k156/*.mxl", "string quartet", "W. A. Mozart", 1772, "String Quartet K. 156, 1772"),
    ("mozart/k458/*.mxl", "string quartet", "W. A. Mozart", 1784, "String Quartet K. 458, 1784"),
    ("beethoven/opus18no*/*.mxl", "string quartet", "L. van Beethoven", 1800, "String Quartets op. 18, 1798-1800"),
    ("beethoven/opus18no*.mxl", "string quartet", "L. van Beethoven", 1800, "String Quartets op. 18, 1798-1800"),
    ("beethoven/opus59no*/*.mxl", "string quartet", "L. van Beethoven", 1806, "String Quartets op. 59, 1806"),
    ("beethoven/opus132.mxl", "string quartet", "L. van Beethoven", 1825, "String Quartet op. 132, 1825"),
    ("schumann_robert/opus41no1/*.mxl", "string quartet", "R. Schumann", 1842, "String Quartet op. 41 no. 1, 1842"),
    ("mozart/k545/*.mxl", "piano piece", "W. A. Mozart", 1788, "Piano Sonata K. 545, 1788"),
    ("chopin/*.krn", "piano piece", "F. Chopin", 1830, "Mazurka op. 6 no. 2, 1830"),
    ("schumann_clara/polonaise_op1n*.mxl", "piano piece", "C. Wieck (Schumann)", 1830, "Polonaises op. 1, 1829-1830"),
    ("joplin/*.mxl", "piano piece", "S. Joplin", 1899, "Maple Leaf Rag, 1899"),
    ("schoenberg/opus19/*.mxl", "piano piece", "A. Schoenberg", 1911, "Sechs kleine Klavierstücke op. 19, 1911"),
    ("schubert/*.xml", "lied", "F. Schubert", 1827, "Winterreise: Der Lindenbaum, 1827"),
    ("schumann_robert/dichterliebe_no2.xml", "lied", "R. Schumann", 1840, "Dichterliebe no. 2, 1840"),
    ("ryansMammoth/*.abc", "@R", "traditional (Ryan's Mammoth Collection, 1883)", None,
     "Ryan's Mammoth Collection (Boston, 1883); genre from the ABC R: field"),
    ("essenFolksong/*.abc", "folk song", "traditional (Essen folk song collection)", None,
     "Essen folk song collection (EsAC, ABC by S. Schlien); oral tradition"),
]

# ABC `R:` values of Ryan's Mammoth → genre label; others are not used.
RHYTHMS = {"reel": "reel", "jig": "jig", "hornpipe": "hornpipe", "strathspey": "strathspey"}

CORPUS_DIR = os.path.dirname(corpus.__file__)


def licence_text() -> str:
    with open(os.path.join(CORPUS_DIR, "license.txt"), encoding="utf-8") as f:
        return f.read()


def candidates() -> dict[str, list[dict]]:
    """All candidate pieces by genre, from file listings and ABC headers only (no parsing)."""
    by_genre: dict[str, list[dict]] = {}
    seen = set()
    for pattern, genre, composer, year, note in SOURCES:
        for path in sorted(glob.glob(os.path.join(CORPUS_DIR, pattern))):
            rel = os.path.relpath(path, CORPUS_DIR)
            if rel in seen or "test" in os.path.basename(rel):
                continue
            seen.add(rel)
            base = dict(composer=composer, year=year, era=era_of(year), source=note)
            if genre == "@R":
                with open(path, encoding="latin-1") as f:
                    m = re.search(r"^R:\s*(.+)$", f.read(), re.M)
                g = RHYTHMS.get(m.group(1).strip().lower()) if m else None
                if g is None:
                    continue
                by_genre.setdefault(g, []).append(dict(base, corpus_path=rel, number=None, genre=g,
                                                       genre_source="ABC R: field"))
            elif rel.endswith(".abc") and genre == "folk song":
                with open(path, encoding="latin-1") as f:
                    numbers = re.findall(r"^X:\s*(\d+)", f.read(), re.M)
                for n in numbers:
                    by_genre.setdefault(genre, []).append(dict(base, corpus_path=rel, number=int(n), genre=genre,
                                                               genre_source="collection"))
            else:
                by_genre.setdefault(genre, []).append(dict(base, corpus_path=rel, number=None, genre=genre,
                                                           genre_source="collection"))
    return by_genre


def written_key(score) -> tuple[str, str, str]:
    """(key as 'C major' / 'A minor', how it was found, the key signature for reference).

    The key is music21's Krumhansl-Schmuckler analysis of the score's notes (exact pitches and
    durations, so far more reliable than any audio estimate). Key signatures are not trusted
    for the mode or tonic: MusicXML encoders write `<mode>major</mode>` by default, and modal
    music (trecento, Monteverdi, many folk tunes) has a signature whose "major" key is not its
    tonal centre (measured: every Monteverdi/trecento madrigal labelled from its signature
    disagreed with the engine's key estimate; the analysis fixes that)."""
    signature = ""
    for ks in score.recurse().getElementsByClass(m21key.KeySignature):
        signature = (f"{ks.tonic.name.replace('-', 'b')} {ks.mode}" if isinstance(ks, m21key.Key)
                     else f"{ks.sharps} sharps")
        break
    k = score.analyze("key")
    return (f"{k.tonic.name.replace('-', 'b')} {k.mode}",
            f"music21 Krumhansl-Schmuckler analysis of the score (correlation {k.correlationCoefficient:.2f})",
            signature)


def beat_quarters(score) -> float:
    for ts in score.recurse().getElementsByClass(meter.TimeSignature):
        return float(ts.beatDuration.quarterLength)
    return 1.0


def export(entry: dict, out: str, index: int) -> dict | None:
    path = os.path.join(CORPUS_DIR, entry["corpus_path"])
    if entry["number"] is not None:
        score = converter.parse(path, number=entry["number"])
    else:
        score = converter.parse(path)
    if isinstance(score, music21.stream.Opus):
        score = score.scores[0]
    title = (score.metadata.title if score.metadata and score.metadata.title else
             os.path.splitext(os.path.basename(entry["corpus_path"]))[0])
    key, key_source, signature = written_key(score)
    stem = re.sub(r"[^A-Za-z0-9]+", "_", entry["corpus_path"].rsplit(".", 1)[0]).strip("_")
    if entry["number"] is not None:
        stem += f"_{entry['number']}"
    pid = f"{index:04d}_{stem}"[:80]
    midi_rel = f"midi/{pid}.mid"
    score.write("midi", fp=os.path.join(out, midi_rel))
    return dict(id=pid, midi=midi_rel, corpus_path=entry["corpus_path"], number=entry["number"],
                title=str(title), composer=entry["composer"], genre=entry["genre"],
                genre_source=entry["genre_source"], era=entry["era"], year=entry["year"],
                era_source=entry["source"], key=key, key_source=key_source, key_signature=signature,
                beat_quarters=beat_quarters(score),
                licence="music21 corpus licence (corpus/license.txt)" +
                ("; Essen: non-commercial, corpus/essenFolksong/license.txt"
                 if entry["corpus_path"].startswith("essenFolksong") else ""))


class Timeout(Exception):
    """A piece took longer than --timeout to parse and export."""


def on_alarm(signum, frame):
    raise Timeout("took longer than --timeout")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--per-genre", type=int, default=12, help="pieces per genre (at most)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--exclude", default="",
                    help="comma-separated corpus directories to leave out, e.g. essenFolksong "
                         "(non-commercial licence) for a commercially usable set")
    ap.add_argument("--only", help="comma-separated corpus paths (path or path#number) instead of sampling")
    ap.add_argument("--timeout", type=int, default=0,
                    help="skip a piece whose parsing and export take longer than this many seconds "
                         "(0: no limit; a few string quartets take many minutes, and the choice of "
                         "pieces then depends on the machine's speed)")
    args = ap.parse_args()
    signal.signal(signal.SIGALRM, on_alarm)
    os.makedirs(os.path.join(args.out, "midi"), exist_ok=True)
    by_genre = candidates()
    excluded = {d for d in args.exclude.split(",") if d}
    by_genre = {g: [e for e in es if e["corpus_path"].split("/")[0] not in excluded]
                for g, es in by_genre.items()}
    by_genre = {g: es for g, es in by_genre.items() if es}
    chosen: list[dict] = []
    if args.only:
        wanted = args.only.split(",")
        flat = {(e["corpus_path"] + (f"#{e['number']}" if e["number"] is not None else "")): e
                for es in by_genre.values() for e in es}
        chosen = [flat[w] for w in wanted]
        quota = len(chosen)
    rng = random.Random(args.seed)
    pieces = []
    if args.only:
        for e in chosen:
            rec = export(e, args.out, len(pieces))
            pieces.append(rec)
    else:
        for genre in sorted(by_genre):
            # Round-robin over the genre's eras (each era's candidates shuffled), so a genre
            # that spans eras (mass: trecento and Palestrina) is balanced across them.
            by_era: dict[str, list[dict]] = {}
            for e in by_genre[genre]:
                by_era.setdefault(e["era"], []).append(e)
            queues = [by_era[era] for era in sorted(by_era)]
            for q in queues:
                rng.shuffle(q)
            pool = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)]
            done = 0
            for e in pool:
                if done >= args.per_genre:
                    break
                try:
                    signal.alarm(args.timeout)
                    rec = export(e, args.out, len(pieces))
                except Exception as err:  # a broken encoding is skipped, and said so
                    print(f"skip {e['corpus_path']}#{e['number']}: {err}", file=sys.stderr)
                    continue
                finally:
                    signal.alarm(0)
                if rec:
                    pieces.append(rec)
                    done += 1
                    print(f"{genre}: {rec['id']} {rec['key']} ({rec['era']})", file=sys.stderr)
    index = dict(format="kindred-pieces/1", music21_version=music21.__version__, seed=args.seed,
                 excluded=sorted(excluded),
                 per_genre=args.per_genre, corpus_licence=licence_text(), pieces=pieces)
    with open(os.path.join(args.out, "pieces.json"), "w", encoding="utf-8") as f:
        json.dump(index, f, indent=1, ensure_ascii=False)
    print(f"{len(pieces)} pieces → {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
