//! Options shared by the commands that run the model: which model, where, how many threads.

use std::path::PathBuf;

use anyhow::Context;
use kindred_engine::embedding::{TrackEmbedder, TrackEmbedding};
use kindred_engine::inference::model::{self, Device, Embedder, EmbedderOptions};
use kindred_engine::library::Library;

/// Model selection, common to index, query, compare and evaluate.
#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    /// The model (default: $KINDRED_MODEL, else models/kindred-6d.onnx next to the executable
    /// or in the repository).
    #[arg(long, value_name = "FILE.onnx")]
    pub model: Option<PathBuf>,
    /// Where the model runs: auto (CUDA if available, else CPU), cpu or cuda.
    #[arg(long, default_value = "auto", value_name = "auto|cpu|cuda")]
    pub device: Device,
    /// Intra-op threads of each model session.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub threads: usize,
}

/// How similarities are weighed and printed, common to query and compare.
#[derive(clap::Args, Clone)]
pub struct ScoreArgs {
    /// Per-dimension weights, e.g. `genre=1,mood=0.5,key=0`; unnamed dimensions weigh 1.
    #[arg(long, default_value = "", value_name = "NAME=W,…")]
    pub weights: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl ModelArgs {
    /// The model file to use.
    pub fn path(&self) -> anyhow::Result<PathBuf> {
        Ok(model::locate(self.model.as_deref())?)
    }

    pub fn options(&self) -> EmbedderOptions {
        EmbedderOptions {
            device: self.device,
            threads: self.threads,
        }
    }

    /// Loads the model, printing one line if `auto` fell back to the CPU.
    pub fn load(&self) -> anyhow::Result<Embedder> {
        let path = self.path()?;
        let embedder = Embedder::load(&path, &self.options())?;
        if let Some(reason) = embedder.fallback().filter(|_| self.device == Device::Auto) {
            eprintln!("note: {reason}");
        }
        Ok(embedder)
    }
}

/// The embeddings of `path`: taken from `library` when it holds the unchanged file, else
/// computed.
pub fn embed_or_lookup(
    embedder: &mut TrackEmbedder,
    library: Option<&Library>,
    path: &std::path::Path,
) -> anyhow::Result<Query> {
    let absolute =
        std::fs::canonicalize(path).with_context(|| format!("{}: cannot open", path.display()))?;
    if let Some(library) = library {
        let stamp = kindred_engine::library::FileStamp::of(&absolute)?;
        let unchanged = |&i: &usize| library.tracks()[i].info.stamp == stamp;
        if let Some(i) = library.position(&absolute).filter(unchanged) {
            let entry = &library.tracks()[i];
            return Ok(Query {
                path: absolute,
                duration_s: entry.info.duration_s,
                bpm: entry.info.tempo.bpm,
                key: entry.key(),
                windows: library.windows(i)?,
                mean: entry.mean.clone(),
            });
        }
    }
    let TrackEmbedding {
        analysis,
        windows,
        mean,
    } = embedder.embed_file(&absolute)?;
    Ok(Query {
        path: absolute,
        duration_s: analysis.duration,
        bpm: analysis.tempo.bpm,
        key: (analysis.key.confidence > 0.0).then_some(analysis.key.key),
        windows,
        mean: mean.to_vec(),
    })
}

/// A track's embeddings and what the filters and tables show of it.
pub struct Query {
    pub path: PathBuf,
    pub duration_s: f64,
    pub bpm: f32,
    pub key: Option<kindred_engine::key::Key>,
    pub windows: ndarray::Array2<f32>,
    pub mean: Vec<f32>,
}

/// `path` as shown in tables: relative to the working directory when it lies below it.
pub fn shown(path: &std::path::Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}

/// `m:ss` of a time in seconds.
pub fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// A key for tables: its name, or `-` when none was found.
pub fn key_name(key: Option<kindred_engine::key::Key>) -> String {
    key.map(|k| k.to_string()).unwrap_or_else(|| "-".into())
}
