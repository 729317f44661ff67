// SPDX-License-Identifier: MPL-2.0
//! Helpers shared by the element tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Once;

use gst::prelude::*;

pub const RATE: u32 = 16000;

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
        let format = match self {
            Format::S16 => gst_audio::AudioFormat::S16le,
            Format::F32 => gst_audio::AudioFormat::F32le,
        };
        gst_audio::AudioCapsBuilder::new_interleaved()
            .format(format)
            .rate(RATE as i32)
            .channels(channels as i32)
            .build()
    }

    /// Interleaves `channels` copies of `mono` (channel c scaled by 1/(c+1)).
    pub fn bytes(self, mono: &[f32], channels: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for &s in mono {
            for c in 0..channels {
                let v = s / (c + 1) as f32;
                match self {
                    Format::S16 => {
                        out.extend_from_slice(&((v * 32767.0).round() as i16).to_le_bytes())
                    }
                    Format::F32 => out.extend_from_slice(&v.to_le_bytes()),
                }
            }
        }
        out
    }
}

pub fn buffer(bytes: Vec<u8>, pts: gst::ClockTime, frames: u64) -> gst::Buffer {
    let mut buf = gst::Buffer::from_mut_slice(bytes);
    {
        let b = buf.get_mut().unwrap();
        b.set_pts(pts);
        b.set_duration(gst::ClockTime::from_nseconds(
            frames * gst::ClockTime::SECOND.nseconds() / RATE as u64,
        ));
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

/// Pushes `mono` in buffers of `chunk` frames starting at `start`,
/// returning the output buffers.
pub fn push_audio(
    h: &mut gst_check::Harness,
    mono: &[f32],
    format: Format,
    channels: u32,
    start: gst::ClockTime,
    chunk: usize,
) -> Vec<gst::Buffer> {
    let mut out = Vec::new();
    let mut offset = 0u64;
    for c in mono.chunks(chunk) {
        let pts = start
            + gst::ClockTime::from_nseconds(
                offset * gst::ClockTime::SECOND.nseconds() / RATE as u64,
            );
        let buf = buffer(format.bytes(c, channels), pts, c.len() as u64);
        out.push(h.push_and_pull(buf).unwrap());
        offset += c.len() as u64;
    }
    out
}

/// Pushes mono S16 samples in 100 ms buffers starting at `start`, as most
/// tests do, returning the output buffers.
pub fn push_speech(
    h: &mut gst_check::Harness,
    mono: &[f32],
    start: gst::ClockTime,
) -> Vec<gst::Buffer> {
    push_audio(h, mono, Format::S16, 1, start, 1600)
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

pub fn f64_array(s: &gst::StructureRef, field: &str) -> Vec<f64> {
    s.get::<gst::Array>(field)
        .unwrap()
        .iter()
        .map(|v| v.get::<f64>().unwrap())
        .collect()
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

/// Runs the pipeline to EOS (optionally seeking first) and returns the
/// element messages named `emotion*`.
pub fn run_pipeline(description: &str, seek_to: Option<gst::ClockTime>) -> Vec<gst::Structure> {
    init();
    let pipeline = gst::parse::launch(description).unwrap();
    let bus = pipeline.bus().unwrap();
    if let Some(position) = seek_to {
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
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut out = Vec::new();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(30)) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure().filter(|s| s.name().starts_with("emotion")) {
                    out.push(s.to_owned());
                }
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{} {:?}", e.error(), e.debug()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    out
}
