#!/usr/bin/env bash
# docs/screenshot.png: the standalone with live results. A JACK server without hardware (dummy
# driver) carries a demo track, played by sndfile-jackplay, into the standalone shown on a
# virtual display; xdotool types the demo library and the reference into the window as a user
# would. First run `cargo xtask demo` (the library and the music) and `cargo xtask test` (or
# any release build of the standalone; it finds ONNX Runtime and the model in the repository).
# Debian packages: jackd2 sndfile-tools xdotool xvfb imagemagick.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/screenshot.png}
target=${CARGO_TARGET_DIR:-target}
library=$target/demo/demo.klib
music=.cache/demo/drascula-music/usr/share/scummvm/drascula/audio
app=$target/release/kindred-standalone
for f in "$library" "$music/track4.ogg" "$app"; do
  [ -e "$f" ] || { echo "$f missing: run cargo xtask demo and build the standalone first" >&2; exit 1; }
done
export DISPLAY=:77 LIBGL_ALWAYS_SOFTWARE=1
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
Xvfb "$DISPLAY" -screen 0 780x900x24 >/dev/null 2>&1 & pids+=($!)
jackd --no-realtime -d dummy -r 44100 -p 1024 >"$target/screenshot-jack.log" 2>&1 & pids+=($!)
sleep 2
"$app" --backend jack >"$target/screenshot-app.log" 2>&1 & pids+=($!)
sleep 6
# Type into the field at ($1, $2), then press the button at ($4, $5). The window sits at the
# top left of the display; positions are those of the default layout before any result.
type_and_press() {
  xdotool mousemove "$1" "$2" click 1
  sleep 0.3
  xdotool key ctrl+a
  xdotool type --delay 120 "$3"
  sleep 0.5
  xdotool mousemove "$4" "$5" click 1
  sleep 1.5
}
type_and_press 218 571 "$(realpath "$library")" 470 571
type_and_press 218 626 track12.ogg 471 626
sndfile-jackplay "$music/track4.ogg" >/dev/null 2>&1 & pids+=($!)
sleep 0.5
jack_connect jackplay:out_1 kindred:input_1
jack_connect jackplay:out_2 kindred:input_2
sleep 14
import -window root -crop 760x880+0+0 "$out"
echo "screenshot: $out"
