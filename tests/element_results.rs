// SPDX-License-Identifier: MPL-2.0
//! The results layer a dashboard consumes: segments, summaries and buffer
//! metadata across pauses, caps changes, timestamp jumps and settings.

mod common;

use common::*;
use emotiondetect_core::analysis::AUTO_MIN_SPEECH_RATIO_WITH_GATE;
use gst::prelude::*;

/// Speech, `gap` seconds of digital silence, speech again.
fn speech_with_pause(gap: f64) -> Vec<f32> {
    let speech = demo_speech();
    let mut v = speech[..RATE as usize * 5].to_vec();
    v.extend(std::iter::repeat_n(0.0, (gap * RATE as f64) as usize));
    v.extend_from_slice(&speech[RATE as usize * 5..]);
    v
}

/// Per channel, each segment ends before (or where) the next one starts.
fn assert_segments_ordered(all: &[gst::Structure]) {
    let segments = only(all, "emotion-segment");
    assert!(!segments.is_empty());
    for channel in 0..2 {
        let mine: Vec<(u64, u64)> = segments
            .iter()
            .filter(|s| s.get::<i32>("channel").unwrap() == channel)
            .map(|s| (s.get::<u64>("start").unwrap(), s.get::<u64>("end").unwrap()))
            .collect();
        for pair in mine.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0,
                "channel {channel}: overlapping segments {mine:?}"
            );
        }
        assert!(mine.iter().all(|(s, e)| s < e), "{mine:?}");
    }
}

#[test]
fn segments_around_a_pause_do_not_overlap() {
    let (mut h, bus) = harness(&[], Format::S16, 1);
    let audio = speech_with_pause(3.0);
    Audio::new(&audio).push(&mut h);
    h.push_event(gst::event::Eos::new());
    let all = element_messages(&bus);
    let results = only(&all, "emotion");
    // The windows that lie in the pause are not classified.
    let ts = timestamps(&results);
    assert!(!ts.contains(&secs(5.0).nseconds()), "{ts:?}");
    assert_segments_ordered(&all);
}

#[test]
fn every_window_is_summarized_once_across_a_caps_change() {
    let (mut h, bus) = harness(&[], Format::S16, 1);
    let speech = demo_speech();
    Audio::new(&speech[..RATE as usize * 6]).push(&mut h);
    // The same speech at 8 kHz: the telephone model takes over.
    h.set_src_caps(Format::S16.caps_at(8000, 1));
    let bytes = Format::S16.bytes(&narrowband(&speech[RATE as usize * 6..]), 1);
    let mut buf = gst::Buffer::from_mut_slice(bytes);
    buf.get_mut().unwrap().set_pts(secs(6.0));
    h.push(buf).unwrap();
    assert_eq!(model_in_use(&h).as_deref(), Some("reslstm-sa-8k"));
    h.push_event(gst::event::Eos::new());
    let all = element_messages(&bus);
    let windows = only(&all, "emotion").len() as u32;
    let summaries = only(&all, "emotion-summary");
    assert_eq!(summaries.len(), 2, "one summary per part: {summaries:?}");
    let summarized: u32 = summaries
        .iter()
        .map(|s| s.get::<u32>("windows").unwrap())
        .sum();
    assert_eq!(summarized, windows);
    assert!(windows >= 8, "{windows}");
    // Each part's summary spans its own audio.
    assert_eq!(summaries[0].get::<u64>("timestamp").unwrap(), 0);
    assert_eq!(
        summaries[0].get::<u64>("duration").unwrap(),
        secs(6.0).nseconds()
    );
    assert_eq!(
        summaries[1].get::<u64>("timestamp").unwrap(),
        secs(6.0).nseconds()
    );
}

#[test]
fn the_summary_counts_the_audio_analysed_across_segments() {
    let (mut h, bus) = harness(&[], Format::S16, 1);
    let speech = demo_speech();
    let part = &speech[..RATE as usize * 5];
    // 10-15 s, then a non-flushing jump to 50-55 s.
    let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
    segment.set_start(secs(10.0));
    segment.set_time(secs(10.0));
    h.push_event(gst::event::Segment::new(&segment));
    Audio::new(part).start(secs(10.0)).push(&mut h);
    let mut later = gst::FormattedSegment::<gst::ClockTime>::new();
    later.set_start(secs(50.0));
    later.set_time(secs(50.0));
    later.set_base(secs(5.0));
    h.push_event(gst::event::Segment::new(&later));
    Audio::new(part).start(secs(50.0)).push(&mut h);
    h.push_event(gst::event::Eos::new());
    let all = element_messages(&bus);
    let summary = only(&all, "emotion-summary")[0];
    assert_eq!(
        summary.get::<u64>("timestamp").unwrap(),
        secs(10.0).nseconds()
    );
    assert_eq!(
        summary.get::<u64>("duration").unwrap(),
        secs(10.0).nseconds()
    );
    assert_eq!(summary.get::<u64>("running-time").unwrap(), 0, "{summary}");
    assert_eq!(
        summary.get::<u64>("stream-time").unwrap(),
        secs(10.0).nseconds()
    );
    let windows = only(&all, "emotion").len() as u32;
    assert_eq!(summary.get::<u32>("windows").unwrap(), windows);
}

#[test]
fn a_backward_timestamp_jump_ends_the_stretch() {
    let (mut h, bus) = harness(&[], Format::S16, 1);
    let speech = demo_speech();
    Audio::new(&speech[..RATE as usize * 6]).push(&mut h);
    // Upstream rewinds 3 s and sends 6 s more.
    Audio::new(&speech[RATE as usize * 6..RATE as usize * 12])
        .start(secs(3.0))
        .push(&mut h);
    h.push_event(gst::event::Eos::new());
    let all = element_messages(&bus);
    let spans = spans(&only(&all, "emotion"));
    // No window mixes both sides: each lies within 0-6 s, or within the
    // new audio after what was analysed (6-9 s).
    for &(start, duration) in &spans {
        let end = start + duration;
        assert!(
            end <= secs(6.0).nseconds() || start >= secs(6.0).nseconds(),
            "window {start}..{end} spans the jump: {spans:?}"
        );
    }
    let ts = timestamps(&only(&all, "emotion"));
    assert!(ts.windows(2).all(|p| p[0] < p[1]), "{ts:?}");
    assert!(
        ts.contains(&secs(6.0).nseconds()),
        "the new stretch is analysed: {ts:?}"
    );
}

#[test]
fn one_meta_per_buffer_holds_every_channel_result() {
    let (mut h, _bus) = harness(
        &[
            ("channel-mode", "independent"),
            ("channel-names", "agent,customer"),
        ],
        Format::S16,
        2,
    );
    let speech = demo_speech();
    let out = Audio::new(&speech[..RATE as usize * 4])
        .channels(2)
        .push(&mut h);
    let with_meta: Vec<&gst::Buffer> = out
        .iter()
        .filter(|b| gst::meta::CustomMeta::from_buffer(b, "EmotionMeta").is_ok())
        .collect();
    assert_eq!(with_meta.len(), 2, "windows end at 3 s and 4 s");
    for buf in with_meta {
        // The harness's buffers carry no other meta.
        assert_eq!(buf.iter_meta::<gst::Meta>().count(), 1);
        let meta = gst::meta::CustomMeta::from_buffer(buf, "EmotionMeta").unwrap();
        let results = meta.structure().get::<gst::Array>("results").unwrap();
        let speakers: Vec<String> = results
            .iter()
            .map(|v| {
                let s = v.get::<gst::Structure>().unwrap();
                assert_eq!(s.name(), "emotion");
                s.get::<String>("speaker").unwrap()
            })
            .collect();
        assert_eq!(speakers, ["agent", "customer"]);
    }
}

/// Warning messages the element posted.
fn warnings(bus: &gst::Bus) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Warning(w) = msg.view() {
            out.push(w.error().to_string());
        }
    }
    out
}

#[test]
fn structural_properties_are_refused_while_playing() {
    let (mut h, bus) = harness(&[], Format::S16, 1);
    let element = h.element().unwrap();
    element.set_property("window-duration", secs(2.0).nseconds());
    element.set_property("channel-mode", gstemotiondetect_channel_mode("independent"));
    assert_eq!(
        element.property::<u64>("window-duration"),
        secs(3.0).nseconds()
    );
    let w = warnings(&bus);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains("window-duration can only be changed in the NULL or READY state"),
        "{w:?}"
    );
    // Thresholds apply while playing.
    element.set_property("silence-threshold", -20.0f64);
    assert_eq!(element.property::<f64>("silence-threshold"), -20.0);
    let speech = demo_speech();
    Audio::new(&speech[..RATE as usize * 4]).push(&mut h);
    assert!(
        messages(&bus, "emotion").is_empty(),
        "-20 dBFS gates the demo speech"
    );
}

fn gstemotiondetect_channel_mode(nick: &str) -> glib::Value {
    let element = gst::ElementFactory::make("emotiondetect").build().unwrap();
    let pspec = element.find_property("channel-mode").unwrap();
    glib::Value::deserialize_with_pspec(nick, &pspec).unwrap()
}

use gst::glib;

#[test]
fn channel_names_that_do_not_fit_are_warned_about() {
    for (props, channels, expected) in [
        (
            vec![("channel-names", "agent,customer")],
            2,
            "is ignored with channel-mode=mix",
        ),
        (
            vec![("channel-mode", "independent"), ("channel-names", "agent")],
            2,
            "names 1 channel(s) but the stream has 2",
        ),
        (
            vec![("channel-mode", "independent"), ("channel-names", "a,b,c")],
            2,
            "names 3 channel(s) but the stream has 2",
        ),
    ] {
        let (mut h, bus) = harness(&props, Format::S16, channels);
        Audio::new(&vec![0.0; 1600]).channels(channels).push(&mut h);
        let w = warnings(&bus);
        assert!(w.iter().any(|w| w.contains(expected)), "{props:?}: {w:?}");
    }
}

/// Runs `description` until EOS or an error; returns the error's text.
fn pipeline_error(description: &str) -> Option<String> {
    init();
    let pipeline = gst::parse::launch(description).unwrap();
    let bus = pipeline.bus().unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(30),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("EOS or an error within 30 s");
    pipeline.set_state(gst::State::Null).unwrap();
    match msg.view() {
        gst::MessageView::Error(e) => Some(e.error().to_string()),
        _ => None,
    }
}

#[test]
fn an_unsupported_rate_says_to_resample() {
    // A 44.1 kHz WAV file straight into the element, as a user might try.
    let wav = std::env::temp_dir().join(format!("emotiondetect-44k-{}.wav", std::process::id()));
    assert!(pipeline_error(&format!(
        "audiotestsrc num-buffers=20 ! audio/x-raw,rate=44100,channels=1 ! wavenc ! filesink location={}",
        wav.display()
    ))
    .is_none());
    let err = pipeline_error(&format!(
        "filesrc location={} ! wavparse ! emotiondetect ! fakesink",
        wav.display()
    ));
    let _ = std::fs::remove_file(&wav);
    let err = err.expect("44.1 kHz fails");
    assert!(err.contains("44100 Hz"), "{err}");
    assert!(err.contains("16000 or 8000 Hz"), "{err}");
    assert!(err.contains("audioresample"), "{err}");
}

#[test]
fn the_speech_ratio_in_use_is_unknown_until_a_model_is_chosen_unless_set() {
    init();
    let e = gst::ElementFactory::make("emotiondetect").build().unwrap();
    assert_eq!(e.property::<f64>("min-speech-ratio-in-use"), -1.0);
    e.set_property("min-speech-ratio", 0.3);
    assert_eq!(e.property::<f64>("min-speech-ratio-in-use"), 0.3);
}

#[test]
fn sample_rate_pins_the_model() {
    init();
    for (pin, model) in [(0, "reslstm-sa-8k"), (16000, "reslstm-sa-16k")] {
        let pipeline = gst::parse::launch(&format!(
            "audiotestsrc num-buffers=20 ! audio/x-raw,rate=11025 ! audioresample ! \
             emotiondetect name=e sample-rate={pin} ! fakesink"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let bus = pipeline.bus().unwrap();
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Eos])
            .expect("EOS");
        let e = pipeline.by_name("e").unwrap();
        // 11.025 kHz resamples to the nearest rate a model takes, unless pinned.
        assert_eq!(
            e.property::<Option<String>>("model-in-use").as_deref(),
            Some(model)
        );
        // Both built-in models have a non-speech output: the automatic
        // speech ratio is theirs.
        assert_eq!(
            e.property::<f64>("min-speech-ratio-in-use"),
            AUTO_MIN_SPEECH_RATIO_WITH_GATE
        );
        pipeline.set_state(gst::State::Null).unwrap();
    }
}

#[test]
fn python_reads_every_channel_of_a_stereo_call_from_the_meta() {
    let stereo =
        std::env::temp_dir().join(format!("emotiondetect-stereo-{}.wav", std::process::id()));
    assert!(pipeline_error(&format!(
        "{} ! audioconvert ! audio/x-raw,channels=2 ! wavenc ! filesink location={}",
        demo_source(),
        stereo.display()
    ))
    .is_none());
    let dir = plugin_dir("python-stereo");
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(repo_path("examples/emotions.py"))
        .arg(&stereo)
        .args(["channel-mode=independent", "channel-names=agent,customer"])
        .env("GST_PLUGIN_PATH", &dir)
        .env("GST_REGISTRY", dir.join("registry.bin"))
        .output()
        .expect("/usr/bin/python3 runs");
    std::fs::remove_dir_all(&dir).unwrap();
    let _ = std::fs::remove_file(&stereo);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let results = |source: &str| -> Vec<(String, u64)> {
        lines
            .iter()
            .filter(|l| l["source"] == source && l["type"] == "emotion")
            .map(|l| {
                (
                    l["speaker"].as_str().unwrap().to_string(),
                    l["timestamp"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let (bus, meta) = (results("bus"), results("meta"));
    assert_eq!(bus.len(), 24, "12 windows on each of 2 channels");
    let mut sorted_meta = meta.clone();
    sorted_meta.sort();
    let mut sorted_bus = bus.clone();
    sorted_bus.sort();
    assert_eq!(sorted_meta, sorted_bus);
    assert_eq!(meta.iter().filter(|(s, _)| s == "customer").count(), 12);
}

#[test]
fn hold_music_played_by_instruments_gets_no_emotion() {
    // Bach chorales on harp and piano, rendered from real scores with a
    // General MIDI soundfont: music no model trained on.
    for file in ["harp-arpeggio.flac", "piano-chords.flac"] {
        let path = repo_path(&format!("tests/fixtures/music/{file}"));
        let all = run_pipeline(
            &format!(
                "filesrc location={} ! decodebin ! audioconvert ! audioresample ! emotiondetect ! fakesink",
                path.display()
            ),
            None,
        );
        let emotions: Vec<String> = only(&all, "emotion")
            .iter()
            .map(|s| s.get::<String>("emotion").unwrap())
            .collect();
        assert!(emotions.is_empty(), "{file}: {emotions:?}");
        let summary = only(&all, "emotion-summary")[0];
        assert_eq!(summary.get::<u32>("windows").unwrap(), 0, "{file}");
        assert!(!summary.has_field("emotion"), "{file}");
    }
}

#[test]
fn application_threads_do_not_wait_for_inference() {
    use emotiondetect_core::model::{ModelSource, Provider, SharedModel};
    init();
    let model = ModelCopy::new("busy");
    let pipeline = gst::parse::launch(&format!(
        "{} ! emotiondetect name=e model-file={} ! fakesink sync=false",
        demo_source(),
        model.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    pipeline.set_state(gst::State::Paused).unwrap();
    let e = pipeline.by_name("e").unwrap();
    // The element's own shared session: one long job keeps it busy for
    // seconds, so the streaming thread waits for it with a window to
    // classify.
    let shared = SharedModel::get(ModelSource::File(&model), Provider::Cpu, None).unwrap();
    let (n_features, n_labels) = (
        shared.contract().features.n_features(),
        shared.contract().labels.len(),
    );
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let busy = std::thread::spawn(move || {
        // Several seconds of inference, much longer than the sleeps below
        // even on a fast idle machine (100,000 frames could end within them).
        let frames = 400_000;
        let features = vec![0.1f32; frames * n_features];
        let mut out = vec![0.0; n_labels];
        started_tx.send(()).unwrap();
        shared.classify(&features, frames, &mut out).unwrap();
    });
    started_rx.recv().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Properties and caps queries answer while inference is still busy.
    e.set_property("silence-threshold", -55.0f64);
    assert_eq!(e.property::<f64>("silence-threshold"), -55.0);
    assert_eq!(e.property::<u64>("window-duration"), secs(3.0).nseconds());
    let caps = e.static_pad("sink").unwrap().query_caps(None);
    assert!(!caps.is_empty());
    assert!(
        !busy.is_finished(),
        "the property calls waited for the inference to end"
    );
    busy.join().unwrap();
    let bus = pipeline.bus().unwrap();
    bus.timed_pop_filtered(gst::ClockTime::from_seconds(60), &[gst::MessageType::Eos])
        .expect("EOS");
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn the_training_code_cuts_windows_as_the_element_does() {
    // The Python window rule the evaluation uses (models/training/windows.py)
    // against the element's windows, every window classified (a model
    // without non-speech, no gating).
    let model = repo_path("tests/fixtures/models/tiny-valid.onnx");
    let speech = demo_speech();
    for n in [20_000usize, 48_000, 56_000, 80_000, 88_000, speech.len()] {
        let (mut h, bus) = harness(
            &[
                ("model-file", model.to_str().unwrap()),
                ("min-speech-ratio", "0"),
                ("silence-threshold", "-200"),
            ],
            Format::S16,
            1,
        );
        Audio::new(&speech[..n]).push(&mut h);
        h.push_event(gst::event::Eos::new());
        let element: Vec<(u64, u64)> = spans(&messages(&bus, "emotion"))
            .into_iter()
            .map(|(t, d)| {
                let to_samples = |ns: u64| ns * RATE as u64 / 1_000_000_000;
                (to_samples(t), to_samples(d))
            })
            .collect();
        let out = std::process::Command::new("python3")
            .current_dir(repo_path("models"))
            .args([
                "-c",
                &format!("import json; from training import windows; print(json.dumps(windows.window_starts({n}, {RATE})))"),
            ])
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let python: Vec<(u64, u64)> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(element, python, "{n} samples");
    }
}
