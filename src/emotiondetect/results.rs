// SPDX-License-Identifier: MPL-2.0
//! The results the element posts and attaches: window results, emotion
//! segments and summaries as `gst::Structure`s, and the buffer meta that
//! carries a buffer's window results.

use gst::glib;
use gst::prelude::*;

/// Where a result sits in time: its first instant in buffer, stream and
/// running time, and how long it lasts.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    pub timestamp: gst::ClockTime,
    pub stream_time: Option<gst::ClockTime>,
    pub running_time: Option<gst::ClockTime>,
    pub duration: gst::ClockTime,
}

impl Times {
    /// `timestamp` mapped through `segment`, where it lies inside it.
    pub fn at(
        segment: Option<&gst::FormattedSegment<gst::ClockTime>>,
        timestamp: gst::ClockTime,
        duration: gst::ClockTime,
    ) -> Self {
        Times {
            timestamp,
            stream_time: segment.and_then(|s| s.to_stream_time(timestamp)),
            running_time: segment.and_then(|s| s.to_running_time(timestamp)),
            duration,
        }
    }
}

/// Which signal a result is about: the mix (channel 0) or one input
/// channel, with its speaker's name when the user gave one.
#[derive(Debug, Clone)]
pub struct Speaker {
    pub channel: i32,
    pub name: Option<String>,
}

/// Duration-weighted mean of a channel's classified windows.
#[derive(Debug)]
pub struct Summary {
    weighted: Vec<f64>,
    weight: f64,
    windows: u32,
}

impl Summary {
    pub fn new(n_labels: usize) -> Self {
        Summary {
            weighted: vec![0.0; n_labels],
            weight: 0.0,
            windows: 0,
        }
    }

    pub fn add(&mut self, probabilities: &[f64], duration: gst::ClockTime) {
        let weight = duration.nseconds() as f64;
        for (acc, p) in self.weighted.iter_mut().zip(probabilities) {
            *acc += p * weight;
        }
        self.weight += weight;
        self.windows += 1;
    }

    pub fn windows(&self) -> u32 {
        self.windows
    }

    pub fn mean(&self) -> Option<Vec<f64>> {
        (self.windows > 0).then(|| self.weighted.iter().map(|w| w / self.weight).collect())
    }
}

fn argmax(p: &[f64]) -> usize {
    p.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// The fields every result has: times, channel and speaker.
fn builder(name: &str, times: &Times, speaker: &Speaker) -> gst::structure::Builder {
    let mut b = gst::Structure::builder(name)
        .field("timestamp", times.timestamp)
        .field("stream-time", times.stream_time)
        .field("running-time", times.running_time)
        .field("duration", times.duration)
        .field("channel", speaker.channel);
    if let Some(name) = &speaker.name {
        b = b.field("speaker", name.as_str());
    }
    b
}

/// Adds `emotion`, `confidence` and `probabilities` (when there are any)
/// and `labels`.
fn with_probabilities(
    b: gst::structure::Builder,
    labels: &[String],
    probabilities: Option<&[f64]>,
) -> gst::structure::Builder {
    let mut b = match probabilities {
        Some(p) => {
            let best = argmax(p);
            b.field("emotion", labels[best].as_str())
                .field("confidence", p[best])
        }
        None => b,
    };
    b = b.field("labels", gst::Array::new(labels.iter().map(String::as_str)));
    if let Some(p) = probabilities {
        b = b.field("probabilities", gst::Array::new(p.iter().copied()));
    }
    b
}

/// One classified window: `emotion`. `speaker_frames`: the speech frames
/// its speaker normalisation rested on (0: none applied).
pub fn window(
    times: &Times,
    speaker: &Speaker,
    speech_ratio: f64,
    speaker_frames: u64,
    labels: &[String],
    probabilities: &[f64],
) -> gst::Structure {
    let b = builder("emotion", times, speaker)
        .field("speech-ratio", speech_ratio)
        .field("speaker-frames", speaker_frames);
    with_probabilities(b, labels, Some(probabilities)).build()
}

/// A closed stretch of one dominant emotion: `emotion-segment`.
pub fn segment(
    times: &Times,
    speaker: &Speaker,
    emotion: &str,
    confidence: f64,
    windows: u32,
) -> gst::Structure {
    builder("emotion-segment", times, speaker)
        .field("start", times.timestamp)
        .field("end", times.timestamp + times.duration)
        .field("emotion", emotion)
        .field("confidence", confidence)
        .field("windows", windows)
        .build()
}

/// The summary of a channel over the audio analysed: `emotion-summary`.
pub fn summary(
    times: &Times,
    speaker: &Speaker,
    labels: &[String],
    summary: &Summary,
) -> gst::Structure {
    let mean = summary.mean();
    with_probabilities(
        builder("emotion-summary", times, speaker),
        labels,
        mean.as_deref(),
    )
    .field("windows", summary.windows())
    .build()
}

/// Name under which a buffer's results are attached as a
/// [`gst::meta::CustomMeta`].
pub const META_NAME: &str = "EmotionMeta";
/// The meta's field holding the buffer's window results, in order.
pub const META_RESULTS: &str = "results";

/// Attaches one `EmotionMeta` holding every window result `windows` (one
/// per analysed channel and window the buffer completes).
pub fn attach(buf: &mut gst::BufferRef, windows: &[gst::Structure]) -> Result<(), glib::BoolError> {
    if windows.is_empty() {
        return Ok(());
    }
    let mut meta = gst::meta::CustomMeta::add(buf, META_NAME)?;
    meta.mut_structure().set(
        META_RESULTS,
        gst::Array::new(windows.iter().map(|s| s.to_send_value())),
    );
    Ok(())
}
