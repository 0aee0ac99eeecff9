#!/usr/bin/env bash
# Regenerates the small audio fixtures of engine/tests/decode.rs (engine/tests/data/formats/).
#
# One source: a 440 Hz tone at 44.1 kHz, stereo, left at amplitude 0.5 and right at 0.25, so
# the mono mean is a 440 Hz sine of amplitude 0.375 (RMS 0.265). It is encoded as
#   tone.flac  1 s, FLAC 16-bit              tone.mp3   1 s, MP3 64 kb/s (LAME, gapless header)
#   tone.ogg   1 s, Ogg Vorbis q2             tone.aiff  0.25 s, AIFF PCM 16-bit big-endian
#   tone.opus  1 s, Ogg Opus 32 kb/s (a codec the decoder must reject by name)
# AIFF is uncompressed, so it is 0.25 s to stay under 50 KB like the others.
#
# Needs sox and ffmpeg (Debian: apt-get install sox libsox-fmt-all ffmpeg).
set -euo pipefail

out="$(cd "$(dirname "$0")/.." && pwd)/engine/tests/data/formats"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

sox -n -r 44100 -c 2 -b 16 "$tmp/tone.wav" synth 1 sine 440 sine 440 remix 1v0.5 2v0.25

enc() { ffmpeg -nostdin -loglevel error -y -i "$tmp/tone.wav" -map_metadata -1 -fflags +bitexact "$@"; }
enc -c:a flac -compression_level 12 "$out/tone.flac"
enc -c:a libmp3lame -b:a 64k "$out/tone.mp3"
enc -c:a libvorbis -q:a 2 "$out/tone.ogg"
enc -t 0.25 -c:a pcm_s16be "$out/tone.aiff"
enc -c:a libopus -b:a 32k "$out/tone.opus"

ls -l "$out"
