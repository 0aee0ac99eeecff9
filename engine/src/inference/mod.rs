//! ONNX Runtime inference: [`runtime`] finds and loads the runtime library, [`model`] finds a
//! model, checks its contract and turns feature windows into embeddings.

pub mod model;
pub mod runtime;

pub use model::{Device, Embedder, EmbedderOptions};
