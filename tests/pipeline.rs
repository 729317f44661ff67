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

#[test]
fn float_samples_not_aligned_to_their_size_are_read() {
    // A 32-bit float WAV with a `fact` chunk: its samples start 58 bytes
    // into the file, and wavparse, pushed, hands out sub-buffers of the
    // file's buffers, so each float starts 2 bytes off a multiple of 4. The
    // element read such a buffer as an error (a float WAV sox writes from
    // another float file has this layout).
    let speech = demo_speech();
    let data: Vec<u8> = speech.iter().flat_map(|x| x.to_le_bytes()).collect();
    // IEEE float, 16 kHz, 32 bits, an 18-byte fmt chunk and a fact chunk
    let wav = wav_file(3, 16000, 32, true, Some(speech.len() as u32), &data);
    assert_eq!(wav.len(), 58 + data.len());
    let path = std::env::temp_dir().join(format!("emotiondetect-f32-{}.wav", std::process::id()));
    std::fs::write(&path, wav).unwrap();
    let results = run_pipeline(
        &format!(
            "pushfilesrc location={} ! decodebin ! audioconvert ! audioresample ! emotiondetect ! fakesink",
            path.display()
        ),
        None,
    );
    std::fs::remove_file(&path).unwrap();
    // the same samples as the 16-bit demo (x / 32768 is exact in f32): the same results
    let expected = run_pipeline(
        &format!("{} ! emotiondetect ! fakesink", demo_source()),
        None,
    );
    let (got, want) = (only(&results, "emotion"), only(&expected, "emotion"));
    assert!(!want.is_empty());
    assert_eq!(timestamps(&got), timestamps(&want));
    for (a, b) in got.iter().zip(&want) {
        assert!(same_probabilities(a, b), "{a}\n{b}");
    }
}
