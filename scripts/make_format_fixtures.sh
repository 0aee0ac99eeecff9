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
# A second, wide-band source (a chord of square waves over pink noise, 1.5 s) makes two more
# MP3 streams, so the two MP3 decoders are compared on what the tone does not exercise:
#   mix-48k-mono-vbr.mp3     48 kHz mono, LAME VBR -V 2
#   mix-22k-stereo.mp3       22.05 kHz stereo (MPEG-2 Layer III), 48 kb/s joint stereo
#
# Needs sox and ffmpeg (Debian: apt-get install sox libsox-fmt-all ffmpeg).
set -euo pipefail

out="$(cd "$(dirname "$0")/.." && pwd)/engine/tests/data/formats"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

sox -n -r 44100 -c 2 -b 16 "$tmp/tone.wav" synth 1 sine 440 sine 440 remix 1v0.5 2v0.25

sox -n -r 48000 -c 1 -b 16 "$tmp/mix48.wav" synth 1.5 square 220 square 277 square 330 \
    pinknoise remix 1v0.15,2v0.15,3v0.15,4v0.3
sox -n -r 22050 -c 2 -b 16 "$tmp/mix22.wav" synth 1.5 square 220 square 330 pinknoise pinknoise \
    remix 1v0.3,3v0.3 2v0.3,4v0.3

enc() { ffmpeg -nostdin -loglevel error -y -i "$tmp/tone.wav" -map_metadata -1 -fflags +bitexact "$@"; }
enc -c:a flac -compression_level 12 "$out/tone.flac"
enc -c:a libmp3lame -b:a 64k "$out/tone.mp3"
enc -c:a libvorbis -q:a 2 "$out/tone.ogg"
enc -t 0.25 -c:a pcm_s16be "$out/tone.aiff"
enc -c:a libopus -b:a 32k "$out/tone.opus"
lame --quiet -V 2 "$tmp/mix48.wav" "$out/mix-48k-mono-vbr.mp3"
lame --quiet -b 48 -m j "$tmp/mix22.wav" "$out/mix-22k-stereo.mp3"

ls -l "$out"
