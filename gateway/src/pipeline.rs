// SPDX-License-Identifier: MPL-2.0
//! One GStreamer pipeline per call: for each track
//! `appsrc (audio/x-mulaw, 8 kHz) ! mulawdec ! emotiondetect ! fakesink`,
//! and the element's messages turned into JSON on the streaming thread and
//! handed to the call's task.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use emotiondetect_core::model::{BuiltinModel, ModelSource, Provider, SharedModel};

/// The telephone rate: Twilio Media Streams are 8 kHz μ-law.
pub const RATE: u64 = 8000;

/// Registers the element and loads the 8 kHz model once, through the
/// element itself (so its ONNX Runtime log goes where the element routes
/// it), and keeps the shared session for its batch counters. `model_file`
/// is an ONNX file to use instead of the built-in 8 kHz model; every call's
/// elements then load the same file and share this session.
pub fn init(model_file: Option<&str>) -> Result<Arc<SharedModel>, String> {
    gst::init().map_err(|e| format!("GStreamer: {e}"))?;
    gstemotiondetect::plugin_register_static().map_err(|e| format!("emotiondetect: {e}"))?;
    for f in ["appsrc", "mulawdec", "fakesink"] {
        if gst::ElementFactory::find(f).is_none() {
            return Err(format!(
                "the GStreamer element {f} is missing (gstreamer1.0-plugins-base/good)"
            ));
        }
    }
    let mut warm = gst::ElementFactory::make("emotiondetect").property("sample-rate", RATE as u32);
    if let Some(path) = model_file {
        warm = warm.property("model-file", path);
    }
    let warm = warm.build().map_err(|e| format!("emotiondetect: {e}"))?;
    let started = warm.set_state(gst::State::Paused);
    // Taken while the element still holds the session, so it is not loaded
    // twice. A file is checked here too: its error (missing, unreadable,
    // another rate) says more than "failed to start".
    let model = match model_file {
        Some(path) => SharedModel::get(ModelSource::File(Path::new(path)), Provider::Cpu, None)
            .map_err(|e| format!("--model-file {path}: {e}"))
            .and_then(|m| {
                let rate = m.contract().features.sample_rate as u64;
                if rate == RATE {
                    Ok(Some(m))
                } else {
                    Err(format!(
                        "--model-file {path}: a {rate} Hz model; calls are {RATE} Hz"
                    ))
                }
            }),
        // The element has just loaded it too; its error, if any, says why.
        None => BuiltinModel::sources_for(RATE as u32)
            .next()
            .map(|s| {
                SharedModel::get(s, Provider::Cpu, None)
                    .map_err(|e| format!("the built-in {RATE} Hz model: {e}"))
            })
            .transpose(),
    };
    let _ = warm.set_state(gst::State::Null);
    let model = model?;
    started.map_err(|_| {
        "the emotiondetect element failed to start (is ONNX Runtime installed? see scripts/setup.sh)"
            .to_owned()
    })?;
    model.ok_or_else(|| "no built-in 8 kHz model".to_owned())
}

/// What a pipeline reports to its call.
#[derive(Debug)]
pub enum Report {
    /// An `emotion`, `emotion-segment` or `emotion-summary` of a track.
    Result {
        kind: ResultKind,
        track: usize,
        fields: Map<String, Value>,
        at: Instant,
    },
    /// Every track has drained: all summaries are out.
    Eos,
    Error(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    Emotion,
    Segment,
    Summary,
}

/// Settings the element gets on every track.
#[derive(Debug, Clone)]
pub struct ElementSettings {
    pub window: Duration,
    pub interval: Duration,
    /// The element's `model-file`, or the built-in 8 kHz model.
    pub model_file: Option<Arc<str>>,
    /// The element's `non-speech-bias`.
    pub non_speech_bias: f64,
}

/// A running call pipeline.
pub struct CallPipeline {
    pipeline: gst::Pipeline,
    sources: Vec<gst_app::AppSrc>,
}

impl CallPipeline {
    /// Builds and starts the pipeline: one branch per track, its element
    /// named after the track's speaker.
    pub fn start(
        speakers: &[String],
        settings: &ElementSettings,
        reports: mpsc::UnboundedSender<Report>,
    ) -> Result<Self, String> {
        let pipeline = gst::Pipeline::new();
        let caps = gst::Caps::builder("audio/x-mulaw")
            .field("rate", RATE as i32)
            .field("channels", 1i32)
            .build();
        let mut sources = Vec::with_capacity(speakers.len());
        for (i, speaker) in speakers.iter().enumerate() {
            let src = gst_app::AppSrc::builder()
                .name(format!("track{i}"))
                .caps(&caps)
                .format(gst::Format::Time)
                .is_live(true)
                .do_timestamp(false)
                .build();
            let dec = make("mulawdec")?;
            let mut detect = gst::ElementFactory::make("emotiondetect")
                .name(format!("detect{i}"))
                .property("sample-rate", RATE as u32)
                .property("window-duration", settings.window.as_nanos() as u64)
                .property("interval", settings.interval.as_nanos() as u64)
                .property("non-speech-bias", settings.non_speech_bias)
                .property_from_str("channel-mode", "independent")
                .property("channel-names", speaker.as_str());
            if let Some(file) = &settings.model_file {
                detect = detect.property("model-file", file.as_ref());
            }
            let detect = detect.build().map_err(|e| format!("emotiondetect: {e}"))?;
            let sink = gst::ElementFactory::make("fakesink")
                .property("sync", false)
                .property("async", false)
                .build()
                .map_err(|e| format!("fakesink: {e}"))?;
            let chain = [src.upcast_ref(), &dec, &detect, &sink];
            pipeline
                .add_many(chain)
                .and_then(|_| gst::Element::link_many(chain))
                .map_err(|e| format!("linking track {i}: {e}"))?;
            sources.push(src);
        }
        let bus = pipeline.bus().ok_or("pipeline without a bus")?;
        bus.set_sync_handler(move |_, msg| {
            forward(msg, &reports);
            gst::BusSyncReply::Drop
        });
        if pipeline.set_state(gst::State::Playing).is_err() {
            let _ = pipeline.set_state(gst::State::Null);
            return Err("the call's pipeline failed to start".to_owned());
        }
        Ok(CallPipeline { pipeline, sources })
    }

    /// Pushes μ-law audio of `track` starting at `pts`.
    pub fn push(
        &self,
        track: usize,
        pts: gst::ClockTime,
        mulaw: Vec<u8>,
        discont: bool,
    ) -> Result<(), String> {
        let samples = mulaw.len() as u64;
        let mut buffer = gst::Buffer::from_mut_slice(mulaw);
        {
            let b = buffer.get_mut().expect("a new buffer is writable");
            b.set_pts(pts);
            b.set_duration(
                samples
                    .mul_div_floor(gst::ClockTime::SECOND.nseconds(), RATE)
                    .map(gst::ClockTime::from_nseconds),
            );
            if discont {
                b.set_flags(gst::BufferFlags::DISCONT);
            }
        }
        self.sources[track]
            .push_buffer(buffer)
            .map(|_| ())
            .map_err(|e| format!("track {track} stopped accepting audio: {e:?}"))
    }

    /// Ends every track; the summaries follow, then [`Report::Eos`].
    pub fn end(&self) {
        for src in &self.sources {
            let _ = src.end_of_stream();
        }
    }
}

impl Drop for CallPipeline {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn make(factory: &str) -> Result<gst::Element, String> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|e| format!("{factory}: {e}"))
}

/// Runs on the thread that posted `msg`: results become JSON here, so the
/// call's task only adds the call's fields.
fn forward(msg: &gst::Message, reports: &mpsc::UnboundedSender<Report>) {
    match msg.view() {
        gst::MessageView::Element(e) => {
            let Some(s) = e.structure() else { return };
            let kind = match s.name().as_str() {
                "emotion" => ResultKind::Emotion,
                "emotion-segment" => ResultKind::Segment,
                "emotion-summary" => ResultKind::Summary,
                _ => return,
            };
            let track = msg
                .src()
                .and_then(|o| o.name().strip_prefix("detect")?.parse().ok())
                .unwrap_or(0);
            let _ = reports.send(Report::Result {
                kind,
                track,
                fields: to_json(s),
                at: Instant::now(),
            });
        }
        gst::MessageView::Eos(_) => {
            let _ = reports.send(Report::Eos);
        }
        gst::MessageView::Error(e) => {
            let _ = reports.send(Report::Error(format!(
                "{} ({})",
                e.error(),
                e.debug().as_deref().unwrap_or("")
            )));
        }
        _ => {}
    }
}

/// The structure's fields as JSON, names unchanged.
pub fn to_json(s: &gst::StructureRef) -> Map<String, Value> {
    s.iter()
        .filter_map(|(name, value)| Some((name.to_string(), value_to_json(value)?)))
        .collect()
}

fn value_to_json(v: &glib::SendValue) -> Option<Value> {
    if let Ok(x) = v.get::<u64>() {
        Some(x.into())
    } else if let Ok(x) = v.get::<i32>() {
        Some(x.into())
    } else if let Ok(x) = v.get::<u32>() {
        Some(x.into())
    } else if let Ok(x) = v.get::<i64>() {
        Some(x.into())
    } else if let Ok(x) = v.get::<f64>() {
        Some(serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number))
    } else if let Ok(x) = v.get::<bool>() {
        Some(x.into())
    } else if let Ok(x) = v.get::<String>() {
        Some(x.into())
    } else if let Ok(a) = v.get::<gst::Array>() {
        Some(Value::Array(a.iter().filter_map(value_to_json).collect()))
    } else if let Ok(c) = v.get::<gst::ClockTime>() {
        Some(c.nseconds().into())
    } else {
        None
    }
}
