//! Kindred's engine: everything between an audio file and a feature window, plus the tempo and
//! key estimates shown to users. Data flows one way: [`decode`] → [`resample`] → [`window`] →
//! [`features`] → [`tempo`] / [`key`].

pub mod analysis;
pub mod config;
pub mod contract;
pub mod decode;
pub mod embedding;
pub mod error;
pub mod evaluation;
pub mod features;
pub mod indexing;
pub mod inference;
pub mod key;
pub mod library;
pub mod matching;
pub mod npy;
pub mod resample;
pub mod search;
pub mod similarity;
pub mod tempo;
pub mod window;

pub use config::FrontEndConfig;
pub use error::{Error, Result};
