// SPDX-License-Identifier: MPL-2.0
//! The element's public contract, through `gst_check::Harness`.

mod common;

use common::*;
use emotiondetect_core::adapt::SpeakerNorm;
use emotiondetect_core::features::FeatureExtractor;
use emotiondetect_core::model::{Model, ModelSource, Provider};
use emotiondetect_core::vad::VoiceActivity;
use gst::prelude::*;

fn assert_result_fields(s: &gst::StructureRef) {
    for field in ["timestamp", "stream-time", "running-time", "duration"] {
        assert!(
            s.get::<u64>(field).is_ok(),
            "{field} is not a guint64 in {s}"
        );
    }
    assert_eq!(s.get::<i32>("channel").unwrap(), 0);
    let labels = string_array(s, "labels");
    assert_eq!(labels, builtin_emotions());
    let probs = f64_array(s, "probabilities");
    assert_eq!(probs.len(), labels.len());
    assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{probs:?}");
    let confidence = s.get::<f64>("confidence").unwrap();
    let best = probs.iter().cloned().fold(f64::MIN, f64::max);
    assert_eq!(confidence, best);
    let emotion = s.get::<String>("emotion").unwrap();
    assert_eq!(
        labels[probs.iter().position(|&p| p == best).unwrap()],
        emotion
    );
}

#[test]
fn results_carry_the_documented_fields_and_advance_by_interval() {
    let speech = demo_speech();
    let (mut h, bus) = harness(&[], Format::S16, 1);
    Audio::new(&speech[..RATE as usize * 6])
        .chunk(1024)
        .push(&mut h);
    let results = messages(&bus, "emotion");
    // 6 s with 3 s windows every 1 s: windows at 0, 1, 2 and 3 s.
    assert_eq!(
        timestamps(&results),
        [0, 1, 2, 3].map(|s| s * 1_000_000_000)
    );
    for s in &results {
        assert_result_fields(s);
        assert!(
            s.get::<u64>("speaker-frames").is_ok(),
            "speaker-frames is not a guint64 in {s}"
        );
        assert_eq!(s.get::<u64>("duration").unwrap(), 3_000_000_000);
        assert_eq!(
            s.get::<u64>("running-time").unwrap(),
            s.get::<u64>("timestamp").unwrap()
        );
    }
}

#[test]
fn interval_and_window_properties_shape_the_results() {
    let speech = demo_speech();
    let props = [("window-duration", "2000000000"), ("interval", "500000000")];
    let (mut h, bus) = harness(&props, Format::F32, 1);
    Audio::new(&speech[..RATE as usize * 3])
        .format(Format::F32)
        .chunk(4000)
        .push(&mut h);
    let results = messages(&bus, "emotion");
    assert_eq!(timestamps(&results), [0, 500_000_000, 1_000_000_000]);
    assert!(results
        .iter()
        .all(|s| s.get::<u64>("duration").unwrap() == 2_000_000_000));
}

#[test]
fn timestamps_follow_a_non_zero_segment_start() {
    let speech = demo_speech();
    let (mut h, bus) = harness(&[], Format::S16, 1);
    let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
    segment.set_start(secs(10.0));
    segment.set_time(secs(100.0));
    assert!(h.push_event(gst::event::Segment::new(&segment)));
    push_speech(&mut h, &speech[..RATE as usize * 4], secs(10.0));
    let results = messages(&bus, "emotion");
    assert_eq!(results.len(), 2);
    for (k, s) in results.iter().enumerate() {
        let ts = secs(10.0 + k as f64).nseconds();
        assert_eq!(s.get::<u64>("timestamp").unwrap(), ts);
        assert_eq!(
            s.get::<u64>("running-time").unwrap(),
            ts - secs(10.0).nseconds()
        );
        assert_eq!(
            s.get::<u64>("stream-time").unwrap(),
            ts - secs(10.0).nseconds() + secs(100.0).nseconds()
        );
    }
}

#[test]
fn a_flush_mid_window_starts_a_fresh_window_at_the_new_position() {
    let speech = demo_speech();
    // Without speaker adaptation, which keeps the speaker's statistics
    // across a flush by design (tests/element_adaptation.rs), the window's
    // result depends on its samples alone.
    let props = [("adapt-to-speaker", "false")];
    let (mut h, bus) = harness(&props, Format::S16, 1);
    // 2.5 s: no window completes.
    Audio::new(&speech[..40000]).chunk(1000).push(&mut h);
    assert!(messages(&bus, "emotion").is_empty());
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
    segment.set_start(secs(7.0));
    segment.set_time(secs(7.0));
    assert!(h.push_event(gst::event::Segment::new(&segment)));
    // 3 s from 7 s: exactly one window, made only of post-flush audio.
    let after = &speech[7 * RATE as usize..10 * RATE as usize];
    Audio::new(after).start(secs(7.0)).chunk(1000).push(&mut h);
    let results = messages(&bus, "emotion");
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0].get::<u64>("timestamp").unwrap(),
        secs(7.0).nseconds()
    );
    assert_eq!(results[0].get::<u64>("running-time").unwrap(), 0);

    // Same probabilities as a fresh element fed only the post-flush audio.
    let (mut fresh, fresh_bus) = harness(&props, Format::S16, 1);
    Audio::new(after).chunk(1000).push(&mut fresh);
    let expected = messages(&fresh_bus, "emotion");
    assert_eq!(
        f64_array(&results[0], "probabilities"),
        f64_array(&expected[0], "probabilities")
    );
}

#[test]
fn audio_passes_through_bit_exact_and_undelayed() {
    let speech = demo_speech();
    for format in [Format::S16, Format::F32] {
        for channels in [1, 2] {
            let (mut h, _bus) = harness(&[], format, channels);
            let mut pts = gst::ClockTime::ZERO;
            for chunk in speech[..RATE as usize * 4].chunks(3331) {
                let bytes = format.bytes(chunk, channels);
                let out = h
                    .push_and_pull(buffer(bytes.clone(), pts, chunk.len() as u64))
                    .unwrap();
                assert_eq!(
                    out.pts(),
                    Some(pts),
                    "{format:?}/{channels}: timestamp changed"
                );
                assert_eq!(
                    out.map_readable().unwrap().as_slice(),
                    &bytes[..],
                    "{format:?}/{channels}"
                );
                pts +=
                    gst::ClockTime::from_nseconds(chunk.len() as u64 * 1_000_000_000 / RATE as u64);
            }
        }
    }
}

#[test]
fn results_ride_on_the_buffer_that_completes_the_window() {
    let speech = demo_speech();
    let (mut h, bus) = harness(&[], Format::S16, 2);
    let out = Audio::new(&speech[..RATE as usize * 3])
        .channels(2)
        .chunk(4000)
        .push(&mut h);
    let with_meta: Vec<usize> = out
        .iter()
        .enumerate()
        .filter(|(_, b)| meta_results(b).is_some())
        .map(|(i, _)| i)
        .collect();
    // 48000 samples in buffers of 4000: the 12th buffer completes the window.
    assert_eq!(with_meta, vec![11]);
    let carried = meta_results(&out[11]).unwrap();
    // The meta holds the message's structure, field for field.
    assert_eq!(carried, messages(&bus, "emotion"));
    assert_result_fields(&carried[0]);
}

#[test]
fn a_two_second_clip_gets_one_result_and_a_summary() {
    let speech = demo_speech();
    let clip = &speech[16000..48000];
    let (mut h, bus) = harness(&[], Format::F32, 1);
    Audio::new(clip)
        .format(Format::F32)
        .chunk(4096)
        .push(&mut h);
    assert!(h.push_event(gst::event::Eos::new()));
    let all = element_messages(&bus);
    let names: Vec<&str> = all.iter().map(|s| s.name().as_str()).collect();
    // The open emotion segment is closed at EOS, before the summary.
    assert_eq!(names, ["emotion", "emotion-segment", "emotion-summary"]);
    let results = &all[..1];
    assert_result_fields(&results[0]);
    assert_eq!(all[1].get::<u32>("windows").unwrap(), 1);
    assert_eq!(
        all[1].get::<String>("emotion"),
        results[0].get::<String>("emotion")
    );
    assert_eq!(all[2].get::<u32>("windows").unwrap(), 1);
    assert_eq!(
        f64_array(&all[2], "probabilities"),
        f64_array(&results[0], "probabilities")
    );
    assert_eq!(results[0].get::<u64>("duration").unwrap(), 2_000_000_000);

    // The element's probabilities are the model's on the same audio, its
    // features standardised by the clip's own speech frames (the speaker
    // adaptation of the built-in model).
    let mut model = Model::load(ModelSource::DEFAULT, Provider::Cpu, None).unwrap();
    let params = model.contract().features.clone();
    let prior = model.contract().adaptation.clone().unwrap();
    let mut norm = SpeakerNorm::new(prior);
    let mut vad = VoiceActivity::default();
    let mut feats = Vec::new();
    FeatureExtractor::new(&params)
        .unwrap()
        .push_with_stats(clip, |_, f, stats| {
            feats.extend_from_slice(f);
            if vad.frame(stats).is_speech() {
                norm.observe(f);
            }
        });
    assert!(norm.frames_observed() > 10);
    assert_eq!(
        results[0].get::<u64>("speaker-frames").unwrap(),
        norm.frames_observed()
    );
    norm.apply(&mut feats);
    let frames = feats.len() / params.n_features();
    let mut offline = vec![0.0f32; model.contract().labels.len()];
    model.run(&feats, 1, frames, &mut offline).unwrap();
    // Results list the emotions, renormalised without `non-speech`.
    if let Some(k) = model.contract().non_speech() {
        offline.remove(k);
    }
    let total: f32 = offline.iter().sum();
    let element = f64_array(&results[0], "probabilities");
    assert_eq!(element.len(), offline.len());
    for (a, b) in element.iter().zip(&offline) {
        let b = (b / total) as f64;
        assert!((a - b).abs() < 1e-4, "element {a} vs offline {b}");
    }
}

#[test]
fn the_summary_is_the_duration_weighted_mean() {
    let speech = demo_speech();
    let (mut h, bus) = harness(&[], Format::S16, 1);
    Audio::new(&speech[..RATE as usize * 5])
        .chunk(2000)
        .push(&mut h);
    assert!(h.push_event(gst::event::Eos::new()));
    let all: Vec<gst::Structure> = element_messages(&bus)
        .into_iter()
        .filter(|s| s.name() != "emotion-segment")
        .collect();
    let (summary, windows) = all.split_last().unwrap();
    assert_eq!(summary.name(), "emotion-summary");
    assert_eq!(
        summary.get::<u32>("windows").unwrap() as usize,
        windows.len()
    );
    assert_eq!(windows.len(), 3);
    assert_eq!(summary.get::<u64>("timestamp").unwrap(), 0);
    assert_eq!(summary.get::<u64>("duration").unwrap(), 5_000_000_000);
    assert_result_fields(summary);
    // All windows last 3 s, so the weighted mean is the plain mean.
    let mean: Vec<f64> = (0..builtin_emotions().len())
        .map(|i| {
            windows
                .iter()
                .map(|w| f64_array(w, "probabilities")[i])
                .sum::<f64>()
                / 3.0
        })
        .collect();
    for (a, b) in f64_array(summary, "probabilities").iter().zip(&mean) {
        assert!((a - b).abs() < 1e-9);
    }
}

#[test]
fn eos_without_data_posts_an_empty_summary() {
    let (mut h, bus) = harness(&[], Format::S16, 1);
    assert!(h.push_event(gst::event::Eos::new()));
    let summaries = messages(&bus, "emotion-summary");
    assert_eq!(summaries.len(), 1);
    let s = &summaries[0];
    assert_eq!(s.get::<u32>("windows").unwrap(), 0);
    assert!(!s.has_field("emotion"));
    assert!(!s.has_field("probabilities"));
}

#[test]
fn silence_is_not_classified_but_summarized() {
    let (mut h, bus) = harness(&[], Format::S16, 1);
    push_speech(&mut h, &vec![0.0; RATE as usize * 4], gst::ClockTime::ZERO);
    assert!(h.push_event(gst::event::Eos::new()));
    let all = element_messages(&bus);
    let names: Vec<&str> = all.iter().map(|s| s.name().as_str()).collect();
    // No result and no segment; the summary says no window was classified.
    assert_eq!(names, ["emotion-summary"]);
    let summary = &all[0];
    assert_eq!(summary.get::<u32>("windows").unwrap(), 0, "{summary}");
    assert_eq!(summary.get::<i32>("channel").unwrap(), 0, "{summary}");
    assert_eq!(summary.get::<u64>("timestamp").unwrap(), 0, "{summary}");
    for field in ["emotion", "confidence", "probabilities"] {
        assert!(!summary.has_field(field), "{field} in {summary}");
    }
}

#[test]
fn post_messages_false_keeps_the_bus_quiet_but_keeps_the_meta() {
    let speech = demo_speech();
    let (mut h, bus) = harness(&[("post-messages", "false")], Format::S16, 1);
    let out = Audio::new(&speech[..RATE as usize * 3])
        .chunk(48000)
        .push(&mut h);
    assert!(messages(&bus, "emotion").is_empty());
    let carried = meta_results(&out[0]).expect("an EmotionMeta");
    assert_eq!(spans(&carried), [(0, 3_000_000_000)]);
}

#[test]
fn a_timestamp_gap_splits_windows() {
    let speech = demo_speech();
    let (mut h, bus) = harness(&[], Format::S16, 1);
    // 2 s, then a jump of 10 s, then 3 s: the first 2 s never share a window
    // with what follows the gap; they end as a stream of their own.
    push_speech(&mut h, &speech[..32000], gst::ClockTime::ZERO);
    push_speech(&mut h, &speech[32000..80000], secs(12.0));
    assert_eq!(
        spans(&messages(&bus, "emotion")),
        [(0, 2_000_000_000), (12_000_000_000, 3_000_000_000)]
    );
}

#[test]
fn caps_at_another_rate_are_refused() {
    init();
    let mut h = gst_check::Harness::new("emotiondetect");
    h.play();
    let caps = gst_audio::AudioCapsBuilder::new_interleaved()
        .format(gst_audio::AudioFormat::S16le)
        .rate(44100)
        .channels(1)
        .build();
    h.set_src_caps(caps);
    let buf = buffer(vec![0; 882], gst::ClockTime::ZERO, 441);
    assert_eq!(h.push(buf), Err(gst::FlowError::NotNegotiated));
}

#[test]
fn the_provider_in_use_is_readable_and_logged() {
    init();
    let idle = gst::ElementFactory::make("emotiondetect").build().unwrap();
    let in_use = |e: &gst::Element| e.property::<Option<String>>("execution-provider-in-use");
    assert_eq!(in_use(&idle), None, "before the element starts");
    let (h, _bus) = harness(&[("execution-provider", "auto")], Format::S16, 1);
    let expected = best_available_provider().name();
    assert_eq!(in_use(&h.element().unwrap()).as_deref(), Some(expected));

    // The INFO line names it too. In a process of its own: a log function
    // added here would leak GStreamer's list of them into the leak check.
    let dir = plugin_dir("provider-log");
    let out = std::process::Command::new("gst-launch-1.0")
        .args(["audiotestsrc", "num-buffers=1", "!", "emotiondetect"])
        .args(["execution-provider=auto", "!", "fakesink"])
        .env("GST_PLUGIN_PATH", &dir)
        .env("GST_REGISTRY", dir.join("registry.bin"))
        .env("GST_DEBUG", "emotiondetect:INFO")
        .env("GST_DEBUG_NO_COLOR", "1")
        .output()
        .expect("gst-launch-1.0 runs");
    std::fs::remove_dir_all(&dir).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("execution provider in use: {expected}")),
        "{stderr}"
    );
}

#[test]
fn nan_and_infinite_samples_give_finite_results() {
    let mut speech = demo_speech()[..RATE as usize * 3].to_vec();
    for i in (0..speech.len()).step_by(97) {
        speech[i] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][i % 3];
    }
    let (mut h, bus) = harness(&[], Format::F32, 1);
    let out = Audio::new(&speech)
        .format(Format::F32)
        .chunk(4800)
        .push(&mut h);
    // The audio still passes untouched, NaN included.
    let passed: Vec<u8> = out
        .iter()
        .flat_map(|b| b.map_readable().unwrap().to_vec())
        .collect();
    assert_eq!(passed, Format::F32.bytes(&speech, 1));
    let results = messages(&bus, "emotion");
    assert_eq!(results.len(), 1);
    assert_result_fields(&results[0]);
    assert!(f64_array(&results[0], "probabilities")
        .iter()
        .all(|p| p.is_finite()));
}

#[test]
fn buffers_without_timestamps_are_timed_by_their_samples() {
    let speech = demo_speech();
    let (mut h, bus) = harness(&[], Format::S16, 1);
    for chunk in speech[..RATE as usize * 4].chunks(1600) {
        let buf = gst::Buffer::from_mut_slice(Format::S16.bytes(chunk, 1));
        h.push_and_pull(buf).unwrap();
    }
    assert_eq!(timestamps(&messages(&bus, "emotion")), [0, 1_000_000_000]);
}

#[test]
fn a_dc_offset_changes_no_result_of_the_telephone_model() {
    // Some gateways and cheap microphones add a constant to the signal. The
    // 8 kHz model's features remove each frame's mean, so the constant must
    // change nothing but float rounding.
    let speech = demo_speech();
    let narrow = narrowband(&speech);
    let biased: Vec<f32> = narrow.iter().map(|x| x + 0.05).collect();
    let run = |signal: &[f32]| {
        let (mut h, bus) = harness(&[], Format::F32, 1);
        h.set_src_caps(Format::F32.caps_at(8000, 1));
        for (k, chunk) in signal.chunks(800).enumerate() {
            let mut buf = gst::Buffer::from_mut_slice(Format::F32.bytes(chunk, 1));
            buf.get_mut()
                .unwrap()
                .set_pts(gst::ClockTime::from_mseconds(100 * k as u64));
            h.push(buf).unwrap();
        }
        assert_eq!(model_in_use(&h).as_deref(), Some("reslstm-sa-8k"));
        h.push_event(gst::event::Eos::new());
        messages(&bus, "emotion")
    };
    let (clean, offset) = (run(&narrow), run(&biased));
    assert_eq!(timestamps(&clean), timestamps(&offset));
    assert!(clean.len() >= 10, "{} windows", clean.len());
    for (a, b) in clean.iter().zip(&offset) {
        assert_eq!(
            a.get::<String>("emotion").unwrap(),
            b.get::<String>("emotion").unwrap()
        );
        let (pa, pb) = (f64_array(a, "probabilities"), f64_array(b, "probabilities"));
        let worst = pa
            .iter()
            .zip(&pb)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-3, "{worst}: {a} / {b}");
    }
}
