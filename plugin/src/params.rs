//! The plugin's parameters and persisted state.
//!
//! Automatable: one weight per similarity dimension (0–1, default 1; the combined score is the
//! weighted mean of the per-dimension scores, SPEC §5) and the analysis hop in seconds.
//! Persisted with the host's project but not automatable: the library file and the selected
//! reference track. Parameter ids are part of every saved project: never rename them.

use std::path::PathBuf;
use std::sync::Mutex;

use kindred_engine::contract::SIX_DIMENSIONS;
use nice_plug::prelude::*;

/// Shortest and longest analysis hop in seconds. Below 0.25 s one window costs more than a hop
/// on slow machines; above 3 s consecutive windows would leave gaps.
pub const HOP_RANGE: (f32, f32) = (0.25, 3.0);
/// The hop SPEC §5 asks for.
pub const DEFAULT_HOP: f32 = 1.0;

#[derive(Params)]
pub struct KindredParams {
    /// Weights of genre, mood, instrument, era, tempo and key, in the model's slice order.
    /// Parameter ids `weight_1` … `weight_6`.
    #[nested(array, group = "Weight")]
    pub weights: [DimensionWeight; 6],

    /// Seconds between two analysed windows.
    #[id = "hop"]
    pub hop: FloatParam,

    /// The reference library file; `None` until the user picks one.
    #[persist = "library"]
    pub library: Mutex<Option<PathBuf>>,

    /// The selected reference track (its path as stored in the library).
    #[persist = "reference"]
    pub reference: Mutex<Option<String>>,
}

/// One dimension's weight in the combined score.
#[derive(Params)]
pub struct DimensionWeight {
    #[id = "weight"]
    pub weight: FloatParam,
}

impl DimensionWeight {
    fn new(dimension: &str) -> Self {
        let mut name = dimension.to_string();
        name[..1].make_ascii_uppercase();
        Self {
            weight: FloatParam::new(
                format!("{name} weight"),
                1.0,
                FloatRange::Linear { min: 0.0, max: 1.0 },
            )
            .with_unit(" %")
            .with_value_to_string(formatters::v2s_f32_percentage(0))
            .with_string_to_value(formatters::s2v_f32_percentage()),
        }
    }
}

impl Default for KindredParams {
    fn default() -> Self {
        Self {
            weights: SIX_DIMENSIONS.map(DimensionWeight::new),
            hop: FloatParam::new(
                "Hop",
                DEFAULT_HOP,
                FloatRange::Linear {
                    min: HOP_RANGE.0,
                    max: HOP_RANGE.1,
                },
            )
            .with_step_size(0.05)
            .with_unit(" s")
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            library: Mutex::new(None),
            reference: Mutex::new(None),
        }
    }
}

impl KindredParams {
    /// The six weights as they are now.
    pub fn weight_values(&self) -> [f32; 6] {
        std::array::from_fn(|i| self.weights[i].weight.value())
    }

    /// The library path, if one is set.
    pub fn library_path(&self) -> Option<PathBuf> {
        self.library.lock().ok().and_then(|l| l.clone())
    }

    /// The selected reference, if any.
    pub fn reference_name(&self) -> Option<String> {
        self.reference.lock().ok().and_then(|r| r.clone())
    }
}
