//! emotiondetect: speech emotion recognition as a GStreamer element.
//!
//! Layers: [`features`] (DSP) and [`model`] (ONNX Runtime) know nothing of
//! GStreamer; [`analysis`] cuts a stream into windows; the element in
//! `emotiondetect` is the glue.

use gst::glib;

pub mod analysis;
pub mod emotiondetect;
pub mod features;
pub mod model;
mod sync;
pub mod vad;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    emotiondetect::register(plugin)
}

gst::plugin_define!(
    emotiondetect,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL-2.0",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
