// SPDX-License-Identifier: MPL-2.0
//! Hostile audio and stream events: nothing crashes, nothing stalls, no
//! NaN in a result, timestamps stay in order and no window spans a
//! discontinuity.

mod common;

use common::*;
use gst::prelude::*;
use proptest::prelude::*;

fn spans(results: &[gst::Structure]) -> Vec<(u64, u64)> {
    results
        .iter()
        .map(|s| {
            (
                s.get::<u64>("timestamp").unwrap(),
                s.get::<u64>("duration").unwrap(),
            )
        })
        .collect()
}

fn probabilities_are_finite(results: &[gst::Structure]) {
    for s in results {
        let p = f64_array(s, "probabilities");
        assert!(p.iter().all(|v| v.is_finite()), "{s}");
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{s}");
    }
}

fn assert_in_order(results: &[gst::Structure]) {
    let ts: Vec<u64> = results
        .iter()
        .map(|s| s.get::<u64>("timestamp").unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
}

#[test]
fn one_sample_buffers_give_the_same_result_as_large_ones() {
    let speech = &demo_speech()[..RATE as usize * 3];
    let (mut h, bus) = harness(&[], Format::S16, 1);
    push_audio(&mut h, speech, Format::S16, 1, gst::ClockTime::ZERO, 1);
    let tiny = messages(&bus, "emotion");
    let (mut h, bus) = harness(&[], Format::S16, 1);
    push_audio(&mut h, speech, Format::S16, 1, gst::ClockTime::ZERO, 48000);
    let large = messages(&bus, "emotion");
    assert_eq!(spans(&tiny), [(0, 3_000_000_000)]);
    assert_eq!(
        f64_array(&tiny[0], "probabilities"),
        f64_array(&large[0], "probabilities")
    );
}

#[test]
fn a_ten_minute_buffer_gets_every_window_and_carries_every_result() {
    let speech = demo_speech();
    let long: Vec<f32> = speech
        .iter()
        .cycle()
        .take(RATE as usize * 600)
        .copied()
        .collect();
    let (mut h, bus) = harness(&[], Format::S16, 1);
    let out = push_audio(
        &mut h,
        &long,
        Format::S16,
        1,
        gst::ClockTime::ZERO,
        long.len(),
    );
    let results = messages(&bus, "emotion");
    assert_eq!(results.len(), 598);
    assert_in_order(&results);
    probabilities_are_finite(&results);
    // Each result rides as its own EmotionMeta; the buffer has no other meta.
    assert_eq!(out[0].iter_meta::<gst::Meta>().count(), 598);
    assert!(gst::meta::CustomMeta::from_buffer(&out[0], "EmotionMeta").is_ok());
}

#[test]
fn overlapping_timestamps_are_not_analysed_twice() {
    let speech = demo_speech();
    let (mut h, bus) = harness(&[], Format::S16, 1);
    push_speech(&mut h, &speech[..32000], gst::ClockTime::ZERO);
    // 2.5 s starting at 1.5 s: its first 0.5 s was already seen.
    push_speech(&mut h, &speech[24000..64000], secs(1.5));
    let results = messages(&bus, "emotion");
    assert_eq!(
        spans(&results),
        [(0, 3_000_000_000), (1_000_000_000, 3_000_000_000)]
    );

    // The windows hold the same audio as a clean run.
    let (mut clean, clean_bus) = harness(&[], Format::S16, 1);
    push_audio(
        &mut clean,
        &speech[..64000],
        Format::S16,
        1,
        gst::ClockTime::ZERO,
        1600,
    );
    let expected = messages(&clean_bus, "emotion");
    for (a, b) in results.iter().zip(&expected) {
        assert_eq!(f64_array(a, "probabilities"), f64_array(b, "probabilities"));
    }
}

#[test]
fn gap_events_discont_flags_and_new_segments_split_windows() {
    let speech = demo_speech();
    let two = &speech[..32000];
    let three = &speech[32000..80000];

    // GAP event between 2 s of audio and 3 s more at 10 s.
    let (mut h, bus) = harness(&[], Format::S16, 1);
    push_speech(&mut h, two, gst::ClockTime::ZERO);
    assert!(h.push_event(
        gst::event::Gap::builder(secs(2.0))
            .duration(secs(8.0))
            .build()
    ));
    push_speech(&mut h, three, secs(10.0));
    assert_eq!(
        spans(&messages(&bus, "emotion")),
        [(0, 2_000_000_000), (10_000_000_000, 3_000_000_000)]
    );

    // A DISCONT flag with contiguous timestamps.
    let (mut h, bus) = harness(&[], Format::S16, 1);
    push_speech(&mut h, two, gst::ClockTime::ZERO);
    let mut buf = buffer(Format::S16.bytes(three, 1), secs(2.0), three.len() as u64);
    buf.make_mut().set_flags(gst::BufferFlags::DISCONT);
    h.push_and_pull(buf).unwrap();
    assert_eq!(
        spans(&messages(&bus, "emotion")),
        [(0, 2_000_000_000), (2_000_000_000, 3_000_000_000)]
    );

    // A new segment mid-stream.
    let (mut h, bus) = harness(&[], Format::S16, 1);
    push_speech(&mut h, two, gst::ClockTime::ZERO);
    let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
    segment.set_start(secs(2.0));
    segment.set_time(secs(2.0));
    assert!(h.push_event(gst::event::Segment::new(&segment)));
    push_speech(&mut h, three, secs(2.0));
    let results = messages(&bus, "emotion");
    assert_eq!(
        spans(&results),
        [(0, 2_000_000_000), (2_000_000_000, 3_000_000_000)]
    );
    assert_eq!(results[1].get::<u64>("running-time").unwrap(), 0);
}

#[test]
fn eos_mid_window_classifies_the_tail_then_summarizes() {
    let speech = demo_speech();
    let (mut h, bus) = harness(&[], Format::S16, 1);
    push_audio(
        &mut h,
        &speech[..RATE as usize * 4],
        Format::S16,
        1,
        gst::ClockTime::ZERO,
        3000,
    );
    assert!(h.push_event(gst::event::Eos::new()));
    let all = element_messages(&bus);
    let names: Vec<&str> = all
        .iter()
        .map(|s| s.name().as_str())
        .filter(|n| *n != "emotion-segment")
        .collect();
    // 4 s: full windows at 0 and 1 s; 0 s of tail after 4 s: no extra window.
    assert_eq!(names, ["emotion", "emotion", "emotion-summary"]);
}

#[test]
fn caps_can_change_mid_stream() {
    let speech = demo_speech();
    let (mut h, bus) = harness(&[], Format::S16, 1);
    push_speech(&mut h, &speech[..32000], gst::ClockTime::ZERO);
    h.set_src_caps(Format::F32.caps(2));
    let out = push_audio(
        &mut h,
        &speech[32000..64000],
        Format::F32,
        2,
        secs(2.0),
        1600,
    );
    assert_eq!(out[0].size(), 1600 * 2 * 4);
    let results = messages(&bus, "emotion");
    assert_eq!(
        spans(&results),
        [(0, 3_000_000_000), (1_000_000_000, 3_000_000_000)]
    );
    probabilities_are_finite(&results);
}

#[test]
fn extreme_signals_give_finite_results_or_none() {
    let n = RATE as usize * 3;
    let square: Vec<f32> = (0..n)
        .map(|i| if (i / 40) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let cases: [(&str, Vec<f32>, usize); 4] = [
        ("full-scale square", square, 1),
        ("dc offset", vec![0.5; n], 1),
        ("denormals", vec![1e-40; n], 0),
        ("zeros", vec![0.0; n], 0),
    ];
    for (name, signal, expected) in cases {
        // Speech gating off: the model itself must cope with these.
        let (mut h, bus) = harness(&[("min-speech-ratio", "0")], Format::F32, 1);
        push_audio(&mut h, &signal, Format::F32, 1, gst::ClockTime::ZERO, 1024);
        let results = messages(&bus, "emotion");
        assert_eq!(results.len(), expected, "{name}");
        probabilities_are_finite(&results);
    }
}

#[test]
fn a_thousand_state_cycles_with_data_flowing() {
    init();
    let pipeline = gst::parse::launch(
        "audiotestsrc wave=pink-noise samplesperbuffer=1600 ! audio/x-raw,rate=16000 ! \
         emotiondetect window-duration=100000000 interval=100000000 min-speech-ratio=0 ! fakesink",
    )
    .unwrap();
    let bus = pipeline.bus().unwrap();
    for cycle in 0..1000 {
        pipeline.set_state(gst::State::Playing).unwrap();
        // Wait for the first result: data flowed through the element.
        let msg = bus
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(10),
                &[gst::MessageType::Element, gst::MessageType::Error],
            )
            .unwrap_or_else(|| panic!("cycle {cycle}: no result"));
        assert!(
            matches!(msg.view(), gst::MessageView::Element(_)),
            "cycle {cycle}: {msg:?}"
        );
        pipeline.set_state(gst::State::Null).unwrap();
        bus.set_flushing(true);
        bus.set_flushing(false);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random buffer sizes, timestamp jitter and sample values: the audio
    /// passes untouched, results are finite and in order.
    #[test]
    fn random_buffers_keep_the_contract(
        sizes in prop::collection::vec(1usize..6000, 1..40),
        values in prop::collection::vec(prop::num::f32::ANY, 64),
        jitter in prop::collection::vec(0u64..60_000_000, 40),
    ) {
        let (mut h, bus) = harness(&[("window-duration", "1000000000"), ("interval", "500000000")], Format::F32, 1);
        let mut pts = 0u64;
        for (k, &size) in sizes.iter().enumerate() {
            let samples: Vec<f32> = (0..size).map(|i| values[(i * 7 + k) % values.len()]).collect();
            let bytes = Format::F32.bytes(&samples, 1);
            let out = h.push_and_pull(buffer(bytes.clone(), gst::ClockTime::from_nseconds(pts + jitter[k]), size as u64)).unwrap();
            let map = out.map_readable().unwrap();
            prop_assert_eq!(map.as_slice(), &bytes[..]);
            pts += size as u64 * 1_000_000_000 / RATE as u64;
        }
        prop_assert!(h.push_event(gst::event::Eos::new()));
        let results = messages(&bus, "emotion");
        probabilities_are_finite(&results);
        assert_in_order(&results);
    }
}
