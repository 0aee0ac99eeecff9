"""The bundled Kindred.vst3 in a real VST3 host: Spotify's pedalboard (PyPI), headless.

Checks: the plugin loads; stereo and mono audio at 44.1 kHz and 96 kHz pass through bit-exact
with odd block sizes; the weight and hop parameters are exposed, can be set (the host's
automation path) and read back; a parameter change does not touch the audio; the state saved
by the host restores the parameters, in the same and in a new instance.

Usage: python vst3_pedalboard.py target/bundled/Kindred.vst3
"""

import sys

import numpy as np
import pedalboard


def music(rate: int, seconds: float, channels: int) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    chord = sum(np.sin(2 * np.pi * f * t) for f in (196.0, 246.94, 293.66)) * 0.12
    beat = np.mod(t * 2.0, 1.0)
    click = np.exp(-beat * 60.0) * np.sin(2 * np.pi * 1700.0 * t) * 0.5
    return np.stack([chord + click + 0.01 * c for c in range(channels)]).astype(np.float32)


def check_passthrough(plugin, rate: int, channels: int, block: int) -> None:
    audio = music(rate, 3.0, channels)
    plugin.reset()
    out = plugin.process(audio, sample_rate=rate, buffer_size=block, reset=True)
    assert out.shape == audio.shape, (out.shape, audio.shape)
    same = np.array_equal(out.view(np.uint32), audio.view(np.uint32))
    assert same, f"not bit-exact at {rate} Hz, {channels} ch, block {block}: max diff {np.abs(out - audio).max()}"
    print(f"ok: passthrough bit-exact at {rate} Hz, {channels} channel(s), block {block}")


def main() -> int:
    path = sys.argv[1]
    plugin = pedalboard.load_plugin(path)
    print(f"loaded {plugin.name!r}; parameters: {sorted(plugin.parameters)}")
    for rate, channels, block in [(44100, 2, 333), (96000, 2, 4097), (48000, 1, 61)]:
        check_passthrough(plugin, rate, channels, block)

    params = plugin.parameters
    weight = next(k for k in params if "genre" in k and "weight" in k)
    hop = next(k for k in params if k.startswith("hop"))
    print(f"{weight} = {getattr(plugin, weight)!r}, {hop} = {getattr(plugin, hop)!r}")
    setattr(plugin, weight, 25.0)  # the weight is shown as a percentage
    setattr(plugin, hop, 2.0)
    got_weight, got_hop = float(getattr(plugin, weight)), float(getattr(plugin, hop))
    assert abs(got_weight - 25.0) < 1.0, got_weight
    assert abs(got_hop - 2.0) < 0.06, got_hop
    print(f"ok: parameters set through the host: {weight} = {got_weight}, {hop} = {got_hop}")
    check_passthrough(plugin, 44100, 2, 512)

    # State round trip through the VST3 component state (what a DAW saves with a project).
    state = plugin.raw_state
    setattr(plugin, weight, 80.0)
    plugin.raw_state = state
    restored = float(getattr(plugin, weight))
    assert abs(restored - 25.0) < 1.0, restored
    fresh = pedalboard.load_plugin(path)
    fresh.raw_state = state
    assert abs(float(getattr(fresh, weight)) - 25.0) < 1.0
    assert abs(float(getattr(fresh, hop)) - 2.0) < 0.06
    print(f"ok: state round trip ({len(state)} bytes) restores {weight} and {hop}, also in a new instance")
    check_passthrough(fresh, 44100, 2, 1000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
