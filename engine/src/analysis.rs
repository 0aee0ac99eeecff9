//! Whole-file analysis: every window of a file through the front end, with the track's tempo
//! and key. The CLI's `analyze` and `features` commands, and later indexing, are built on it.

use std::path::Path;

use crate::decode::AudioInfo;
use crate::features::{Features, FrontEnd};
use crate::key::{KeyAccumulator, KeyEstimate, KeyEstimator};
use crate::tempo::{TempoAccumulator, TempoEstimate, TempoEstimator};
use crate::window::WindowReader;
use crate::{FrontEndConfig, Result};

/// What analysing one file established.
#[derive(Debug, Clone)]
pub struct TrackAnalysis {
    /// The file's native format.
    pub info: AudioInfo,
    /// Duration in seconds of the decoded audio.
    pub duration: f64,
    /// Analysis windows (3 s each; a partial last window is dropped).
    pub windows: usize,
    /// Track tempo from the mean tempogram of all windows.
    pub tempo: TempoEstimate,
    /// Track key from the spectral-peak pitch-class profile of all windows.
    pub key: KeyEstimate,
    /// Input samples that were NaN or ±Inf and were replaced by silence.
    pub non_finite_samples: u64,
    /// Malformed packets skipped while decoding.
    pub skipped_packets: u64,
}

/// Analyses files one after another, reusing its front end and buffers. One per thread.
pub struct Analyzer {
    front_end: FrontEnd,
    features: Features,
    window: Vec<f32>,
    tempo: TempoEstimator,
    tempo_track: TempoAccumulator,
    key: KeyEstimator,
    key_track: KeyAccumulator,
}

impl Analyzer {
    /// An analyzer for the features of `config`.
    pub fn new(config: FrontEndConfig) -> Self {
        let tempo = TempoEstimator::new(&config);
        Self {
            features: Features::new(&config),
            window: vec![0.0; config.window_samples],
            tempo_track: TempoAccumulator::new(&tempo),
            tempo,
            key: KeyEstimator::new(&config),
            key_track: KeyAccumulator::for_config(&config),
            front_end: FrontEnd::new(config),
        }
    }

    /// Analyses `path`.
    pub fn analyze(&mut self, path: &Path) -> Result<TrackAnalysis> {
        self.analyze_with(path, |_| Ok(()))
    }

    /// Analyses `path`, handing the features of each window, in order, to `each_window`.
    pub fn analyze_with(
        &mut self,
        path: &Path,
        mut each_window: impl FnMut(&Features) -> Result<()>,
    ) -> Result<TrackAnalysis> {
        let config = self.front_end.config().clone();
        let mut reader = WindowReader::open(path, &config)?;
        self.tempo_track.reset();
        self.key_track.reset();
        let mut windows = 0;
        while reader.next_window(&mut self.window)? {
            self.front_end.compute(&self.window, &mut self.features)?;
            self.tempo_track.add(self.features.tempogram.view());
            self.key_track
                .add(self.features.chroma.view(), self.features.power.view());
            each_window(&self.features)?;
            windows += 1;
        }
        Ok(TrackAnalysis {
            info: reader.info().clone(),
            duration: reader.samples_read() as f64 / config.sample_rate as f64,
            windows,
            tempo: self.tempo_track.estimate(&self.tempo),
            key: self.key_track.estimate(&self.key),
            non_finite_samples: reader.non_finite_samples(),
            skipped_packets: reader.skipped_packets(),
        })
    }
}
