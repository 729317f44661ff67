// SPDX-License-Identifier: MPL-2.0
//! Speaker adaptation in the element: the `adapt-to-speaker` property, the
//! `speaker-frames` of each result, and which events keep or forget a
//! channel's speaker. The contract-test model `tiny-adaptive.onnx` carries
//! an `emotiondetect.adaptation` prior; `tiny-valid.onnx` is the same model
//! without one.

mod common;

use common::*;
use emotiondetect_core::features::FeatureParams;
use emotiondetect_core::model::{Model, ModelSource, Provider};
use gst::prelude::*;

fn fixture(name: &str) -> String {
    repo_path(&format!("tests/fixtures/models/{name}"))
        .display()
        .to_string()
}

/// The most frames a window of `seconds` holds: a bound on the speech
/// frames a speaker's statistics can have gathered within it.
fn frames_in(seconds: f64) -> u64 {
    let p = FeatureParams::default();
    let samples = (seconds * RATE as f64) as usize;
    ((samples - p.n_fft) / p.hop_length + 1) as u64
}

/// `speaker-frames` of each window result, in order.
fn speaker_frames(results: &[gst::Structure]) -> Vec<u64> {
    results
        .iter()
        .map(|s| s.get::<u64>("speaker-frames").unwrap())
        .collect()
}

/// The window results of `seconds` of the demo speech through the element
/// with `props`.
fn results(props: &[(&str, &str)], seconds: f64) -> Vec<gst::Structure> {
    let (mut h, bus) = harness(props, Format::S16, 1);
    let speech = demo_speech();
    Audio::new(&speech[..(seconds * RATE as f64) as usize]).push(&mut h);
    messages(&bus, "emotion")
}

#[test]
fn adapt_to_speaker_defaults_to_true_and_can_be_set_while_playing() {
    let (mut h, bus) = harness(&[], Format::S16, 1);
    let element = h.element().unwrap();
    let pspec = element.find_property("adapt-to-speaker").expect("property");
    assert!(pspec.default_value().get::<bool>().unwrap(), "default");
    assert!(element.property::<bool>("adapt-to-speaker"));
    assert_eq!(element.current_state(), gst::State::Playing);
    let speech = demo_speech();
    Audio::new(&speech[..RATE as usize * 5]).push(&mut h);
    let before = speaker_frames(&messages(&bus, "emotion"));
    element.set_property("adapt-to-speaker", false);
    assert!(!element.property::<bool>("adapt-to-speaker"));
    Audio::new(&speech[RATE as usize * 5..RATE as usize * 8])
        .start(secs(5.0))
        .push(&mut h);
    let mut warnings = vec![];
    let mut after = vec![];
    while let Some(msg) = bus.pop() {
        match msg.view() {
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            gst::MessageView::Element(e) => after.extend(
                e.structure()
                    .filter(|s| s.name() == "emotion")
                    .map(|s| s.to_owned()),
            ),
            _ => {}
        }
    }
    assert!(warnings.is_empty(), "{warnings:?}");
    let after = speaker_frames(&after);
    assert!(!before.is_empty() && !after.is_empty());
    assert!(
        after.iter().all(|&n| n == 0),
        "off applies from the next window: {after:?}"
    );
    // The built-in model adapts if it carries a prior.
    let builtin = Model::load(ModelSource::DEFAULT, Provider::Cpu, None).unwrap();
    let adaptive = builtin.contract().adaptation.is_some();
    assert!(
        before.iter().all(|&n| (n > 0) == adaptive),
        "prior: {adaptive}, speaker-frames {before:?}"
    );
}

#[test]
fn speaker_frames_grow_with_speech_when_on_and_are_0_when_off() {
    let model = fixture("tiny-adaptive.onnx");
    let on = results(&[("model-file", &model)], 8.0);
    let off = results(
        &[("model-file", &model), ("adapt-to-speaker", "false")],
        8.0,
    );
    assert_eq!(spans(&on), spans(&off));
    assert!(on.len() >= 5, "{on:?}");
    let frames = speaker_frames(&on);
    // The statistics hold the speech frames computed by the end of the
    // window, each once.
    for ((start, duration), &n) in spans(&on).into_iter().zip(&frames) {
        let end = (start + duration) as f64 / 1e9;
        assert!(n > 0 && n <= frames_in(end), "{frames:?}");
    }
    assert!(frames.windows(2).all(|p| p[0] <= p[1]), "{frames:?}");
    assert!(frames.last() > frames.first(), "{frames:?}");
    assert!(speaker_frames(&off).iter().all(|&n| n == 0));
    // The model is fed other features: other probabilities.
    for (a, b) in on.iter().zip(&off) {
        assert_ne!(
            f64_array(a, "probabilities"),
            f64_array(b, "probabilities"),
            "{a}"
        );
    }
}

#[test]
fn a_model_without_a_prior_is_not_affected() {
    // tiny-valid is tiny-adaptive without the prior.
    let valid = fixture("tiny-valid.onnx");
    let on = results(&[("model-file", &valid)], 5.0);
    let off = results(
        &[("model-file", &valid), ("adapt-to-speaker", "false")],
        5.0,
    );
    let adaptive_off = results(
        &[
            ("model-file", &fixture("tiny-adaptive.onnx")),
            ("adapt-to-speaker", "false"),
        ],
        5.0,
    );
    assert!(!on.is_empty());
    assert!(speaker_frames(&on).iter().all(|&n| n == 0));
    // The same features, so the same probabilities (up to float rounding).
    for ((a, b), c) in on.iter().zip(&off).zip(&adaptive_off) {
        assert!(same_probabilities(a, b), "{a}\n{b}");
        assert!(same_probabilities(a, c), "{a}\n{c}");
    }
}

#[test]
fn turned_on_mid_stream_it_uses_the_speech_seen_while_off() {
    let model = fixture("tiny-adaptive.onnx");
    let (mut h, bus) = harness(
        &[("model-file", &model), ("adapt-to-speaker", "false")],
        Format::S16,
        1,
    );
    let speech = demo_speech();
    Audio::new(&speech[..RATE as usize * 6]).push(&mut h);
    assert!(speaker_frames(&messages(&bus, "emotion"))
        .iter()
        .all(|&n| n == 0));
    h.element().unwrap().set_property("adapt-to-speaker", true);
    Audio::new(&speech[RATE as usize * 6..RATE as usize * 7])
        .start(secs(6.0))
        .push(&mut h);
    let frames = speaker_frames(&messages(&bus, "emotion"));
    // The window at 4-7 s rests on speech from 0 s on.
    assert_eq!(frames.len(), 1);
    assert!(frames[0] > frames_in(3.0), "{frames:?}");
}

/// The first window result after `between` is applied to a harness that
/// analysed 0-4 s of the demo speech, with the `speaker-frames` of the
/// last result before.
fn first_after(between: impl FnOnce(&mut gst_check::Harness) -> gst::ClockTime) -> (u64, u64) {
    let model = fixture("tiny-adaptive.onnx");
    let (mut h, bus) = harness(&[("model-file", &model)], Format::S16, 1);
    let speech = demo_speech();
    Audio::new(&speech[..RATE as usize * 4]).push(&mut h);
    let before = *speaker_frames(&messages(&bus, "emotion"))
        .last()
        .expect("windows before");
    let start = between(&mut h);
    // 3 s more: one full window of new audio.
    Audio::new(&speech[RATE as usize * 4..RATE as usize * 7])
        .start(start)
        .push(&mut h);
    let after = speaker_frames(&messages(&bus, "emotion"));
    (before, after[0])
}

#[test]
fn a_flush_a_discont_and_a_gap_keep_the_speaker() {
    let flush = first_after(|h| {
        h.push_event(gst::event::FlushStart::new());
        h.push_event(gst::event::FlushStop::new(true));
        h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()));
        gst::ClockTime::ZERO
    });
    let discont = first_after(|h| {
        // A lost packet: the next buffer is flagged DISCONT.
        let mut buf = buffer(Format::S16.bytes(&[0.0; 160], 1), secs(4.0), 160);
        buf.get_mut().unwrap().set_flags(gst::BufferFlags::DISCONT);
        h.push_and_pull(buf).unwrap();
        secs(4.01)
    });
    let gap = first_after(|_| secs(10.0));
    for (what, (before, after)) in [("flush", flush), ("discont", discont), ("gap", gap)] {
        // The window holds at most frames_in(3.0) new frames: more means
        // the statistics kept the frames before.
        assert!(after > before, "{what}: {before} then {after}");
        assert!(after > frames_in(3.0), "{what}: {before} then {after}");
    }
}

#[test]
fn a_new_stream_forgets_the_speaker() {
    let (before, after) = first_after(|h| {
        h.push_event(gst::event::StreamStart::new("another-call"));
        h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()));
        secs(4.0)
    });
    assert!(before > 0);
    assert!(
        after <= frames_in(3.0),
        "the statistics hold only the new stream's frames: {before} then {after}"
    );
}

/// A 16 kHz mono fixture decoded to floats.
fn decode(path: &std::path::Path) -> Vec<f32> {
    init();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! decodebin ! audioconvert ! audioresample ! \
         audio/x-raw,format=F32LE,channels=1,rate={RATE} ! appsink name=sink sync=false",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut out = vec![];
    while let Ok(sample) = sink.pull_sample() {
        let map = sample.buffer().unwrap().map_readable().unwrap();
        out.extend(
            map.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }
    pipeline.set_state(gst::State::Null).unwrap();
    out
}

/// (start in ns, emotion, speaker-frames) of each result of `audio` through
/// the element with the built-in model.
fn call(audio: &[f32]) -> Vec<(u64, String, u64)> {
    let (mut h, bus) = harness(&[], Format::F32, 1);
    Audio::new(audio).format(Format::F32).push(&mut h);
    messages(&bus, "emotion")
        .iter()
        .map(|s| {
            (
                s.get::<u64>("timestamp").unwrap(),
                s.get::<String>("emotion").unwrap(),
                s.get::<u64>("speaker-frames").unwrap(),
            )
        })
        .collect()
}

#[test]
fn hold_music_does_not_become_the_speaker() {
    // A caller speaks, is put on hold for two minutes of instrumental music
    // (harp and piano, which no model trained on), then speaks again. The
    // detector calls some of the music's frames speech, but the model
    // hears non-speech in its windows, so the statistics learn nothing
    // from them: the speech after the hold is normalised as if there had
    // been no music.
    let speech = demo_speech();
    let pieces: Vec<f32> = ["harp-arpeggio.flac", "piano-chords.flac"]
        .iter()
        .flat_map(|f| decode(&repo_path(&format!("tests/fixtures/music/{f}"))))
        .collect();
    let music = pieces.repeat(5);
    assert_eq!(music.len(), RATE as usize * 120);
    let held: Vec<f32> = [&speech[..], &music, &speech].concat();
    let plain: Vec<f32> = [&speech[..], &speech].concat();
    let (with_hold, without) = (call(&held), call(&plain));
    let ns = |samples: usize| frames_to_time(samples as u64).nseconds();
    let (music_start, music_end) = (ns(speech.len()), ns(speech.len() + music.len()));
    let window = secs(3.0).nseconds();
    let in_music: Vec<_> = with_hold
        .iter()
        .filter(|r| r.0 >= music_start && r.0 + window <= music_end)
        .collect();
    assert!(in_music.is_empty(), "{in_music:?}");
    let after: Vec<_> = with_hold.iter().filter(|r| r.0 >= music_end).collect();
    let same_time: Vec<_> = without.iter().filter(|r| r.0 >= music_start).collect();
    assert_eq!(after.len(), same_time.len());
    assert!(after.len() >= 10, "{after:?}");
    for (a, b) in after.iter().zip(&same_time) {
        assert_eq!(a.0 - b.0, music_end - music_start);
        // The windows across the music's edges, which the model hears as
        // speech, may let a window's worth of music frames in, no more.
        assert!(
            a.2 >= b.2 && a.2 - b.2 <= frames_in(3.0),
            "speaker frames {} after the hold, {} without it",
            a.2,
            b.2
        );
    }
    let same = after
        .iter()
        .zip(&same_time)
        .filter(|(a, b)| a.1 == b.1)
        .count();
    println!("labels as without the hold: {same} of {}", after.len());
}
