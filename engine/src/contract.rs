//! The model contract of SPEC §2: what an exported model promises about its inputs and its
//! embedding. The trainer writes it into the ONNX file's `metadata_props` under the single key
//! [`METADATA_KEY`] (a JSON document); the engine reads it back and refuses a model whose
//! contract it does not support, saying exactly what is wrong.
//!
//! Decisions written down here:
//! - The `mel` input is the log-compressed mel `log10(1 + 10·S)` *before* standardisation: the
//!   network standardises it itself with the training-split statistics it carries as constants.
//!   The statistics are repeated here so anyone can inspect them.
//! - CENS is zero-padded from 12 to [`CENS_ROWS`] rows (rows 12–15 are zero).
//! - Dimension *s* owns the contiguous slice `[slice_width·s, slice_width·(s+1))`.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::FrontEndConfig;

/// The `metadata_props` key whose value is the JSON contract.
pub const METADATA_KEY: &str = "kindred.contract";
/// The contract format this engine reads and writes.
pub const CONTRACT_VERSION: u32 = 1;
/// Rows of the CENS input after zero padding.
pub const CENS_ROWS: usize = 16;
/// The six dimensions of SPEC §2, in slice order.
pub const SIX_DIMENSIONS: [&str; 6] = ["genre", "mood", "instrument", "era", "tempo", "key"];
/// Input names, in the order the network takes them.
pub const INPUT_NAMES: [&str; 3] = ["mel", "cens", "tempogram"];
/// Output name of the embedding.
pub const OUTPUT_NAME: &str = "embedding";

/// How the embedding is divided among the similarity dimensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingLayout {
    /// Dimension names in slice order, e.g. `genre, mood, instrument, era, tempo, key`.
    pub dimensions: Vec<String>,
    /// Width of each dimension's slice (64 in the paper).
    pub slice_width: usize,
}

impl EmbeddingLayout {
    /// The paper's six-dimension layout, 6 × 64 = 384.
    pub fn six() -> Self {
        Self::new(&SIX_DIMENSIONS, 64)
    }

    /// A layout over `names` with `slice_width` values each.
    pub fn new(names: &[&str], slice_width: usize) -> Self {
        Self {
            dimensions: names.iter().map(|n| n.to_string()).collect(),
            slice_width,
        }
    }

    /// Total embedding size.
    pub fn embedding_size(&self) -> usize {
        self.dimensions.len() * self.slice_width
    }

    /// The slice of dimension `index`.
    pub fn slice(&self, index: usize) -> Range<usize> {
        index * self.slice_width..(index + 1) * self.slice_width
    }

    /// Index of the dimension called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.dimensions.iter().position(|d| d == name)
    }
}

/// Name and shape of one model input; the batch axis is dynamic and left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSpec {
    pub name: String,
    /// `[channels, rows, frames]`.
    pub shape: [usize; 3],
}

/// Everything an exported model promises; stored as JSON under [`METADATA_KEY`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelContract {
    /// [`CONTRACT_VERSION`] of the writer.
    pub contract_version: u32,
    /// Free-form identity of the trained model (name, date, recipe).
    pub model_version: String,
    /// `multi-input` (paper Fig. 1b) or `single-input` (Fig. 1a, mel only).
    pub architecture: String,
    /// The front end the model was trained on; the engine computes exactly this.
    pub front_end: FrontEndConfig,
    /// Inputs in order. A single-input model takes only `mel`.
    pub inputs: Vec<InputSpec>,
    /// Name of the output tensor, `[batch, embedding_size]`.
    pub output: String,
    pub layout: EmbeddingLayout,
    /// Per-band mean of the compressed mel on the training split (applied inside the network).
    pub mel_mean: Vec<f32>,
    /// Per-band standard deviation of the compressed mel on the training split.
    pub mel_std: Vec<f32>,
    /// Where the training data came from and how it was labelled.
    pub training_data: String,
}

/// A contract the engine cannot work with, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ContractError(pub String);

impl ModelContract {
    /// The input specs a model over `front_end` takes; `multi_input` adds CENS and tempogram.
    pub fn inputs_for(front_end: &FrontEndConfig, multi_input: bool) -> Vec<InputSpec> {
        let frames = front_end.frames();
        let mut inputs = vec![InputSpec {
            name: INPUT_NAMES[0].into(),
            shape: [1, front_end.n_mels, frames],
        }];
        if multi_input {
            inputs.push(InputSpec {
                name: INPUT_NAMES[1].into(),
                shape: [1, CENS_ROWS, frames],
            });
            inputs.push(InputSpec {
                name: INPUT_NAMES[2].into(),
                shape: [1, front_end.tempogram_win, frames],
            });
        }
        inputs
    }

    /// Serialises the contract to the JSON stored under [`METADATA_KEY`].
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a contract always serialises")
    }

    /// Parses and validates a contract read from a model's metadata.
    pub fn from_json(json: &str) -> Result<Self, ContractError> {
        let contract: Self = serde_json::from_str(json).map_err(|e| {
            ContractError(format!(
                "the `{METADATA_KEY}` metadata is not a valid contract: {e}"
            ))
        })?;
        contract.validate()?;
        Ok(contract)
    }

    /// Checks that the contract is one this engine supports and is self-consistent.
    pub fn validate(&self) -> Result<(), ContractError> {
        let fail = |m: String| Err(ContractError(m));
        if self.contract_version != CONTRACT_VERSION {
            return fail(format!(
                "contract version {} is not supported (this Kindred reads version {CONTRACT_VERSION}); \
                 re-export the model with a matching kindred-train",
                self.contract_version
            ));
        }
        let fe = &self.front_end;
        if fe.n_fft == 0
            || fe.hop == 0
            || fe.n_mels == 0
            || fe.window_samples < fe.n_fft
            || fe.sample_rate == 0
        {
            return fail(format!("front-end parameters are invalid: {fe:?}"));
        }
        let multi = match self.architecture.as_str() {
            "multi-input" => true,
            "single-input" => false,
            other => {
                return fail(format!(
                    "architecture `{other}` is unknown (expected multi-input or single-input)"
                ));
            }
        };
        let expected = Self::inputs_for(fe, multi);
        if self.inputs != expected {
            return fail(format!(
                "inputs {:?} do not match what the front end produces for a {} model: {:?}",
                self.inputs, self.architecture, expected
            ));
        }
        if self.output.is_empty() {
            return fail("the output name is empty".into());
        }
        let layout = &self.layout;
        if layout.dimensions.is_empty() || layout.slice_width == 0 {
            return fail("the embedding layout has no dimensions".into());
        }
        for (i, d) in layout.dimensions.iter().enumerate() {
            if d.is_empty() || layout.dimensions[..i].contains(d) {
                return fail(format!("dimension name `{d}` is empty or repeated"));
            }
        }
        if self.mel_mean.len() != fe.n_mels || self.mel_std.len() != fe.n_mels {
            return fail(format!(
                "mel statistics have {} / {} values, expected {} (one per mel band)",
                self.mel_mean.len(),
                self.mel_std.len(),
                fe.n_mels
            ));
        }
        if self
            .mel_mean
            .iter()
            .chain(&self.mel_std)
            .any(|v| !v.is_finite())
            || self.mel_std.iter().any(|&s| s <= 0.0)
        {
            return fail(
                "mel statistics contain a non-finite value or a non-positive standard deviation"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> ModelContract {
        let fe = FrontEndConfig::default();
        ModelContract {
            contract_version: CONTRACT_VERSION,
            model_version: "test".into(),
            architecture: "multi-input".into(),
            inputs: ModelContract::inputs_for(&fe, true),
            output: OUTPUT_NAME.into(),
            layout: EmbeddingLayout::six(),
            mel_mean: vec![0.5; fe.n_mels],
            mel_std: vec![1.0; fe.n_mels],
            training_data: "none".into(),
            front_end: fe,
        }
    }

    #[test]
    fn round_trips_through_json() {
        let c = contract();
        assert_eq!(ModelContract::from_json(&c.to_json()).unwrap(), c);
        assert_eq!(c.layout.embedding_size(), 384);
        assert_eq!(c.layout.slice(4), 256..320);
        assert_eq!(c.layout.index_of("key"), Some(5));
    }

    #[test]
    fn refuses_inconsistent_contracts() {
        let mut c = contract();
        c.contract_version = 2;
        assert!(c.validate().unwrap_err().0.contains("version 2"));
        let mut c = contract();
        c.inputs.pop();
        assert!(c.validate().unwrap_err().0.contains("inputs"));
        let mut c = contract();
        c.mel_std[3] = 0.0;
        assert!(c.validate().unwrap_err().0.contains("standard deviation"));
        let mut c = contract();
        c.layout.dimensions[1] = "genre".into();
        assert!(c.validate().unwrap_err().0.contains("repeated"));
        assert!(
            ModelContract::from_json("{}")
                .unwrap_err()
                .0
                .contains("not a valid contract")
        );
    }
}
