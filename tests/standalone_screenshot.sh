#!/bin/sh
# The standalone under Xvfb (Mesa software GL), without an audio device: starts
# $CARGO_TARGET_DIR/bundled/kindred-standalone (or $1; the target directory defaults to
# target), waits for the editor to draw, takes a screenshot of the whole screen to
# $CARGO_TARGET_DIR/standalone.png (or $2) and checks the process is still alive.
# Needs xvfb and imagemagick (apt-get install xvfb imagemagick).
set -eu
target=${CARGO_TARGET_DIR:-target}
bin=${1:-$target/bundled/kindred-standalone}
out=${2:-$target/standalone.png}
[ -x "$bin" ] || { echo "$bin missing: cargo xtask bundle kindred --release --features standalone" >&2; exit 1; }
export LIBGL_ALWAYS_SOFTWARE=1
xvfb-run -a -s "-screen 0 1000x900x24" sh -c "
  '$bin' --backend dummy > '$target/standalone.log' 2>&1 &
  pid=\$!
  sleep 8
  kill -0 \$pid || { echo 'the standalone exited early:' >&2; cat '$target/standalone.log' >&2; exit 1; }
  import -window root '$out'
  kill \$pid
  wait \$pid 2>/dev/null || true
"
echo "screenshot: $out"
