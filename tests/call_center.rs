// SPDX-License-Identifier: MPL-2.0
//! Call-center use: per-channel analysis, speech gating, emotion segments.

mod common;

use common::*;
use emotiondetect_core::analysis::AUTO_MIN_SPEECH_RATIO;
use gst::prelude::*;

fn tone(n: usize, hz: f32) -> Vec<f32> {
    (0..n)
        .map(|i| 0.3 * (2.0 * std::f32::consts::PI * hz * i as f32 / RATE as f32).sin())
        .collect()
}

/// Pushes two mono signals as F32 stereo in 100 ms buffers.
fn push_stereo(h: &mut gst_check::Harness, left: &[f32], right: &[f32]) {
    Audio::per_channel(&[left, right])
        .format(Format::F32)
        .push(h);
}

#[test]
fn independent_channels_give_results_only_where_there_is_speech() {
    let speech = demo_speech();
    let n = RATE as usize * 6;
    let props = [
        ("channel-mode", "independent"),
        ("channel-names", "agent,customer"),
    ];
    let (mut h, bus) = harness(&props, Format::F32, 2);
    push_stereo(&mut h, &speech[..n], &tone(n, 425.0));
    assert!(h.push_event(gst::event::Eos::new()));
    let all = element_messages(&bus);
    let results = only(&all, "emotion");
    assert_eq!(results.len(), 4);
    for s in &results {
        assert_eq!(s.get::<i32>("channel").unwrap(), 0);
        assert_eq!(s.get::<&str>("speaker").unwrap(), "agent");
        // The demo speech is clean: the detector hears speech in every
        // window (the automatic gate itself asks for speech or noise).
        let ratio = s.get::<f64>("speech-ratio").unwrap();
        assert!((0.05..=1.0).contains(&ratio), "{ratio}");
    }
    // One summary per channel; the tone channel has none classified.
    let summaries = only(&all, "emotion-summary");
    assert_eq!(summaries.len(), 2);
    assert_eq!(summaries[0].get::<&str>("speaker").unwrap(), "agent");
    assert_eq!(summaries[0].get::<u32>("windows").unwrap(), 4);
    assert_eq!(summaries[1].get::<i32>("channel").unwrap(), 1);
    assert_eq!(summaries[1].get::<&str>("speaker").unwrap(), "customer");
    assert_eq!(summaries[1].get::<u32>("windows").unwrap(), 0);
}

/// `n` samples of uniform white noise of RMS `rms`, the same for a seed.
fn white_noise(n: usize, seed: u64, rms: f32) -> Vec<f32> {
    // Uniform on [-0.5, 0.5) has RMS 1/sqrt(12).
    let scale = rms * 12f32.sqrt();
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n).map(|_| (rng.f32() - 0.5) * scale).collect()
}

/// The RMS of the speech in `x`: over its 20 ms blocks within 40 dB of the
/// loudest.
fn active_rms(x: &[f32]) -> f32 {
    let blocks: Vec<f32> = x
        .chunks_exact(320)
        .map(|b| b.iter().map(|v| v * v).sum::<f32>() / 320.0)
        .collect();
    let loudest = blocks.iter().copied().fold(0.0, f32::max);
    let active: Vec<f32> = blocks.into_iter().filter(|&e| e > loudest * 1e-4).collect();
    (active.iter().sum::<f32>() / active.len() as f32).sqrt()
}

#[test]
fn speech_on_a_noisy_line_still_gets_results() {
    // The demo speech with white noise 10 and 5 dB below it: the frame
    // detector calls most of its frames noise, but the built-in models' own
    // gate hears speech; by default (min-speech-ratio automatic) a window
    // needs only a few speech or noise frames, so the element classifies
    // every window the model would classify with no ratio at all. (The
    // model gates some itself: since its training on impulsive sounds the
    // 16 kHz model classifies 8 of these 12 at 10 dB, 6-8 at 5 dB, where
    // the one before classified 10 and 8-10.)
    let speech = demo_speech();
    let classified = |snr_db: f32, props: &[(&str, &str)]| {
        let noise = white_noise(
            speech.len(),
            3,
            active_rms(&speech) / 10f32.powf(snr_db / 20.0),
        );
        let noisy: Vec<f32> = speech.iter().zip(&noise).map(|(s, n)| s + n).collect();
        let (mut h, bus) = harness(props, Format::F32, 1);
        Audio::new(&noisy).format(Format::F32).push(&mut h);
        assert!(h.push_event(gst::event::Eos::new()));
        messages(&bus, "emotion").len()
    };
    let by_default = classified(10.0, &[]);
    let gated = classified(10.0, &[("min-speech-ratio", "0.2")]);
    let ungated = classified(10.0, &[("min-speech-ratio", "0")]);
    assert!(by_default >= 8, "{by_default} of 12 windows classified");
    assert_eq!(by_default, ungated, "the automatic gate dropped speech");
    // An older default left most of them out.
    assert!(
        gated <= 3 && gated < by_default,
        "{gated} of 12 classified at 0.2"
    );
    // At 5 dB few frames are speech: a ratio set by hand counts only those,
    // the automatic one speech or noise frames.
    let by_default = classified(5.0, &[]);
    let speech_frames = classified(5.0, &[("min-speech-ratio", "0.05")]);
    let ungated = classified(5.0, &[("min-speech-ratio", "0")]);
    assert!(by_default >= 6, "{by_default} of 12 classified at 5 dB");
    assert_eq!(
        by_default, ungated,
        "the automatic gate dropped speech at 5 dB"
    );
    assert!(
        speech_frames <= 3,
        "{speech_frames} of 12 classified at 5 dB with 5 % speech frames"
    );
}

#[test]
fn the_non_speech_bias_moves_the_decision_and_leaves_the_probabilities() {
    // The demo speech, each window on its own (no speaker adaptation, so a
    // window's result does not depend on which earlier ones were
    // classified). Weighing the non-speech output e^10 times leaves windows
    // of speech unclassified; weighing it e^-10 times classifies at least
    // every window the default does, with the same probabilities.
    let speech = demo_speech();
    let run = |bias: &str| {
        let props = [("adapt-to-speaker", "false"), ("non-speech-bias", bias)];
        let (mut h, bus) = harness(&props, Format::F32, 1);
        assert_eq!(
            h.element().unwrap().property::<f64>("non-speech-bias"),
            bias.parse::<f64>().unwrap()
        );
        Audio::new(&speech).format(Format::F32).push(&mut h);
        assert!(h.push_event(gst::event::Eos::new()));
        messages(&bus, "emotion")
    };
    let by_default = run("0");
    let lenient = run("-10");
    let strict = run("10");
    assert!(!by_default.is_empty());
    assert!(
        strict.len() < by_default.len(),
        "{} of {} windows classified with bias 10",
        strict.len(),
        by_default.len()
    );
    // Each window of `fewer` is in `more`, with the same probabilities.
    let within = |fewer: &[gst::Structure], more: &[gst::Structure], what: &str| {
        for s in fewer {
            let t = timestamps(&[s])[0];
            let m = more.iter().find(|m| timestamps(&[*m])[0] == t);
            let m = m.unwrap_or_else(|| panic!("window at {t} not classified {what}"));
            assert!(same_probabilities(s, m), "{s}\n{m}");
        }
    };
    within(&by_default, &lenient, "with bias -10");
    within(&strict, &by_default, "by default");
}

/// The `emotion` results of `signal` at `rate` through a pipeline, by
/// default or at a `min-speech-ratio`.
fn emotion_windows(rate: u32, signal: &[f32], ratio: Option<&str>) -> usize {
    init();
    let ratio = ratio.map_or(String::new(), |r| format!("min-speech-ratio={r}"));
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time ! emotiondetect {ratio} ! fakesink"
    ))
    .unwrap();
    let src = pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    src.set_caps(Some(&Format::F32.caps_at(rate, 1)));
    let bytes: Vec<u8> = signal.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut buf = gst::Buffer::from_mut_slice(bytes);
    buf.get_mut().unwrap().set_pts(gst::ClockTime::ZERO);
    src.push_buffer(buf).unwrap();
    src.end_of_stream().unwrap();
    let all = play(&pipeline, |_| false);
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(only(&all, "emotion-summary").len(), 1);
    only(&all, "emotion").len()
}

#[test]
fn a_constant_offset_or_a_pure_hum_tone_gets_no_emotion() {
    // Steady sounds the frame detector never calls speech and the models'
    // non-speech training lacks (its hum has harmonics and noise, never an
    // offset): the automatic gate keeps them from the model (they are quiet
    // once the offset is removed, tonal, or out of the speech band).
    let wave = |rate: u32, offset: f32, partials: &[(f32, f32)]| -> Vec<f32> {
        (0..rate as usize * 6)
            .map(|i| {
                let t = i as f32 / rate as f32;
                offset
                    + partials
                        .iter()
                        .map(|(hz, a)| a * (2.0 * std::f32::consts::PI * hz * t).sin())
                        .sum::<f32>()
            })
            .collect()
    };
    // The last field: whether the model itself classifies the sound (the
    // control below). Since its training on impulsive sounds the 16 kHz
    // model rejects a constant offset on its own (the one before labelled
    // it `fearful`), and since the retraining that keeps the last epoch the
    // 8 kHz model rejects the hum on an offset, so those cases check the
    // default alone; a 50 Hz square buzz on the offset is the 8 kHz case
    // the model still labels, so the gate is checked with an offset there.
    let cases = [
        ("offset", 16000, wave(16000, 0.05, &[]), false),
        ("50 Hz tone", 16000, wave(16000, 0.0, &[(50.0, 0.1)]), true),
        (
            "hum on an offset",
            8000,
            wave(8000, 0.05, &[(50.0, 0.1), (150.0, 0.03)]),
            false,
        ),
        (
            "50 Hz square buzz on an offset",
            8000,
            square_wave(8000, 50.0, 0.03)
                .into_iter()
                .map(|v| v + 0.05)
                .collect(),
            true,
        ),
    ];
    for (name, rate, signal, model_labels_it) in &cases {
        assert_eq!(
            emotion_windows(*rate, signal, None),
            0,
            "{name} at {rate} Hz"
        );
        // The control: without a speech ratio the model does classify it, so
        // this test checks the ratio (if a model stops doing so, pick
        // another sound).
        assert_eq!(
            emotion_windows(*rate, signal, Some("0")) > 0,
            *model_labels_it,
            "{name} at {rate} Hz without a speech ratio"
        );
    }
}

#[test]
fn without_a_non_speech_output_the_frame_detector_gates_by_default() {
    // The contract test model has no `non-speech` output and classifies
    // every window it is given: noise gets through only when the speech
    // ratio is turned off.
    let model = repo_path("tests/fixtures/models/tiny-valid.onnx");
    let noise = white_noise(RATE as usize * 4, 11, 0.05);
    let classified = |ratio: Option<&str>| {
        let mut props = vec![("model-file", model.to_str().unwrap())];
        props.extend(ratio.map(|r| ("min-speech-ratio", r)));
        let (mut h, bus) = harness(&props, Format::F32, 1);
        assert_eq!(
            h.element().unwrap().property::<f64>("min-speech-ratio"),
            ratio.map_or(-1.0, |r| r.parse().unwrap())
        );
        Audio::new(&noise).format(Format::F32).push(&mut h);
        assert!(h.push_event(gst::event::Eos::new()));
        // What is in force, now that the model is chosen: the automatic
        // ratio of a model without non-speech, or the one set.
        assert_eq!(
            h.element()
                .unwrap()
                .property::<f64>("min-speech-ratio-in-use"),
            ratio.map_or(AUTO_MIN_SPEECH_RATIO, |r| r.parse().unwrap())
        );
        messages(&bus, "emotion").len()
    };
    assert_eq!(classified(None), 0);
    assert_eq!(classified(Some("0")), 2);
}

#[test]
fn steady_tones_and_noise_get_no_emotion() {
    let n = RATE as usize * 4;
    let noise = white_noise(n, 7, 0.2 / 12f32.sqrt());
    let hold: Vec<f32> = (0..n)
        .map(|i| {
            // A melody of pure tones, a note every half second.
            let f = [262.0, 330.0, 392.0, 523.0][(i / 8000) % 4];
            0.2 * (2.0 * std::f32::consts::PI * f * i as f32 / RATE as f32).sin()
        })
        .collect();
    for (name, signal) in [
        ("tone", tone(n, 1000.0)),
        ("noise", noise),
        ("melody", hold),
    ] {
        // By default, and with the frame detector's gate alone (a model
        // without non-speech relies on it).
        for props in [&[][..], &[("min-speech-ratio", "0.2")][..]] {
            let (mut h, bus) = harness(props, Format::F32, 1);
            Audio::new(&signal).format(Format::F32).push(&mut h);
            assert!(
                messages(&bus, "emotion").is_empty(),
                "{name} was classified ({props:?})"
            );
        }
    }
}

#[test]
fn mix_mode_is_the_default_and_reports_channel_zero() {
    let speech = demo_speech();
    let n = RATE as usize * 3;
    let (mut h, bus) = harness(&[], Format::F32, 2);
    push_stereo(&mut h, &speech[..n], &speech[..n]);
    let results = messages(&bus, "emotion");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].get::<i32>("channel").unwrap(), 0);
    assert!(!results[0].has_field("speaker"));
}

#[test]
fn segments_tile_the_classified_time() {
    let speech = demo_speech();
    let (mut h, bus) = harness(&[], Format::S16, 1);
    push_speech(&mut h, &speech, gst::ClockTime::ZERO);
    assert!(h.push_event(gst::event::Eos::new()));
    let all = element_messages(&bus);
    let segments = only(&all, "emotion-segment");
    let windows = only(&all, "emotion");
    assert!(!segments.is_empty());
    // Contiguous, in order, from the first window's start to the last one's end.
    let first = windows[0].get::<u64>("timestamp").unwrap();
    let last = windows.last().unwrap();
    let last_end = last.get::<u64>("timestamp").unwrap() + last.get::<u64>("duration").unwrap();
    assert_eq!(segments[0].get::<u64>("start").unwrap(), first);
    assert_eq!(
        segments.last().unwrap().get::<u64>("end").unwrap(),
        last_end
    );
    for pair in segments.windows(2) {
        assert_eq!(
            pair[0].get::<u64>("end").unwrap(),
            pair[1].get::<u64>("start").unwrap()
        );
        assert_ne!(
            pair[0].get::<&str>("emotion").unwrap(),
            pair[1].get::<&str>("emotion").unwrap()
        );
    }
    let total: u32 = segments
        .iter()
        .map(|s| s.get::<u32>("windows").unwrap())
        .sum();
    assert_eq!(total as usize, windows.len());
    for s in &segments {
        let c = s.get::<f64>("confidence").unwrap();
        assert!((0.0..=1.0).contains(&c));
    }
}

#[test]
fn an_8k_stream_negotiates_with_no_properties_and_gets_results() {
    init();
    let pipeline = gst::parse::launch(&format!(
        "{} ! audioresample ! audio/x-raw,rate=8000 ! emotiondetect name=d ! fakesink",
        demo_source()
    ))
    .unwrap();
    let all = play(&pipeline, |_| false);
    let results = only(&all, "emotion");
    let d = pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("d")
        .unwrap();
    let caps = d.static_pad("sink").unwrap().current_caps().unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(caps.structure(0).unwrap().get::<i32>("rate").unwrap(), 8000);
    // 12 windows of speech: the telephone model classifies most of them.
    // It was trained on telephone-band audio and may call a few windows of
    // wideband speech merely resampled to 8 kHz `non-speech` (3 of these
    // 12; 5 % of such windows of held-out actors, models/MODEL_CARD.md),
    // but a broken 8 kHz path (wrong features, wrong model) gates most or
    // all: at least half must be classified.
    assert!(
        (6..=12).contains(&results.len()),
        "{} results",
        results.len()
    );
    for s in &results {
        assert!((f64_array(s, "probabilities").iter().sum::<f64>() - 1.0).abs() < 1e-4);
    }
}

#[test]
fn without_a_model_file_both_rates_are_offered() {
    init();
    let d = gst::ElementFactory::make("emotiondetect").build().unwrap();
    d.set_state(gst::State::Ready).unwrap();
    let pipeline = gst::Pipeline::new();
    pipeline.add(&d).unwrap();
    pipeline.set_state(gst::State::Paused).unwrap();
    let caps = d.static_pad("sink").unwrap().query_caps(None);
    pipeline.set_state(gst::State::Null).unwrap();
    let rates = caps.structure(0).unwrap().get::<gst::List>("rate").unwrap();
    let rates: Vec<i32> = rates.iter().map(|v| v.get::<i32>().unwrap()).collect();
    assert_eq!(rates, [16000, 8000]);
}

#[test]
fn segments_of_a_scripted_sequence_follow_its_turns_in_order() {
    // One actor speaks calm, angry, sad, happy in turn (two clips each;
    // tests/fixtures/make_emotion_sequence.py). The clips are from an actor
    // the model trained on, so the windows inside each turn are classified
    // right and what is checked is the segmentation: one segment per turn,
    // in order, each boundary within half a window of the true change.
    let script: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("tests/fixtures/emotion-sequence.json")).unwrap(),
    )
    .unwrap();
    let rate = script["rate"].as_u64().unwrap();
    let turns: Vec<(String, f64, f64)> = script["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let at = |k: &str| t[k].as_u64().unwrap() as f64 / rate as f64;
            (
                t["emotion"].as_str().unwrap().to_owned(),
                at("start"),
                at("end"),
            )
        })
        .collect();
    let description = format!(
        "filesrc location={} ! flacparse ! flacdec ! audioconvert ! emotiondetect ! fakesink",
        repo_path("tests/fixtures/emotion-sequence.flac").display()
    );
    let segments: Vec<(String, f64, f64, f64)> = run_pipeline(&description, None)
        .iter()
        .filter(|s| s.name() == "emotion-segment")
        .map(|s| {
            let at = |k: &str| s.get::<u64>(k).unwrap() as f64 / 1e9;
            (
                s.get::<String>("emotion").unwrap(),
                at("start"),
                at("end"),
                s.get::<f64>("confidence").unwrap(),
            )
        })
        .collect();
    assert_eq!(segments[0].1, 0.0);
    for pair in segments.windows(2) {
        // Segments tile the time: each starts where the previous ended.
        assert_eq!(pair[0].2, pair[1].1, "{segments:?}");
    }
    // A window that straddles a change hears two turns and can lead with a
    // third emotion; the tracker may then open a short transition segment
    // there, at most two windows (2 s) long. Every other segment is a turn,
    // in order, each boundary within half a window of the true change.
    let changes: Vec<f64> = turns[..turns.len() - 1].iter().map(|t| t.2).collect();
    let near_change = |t: f64| changes.iter().any(|c| (t - c).abs() <= 1.5);
    let (transitions, spoken): (Vec<_>, Vec<_>) = segments
        .iter()
        .partition(|s| s.2 - s.1 <= 2.0 && near_change(s.1) && near_change(s.2));
    assert!(transitions.len() < changes.len(), "{segments:?}");
    let labels: Vec<&str> = spoken.iter().map(|s| s.0.as_str()).collect();
    let expected: Vec<&str> = turns.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(labels, expected, "{segments:?}");
    for (k, pair) in spoken.windows(2).enumerate() {
        let truth = turns[k].2;
        for boundary in [pair[0].2, pair[1].1] {
            assert!(
                (boundary - truth).abs() <= 1.5,
                "change {k} at {boundary} s, spoken at {truth} s: {segments:?}"
            );
        }
    }
    // A confidence is the mean of the segment label's probability over its
    // windows. The model's confidences are calibrated (models/MODEL_CARD.md,
    // *7. Confidence*), so a weak class reads low (this happy turn: about
    // 0.29); the check is that each turn's label was, on average, well above
    // a uniform guess over the nine emotions (1/9), as for speech the model
    // knows. It is not an invariant of the tracker: a label smoothed to the
    // top over windows where it was not could average less.
    for s in &segments {
        assert!((1.0 / 9.0..=1.0).contains(&s.3), "{segments:?}");
    }
}

#[test]
fn a_mains_buzz_that_drifts_gets_no_emotion() {
    // Mains frequency drifts by a tenth of a hertz, so a real buzz's period
    // is no whole number of samples and its frames are not all alike; on a
    // line it is band-limited by the converter (odd harmonics below
    // Nyquist). Steady, and after 2 s of silence at a place off the hop
    // grid. (A naive square wave at these frequencies aliases into tones
    // that beat, which the 8 kHz model labels: the model card, *Speech
    // gating*.)
    for rate in [16000u32, 8000] {
        for f0 in [49.9f64, 50.1, 59.9, 60.1] {
            let partials: Vec<f64> = (1..)
                .step_by(2)
                .map(|k| k as f64 * f0)
                .take_while(|&hz| hz < rate as f64 / 2.0)
                .collect();
            for amp in [0.003f64, 0.03, 0.3] {
                let buzz: Vec<f32> = (0..rate as usize * 6)
                    .map(|i| {
                        let t = i as f64 / rate as f64;
                        let wave: f64 = partials
                            .iter()
                            .map(|hz| (2.0 * std::f64::consts::PI * hz * t).sin() * f0 / hz)
                            .sum();
                        (amp * 4.0 / std::f64::consts::PI * wave) as f32
                    })
                    .collect();
                let after_silence: Vec<f32> = std::iter::repeat_n(0.0, rate as usize * 2 + 77)
                    .chain(buzz.iter().copied())
                    .collect();
                for (what, signal) in [("steady", &buzz), ("after silence", &after_silence)] {
                    assert_eq!(
                        emotion_windows(rate, signal, None),
                        0,
                        "{f0} Hz at {amp}, {what}, {rate} Hz"
                    );
                }
            }
        }
    }
}

/// Six seconds of a square wave of `f0` Hz at ±`amp`.
fn square_wave(rate: u32, f0: f32, amp: f32) -> Vec<f32> {
    (0..rate as usize * 6)
        .map(|i| {
            if (f0 * i as f32 / rate as f32).fract() < 0.5 {
                amp
            } else {
                -amp
            }
        })
        .collect()
}

#[test]
fn a_low_buzz_gets_no_emotion() {
    // Square waves (odd harmonics up to the band's top) from 20 to 240 Hz,
    // -50 to -10 dBFS: steady and not noise-like, so the automatic gate never
    // counts their frames, though their harmonics fill the speech band.
    for rate in [16000u32, 8000] {
        for f0 in [20.0f32, 50.0, 60.0, 100.0, 120.0, 240.0] {
            for amp in [0.003f32, 0.03, 0.3] {
                let buzz = square_wave(rate, f0, amp);
                let windows = emotion_windows(rate, &buzz, None);
                assert_eq!(windows, 0, "{f0} Hz at {amp}, {rate} Hz");
                // The same buzz starting abruptly after 2 s of silence, at
                // three places within an analysis hop (40 ms; with two onset
                // frames the last two let the 50 Hz buzz through at 8 kHz):
                // the frames the onset falls into change as much as a
                // syllable, and the detector calls them and a few after
                // speech (5-7 of a window's 74). The automatic gate asks for
                // one counted frame that is more than an onset.
                let hop = rate as usize / 25;
                let after_silence = |offset: usize| -> Vec<f32> {
                    std::iter::repeat_n(0.0, rate as usize * 2 + offset)
                        .chain(buzz.iter().copied())
                        .collect()
                };
                for offset in [0, hop * 3 / 4, hop * 15 / 16] {
                    assert_eq!(
                        emotion_windows(rate, &after_silence(offset), None),
                        0,
                        "{f0} Hz at {amp} after {offset} samples more silence, {rate} Hz"
                    );
                }
                // The control: without a speech ratio the 8 kHz model labels
                // the 50 Hz buzz at every level (the 20 Hz one it rejects
                // itself since the retraining that keeps the last epoch), so
                // for those this test checks the gate (if a model stops doing
                // so, the test says so: pick other cases).
                if rate == 8000 && f0 == 50.0 {
                    assert!(
                        emotion_windows(rate, &buzz, Some("0")) > 0,
                        "{f0} Hz at {amp}, {rate} Hz is no longer classified without a ratio"
                    );
                    // ... and the onset frames are there: a ratio set by
                    // hand, which counts speech frames, lets the window after
                    // silence through to the model, which labels it.
                    assert!(
                        emotion_windows(rate, &after_silence(0), Some("0.05")) > 0,
                        "{f0} Hz at {amp} after silence, {rate} Hz: no onset frames"
                    );
                }
            }
        }
    }
}
