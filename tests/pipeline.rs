// SPDX-License-Identifier: MPL-2.0
//! The element in real pipelines: decoding, resampling, seeking.

mod common;

use common::*;

#[test]
fn a_file_through_decodebin_and_resampling_gives_results_every_second() {
    // 44.1 kHz stereo in: audioconvert and audioresample make it 16 kHz.
    let description = format!(
        "filesrc location={} ! decodebin ! audioconvert ! audioresample ! \
         audio/x-raw,rate=44100,channels=2 ! audioconvert ! audioresample ! emotiondetect ! fakesink",
        repo_path("assets/demo-speech.wav").display()
    );
    let results = run_pipeline(&description, None);
    let ts = timestamps(&only(&results, "emotion"));
    assert_eq!(ts, (0..12).map(|s| s * 1_000_000_000).collect::<Vec<u64>>());
    let summary = results.last().unwrap();
    assert_eq!(summary.name(), "emotion-summary");
    assert_eq!(summary.get::<u32>("windows").unwrap(), 12);
}

#[test]
fn after_a_flushing_seek_windows_start_at_the_new_position() {
    let description = format!("{} ! emotiondetect ! fakesink sync=false", demo_source());
    let results = run_pipeline(&description, Some(gst::ClockTime::from_seconds(5)));
    let windows = only(&results, "emotion");
    // 9.5 s remain after 5 s: windows at 5..=11 s.
    assert_eq!(
        timestamps(&windows),
        (5..12).map(|s| s * 1_000_000_000).collect::<Vec<u64>>()
    );
    for s in windows {
        let ts = s.get::<u64>("timestamp").unwrap();
        assert_eq!(s.get::<u64>("stream-time").unwrap(), ts);
        assert_eq!(s.get::<u64>("running-time").unwrap(), ts - 5_000_000_000);
    }
    let summary = results.last().unwrap();
    assert_eq!(summary.get::<u32>("windows").unwrap(), 7);
    assert_eq!(summary.get::<u64>("timestamp").unwrap(), 5_000_000_000);
}
