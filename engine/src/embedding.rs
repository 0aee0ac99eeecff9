//! A whole track through the model: every 3 s window's features are embedded in batches, and
//! the track embedding is the mean of the window embeddings (SPEC §4).

use std::path::Path;

use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::analysis::{Analyzer, TrackAnalysis};
use crate::features::Features;
use crate::inference::Embedder;
use crate::{Error, Result};

/// The track embedding (SPEC §4): the mean of the window embeddings `[windows, D]` over
/// windows, all zeros for no window.
pub fn track_embedding(windows: ArrayView2<f32>) -> Array1<f32> {
    windows
        .mean_axis(Axis(0))
        .unwrap_or_else(|| Array1::zeros(windows.ncols()))
}

/// Windows sent to the model at once.
pub const BATCH: usize = 16;

/// One track's analysis and embeddings.
#[derive(Debug, Clone)]
pub struct TrackEmbedding {
    pub analysis: TrackAnalysis,
    /// One row per 3 s window, `[windows, embedding_size]`.
    pub windows: Array2<f32>,
    /// Mean of the window embeddings.
    pub mean: Array1<f32>,
}

/// Embeds files one after another with one model session; one per worker thread.
pub struct TrackEmbedder {
    analyzer: Analyzer,
    embedder: Embedder,
    /// Reused copies of the windows waiting for the next batch.
    batch: Vec<Features>,
}

impl TrackEmbedder {
    /// A track embedder computing exactly the features `embedder`'s model was trained on.
    pub fn new(embedder: Embedder) -> Self {
        let config = embedder.contract().front_end.clone();
        Self {
            batch: Vec::with_capacity(BATCH),
            analyzer: Analyzer::new(config),
            embedder,
        }
    }

    /// The model session.
    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// Analyses and embeds the file at `path`.
    pub fn embed_file(&mut self, path: &Path) -> Result<TrackEmbedding> {
        let size = self.embedder.contract().layout.embedding_size();
        let mut rows: Vec<f32> = Vec::new();
        let mut pending = 0;
        let Self {
            analyzer,
            embedder,
            batch,
        } = self;
        let mut flush = |batch: &[Features], rows: &mut Vec<f32>| -> Result<()> {
            let refs: Vec<&Features> = batch.iter().collect();
            rows.extend(embedder.embed(&refs)?.iter());
            Ok(())
        };
        let analysis = analyzer.analyze_with(path, |features| {
            if batch.len() <= pending {
                batch.push(features.clone());
            } else {
                batch[pending].clone_from(features);
            }
            pending += 1;
            if pending == BATCH {
                flush(&batch[..pending], &mut rows)?;
                pending = 0;
            }
            Ok(())
        })?;
        if pending > 0 {
            flush(&batch[..pending], &mut rows)?;
        }
        let windows = Array2::from_shape_vec((rows.len() / size, size), rows)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        if windows.nrows() != analysis.windows {
            return Err(Error::Invalid(format!(
                "{}: {} windows analysed but {} embedded",
                path.display(),
                analysis.windows,
                windows.nrows()
            )));
        }
        let mean = track_embedding(windows.view());
        Ok(TrackEmbedding {
            analysis,
            windows,
            mean,
        })
    }
}
