// SPDX-License-Identifier: MPL-2.0
//! emotiondetect's core: speech emotion recognition on plain samples, with
//! no GStreamer types, for the plugin and any other Rust program.
//!
//! Layers, each using only those before it: [`features`] (DSP), [`vad`]
//! (speech frames) and [`adapt`] (per-speaker feature normalisation);
//! [`model`] (ONNX Runtime sessions, the model contract, one batching
//! session shared by every stream); [`analysis`] (a mono stream cut into
//! classified windows, and their segments).

pub mod adapt;
pub mod analysis;
pub mod features;
pub mod model;
pub mod sync;
pub mod vad;
