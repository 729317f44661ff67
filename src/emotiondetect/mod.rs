// SPDX-License-Identifier: MPL-2.0
//! The `emotiondetect` element: raw audio in, the same audio out, emotions
//! on the bus and on the buffers.

use gst::glib;
use gst::prelude::*;

mod imp;
mod results;

pub use imp::{ChannelMode, ExecutionProvider};

glib::wrapper! {
    pub struct EmotionDetect(ObjectSubclass<imp::EmotionDetect>)
        @extends gst_audio::AudioFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    if !gst::meta::CustomMeta::is_registered(results::META_NAME) {
        // No tags: the result describes the audio's content over time, not
        // its format, so elements that convert the audio may keep it.
        gst::meta::CustomMeta::register(results::META_NAME, &[]);
    }
    ExecutionProvider::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    ChannelMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "emotiondetect",
        gst::Rank::NONE,
        EmotionDetect::static_type(),
    )
}
