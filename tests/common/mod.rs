// SPDX-License-Identifier: MPL-2.0
//! Helpers shared by the integration tests: the element in a harness or a
//! pipeline, the audio pushed through it, the messages it posts, model
//! copies and the execution providers of the loaded ONNX Runtime. Each test
//! binary uses some of them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Once;

use emotiondetect_core::model::{Model, ModelSource, Provider};
use gst::prelude::*;

pub const RATE: u32 = 16000;

/// A mono RIFF WAVE file of `data`: format tag 1 (PCM) or 3 (IEEE float),
/// a `fmt ` chunk of 16 bytes, or 18 with an empty extension when
/// `fmt_extension`, a `fact` chunk holding `fact` when given, and the data
/// chunk, padded to an even length as RIFF asks.
pub fn wav_file(
    format: u16,
    rate: u32,
    bits: u16,
    fmt_extension: bool,
    fact: Option<u32>,
    data: &[u8],
) -> Vec<u8> {
    let block = bits / 8;
    let mut fmt = Vec::new();
    for v in [format, 1] {
        fmt.extend_from_slice(&v.to_le_bytes());
    }
    fmt.extend_from_slice(&rate.to_le_bytes());
    fmt.extend_from_slice(&(rate * block as u32).to_le_bytes());
    for v in [block, bits] {
        fmt.extend_from_slice(&v.to_le_bytes());
    }
    if fmt_extension {
        fmt.extend_from_slice(&0u16.to_le_bytes());
    }
    let mut chunks = Vec::new();
    let mut chunk = |id: &[u8], body: &[u8]| {
        chunks.extend_from_slice(id);
        chunks.extend_from_slice(&(body.len() as u32).to_le_bytes());
        chunks.extend_from_slice(body);
        if body.len() % 2 == 1 {
            chunks.push(0);
        }
    };
    chunk(b"fmt ", &fmt);
    if let Some(frames) = fact {
        chunk(b"fact", &frames.to_le_bytes());
    }
    chunk(b"data", data);
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(4 + chunks.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVE");
    wav.extend_from_slice(&chunks);
    wav
}

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstemotiondetect::plugin_register_static().expect("plugin registers");
    });
}

pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The bundled demo speech (16 kHz mono S16LE WAV), as floats in [-1, 1).
pub fn demo_speech() -> Vec<f32> {
    let bytes = std::fs::read(repo_path("assets/demo-speech.wav")).unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    let data = bytes.windows(4).position(|w| w == b"data").unwrap() + 8;
    bytes[data..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    S16,
    F32,
}

impl Format {
    pub fn caps(self, channels: u32) -> gst::Caps {
        self.caps_at(RATE, channels)
    }

    pub fn caps_at(self, rate: u32, channels: u32) -> gst::Caps {
        let format = match self {
            Format::S16 => gst_audio::AudioFormat::S16le,
            Format::F32 => gst_audio::AudioFormat::F32le,
        };
        gst_audio::AudioCapsBuilder::new_interleaved()
            .format(format)
            .rate(rate as i32)
            .channels(channels as i32)
            .build()
    }

    /// Interleaves `channels` copies of `mono` (channel c scaled by 1/(c+1)).
    pub fn bytes(self, mono: &[f32], channels: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for &s in mono {
            for c in 0..channels {
                self.put(s / (c + 1) as f32, &mut out);
            }
        }
        out
    }

    /// Interleaves one signal per channel, all of the same length.
    pub fn interleave(self, signals: &[&[f32]]) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..signals[0].len() {
            for signal in signals {
                self.put(signal[i], &mut out);
            }
        }
        out
    }

    fn put(self, v: f32, out: &mut Vec<u8>) {
        match self {
            Format::S16 => out.extend_from_slice(&((v * 32767.0).round() as i16).to_le_bytes()),
            Format::F32 => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
}

/// [`RATE`] audio at 8 kHz: each pair of samples averaged.
pub fn narrowband(wide: &[f32]) -> Vec<f32> {
    wide.chunks_exact(2).map(|p| (p[0] + p[1]) / 2.0).collect()
}

/// The `model-in-use` property of a harnessed element.
pub fn model_in_use(h: &gst_check::Harness) -> Option<String> {
    h.element()
        .unwrap()
        .property::<Option<String>>("model-in-use")
}

pub fn buffer(bytes: Vec<u8>, pts: gst::ClockTime, frames: u64) -> gst::Buffer {
    let mut buf = gst::Buffer::from_mut_slice(bytes);
    {
        let b = buf.get_mut().unwrap();
        b.set_pts(pts);
        b.set_duration(frames_to_time(frames));
    }
    buf
}

/// The bus of a harnessed element. Queued messages hold the element, which
/// holds the bus: flushing on drop breaks that cycle, so leak checkers see
/// only what the element itself leaks.
pub struct TestBus(gst::Bus);

impl std::ops::Deref for TestBus {
    type Target = gst::Bus;
    fn deref(&self) -> &gst::Bus {
        &self.0
    }
}

impl Drop for TestBus {
    fn drop(&mut self) {
        self.0.set_flushing(true);
    }
}

/// A harness around `emotiondetect` with the given properties, a bus to
/// collect messages, and the caps set.
pub fn harness(
    props: &[(&str, &str)],
    format: Format,
    channels: u32,
) -> (gst_check::Harness, TestBus) {
    init();
    // Properties before the harness: it activates the pads, which starts
    // the element.
    let mut builder = gst::ElementFactory::make("emotiondetect");
    for (name, value) in props {
        builder = builder.property_from_str(name, value);
    }
    let element = builder.build().unwrap();
    let mut h = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
    let bus = gst::Bus::new();
    element.set_bus(Some(&bus));
    h.play();
    h.set_src_caps(format.caps(channels));
    (h, TestBus(bus))
}

/// Audio to push through a harness and pull back: by default mono S16 in
/// 100 ms buffers from 0.
///
/// ```ignore
/// let out = Audio::new(&speech).format(Format::F32).channels(2).chunk(4000).push(&mut h);
/// ```
pub struct Audio<'a> {
    signals: Vec<&'a [f32]>,
    format: Format,
    /// Copies of the one signal, or one signal per channel.
    channels: Option<u32>,
    start: gst::ClockTime,
    chunk: usize,
}

impl<'a> Audio<'a> {
    pub fn new(mono: &'a [f32]) -> Self {
        Audio {
            signals: vec![mono],
            format: Format::S16,
            channels: Some(1),
            start: gst::ClockTime::ZERO,
            chunk: RATE as usize / 10,
        }
    }

    /// One signal per channel (of the same length), as they are.
    pub fn per_channel(signals: &[&'a [f32]]) -> Self {
        assert!(signals.iter().all(|s| s.len() == signals[0].len()));
        Audio {
            signals: signals.to_vec(),
            channels: None,
            ..Audio::new(signals[0])
        }
    }

    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// `channels` copies of the mono signal, channel c scaled by 1/(c+1).
    pub fn channels(mut self, channels: u32) -> Self {
        assert_eq!(self.signals.len(), 1, "channels() is for a mono signal");
        self.channels = Some(channels);
        self
    }

    /// The PTS of the first buffer; the others follow without a gap.
    pub fn start(mut self, start: gst::ClockTime) -> Self {
        self.start = start;
        self
    }

    /// Frames per buffer.
    pub fn chunk(mut self, frames: usize) -> Self {
        self.chunk = frames;
        self
    }

    /// Pushes every buffer through the harness and returns the buffers that
    /// come out.
    pub fn push(self, h: &mut gst_check::Harness) -> Vec<gst::Buffer> {
        let len = self.signals[0].len();
        let mut out = Vec::new();
        let mut offset = 0;
        while offset < len {
            let end = (offset + self.chunk).min(len);
            let bytes = match self.channels {
                Some(channels) => self.format.bytes(&self.signals[0][offset..end], channels),
                None => {
                    let parts: Vec<&[f32]> = self.signals.iter().map(|s| &s[offset..end]).collect();
                    self.format.interleave(&parts)
                }
            };
            let pts = self.start + frames_to_time(offset as u64);
            let buf = buffer(bytes, pts, (end - offset) as u64);
            out.push(h.push_and_pull(buf).unwrap());
            offset = end;
        }
        out
    }
}

/// The duration of `frames` samples at [`RATE`].
pub fn frames_to_time(frames: u64) -> gst::ClockTime {
    gst::ClockTime::SECOND
        .mul_div_floor(frames, RATE as u64)
        .unwrap()
}

/// Pushes mono S16 samples in 100 ms buffers starting at `start`, as most
/// tests do, returning the output buffers.
pub fn push_speech(
    h: &mut gst_check::Harness,
    mono: &[f32],
    start: gst::ClockTime,
) -> Vec<gst::Buffer> {
    Audio::new(mono).start(start).push(h)
}

/// All element messages on the bus, in order.
pub fn element_messages(bus: &gst::Bus) -> Vec<gst::Structure> {
    let mut out = Vec::new();
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Element(e) = msg.view() {
            if let Some(s) = e.structure() {
                out.push(s.to_owned());
            }
        }
    }
    out
}

/// Element messages with the given structure name, in order; others on
/// the bus are dropped.
pub fn messages(bus: &gst::Bus, name: &str) -> Vec<gst::Structure> {
    element_messages(bus)
        .into_iter()
        .filter(|s| s.name() == name)
        .collect()
}

/// The structures named `name`, in order.
pub fn only<'a>(all: &'a [gst::Structure], name: &str) -> Vec<&'a gst::Structure> {
    all.iter().filter(|s| s.name() == name).collect()
}

pub fn timestamps<S: AsRef<gst::StructureRef>>(results: &[S]) -> Vec<u64> {
    results
        .iter()
        .map(|s| s.as_ref().get::<u64>("timestamp").unwrap())
        .collect()
}

/// `(timestamp, duration)` of each result.
pub fn spans<S: AsRef<gst::StructureRef>>(results: &[S]) -> Vec<(u64, u64)> {
    results
        .iter()
        .map(|s| {
            let s = s.as_ref();
            (
                s.get::<u64>("timestamp").unwrap(),
                s.get::<u64>("duration").unwrap(),
            )
        })
        .collect()
}

/// The results a buffer's `EmotionMeta` carries, in order; `None` when it
/// has no such meta.
pub fn meta_results(buf: &gst::BufferRef) -> Option<Vec<gst::Structure>> {
    let meta = gst::meta::CustomMeta::from_buffer(buf, "EmotionMeta").ok()?;
    let results = meta.structure().get::<gst::Array>("results").unwrap();
    Some(
        results
            .iter()
            .map(|v| v.get::<gst::Structure>().unwrap())
            .collect(),
    )
}

pub fn f64_array(s: &gst::StructureRef, field: &str) -> Vec<f64> {
    s.get::<gst::Array>(field)
        .unwrap()
        .iter()
        .map(|v| v.get::<f64>().unwrap())
        .collect()
}

/// Whether two results carry the same probabilities up to float rounding.
/// Tests run in parallel and share a model's session; a window batched with
/// another test's windows can differ in the last digits (as in
/// tests/concurrency.rs), while any change of the input moves them by far
/// more.
pub fn same_probabilities(a: &gst::StructureRef, b: &gst::StructureRef) -> bool {
    let (a, b) = (f64_array(a, "probabilities"), f64_array(b, "probabilities"));
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6)
}

pub fn string_array(s: &gst::StructureRef, field: &str) -> Vec<String> {
    s.get::<gst::Array>(field)
        .unwrap()
        .iter()
        .map(|v| v.get::<String>().unwrap())
        .collect()
}

pub fn secs(s: f64) -> gst::ClockTime {
    gst::ClockTime::from_nseconds((s * 1e9).round() as u64)
}

/// A directory holding only the built plugin (a link to
/// `target/<profile>/libgstemotiondetect.so`), for GST_PLUGIN_PATH: the
/// profile directory itself also holds `deps/`, with other builds of it.
pub fn plugin_dir(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().unwrap().parent().unwrap();
    let plugin = profile.join("libgstemotiondetect.so");
    assert!(
        plugin.exists(),
        "no plugin at {}: `cargo build --lib` first (scripts/test.sh does)",
        plugin.display()
    );
    let dir = std::env::temp_dir().join(format!("emotiondetect-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("libgstemotiondetect.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&plugin, &link).unwrap();
    dir
}

/// Plays `pipeline` and returns its element messages named `emotion*`, in
/// order, once it reaches EOS or `enough` says so. An error message or
/// 60 s without EOS fails the test. The pipeline is left playing.
pub fn play(
    pipeline: &gst::Element,
    mut enough: impl FnMut(&[gst::Structure]) -> bool,
) -> Vec<gst::Structure> {
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut out = Vec::new();
    loop {
        let msg = bus
            .timed_pop(gst::ClockTime::from_seconds(60))
            .expect("EOS within 60 s");
        match msg.view() {
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure().filter(|s| s.name().starts_with("emotion")) {
                    out.push(s.to_owned());
                    if enough(&out) {
                        return out;
                    }
                }
            }
            gst::MessageView::Eos(_) => return out,
            gst::MessageView::Error(e) => panic!("{} {:?}", e.error(), e.debug()),
            _ => {}
        }
    }
}

/// Runs the pipeline to EOS (optionally seeking first) and returns the
/// element messages named `emotion*`.
pub fn run_pipeline(description: &str, seek_to: Option<gst::ClockTime>) -> Vec<gst::Structure> {
    init();
    let pipeline = gst::parse::launch(description).unwrap();
    if let Some(position) = seek_to {
        let bus = pipeline.bus().unwrap();
        pipeline.set_state(gst::State::Paused).unwrap();
        let msg = bus
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(10),
                &[gst::MessageType::AsyncDone, gst::MessageType::Error],
            )
            .unwrap();
        assert!(
            matches!(msg.view(), gst::MessageView::AsyncDone(_)),
            "{msg:?}"
        );
        // Results of the preroll buffer before the seek are not ours to check.
        while bus.pop_filtered(&[gst::MessageType::Element]).is_some() {}
        pipeline
            .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE, position)
            .unwrap();
    }
    let out = play(&pipeline, |_| false);
    pipeline.set_state(gst::State::Null).unwrap();
    out
}

/// `filesrc ! wavparse` of the bundled demo speech (14.5 s, 16 kHz mono),
/// to put before the rest of a pipeline description.
pub fn demo_source() -> String {
    format!(
        "filesrc location={} ! wavparse",
        repo_path("assets/demo-speech.wav").display()
    )
}

/// A private copy of the built-in model, removed on drop: its shared
/// instance (and its batch counters) belongs to the test that makes it, as
/// long as no other test of the binary uses its name (the instance may stay
/// loaded after the file is gone).
pub struct ModelCopy(PathBuf);

impl ModelCopy {
    pub fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("emotiondetect-{name}-{}.onnx", std::process::id()));
        std::fs::copy(repo_path("models/reslstm-sa-16k.onnx"), &path).unwrap();
        ModelCopy(path)
    }
}

impl std::ops::Deref for ModelCopy {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for ModelCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The emotions the built-in 16 kHz model reports, in the order of a
/// result's `labels` (its labels but `non-speech`).
pub fn builtin_emotions() -> Vec<String> {
    Model::load(ModelSource::DEFAULT, Provider::Cpu, None)
        .unwrap()
        .contract()
        .emotions()
}

/// Whether the ONNX Runtime this process loaded was built with `provider`
/// (a GPU one). Its GPU builds carry each GPU provider as
/// `libonnxruntime_providers_<name>.so` beside `libonnxruntime.so`; CPU
/// builds have none. Loads the runtime if need be.
pub fn runtime_has(provider: Provider) -> bool {
    emotiondetect_core::model::runtime::environment(None).expect("ONNX Runtime loads");
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let library = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5).map(Path::new))
        .find(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so"))
        })
        .expect("libonnxruntime.so is mapped");
    library
        .with_file_name(format!("libonnxruntime_providers_{}.so", provider.name()))
        .exists()
}

/// The provider `auto` must choose on this machine (README, "Properties"):
/// TensorRT, then CUDA, whichever loads the built-in model on its own
/// first, else the CPU.
pub fn best_available_provider() -> Provider {
    [Provider::TensorRt, Provider::Cuda]
        .into_iter()
        .find(|&p| Model::load(ModelSource::DEFAULT, p, None).is_ok())
        .unwrap_or(Provider::Cpu)
}
