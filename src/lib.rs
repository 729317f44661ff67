// SPDX-License-Identifier: MPL-2.0
//! emotiondetect: speech emotion recognition as a GStreamer element.
//!
//! The element is thin glue (caps, timing, messages, metadata) around
//! [`emotiondetect_core`], which knows nothing of GStreamer.

use gst::glib;

mod emotiondetect;

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
    "Unknown package origin",
    env!("BUILD_REL_DATE")
);
