//! Kindred's trainer library: the dataset builder ([`data`]: scores rendered with labels that
//! are true by construction, user manifests, the memory-mapped feature cache), the CSN
//! ([`model`]), [`training`], ONNX [`export`] with the model contract, and the held-out
//! [`evaluation`] with its [`report`].

pub mod data;
pub mod error;
pub mod evaluation;
pub mod export;
pub mod model;
pub mod report;
pub mod training;

pub use error::{Error, Result};
