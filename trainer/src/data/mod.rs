//! The dataset builder of `kindred-train dataset`.
//!
//! - [`labels`]: the label vocabularies (genre, mood proxy, instrument family, era, key).
//! - [`pieces`]: the score index written by `scripts/music21_export.py`.
//! - [`plan`]: the seeded factorial design of renders and the split by piece.
//! - [`render`]: MIDI → audio with the render's tempo, key, instrumentation and mood proxy.
//! - [`cache`]: the versioned, memory-mapped per-window feature cache.
//! - [`manifest`]: a user's `labels.csv`, validated row by row.
//! - [`dataset`]: the build (resumable, parallel), `dataset.json`, `renders.csv` and the card.
//! - [`corpus`]: the real-music corpus: pinned Debian packages fetched, unpacked, decoded.
//! - [`real`]: passages of real recordings, time-stretched and pitch-shifted copies, relative
//!   labels.

pub mod batcher;
pub mod cache;
pub mod corpus;
pub mod dataset;
pub mod labels;
pub mod manifest;
pub mod pieces;
pub mod plan;
pub mod real;
pub mod render;
pub mod triplets;
