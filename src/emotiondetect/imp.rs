// SPDX-License-Identifier: MPL-2.0
//! GStreamer glue: caps, timing, per-channel windowing through
//! [`Analyzer`], messages and metadata. The audio passes through untouched.

use std::sync::{Arc, LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_audio::subclass::prelude::*;
use gst_base::prelude::*;

use emotiondetect_core::analysis::{Analyzer, Segment, SegmentTracker, Window, WindowConfig};
use emotiondetect_core::model::{
    self, LogLevel, Logger, ModelError, ModelSource, Provider, SharedModel,
};
use emotiondetect_core::sync::lock;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "emotiondetect",
        gst::DebugColorFlags::empty(),
        Some("Speech emotion recognition"),
    )
});

/// ONNX Runtime's own log, kept apart from ours.
static ORT_CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "emotiondetect-ort",
        gst::DebugColorFlags::empty(),
        Some("ONNX Runtime log of emotiondetect"),
    )
});

const DEFAULT_WINDOW: gst::ClockTime = gst::ClockTime::from_seconds(3);
const DEFAULT_INTERVAL: gst::ClockTime = gst::ClockTime::from_seconds(1);
/// Speech at a normal level sits around -30 to -20 dBFS, softly spoken
/// RAVDESS clips near -50 dBFS; whether a louder window is speech is the
/// voice activity detector's call (`min-speech-ratio`).
const DEFAULT_SILENCE_THRESHOLD: f64 = -60.0;
/// A 3 s window of conversational speech has 30–80 % speech frames; one
/// with a short word or a cough has fewer.
const DEFAULT_MIN_SPEECH_RATIO: f64 = 0.2;
const DEFAULT_POST_MESSAGES: bool = true;
const DEFAULT_PROVIDER: ExecutionProvider = ExecutionProvider::Cpu;
const DEFAULT_CHANNEL_MODE: ChannelMode = ChannelMode::Mix;
/// The shortest tail that becomes a last window at the end of a stream.
const MIN_TAIL: gst::ClockTime = gst::ClockTime::from_seconds(1);
/// Timestamps further than this from the expected ones mark a discontinuity.
const DISCONT_TOLERANCE: gst::ClockTime = gst::ClockTime::from_mseconds(40);

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstEmotionDetectExecutionProvider")]
pub enum ExecutionProvider {
    #[enum_value(name = "CPU", nick = "cpu")]
    Cpu = 0,
    #[enum_value(name = "CUDA: an error if unavailable", nick = "cuda")]
    Cuda = 1,
    #[enum_value(name = "TensorRT: an error if unavailable", nick = "tensorrt")]
    TensorRt = 2,
    #[enum_value(name = "Best available: TensorRT, CUDA, then CPU", nick = "auto")]
    Auto = 3,
}

impl From<ExecutionProvider> for Provider {
    fn from(p: ExecutionProvider) -> Self {
        match p {
            ExecutionProvider::Cpu => Provider::Cpu,
            ExecutionProvider::Cuda => Provider::Cuda,
            ExecutionProvider::TensorRt => Provider::TensorRt,
            ExecutionProvider::Auto => Provider::Auto,
        }
    }
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstEmotionDetectChannelMode")]
pub enum ChannelMode {
    #[enum_value(
        name = "Mix all channels down and analyse the mix (channel 0)",
        nick = "mix"
    )]
    Mix = 0,
    #[enum_value(name = "Analyse each channel on its own", nick = "independent")]
    Independent = 1,
}

#[derive(Debug, Clone)]
struct Settings {
    model_file: Option<String>,
    provider: ExecutionProvider,
    window: gst::ClockTime,
    interval: gst::ClockTime,
    silence_threshold: f64,
    min_speech_ratio: f64,
    post_messages: bool,
    channel_mode: ChannelMode,
    channel_names: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model_file: None,
            provider: DEFAULT_PROVIDER,
            window: DEFAULT_WINDOW,
            interval: DEFAULT_INTERVAL,
            silence_threshold: DEFAULT_SILENCE_THRESHOLD,
            min_speech_ratio: DEFAULT_MIN_SPEECH_RATIO,
            post_messages: DEFAULT_POST_MESSAGES,
            channel_mode: DEFAULT_CHANNEL_MODE,
            channel_names: None,
        }
    }
}

/// Duration-weighted mean of a channel's classified windows.
#[derive(Debug)]
struct Summary {
    weighted: Vec<f64>,
    weight: f64,
    windows: u32,
}

impl Summary {
    fn new(n_labels: usize) -> Self {
        Summary {
            weighted: vec![0.0; n_labels],
            weight: 0.0,
            windows: 0,
        }
    }

    fn add(&mut self, probabilities: &[f64], duration: gst::ClockTime) {
        let weight = duration.nseconds() as f64;
        for (acc, p) in self.weighted.iter_mut().zip(probabilities) {
            *acc += p * weight;
        }
        self.weight += weight;
        self.windows += 1;
    }

    fn mean(&self) -> Option<Vec<f64>> {
        (self.windows > 0).then(|| self.weighted.iter().map(|w| w / self.weight).collect())
    }
}

/// A model the element can use, with the window settings in its samples.
struct Loaded {
    model: Arc<SharedModel>,
    config: WindowConfig,
    /// The labels results report: the model's, without `non-speech`.
    emotions: Vec<String>,
}

impl Loaded {
    fn rate(&self) -> u32 {
        self.model.contract().features.sample_rate
    }
}

/// One analysed signal: the mix, or one input channel.
struct Channel {
    index: i32,
    speaker: Option<String>,
    analyzer: Analyzer,
    tracker: SegmentTracker,
    summary: Summary,
    /// This buffer's samples of the channel (capacity reused).
    samples: Vec<f32>,
}

/// What the analyzers reported while the state was locked, turned into
/// messages once it is not.
enum Record {
    Window {
        channel: usize,
        start: u64,
        len: u64,
        speech_ratio: f64,
        probabilities: Option<Vec<f32>>,
    },
    /// The stretch ended on this channel: close its open segment.
    StretchEnd { channel: usize },
}

impl Record {
    fn window(channel: usize, w: &Window) -> Self {
        Record::Window {
            channel,
            start: w.start,
            len: w.len,
            speech_ratio: w.speech_ratio,
            probabilities: w.probabilities.map(<[f32]>::to_vec),
        }
    }
}

/// Created in `start()`, dropped in `stop()`.
struct State {
    /// Candidates, one per sample rate; shared with every other stream
    /// using the same model and provider.
    models: Vec<Loaded>,
    /// Index in `models` of the one the caps chose.
    active: usize,
    channels: Vec<Channel>,
    info: Option<gst_audio::AudioInfo>,
    /// Time of sample 0 of the current stretch of continuous audio.
    base: Option<gst::ClockTime>,
    /// The stream's first and last instants, for the summaries.
    span: (Option<gst::ClockTime>, Option<gst::ClockTime>),
    records: Vec<Record>,
}

impl State {
    fn loaded(&self) -> &Loaded {
        &self.models[self.active]
    }

    fn labels(&self) -> &[String] {
        &self.loaded().emotions
    }

    fn samples_to_time(&self, samples: u64) -> gst::ClockTime {
        gst::ClockTime::from_nseconds(
            samples
                .mul_div_floor(
                    gst::ClockTime::SECOND.nseconds(),
                    self.loaded().rate() as u64,
                )
                .unwrap_or(u64::MAX),
        )
    }

    /// Samples analysed in the current stretch.
    fn received(&self) -> u64 {
        self.channels.first().map_or(0, |c| c.analyzer.received())
    }

    /// Runs the tail rule on every channel and resets the analyzers.
    fn finish_stretch(&mut self) -> Result<(), ModelError> {
        let mut model = Arc::clone(&self.loaded().model);
        let mut result = Ok(());
        for (k, ch) in self.channels.iter_mut().enumerate() {
            let records = &mut self.records;
            let finished = ch
                .analyzer
                .finish(&mut model, |w| records.push(Record::window(k, w)));
            self.records.push(Record::StretchEnd { channel: k });
            result = result.and(finished);
        }
        result
    }
}

#[derive(Default)]
pub struct EmotionDetect {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    provider_in_use: Mutex<Option<Provider>>,
}

fn argmax(p: &[f64]) -> usize {
    p.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

impl EmotionDetect {
    fn ort_logger() -> Logger {
        Arc::new(|level, category, message| {
            let level = match level {
                LogLevel::Verbose => gst::DebugLevel::Trace,
                LogLevel::Info => gst::DebugLevel::Debug,
                LogLevel::Warning => gst::DebugLevel::Warning,
                LogLevel::Error | LogLevel::Fatal => gst::DebugLevel::Error,
            };
            gst::log_with_level!(ORT_CAT, level, "[{category}] {message}");
        })
    }

    fn model_error(&self, e: &ModelError) -> gst::ErrorMessage {
        match e {
            ModelError::Read { .. } => gst::error_msg!(gst::ResourceError::OpenRead, ("{e}")),
            ModelError::NotOnnx { .. } | ModelError::Contract { .. } => {
                gst::error_msg!(gst::StreamError::WrongType, ("{e}"))
            }
            ModelError::Runtime(_) => gst::error_msg!(gst::LibraryError::Init, ("{e}")),
            ModelError::ProviderUnavailable { .. } => {
                gst::error_msg!(gst::LibraryError::Settings, ("{e}"))
            }
            ModelError::Session(_) | ModelError::Inference(_) => {
                gst::error_msg!(gst::LibraryError::Failed, ("{e}"))
            }
        }
    }

    fn segment(&self) -> Option<gst::FormattedSegment<gst::ClockTime>> {
        self.obj().segment().downcast::<gst::ClockTime>().ok()
    }

    /// The fields every result has: times, channel and speaker.
    fn result_builder(
        name: &str,
        segment: Option<&gst::FormattedSegment<gst::ClockTime>>,
        timestamp: Option<gst::ClockTime>,
        duration: gst::ClockTime,
        channel: &Channel,
    ) -> gst::structure::Builder {
        let stream_time = segment.and_then(|s| s.to_stream_time(timestamp?));
        let running_time = segment.and_then(|s| s.to_running_time(timestamp?));
        let mut b = gst::Structure::builder(name)
            .field("timestamp", timestamp)
            .field("stream-time", stream_time)
            .field("running-time", running_time)
            .field("duration", duration)
            .field("channel", channel.index);
        if let Some(speaker) = &channel.speaker {
            b = b.field("speaker", speaker.as_str());
        }
        b
    }

    /// Adds `emotion`, `confidence`, `labels` and `probabilities`.
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

    fn segment_structure(
        &self,
        state: &State,
        segment: Option<&gst::FormattedSegment<gst::ClockTime>>,
        channel: &Channel,
        s: &Segment,
    ) -> gst::Structure {
        let base = state.base.unwrap_or(gst::ClockTime::ZERO);
        let start = base + state.samples_to_time(s.start);
        let end = base + state.samples_to_time(s.end);
        Self::result_builder(
            "emotion-segment",
            segment,
            Some(start),
            end - start,
            channel,
        )
        .field("start", start)
        .field("end", end)
        .field("emotion", state.labels()[s.label].as_str())
        .field("confidence", s.confidence)
        .field("windows", s.windows)
        .build()
    }

    /// Turns the records collected in `state` into structures, updating
    /// summaries and segments. The `bool` tells whether a structure is a
    /// window result (for the buffer meta).
    fn take_records(&self, state: &mut State) -> Vec<(gst::Structure, bool)> {
        // Most buffers complete no window: skip the segment copy.
        if state.records.is_empty() {
            return Vec::new();
        }
        let segment = self.segment();
        let base = state.base.unwrap_or(gst::ClockTime::ZERO);
        let mut out = Vec::with_capacity(state.records.len());
        let mut records = std::mem::take(&mut state.records);
        let mut closed = Vec::new();
        for record in records.drain(..) {
            let channel = match record {
                Record::Window {
                    channel,
                    start,
                    len,
                    speech_ratio,
                    probabilities,
                } => {
                    state.channels[channel].tracker.window(
                        start,
                        len,
                        probabilities.as_deref(),
                        &mut closed,
                    );
                    if let Some(p) = probabilities {
                        let ts = base + state.samples_to_time(start);
                        let duration = state.samples_to_time(len);
                        let p: Vec<f64> = p.iter().map(|&v| v as f64).collect();
                        state.channels[channel].summary.add(&p, duration);
                        let ch = &state.channels[channel];
                        let b = Self::result_builder(
                            "emotion",
                            segment.as_ref(),
                            Some(ts),
                            duration,
                            ch,
                        )
                        .field("speech-ratio", speech_ratio);
                        let s = Self::with_probabilities(b, state.labels(), Some(&p)).build();
                        out.push((s, true));
                    } else {
                        gst::trace!(
                            CAT,
                            imp = self,
                            "channel {channel}: window at sample {start} not classified (speech ratio {speech_ratio:.2})"
                        );
                    }
                    channel
                }
                Record::StretchEnd { channel } => {
                    state.channels[channel].tracker.finish(&mut closed);
                    channel
                }
            };
            // Segments the record closed follow its own result.
            for s in closed.drain(..) {
                let ch = &state.channels[channel];
                out.push((
                    self.segment_structure(state, segment.as_ref(), ch, &s),
                    false,
                ));
            }
        }
        state.records = records;
        out
    }

    fn post(&self, structures: impl IntoIterator<Item = gst::Structure>) {
        let mut structures = structures.into_iter().peekable();
        if structures.peek().is_none() || !lock(&self.settings).post_messages {
            return;
        }
        for s in structures {
            let _ = self
                .obj()
                .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        }
    }

    /// Ends the current stretch of continuous audio in `state`: tail
    /// windows (see [`Analyzer::finish`]) and open segments. Returns what
    /// to post once the lock is released.
    fn end_stretch_locked(
        &self,
        state: &mut State,
    ) -> (Vec<gst::Structure>, Result<(), gst::ErrorMessage>) {
        if state.base.is_none() {
            return (Vec::new(), Ok(()));
        }
        let finished = state.finish_stretch();
        let structures = self
            .take_records(state)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        state.base = None;
        (structures, finished.map_err(|e| self.model_error(&e)))
    }

    /// [`end_stretch_locked`](Self::end_stretch_locked), then posts. Called without locks held.
    fn end_stretch(&self) -> Result<(), gst::ErrorMessage> {
        let mut guard = lock(&self.state);
        let Some(state) = guard.as_mut() else {
            return Ok(());
        };
        let (structures, result) = self.end_stretch_locked(state);
        drop(guard);
        self.post(structures);
        result
    }

    /// End of stream: tail windows and open segments, then one summary per
    /// channel. Called without locks held.
    fn drain_and_summarize(&self) -> Result<(), gst::ErrorMessage> {
        self.end_stretch()?;
        let mut guard = lock(&self.state);
        let Some(state) = guard.as_mut() else {
            return Ok(());
        };
        let segment = self.segment();
        let (start, end) = state.span;
        let duration = match (start, end) {
            (Some(s), Some(e)) => e.saturating_sub(s),
            _ => gst::ClockTime::ZERO,
        };
        let mut structures = Vec::new();
        for ch in &state.channels {
            let mean = ch.summary.mean();
            let b = Self::result_builder("emotion-summary", segment.as_ref(), start, duration, ch);
            let s = Self::with_probabilities(b, state.labels(), mean.as_deref())
                .field("windows", ch.summary.windows)
                .build();
            structures.push(s);
        }
        let n_labels = state.labels().len();
        for ch in &mut state.channels {
            ch.summary = Summary::new(n_labels);
        }
        state.span = (None, None);
        drop(guard);
        self.post(structures);
        Ok(())
    }

    /// Converts the buffer's samples into one signal per analysed channel.
    fn split_channels(info: &gst_audio::AudioInfo, data: &[u8], channels: &mut [Channel]) {
        let n = info.channels() as usize;
        let frames = data.len() / info.bpf() as usize;
        let mix = channels.len() == 1;
        for ch in channels.iter_mut() {
            ch.samples.clear();
        }
        macro_rules! split {
            ($t:ty, $to_f32:expr) => {{
                const SIZE: usize = std::mem::size_of::<$t>();
                let value = |b: &[u8]| {
                    let mut raw = [0u8; SIZE];
                    raw.copy_from_slice(b);
                    $to_f32(<$t>::from_le_bytes(raw))
                };
                let data = &data[..frames * n * SIZE];
                if n == 1 {
                    channels[0]
                        .samples
                        .extend(data.chunks_exact(SIZE).map(value));
                } else if mix {
                    let scale = 1.0 / n as f32;
                    channels[0].samples.extend(
                        data.chunks_exact(n * SIZE)
                            .map(|frame| frame.chunks_exact(SIZE).map(value).sum::<f32>() * scale),
                    );
                } else {
                    for frame in data.chunks_exact(n * SIZE) {
                        for (ch, b) in channels.iter_mut().zip(frame.chunks_exact(SIZE)) {
                            ch.samples.push(value(b));
                        }
                    }
                }
            }};
        }
        match info.format() {
            gst_audio::AudioFormat::S16le => split!(i16, |v: i16| v as f32 / 32768.0),
            gst_audio::AudioFormat::S32le => split!(i32, |v: i32| (v as f64 / 2147483648.0) as f32),
            gst_audio::AudioFormat::F32le => split!(f32, |v: f32| v),
            gst_audio::AudioFormat::F64le => split!(f64, |v: f64| v as f32),
            _ => {}
        }
    }

    fn make_channels(
        &self,
        loaded: &Loaded,
        count: usize,
        mode: ChannelMode,
        names: Option<&str>,
    ) -> Result<Vec<Channel>, gst::LoggableError> {
        let contract = loaded.model.contract();
        let names: Vec<&str> = names
            .map(|n| n.split(',').map(str::trim).collect())
            .unwrap_or_default();
        (0..count)
            .map(|k| {
                let analyzer = Analyzer::new(
                    &contract.features,
                    contract.labels.len(),
                    contract.non_speech(),
                    loaded.config,
                )
                .map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
                let speaker = match mode {
                    ChannelMode::Mix => None,
                    ChannelMode::Independent => names
                        .get(k)
                        .filter(|n| !n.is_empty())
                        .map(|n| n.to_string()),
                };
                Ok(Channel {
                    index: k as i32,
                    speaker,
                    analyzer,
                    tracker: SegmentTracker::new(loaded.emotions.len()),
                    summary: Summary::new(loaded.emotions.len()),
                    samples: Vec::new(),
                })
            })
            .collect()
    }
}

#[glib::object_subclass]
impl ObjectSubclass for EmotionDetect {
    const NAME: &'static str = "GstEmotionDetect";
    type Type = super::EmotionDetect;
    type ParentType = gst_audio::AudioFilter;
}

impl ObjectImpl for EmotionDetect {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("model-file")
                    .nick("Model file")
                    .blurb("ONNX model following the emotiondetect contract; unset: the built-in models")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("execution-provider", DEFAULT_PROVIDER)
                    .nick("Execution provider")
                    .blurb("Where the model runs; cuda and tensorrt fail at start when unavailable")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("execution-provider-in-use")
                    .nick("Execution provider in use")
                    .blurb("The provider the model runs on (cpu, cuda, tensorrt), once started")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("window-duration")
                    .nick("Window duration")
                    .blurb("Audio per classification, in nanoseconds")
                    .maximum(gst::ClockTime::from_seconds(600).nseconds())
                    .default_value(DEFAULT_WINDOW.nseconds())
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("interval")
                    .nick("Interval")
                    .blurb("Time between results, in nanoseconds; at most window-duration")
                    .maximum(gst::ClockTime::from_seconds(600).nseconds())
                    .default_value(DEFAULT_INTERVAL.nseconds())
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("silence-threshold")
                    .nick("Silence threshold")
                    .blurb("Windows quieter than this RMS level (dBFS) are not classified")
                    .minimum(-200.0)
                    .maximum(0.0)
                    .default_value(DEFAULT_SILENCE_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("min-speech-ratio")
                    .nick("Minimum speech ratio")
                    .blurb("Windows with a smaller share of speech frames are not classified (0: no speech gating)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_MIN_SPEECH_RATIO)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post an element message per result")
                    .default_value(DEFAULT_POST_MESSAGES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("channel-mode", DEFAULT_CHANNEL_MODE)
                    .nick("Channel mode")
                    .blurb("Analyse the mix of all channels, or each channel on its own")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("channel-names")
                    .nick("Channel names")
                    .blurb("Comma-separated speaker names by channel (e.g. agent,customer), for channel-mode=independent")
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = lock(&self.settings);
        let get_time = |v: &glib::Value| {
            gst::ClockTime::from_nseconds(v.get().expect("type checked upstream"))
        };
        match pspec.name() {
            "model-file" => settings.model_file = value.get().expect("type checked upstream"),
            "execution-provider" => settings.provider = value.get().expect("type checked upstream"),
            "window-duration" => settings.window = get_time(value),
            "interval" => settings.interval = get_time(value),
            "silence-threshold" | "min-speech-ratio" => {
                let v: f64 = value.get().expect("type checked upstream");
                let silence = pspec.name() == "silence-threshold";
                if silence {
                    settings.silence_threshold = v;
                } else {
                    settings.min_speech_ratio = v;
                }
                drop(settings);
                if let Some(state) = lock(&self.state).as_mut() {
                    for ch in &mut state.channels {
                        if silence {
                            ch.analyzer.set_silence_threshold(v);
                        } else {
                            ch.analyzer.set_min_speech_ratio(v);
                        }
                    }
                }
            }
            "post-messages" => settings.post_messages = value.get().expect("type checked upstream"),
            "channel-mode" => settings.channel_mode = value.get().expect("type checked upstream"),
            "channel-names" => settings.channel_names = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = lock(&self.settings);
        match pspec.name() {
            "model-file" => settings.model_file.to_value(),
            "execution-provider" => settings.provider.to_value(),
            "execution-provider-in-use" => {
                lock(&self.provider_in_use).map(Provider::name).to_value()
            }
            "window-duration" => settings.window.nseconds().to_value(),
            "interval" => settings.interval.nseconds().to_value(),
            "silence-threshold" => settings.silence_threshold.to_value(),
            "min-speech-ratio" => settings.min_speech_ratio.to_value(),
            "post-messages" => settings.post_messages.to_value(),
            "channel-mode" => settings.channel_mode.to_value(),
            "channel-names" => settings.channel_names.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for EmotionDetect {}

impl ElementImpl for EmotionDetect {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Speech emotion detection",
                "Filter/Analyzer/Audio",
                "Classifies the emotion of speech in sliding windows and posts the results as element \
                 messages and buffer metadata; the audio passes through unchanged",
                "emotiondetect developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = allowed_caps();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    caps,
                )
                .expect("valid template"),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    caps,
                )
                .expect("valid template"),
            ]
        });
        TEMPLATES.as_ref()
    }
}

/// Whether two segments map timestamps to the same stream and running
/// times (the position, which advances with the data, does not count).
fn same_timeline(a: &gst::Segment, b: &gst::Segment) -> bool {
    a.format() == b.format()
        && a.rate() == b.rate()
        && a.applied_rate() == b.applied_rate()
        && a.start() == b.start()
        && a.stop() == b.stop()
        && a.time() == b.time()
        && a.base() == b.base()
}

fn allowed_caps() -> &'static gst::Caps {
    static CAPS: LazyLock<gst::Caps> = LazyLock::new(|| {
        gst_audio::AudioCapsBuilder::new_interleaved()
            .format_list([
                gst_audio::AudioFormat::S16le,
                gst_audio::AudioFormat::S32le,
                gst_audio::AudioFormat::F32le,
                gst_audio::AudioFormat::F64le,
            ])
            .build()
    });
    &CAPS
}

impl BaseTransformImpl for EmotionDetect {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    // In place rather than passthrough, so results can be attached as meta;
    // the memory is only ever mapped readable, so the audio is not copied.
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = lock(&self.settings).clone();
        let path = settings.model_file.as_deref().map(std::path::Path::new);
        let sources: Vec<ModelSource> = match path {
            Some(p) => vec![ModelSource::File(p)],
            None => (0..model::BUILTIN_MODELS.len())
                .map(ModelSource::Builtin)
                .collect(),
        };
        let mut models = Vec::new();
        for source in sources {
            let model =
                SharedModel::get(source, settings.provider.into(), Some(Self::ort_logger()))
                    .map_err(|e| self.model_error(&e))?;
            let contract = model.contract();
            let rate = contract.features.sample_rate as u64;
            let to_samples = |t: gst::ClockTime| {
                t.nseconds()
                    .mul_div_floor(rate, gst::ClockTime::SECOND.nseconds())
                    .unwrap_or(0)
            };
            let config = WindowConfig {
                window: to_samples(settings.window),
                interval: to_samples(settings.interval),
                min_tail: to_samples(MIN_TAIL),
                silence_threshold_db: settings.silence_threshold,
                min_speech_ratio: settings.min_speech_ratio,
            };
            // Checked now, so a bad setting fails the state change.
            Analyzer::check(&contract.features, &config).map_err(|e| {
                gst::error_msg!(
                    gst::LibraryError::Settings,
                    (
                        "invalid window-duration {} / interval {} for {}: {e}",
                        settings.window,
                        settings.interval,
                        source.name()
                    )
                )
            })?;
            gst::info!(
                CAT,
                imp = self,
                "{} loaded from {}: {} Hz, labels {:?}, execution provider in use: {}",
                source.name(),
                model.library().display(),
                rate,
                contract.labels,
                model.provider().name()
            );
            let emotions = contract.emotions();
            models.push(Loaded {
                model,
                config,
                emotions,
            });
        }
        *lock(&self.provider_in_use) = models.first().map(|l| l.model.provider());
        *lock(&self.state) = Some(State {
            models,
            active: 0,
            channels: Vec::new(),
            info: None,
            base: None,
            span: (None, None),
            records: Vec::new(),
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *lock(&self.state) = None;
        Ok(())
    }

    fn transform_caps(
        &self,
        direction: gst::PadDirection,
        caps: &gst::Caps,
        filter: Option<&gst::Caps>,
    ) -> Option<gst::Caps> {
        let rates: Vec<i32> = lock(&self.state)
            .as_ref()
            .map(|s| s.models.iter().map(|l| l.rate() as i32).collect())
            .unwrap_or_default();
        let mut caps = caps.clone();
        if !rates.is_empty() {
            // The models fix the rates; everything else passes through.
            for s in caps.make_mut().iter_mut() {
                match rates.as_slice() {
                    [rate] => s.set("rate", rate),
                    _ => s.set("rate", gst::List::new(rates.iter().copied())),
                }
            }
        }
        gst::trace!(CAT, imp = self, "{direction:?}: transformed caps {caps}");
        Some(match filter {
            Some(f) => f.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
            None => caps,
        })
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStop(_) => {
                if let Some(state) = lock(&self.state).as_mut() {
                    let n_labels = state.labels().len();
                    for ch in &mut state.channels {
                        ch.analyzer.reset();
                        ch.tracker = SegmentTracker::new(n_labels);
                        ch.summary = Summary::new(n_labels);
                    }
                    state.records.clear();
                    state.base = None;
                    state.span = (None, None);
                }
            }
            gst::EventView::Eos(_) => {
                if let Err(msg) = self.drain_and_summarize() {
                    self.post_error_message(msg);
                }
            }
            // No audio for a while, or a new timeline: what came before is
            // a stream of its own. A repeated, identical segment (sent with
            // new caps, for instance) changes nothing.
            view @ (gst::EventView::Gap(_) | gst::EventView::Segment(_)) => {
                let new_timeline = match view {
                    gst::EventView::Segment(e) => {
                        !same_timeline(e.segment(), &self.obj().segment())
                    }
                    _ => true,
                };
                if new_timeline {
                    if let Err(msg) = self.end_stretch() {
                        self.post_error_message(msg);
                    }
                }
            }
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = lock(&self.state);
        let state = guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
        if state.info.is_none() {
            return Err(gst::FlowError::NotNegotiated);
        }

        // Timing: a DISCONT flag or a timestamp later than expected ends the
        // current stretch, so no window spans the discontinuity; audio
        // timestamped before what was already analysed (an overlap) is
        // skipped, so results stay in order.
        let pts = buf.pts();
        let expected = state
            .base
            .map(|b| b + state.samples_to_time(state.received()));
        let (jumped, overlap) = match (pts, expected) {
            (Some(p), Some(e)) if p > e + DISCONT_TOLERANCE => (true, gst::ClockTime::ZERO),
            (Some(p), Some(e)) if p + DISCONT_TOLERANCE < e => (false, e - p),
            _ => (false, gst::ClockTime::ZERO),
        };
        if state.base.is_some() && (jumped || buf.flags().contains(gst::BufferFlags::DISCONT)) {
            gst::debug!(
                CAT,
                imp = self,
                "discontinuity at {pts:?} (expected {expected:?})"
            );
            let (structures, result) = self.end_stretch_locked(state);
            drop(guard);
            self.post(structures);
            if let Err(msg) = result {
                self.post_error_message(msg);
                return Err(gst::FlowError::Error);
            }
            guard = lock(&self.state);
        }
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let skip = if state.base.is_some() && !overlap.is_zero() {
            gst::debug!(
                CAT,
                imp = self,
                "{overlap} of audio at {pts:?} overlaps what was analysed"
            );
            overlap
                .nseconds()
                .mul_div_ceil(
                    state.loaded().rate() as u64,
                    gst::ClockTime::SECOND.nseconds(),
                )
                .unwrap_or(u64::MAX) as usize
        } else {
            0
        };
        if state.base.is_none() {
            let segment_start = self.segment().and_then(|s| s.start());
            state.base = Some(pts.or(segment_start).unwrap_or(gst::ClockTime::ZERO));
        }
        if state.span.0.is_none() {
            state.span.0 = state.base;
        }

        // Upstream voice activity (e.g. from a level or VAD element) wins
        // over ours for this buffer's frames.
        let external_vad = buf
            .meta::<gst_audio::AudioLevelMeta>()
            .map(|m| m.voice_activity());
        let map = buf.map_readable().map_err(|_| {
            gst::element_imp_error!(
                self,
                gst::CoreError::Failed,
                ("Failed to map buffer readable")
            );
            gst::FlowError::Error
        })?;
        // Set by `setup` on this thread before any buffer, and never unset
        // while streaming; checked again only because the lock was let go.
        let info = state.info.as_ref().ok_or(gst::FlowError::NotNegotiated)?;
        Self::split_channels(info, &map, &mut state.channels);
        drop(map);
        let mut model = Arc::clone(&state.loaded().model);
        let mut pushed = Ok(());
        for (k, ch) in state.channels.iter_mut().enumerate() {
            let records = &mut state.records;
            ch.analyzer.set_external_voice_activity(external_vad);
            let samples = &ch.samples[skip.min(ch.samples.len())..];
            pushed = pushed.and(
                ch.analyzer
                    .push(samples, &mut model, |w| records.push(Record::window(k, w))),
            );
        }
        state.span.1 = state
            .base
            .map(|b| b + state.samples_to_time(state.received()));
        let structures = self.take_records(state);
        drop(guard);
        if let Err(e) = pushed {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("{e}"));
            return Err(gst::FlowError::Error);
        }

        for (s, _) in structures.iter().filter(|(_, is_window)| *is_window) {
            match gst::meta::CustomMeta::add(buf, super::META_NAME) {
                Ok(mut meta) => {
                    let dst = meta.mut_structure();
                    for (name, value) in s.iter() {
                        dst.set_value(name, value.clone());
                    }
                }
                Err(e) => gst::warning!(CAT, imp = self, "cannot attach {}: {e}", super::META_NAME),
            }
        }
        self.post(structures.into_iter().map(|(s, _)| s));
        Ok(gst::FlowSuccess::Ok)
    }
}

impl AudioFilterImpl for EmotionDetect {
    fn allowed_caps() -> &'static gst::Caps {
        allowed_caps()
    }

    fn setup(&self, info: &gst_audio::AudioInfo) -> Result<(), gst::LoggableError> {
        let settings = lock(&self.settings).clone();
        let mut guard = lock(&self.state);
        let state = guard
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "caps set before the element started"))?;
        let Some(active) = state.models.iter().position(|l| l.rate() == info.rate()) else {
            let rates: Vec<u32> = state.models.iter().map(Loaded::rate).collect();
            return Err(gst::loggable_error!(
                CAT,
                "sample rate {} Hz matches no model ({rates:?} Hz): put audioresample before emotiondetect",
                info.rate()
            ));
        };
        let count = match settings.channel_mode {
            ChannelMode::Mix => 1,
            ChannelMode::Independent => info.channels() as usize,
        };
        let mut to_post = Vec::new();
        if state.channels.len() != count || state.active != active {
            // A new model or a new channel layout: what came before ends here.
            if !state.channels.is_empty() {
                let (structures, result) = self.end_stretch_locked(state);
                to_post = structures;
                if let Err(msg) = result {
                    gst::warning!(CAT, imp = self, "{msg:?}");
                }
            }
            state.active = active;
            state.channels = self.make_channels(
                &state.models[active],
                count,
                settings.channel_mode,
                settings.channel_names.as_deref(),
            )?;
            *lock(&self.provider_in_use) = Some(state.models[active].model.provider());
        }
        gst::debug!(
            CAT,
            imp = self,
            "configured for {info:?}, {count} analysed channel(s)"
        );
        state.info = Some(info.clone());
        drop(guard);
        self.post(to_post);
        Ok(())
    }
}
