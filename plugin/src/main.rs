//! Kindred as a standalone application (JACK or ALSA through cpal; `--backend dummy` runs
//! without an audio device).

fn main() {
    nice_plug::prelude::nice_export_standalone::<kindred_plugin::Kindred>();
}
