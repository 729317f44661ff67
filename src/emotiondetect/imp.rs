// SPDX-License-Identifier: MPL-2.0
//! GStreamer glue: caps, timing, per-channel windowing through
//! [`Analyzer`], messages and metadata. The audio passes through untouched.

use std::sync::{Arc, LazyLock, Mutex};

use byte_slice_cast::AsSliceOf;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_audio::subclass::prelude::*;
use gst_base::prelude::*;

use emotiondetect_core::analysis::{
    effective_min_speech_ratio, is_automatic_speech_ratio, Analyzer, SegmentTracker, Window,
    WindowConfig, AUTO_MIN_SPEECH_RATIO, AUTO_MIN_SPEECH_RATIO_WITH_GATE, NON_SPEECH_BIAS_LIMIT,
};
use emotiondetect_core::model::{
    self, LogLevel, Logger, ModelError, ModelSource, Provider, SharedModel,
};
use emotiondetect_core::sync::lock;

use super::results::{self, Speaker, Summary, Times};

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
/// model's `non-speech` output and the voice activity detector's
/// (`min-speech-ratio`).
const DEFAULT_SILENCE_THRESHOLD: f64 = -60.0;
/// Automatic (any negative value): `AUTO_MIN_SPEECH_RATIO_WITH_GATE` for a
/// model with a `non-speech` output, `AUTO_MIN_SPEECH_RATIO` for one without.
const DEFAULT_MIN_SPEECH_RATIO: f64 = -1.0;
/// The model's own decision between speech and not speech (the model
/// card, *A bias on the non-speech decision*).
const DEFAULT_NON_SPEECH_BIAS: f64 = 0.0;
const DEFAULT_POST_MESSAGES: bool = true;
const DEFAULT_ADAPT_TO_SPEAKER: bool = true;
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

/// Properties that define the analysis: set in NULL or READY only
/// (`GST_PARAM_MUTABLE_READY`); a change while PAUSED or PLAYING is refused
/// with a warning.
const STRUCTURAL: [&str; 7] = [
    "model-file",
    "execution-provider",
    "window-duration",
    "interval",
    "channel-mode",
    "channel-names",
    "sample-rate",
];

/// Settings the streaming thread applies as they change, copied at the top
/// of each buffer.
#[derive(Debug, Clone, Copy)]
struct LiveSettings {
    silence_threshold: f64,
    min_speech_ratio: f64,
    non_speech_bias: f64,
    post_messages: bool,
    adapt_to_speaker: bool,
}

#[derive(Debug, Clone)]
struct Settings {
    model_file: Option<String>,
    provider: ExecutionProvider,
    window: gst::ClockTime,
    interval: gst::ClockTime,
    channel_mode: ChannelMode,
    channel_names: Option<String>,
    /// 0: any rate a model offers; otherwise only this one.
    sample_rate: u32,
    live: LiveSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model_file: None,
            provider: DEFAULT_PROVIDER,
            window: DEFAULT_WINDOW,
            interval: DEFAULT_INTERVAL,
            channel_mode: DEFAULT_CHANNEL_MODE,
            channel_names: None,
            sample_rate: 0,
            live: LiveSettings {
                silence_threshold: DEFAULT_SILENCE_THRESHOLD,
                min_speech_ratio: DEFAULT_MIN_SPEECH_RATIO,
                non_speech_bias: DEFAULT_NON_SPEECH_BIAS,
                post_messages: DEFAULT_POST_MESSAGES,
                adapt_to_speaker: DEFAULT_ADAPT_TO_SPEAKER,
            },
        }
    }
}

/// A model the element can use, with the window settings in its samples.
struct Loaded {
    name: String,
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

/// A sample type the element reads: from the buffer in place, or from bytes
/// when the buffer's samples are not aligned to their size.
trait Sample: byte_slice_cast::FromByteSlice + Copy {
    fn from_ne_slice(bytes: &[u8]) -> Self;
}

macro_rules! sample {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            fn from_ne_slice(bytes: &[u8]) -> Self {
                <$t>::from_ne_bytes(bytes.try_into().expect("chunks of the sample's size"))
            }
        }
    )*};
}
sample!(i16, i32, f32, f64);

/// One analysed signal: the mix, or one input channel.
struct Channel {
    speaker: Speaker,
    analyzer: Analyzer,
    tracker: SegmentTracker,
    summary: Summary,
    /// This buffer's samples of the channel (capacity reused).
    samples: Vec<f32>,
}

/// What the analyzers reported while the state was locked, turned into
/// results once it is not.
enum Record {
    Window {
        channel: usize,
        start: u64,
        len: u64,
        speech_ratio: f64,
        speech_or_noise_ratio: f64,
        probabilities: Option<Vec<f32>>,
        speaker_frames: u64,
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
            speech_or_noise_ratio: w.speech_or_noise_ratio,
            probabilities: w.probabilities.map(<[f32]>::to_vec),
            speaker_frames: w.speaker_frames,
        }
    }
}

/// Results to post, and which of them are window results that ride on the
/// buffer.
#[derive(Default)]
struct Outgoing {
    messages: Vec<gst::Structure>,
    windows: Vec<gst::Structure>,
}

impl Outgoing {
    fn extend(&mut self, other: Outgoing) {
        self.messages.extend(other.messages);
        self.windows.extend(other.windows);
    }
}

/// The part of the stream a summary covers: from the first analysed
/// instant (its times taken while its segment was current), and how much
/// audio was analysed since.
#[derive(Default)]
struct Part {
    first: Option<Times>,
    analysed: gst::ClockTime,
}

/// Created in `start()`, dropped in `stop()`; touched by the streaming
/// thread only (and by the state changes that create and drop it).
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
    /// End of the audio analysed on the current timeline: audio stamped
    /// before it (a timestamp jump backwards) is not analysed again.
    high_water: Option<gst::ClockTime>,
    part: Part,
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

    fn time_to_samples(&self, time: gst::ClockTime) -> u64 {
        time.nseconds()
            .mul_div_ceil(
                self.loaded().rate() as u64,
                gst::ClockTime::SECOND.nseconds(),
            )
            .unwrap_or(u64::MAX)
    }

    /// Samples analysed in the current stretch.
    fn received(&self) -> u64 {
        self.channels.first().map_or(0, |c| c.analyzer.received())
    }

    /// The end of what the current stretch analysed.
    fn stretch_end(&self) -> Option<gst::ClockTime> {
        self.base.map(|b| b + self.samples_to_time(self.received()))
    }

    /// Runs the tail rule on every channel and resets the analyzers.
    fn finish_stretch(&mut self) -> Result<(), ModelError> {
        self.part.analysed += self.samples_to_time(self.received());
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

    /// Forgets the timeline: after a flush or with a new segment.
    fn new_timeline(&mut self) {
        self.high_water = None;
    }
}

/// Lock order: `settings`, then `state`, then the model registry, queue and
/// session of `emotiondetect_core::model`; `rates` and `in_use` are taken
/// alone. Application threads (properties, caps queries) never take
/// `state`, which the streaming thread holds through inference.
#[derive(Default)]
pub struct EmotionDetect {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// The rates the loaded models accept, for caps negotiation.
    rates: Mutex<Vec<u32>>,
    in_use: Mutex<InUse>,
}

/// What the read-only properties report.
#[derive(Default)]
struct InUse {
    provider: Option<Provider>,
    model: Option<String>,
    /// Whether the model in use has a `non-speech` output (what the
    /// automatic `min-speech-ratio` depends on), once caps are set.
    non_speech: Option<bool>,
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

    /// Turns the records collected in `state` into results, updating
    /// summaries and segments.
    fn take_records(&self, state: &mut State) -> Outgoing {
        let mut out = Outgoing::default();
        // Most buffers complete no window: skip the segment copy.
        if state.records.is_empty() {
            return out;
        }
        let segment = self.segment();
        let base = state.base.unwrap_or(gst::ClockTime::ZERO);
        let mut records = std::mem::take(&mut state.records);
        let mut closed = Vec::new();
        for record in records.drain(..) {
            let channel = match record {
                Record::Window {
                    channel,
                    start,
                    len,
                    speech_ratio,
                    speech_or_noise_ratio,
                    probabilities,
                    speaker_frames,
                } => {
                    state.channels[channel].tracker.window(
                        start,
                        len,
                        probabilities.as_deref(),
                        &mut closed,
                    );
                    if let Some(p) = probabilities {
                        let times = Times::at(
                            segment.as_ref(),
                            base + state.samples_to_time(start),
                            state.samples_to_time(len),
                        );
                        let p: Vec<f64> = p.iter().map(|&v| v as f64).collect();
                        state.channels[channel].summary.add(&p, times.duration);
                        let ch = &state.channels[channel];
                        let s = results::window(
                            &times,
                            &ch.speaker,
                            speech_ratio,
                            speaker_frames,
                            state.labels(),
                            &p,
                        );
                        out.windows.push(s.clone());
                        out.messages.push(s);
                    } else {
                        gst::trace!(
                            CAT,
                            imp = self,
                            "channel {channel}: window at sample {start} not classified (speech ratio {speech_ratio:.2}, speech or noise {speech_or_noise_ratio:.2})"
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
                let start = base + state.samples_to_time(s.start);
                let end = base + state.samples_to_time(s.end);
                let times = Times::at(segment.as_ref(), start, end - start);
                let ch = &state.channels[channel];
                out.messages.push(results::segment(
                    &times,
                    &ch.speaker,
                    &state.labels()[s.label],
                    s.confidence,
                    s.windows,
                ));
            }
        }
        state.records = records;
        out
    }

    fn post(&self, structures: Vec<gst::Structure>, post_messages: bool) {
        if !post_messages {
            return;
        }
        for s in structures {
            let _ = self
                .obj()
                .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        }
    }

    fn post_messages(&self) -> bool {
        lock(&self.settings).live.post_messages
    }

    /// Ends the current stretch of continuous audio in `state`: tail
    /// windows (see [`Analyzer::finish`]) and open segments.
    fn end_stretch_locked(&self, state: &mut State) -> (Outgoing, Result<(), gst::ErrorMessage>) {
        if state.base.is_none() {
            return (Outgoing::default(), Ok(()));
        }
        let end = state.stretch_end();
        let finished = state.finish_stretch();
        let out = self.take_records(state);
        state.base = None;
        state.high_water = state.high_water.max(end);
        (out, finished.map_err(|e| self.model_error(&e)))
    }

    /// The summary of every channel over the part of the stream analysed
    /// since the last summary; starts a new part.
    fn summaries_locked(&self, state: &mut State) -> Vec<gst::Structure> {
        let part = std::mem::take(&mut state.part);
        let times = part.first.map_or(
            Times {
                timestamp: gst::ClockTime::ZERO,
                stream_time: None,
                running_time: None,
                duration: gst::ClockTime::ZERO,
            },
            |first| Times {
                duration: part.analysed,
                ..first
            },
        );
        let n_labels = state.labels().len();
        let mut out = Vec::with_capacity(state.channels.len());
        for ch in &mut state.channels {
            out.push(results::summary(
                &times,
                &ch.speaker,
                &state.models[state.active].emotions,
                &ch.summary,
            ));
            ch.summary = Summary::new(n_labels);
        }
        out
    }

    /// [`end_stretch_locked`](Self::end_stretch_locked), then posts, and
    /// with `summarize` the summaries after. Called without locks held.
    fn end_stretch(&self, summarize: bool, new_timeline: bool) -> Result<(), gst::ErrorMessage> {
        let post_messages = self.post_messages();
        let mut guard = lock(&self.state);
        let Some(state) = guard.as_mut() else {
            return Ok(());
        };
        let (mut out, result) = self.end_stretch_locked(state);
        if summarize {
            out.messages.extend(self.summaries_locked(state));
        }
        if new_timeline {
            state.new_timeline();
        }
        drop(guard);
        self.post(out.messages, post_messages);
        result
    }

    /// Converts the buffer's samples into one signal per analysed channel.
    fn split_channels(
        info: &gst_audio::AudioInfo,
        buf: &gst::BufferRef,
        channels: &mut [Channel],
    ) -> Result<(), gst::FlowError> {
        let audio = gst_audio::AudioBufferRef::from_buffer_ref_readable(buf, info)
            .map_err(|_| gst::FlowError::Error)?;
        let data = audio.plane_data(0).map_err(|_| gst::FlowError::Error)?;
        for ch in channels.iter_mut() {
            ch.samples.clear();
        }
        fn split<T: Sample>(
            data: &[u8],
            n: usize,
            channels: &mut [Channel],
            to_f32: impl Fn(T) -> f32,
        ) -> Result<(), gst::FlowError> {
            let copied: Vec<T>;
            let data = match data.as_slice_of::<T>() {
                Ok(data) => data,
                // Samples that do not start at a multiple of their size: a
                // WAV whose data chunk starts at such an offset (a `fact`
                // chunk before it), parsed in push mode, comes in sub-buffers
                // of the file's. Read them through a copy.
                Err(byte_slice_cast::Error::AlignmentMismatch { .. }) => {
                    copied = data
                        .chunks_exact(std::mem::size_of::<T>())
                        .map(T::from_ne_slice)
                        .collect();
                    &copied
                }
                Err(_) => return Err(gst::FlowError::NotNegotiated),
            };
            let data = &data[..data.len() - data.len() % n];
            if n == 1 {
                channels[0].samples.extend(data.iter().map(|&v| to_f32(v)));
            } else if channels.len() == 1 {
                let scale = 1.0 / n as f32;
                channels[0].samples.extend(
                    data.chunks_exact(n)
                        .map(|frame| frame.iter().map(|&v| to_f32(v)).sum::<f32>() * scale),
                );
            } else {
                for frame in data.chunks_exact(n) {
                    for (ch, &v) in channels.iter_mut().zip(frame) {
                        ch.samples.push(to_f32(v));
                    }
                }
            }
            Ok(())
        }
        let n = info.channels() as usize;
        match info.format() {
            gst_audio::AUDIO_FORMAT_S16 => split(data, n, channels, |v: i16| v as f32 / 32768.0),
            gst_audio::AUDIO_FORMAT_S32 => {
                split(data, n, channels, |v: i32| (v as f64 / 2147483648.0) as f32)
            }
            gst_audio::AUDIO_FORMAT_F32 => split(data, n, channels, |v: f32| v),
            gst_audio::AUDIO_FORMAT_F64 => split(data, n, channels, |v: f64| v as f32),
            _ => Err(gst::FlowError::NotNegotiated),
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
                    contract.adaptation.as_ref(),
                    loaded.config,
                )
                .map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
                let name = match mode {
                    ChannelMode::Mix => None,
                    ChannelMode::Independent => names
                        .get(k)
                        .filter(|n| !n.is_empty())
                        .map(|n| n.to_string()),
                };
                Ok(Channel {
                    speaker: Speaker {
                        channel: k as i32,
                        name,
                    },
                    analyzer,
                    tracker: SegmentTracker::new(loaded.emotions.len()),
                    summary: Summary::new(loaded.emotions.len()),
                    samples: Vec::new(),
                })
            })
            .collect()
    }

    /// What is wrong with `channel-names` for `channels` input channels in
    /// `mode`, if anything.
    fn channel_names_problem(
        names: Option<&str>,
        mode: ChannelMode,
        channels: usize,
    ) -> Option<String> {
        let names = names?;
        let count = names.split(',').count();
        match mode {
            ChannelMode::Mix => Some(format!(
                "channel-names \"{names}\" is ignored with channel-mode=mix: set channel-mode=independent to name each channel"
            )),
            ChannelMode::Independent if count != channels => Some(format!(
                "channel-names \"{names}\" names {count} channel(s) but the stream has {channels}: {}",
                if count < channels {
                    "the channels without a name get no speaker field"
                } else {
                    "the extra names are ignored"
                }
            )),
            ChannelMode::Independent => None,
        }
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
                glib::ParamSpecString::builder("model-in-use")
                    .nick("Model in use")
                    .blurb("The model the negotiated sample rate chose (built-in name or file), once caps are set")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt::builder("sample-rate")
                    .nick("Sample rate")
                    .blurb("Only accept this rate (Hz), which picks the built-in model: 16000 or 8000; 0: any rate a model takes")
                    .maximum(384_000)
                    .default_value(0)
                    .mutable_ready()
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
                    .blurb(&format!("Windows with a smaller share of speech frames are not classified (0: no speech gating; negative: automatic, {AUTO_MIN_SPEECH_RATIO_WITH_GATE} of frames that are speech or noise-like in the speech band, one of them more than a sound's onset, for a model with a non-speech output, {AUTO_MIN_SPEECH_RATIO} of speech frames otherwise)"))
                    .minimum(-1.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_MIN_SPEECH_RATIO)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("min-speech-ratio-in-use")
                    .nick("Minimum speech ratio in use")
                    .blurb("The min-speech-ratio in force: the set value, or the automatic one for the model in use once caps are set (-1 until then)")
                    .minimum(-1.0)
                    .maximum(1.0)
                    .default_value(-1.0)
                    .read_only()
                    .build(),
                glib::ParamSpecDouble::builder("non-speech-bias")
                    .nick("Non-speech bias")
                    .blurb("For a model with a non-speech output: a window is not classified when its non-speech probability times e^bias is its largest output. 0: the model's own decision; positive: fewer windows of sounds that are not speech classified, and fewer of speech; negative: the reverse. A window's probabilities are the model's; with adapt-to-speaker the statistics learn only from classified windows")
                    .minimum(-NON_SPEECH_BIAS_LIMIT)
                    .maximum(NON_SPEECH_BIAS_LIMIT)
                    .default_value(DEFAULT_NON_SPEECH_BIAS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post an element message per result")
                    .default_value(DEFAULT_POST_MESSAGES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("adapt-to-speaker")
                    .nick("Adapt to speaker")
                    .blurb("Normalise each channel's features by statistics of its own speech, gathered during the stream and warm-started from the training statistics; no effect on models without emotiondetect.adaptation metadata")
                    .default_value(DEFAULT_ADAPT_TO_SPEAKER)
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
        let name = pspec.name();
        if STRUCTURAL.contains(&name) && self.obj().current_state() > gst::State::Ready {
            gst::element_imp_warning!(
                self,
                gst::LibraryError::Settings,
                (
                    "{name} can only be changed in the NULL or READY state; the change to {value:?} is ignored"
                )
            );
            return;
        }
        let mut settings = lock(&self.settings);
        let get_time = |v: &glib::Value| {
            gst::ClockTime::from_nseconds(v.get().expect("type checked upstream"))
        };
        match name {
            "model-file" => settings.model_file = value.get().expect("type checked upstream"),
            "execution-provider" => settings.provider = value.get().expect("type checked upstream"),
            "window-duration" => settings.window = get_time(value),
            "interval" => settings.interval = get_time(value),
            "sample-rate" => settings.sample_rate = value.get().expect("type checked upstream"),
            "silence-threshold" => {
                settings.live.silence_threshold = value.get().expect("type checked upstream")
            }
            "min-speech-ratio" => {
                settings.live.min_speech_ratio = value.get().expect("type checked upstream")
            }
            "non-speech-bias" => {
                settings.live.non_speech_bias = value.get().expect("type checked upstream")
            }
            "post-messages" => {
                settings.live.post_messages = value.get().expect("type checked upstream")
            }
            "adapt-to-speaker" => {
                settings.live.adapt_to_speaker = value.get().expect("type checked upstream")
            }
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
                lock(&self.in_use).provider.map(Provider::name).to_value()
            }
            "model-in-use" => lock(&self.in_use).model.to_value(),
            "min-speech-ratio-in-use" => {
                let set = settings.live.min_speech_ratio;
                match lock(&self.in_use).non_speech {
                    Some(gate) => effective_min_speech_ratio(set, gate),
                    None if !is_automatic_speech_ratio(set) => set,
                    None => -1.0,
                }
                .to_value()
            }
            "sample-rate" => settings.sample_rate.to_value(),
            "window-duration" => settings.window.nseconds().to_value(),
            "interval" => settings.interval.nseconds().to_value(),
            "silence-threshold" => settings.live.silence_threshold.to_value(),
            "min-speech-ratio" => settings.live.min_speech_ratio.to_value(),
            "non-speech-bias" => settings.live.non_speech_bias.to_value(),
            "post-messages" => settings.live.post_messages.to_value(),
            "adapt-to-speaker" => settings.live.adapt_to_speaker.to_value(),
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
                gst_audio::AUDIO_FORMAT_S16,
                gst_audio::AUDIO_FORMAT_S32,
                gst_audio::AUDIO_FORMAT_F32,
                gst_audio::AUDIO_FORMAT_F64,
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
            // Only the built-in models of a set rate: loading the others
            // (to find their rate) would load sessions the stream never uses.
            None => model::BuiltinModel::sources_for(settings.sample_rate).collect(),
        };
        let mut models = Vec::new();
        for source in sources {
            let model =
                SharedModel::get(source, settings.provider.into(), Some(Self::ort_logger()))
                    .map_err(|e| self.model_error(&e))?;
            let contract = model.contract();
            let rate = contract.features.sample_rate as u64;
            if settings.sample_rate != 0 && rate != settings.sample_rate as u64 {
                continue;
            }
            let to_samples = |t: gst::ClockTime| {
                t.nseconds()
                    .mul_div_floor(rate, gst::ClockTime::SECOND.nseconds())
                    .unwrap_or(0)
            };
            let config = WindowConfig {
                window: to_samples(settings.window),
                interval: to_samples(settings.interval),
                min_tail: to_samples(MIN_TAIL),
                silence_threshold_db: settings.live.silence_threshold,
                min_speech_ratio: settings.live.min_speech_ratio,
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
            match &contract.adaptation {
                Some(prior) => gst::info!(
                    CAT,
                    imp = self,
                    "{}: speaker adaptation available (prior worth {} frames)",
                    source.name(),
                    prior.prior_frames()
                ),
                None => gst::info!(
                    CAT,
                    imp = self,
                    "{}: speaker adaptation not available (no emotiondetect.adaptation metadata)",
                    source.name()
                ),
            }
            let emotions = contract.emotions();
            let name = match source {
                ModelSource::Builtin(i) => model::BUILTIN_MODELS[i].name.to_string(),
                ModelSource::File(p) => p.display().to_string(),
            };
            models.push(Loaded {
                name,
                model,
                config,
                emotions,
            });
        }
        if models.is_empty() {
            let why = match &settings.model_file {
                Some(f) => format!("{f} is not a model of that rate"),
                None => {
                    let rates: Vec<String> = model::BUILTIN_MODELS
                        .iter()
                        .map(|m| m.sample_rate.to_string())
                        .collect();
                    format!("the built-in models take {} Hz", rates.join(" and "))
                }
            };
            return Err(gst::error_msg!(
                gst::LibraryError::Settings,
                (
                    "sample-rate {} Hz matches no model: {why}",
                    settings.sample_rate
                )
            ));
        }
        *lock(&self.rates) = models.iter().map(Loaded::rate).collect();
        *lock(&self.in_use) = InUse {
            provider: models.first().map(|l| l.model.provider()),
            model: None,
            non_speech: None,
        };
        *lock(&self.state) = Some(State {
            models,
            active: 0,
            channels: Vec::new(),
            info: None,
            base: None,
            high_water: None,
            part: Part::default(),
            records: Vec::new(),
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *lock(&self.state) = None;
        lock(&self.rates).clear();
        Ok(())
    }

    fn transform_caps(
        &self,
        direction: gst::PadDirection,
        caps: &gst::Caps,
        filter: Option<&gst::Caps>,
    ) -> Option<gst::Caps> {
        let rates = lock(&self.rates).clone();
        let mut caps = caps.clone();
        if !rates.is_empty() {
            // The models fix the rates; everything else passes through.
            for s in caps.make_mut().iter_mut() {
                match rates.as_slice() {
                    [rate] => s.set("rate", *rate as i32),
                    _ => s.set("rate", gst::List::new(rates.iter().map(|&r| r as i32))),
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
                        // A seek in the same recording: same speaker, whose
                        // statistics the reset keeps.
                        ch.analyzer.reset();
                        ch.tracker = SegmentTracker::new(n_labels);
                        ch.summary = Summary::new(n_labels);
                    }
                    state.records.clear();
                    state.base = None;
                    state.part = Part::default();
                    state.new_timeline();
                }
            }
            // A new stream: whoever speaks on a channel now is someone
            // else, so the stream before ends with its own speaker's
            // statistics, then they are forgotten. A flush, a discontinuity
            // or a gap keeps the speaker.
            gst::EventView::StreamStart(_) => {
                if let Err(msg) = self.end_stretch(false, false) {
                    self.post_error_message(msg);
                }
                if let Some(state) = lock(&self.state).as_mut() {
                    for ch in &mut state.channels {
                        ch.analyzer.forget_speaker();
                    }
                }
            }
            gst::EventView::Eos(_) => {
                if let Err(msg) = self.end_stretch(true, false) {
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
                    _ => false,
                };
                let ends_stretch = new_timeline || matches!(view, gst::EventView::Gap(_));
                if ends_stretch {
                    if let Err(msg) = self.end_stretch(false, new_timeline) {
                        self.post_error_message(msg);
                    }
                }
            }
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let live = lock(&self.settings).live;
        let mut guard = lock(&self.state);
        let state = guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
        if state.info.is_none() {
            return Err(gst::FlowError::NotNegotiated);
        }

        // Timing: a DISCONT flag or a timestamp away from the expected one
        // (either way) ends the current stretch, so no window spans the
        // discontinuity; audio stamped before what this timeline already
        // analysed is skipped, so results stay in order.
        let pts = buf.pts();
        let expected = state.stretch_end();
        let jumped = matches!(
            (pts, expected),
            (Some(p), Some(e)) if p > e + DISCONT_TOLERANCE || p + DISCONT_TOLERANCE < e
        );
        let mut out = Outgoing::default();
        if state.base.is_some() && (jumped || buf.flags().contains(gst::BufferFlags::DISCONT)) {
            gst::debug!(
                CAT,
                imp = self,
                "discontinuity at {pts:?} (expected {expected:?})"
            );
            let (ended, result) = self.end_stretch_locked(state);
            out = ended;
            if let Err(msg) = result {
                drop(guard);
                self.post(out.messages, live.post_messages);
                self.post_error_message(msg);
                return Err(gst::FlowError::Error);
            }
        }
        let info = state.info.as_ref().ok_or(gst::FlowError::NotNegotiated)?;
        let frames = buf.size() as u64 / info.bpf() as u64;
        let skip = match (state.base, pts, state.high_water) {
            (None, Some(p), Some(h)) if p < h => state.time_to_samples(h - p),
            _ => 0,
        };
        if skip > 0 {
            gst::debug!(
                CAT,
                imp = self,
                "{} of audio at {pts:?} was analysed already",
                state.samples_to_time(skip.min(frames))
            );
        }
        if skip < frames {
            if state.base.is_none() {
                let segment_start = self.segment().and_then(|s| s.start());
                let start = pts.or(segment_start).unwrap_or(gst::ClockTime::ZERO)
                    + state.samples_to_time(skip);
                state.base = Some(start);
                if state.part.first.is_none() {
                    state.part.first = Some(Times::at(
                        self.segment().as_ref(),
                        start,
                        gst::ClockTime::ZERO,
                    ));
                }
            }
            // Upstream voice activity (e.g. from a level or VAD element) wins
            // over ours for this buffer's frames.
            let external_vad = buf
                .meta::<gst_audio::AudioLevelMeta>()
                .map(|m| m.voice_activity());
            let info = state.info.as_ref().ok_or(gst::FlowError::NotNegotiated)?;
            Self::split_channels(info, buf, &mut state.channels).inspect_err(|_| {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Failed,
                    ("Failed to read the buffer as {info:?}")
                );
            })?;
            let mut model = Arc::clone(&state.loaded().model);
            let mut pushed = Ok(());
            for (k, ch) in state.channels.iter_mut().enumerate() {
                let records = &mut state.records;
                ch.analyzer.set_silence_threshold(live.silence_threshold);
                ch.analyzer.set_min_speech_ratio(live.min_speech_ratio);
                ch.analyzer.set_non_speech_bias(live.non_speech_bias);
                ch.analyzer.set_speaker_adaptation(live.adapt_to_speaker);
                ch.analyzer.set_external_voice_activity(external_vad);
                let samples = &ch.samples[(skip as usize).min(ch.samples.len())..];
                pushed = pushed.and(
                    ch.analyzer
                        .push(samples, &mut model, |w| records.push(Record::window(k, w))),
                );
            }
            state.high_water = state.high_water.max(state.stretch_end());
            out.extend(self.take_records(state));
            if let Err(e) = pushed {
                drop(guard);
                self.post(out.messages, live.post_messages);
                gst::element_imp_error!(self, gst::StreamError::Failed, ("{e}"));
                return Err(gst::FlowError::Error);
            }
        }
        drop(guard);

        if let Err(e) = results::attach(buf, &out.windows) {
            gst::warning!(CAT, imp = self, "cannot attach {}: {e}", results::META_NAME);
        }
        self.post(out.messages, live.post_messages);
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
            // Caps at a rate no model takes reach us when upstream pushes
            // them without asking (wavparse does): say what to do, rather
            // than leave upstream to report "not-negotiated".
            let rates: Vec<String> = state.models.iter().map(|l| l.rate().to_string()).collect();
            let rates = rates.join(" or ");
            drop(guard);
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                (
                    "audio at {} Hz: emotiondetect's models take {rates} Hz; put audioresample before emotiondetect",
                    info.rate()
                )
            );
            return Err(gst::loggable_error!(
                CAT,
                "sample rate {} Hz matches no model ({rates} Hz)",
                info.rate()
            ));
        };
        let count = match settings.channel_mode {
            ChannelMode::Mix => 1,
            ChannelMode::Independent => info.channels() as usize,
        };
        let mut out = Outgoing::default();
        let mut names_problem = None;
        if state.channels.len() != count || state.active != active {
            // A new model or a new channel layout: what came before ends
            // here, with the summary of that part.
            if !state.channels.is_empty() {
                let (ended, result) = self.end_stretch_locked(state);
                out = ended;
                out.messages.extend(self.summaries_locked(state));
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
            let loaded = &state.models[active];
            gst::info!(
                CAT,
                imp = self,
                "{} Hz audio: using model {}",
                info.rate(),
                loaded.name
            );
            *lock(&self.in_use) = InUse {
                provider: Some(loaded.model.provider()),
                model: Some(loaded.name.clone()),
                non_speech: Some(loaded.model.contract().non_speech().is_some()),
            };
            names_problem = Self::channel_names_problem(
                settings.channel_names.as_deref(),
                settings.channel_mode,
                info.channels() as usize,
            );
        }
        gst::debug!(
            CAT,
            imp = self,
            "configured for {info:?}, {count} analysed channel(s)"
        );
        state.info = Some(info.clone());
        drop(guard);
        if let Some(problem) = names_problem {
            gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{problem}"));
        }
        self.post(out.messages, settings.live.post_messages);
        Ok(())
    }
}
