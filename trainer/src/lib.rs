//! Kindred's trainer library. For now it holds the dataset builder of `kindred-train dataset`:
//! scores rendered with labels that are true by construction, user manifests, and the
//! memory-mapped feature cache that training epochs read instead of recomputing features.

pub mod data;
pub mod error;
pub mod export;
pub mod model;
pub mod training;

pub use error::{Error, Result};
