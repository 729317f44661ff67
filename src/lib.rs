//! emotiondetect: speech emotion recognition as a GStreamer element.

pub mod features;
