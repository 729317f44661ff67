// SPDX-License-Identifier: MPL-2.0
//! The examples a user copies: run them on the bundled speech and check
//! what they print.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

mod common;
use common::{builtin_emotions, plugin_dir};

/// `target/<profile>/`, where the plugin and the examples are built.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

fn demo() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo-speech.wav").to_string()
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn rust_example_prints_one_json_object_per_result() {
    let out = Command::new(target_dir().join("examples/emotions"))
        .arg(demo())
        .output()
        .expect("the example is built: cargo build --examples (scripts/test.sh does)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = json_lines(&out.stdout)
        .into_iter()
        .filter(|l| l["type"] != "emotion-segment")
        .collect();
    let emotions = builtin_emotions();
    // 14.5 s of speech: windows at 0..=11 s, then the summary.
    assert_eq!(lines.len(), 13);
    for (k, line) in lines[..12].iter().enumerate() {
        assert_eq!(line["type"], "emotion");
        assert_eq!(line["timestamp"], k as u64 * 1_000_000_000);
        assert_eq!(line["labels"], serde_json::json!(emotions));
        assert_eq!(
            line["probabilities"].as_array().unwrap().len(),
            emotions.len()
        );
    }
    assert_eq!(lines[12]["type"], "emotion-summary");
    assert_eq!(lines[12]["windows"], 12);
}

/// The demo speech as an 8-bit PCM WAV with an odd number of samples: its
/// data chunk has an odd length and a pad byte, as RIFF asks.
fn odd_8bit_wav() -> PathBuf {
    let mut speech = common::demo_speech();
    if speech.len().is_multiple_of(2) {
        speech.pop();
    }
    let data: Vec<u8> = speech
        .iter()
        .map(|x| (x * 127.0 + 128.0).round().clamp(0.0, 255.0) as u8)
        .collect();
    // PCM, 16 kHz, 8 bits; the odd-length data chunk gets its pad byte
    let wav = common::wav_file(1, 16000, 8, false, None, &data);
    let path =
        std::env::temp_dir().join(format!("emotiondetect-8bit-odd-{}.wav", std::process::id()));
    std::fs::write(&path, wav).unwrap();
    path
}

#[test]
fn examples_read_a_wav_with_an_odd_length_data_chunk() {
    // Pulled by wavparse (filesrc ! decodebin) such a file gives no audio on
    // GStreamer 1.22; the examples let the file push it.
    let wav = odd_8bit_wav();
    let rust = Command::new(target_dir().join("examples/emotions"))
        .arg(&wav)
        .output()
        .expect("the example is built");
    let dir = plugin_dir("python-odd");
    let python = Command::new("/usr/bin/python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/emotions.py"))
        .arg(&wav)
        .env("GST_PLUGIN_PATH", &dir)
        .env("GST_REGISTRY", dir.join("registry.bin"))
        .output()
        .expect("/usr/bin/python3 runs");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_file(&wav).unwrap();
    for (name, out) in [("rust", rust), ("python", python)] {
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = json_lines(&out.stdout);
        let summary = lines.last().expect("a summary");
        assert_eq!(summary["type"], "emotion-summary", "{name}");
        // All 14.5 s reach the element (pulled: none, and a summary of 0 s),
        // and speech is classified in them (8-bit noise gates a few of the
        // 16-bit file's 12 windows).
        assert!(
            summary["duration"].as_u64().unwrap() > 14_000_000_000,
            "{name}: {summary}"
        );
        assert!(
            summary["windows"].as_u64().unwrap() >= 6,
            "{name}: {summary}"
        );
    }
}

/// Runs `cmd` to its end, or kills it after `limit` and says it hung. Its
/// output goes to files (a pipe nobody reads could block it and look like a
/// hang).
fn run_or_hang(
    mut cmd: Command,
    limit: std::time::Duration,
) -> Result<std::process::Output, String> {
    let dir = std::env::temp_dir();
    let tag = format!("{}-{:?}", std::process::id(), std::thread::current().id());
    let (out_path, err_path) = (
        dir.join(format!("emotiondetect-out-{tag}")),
        dir.join(format!("emotiondetect-err-{tag}")),
    );
    let file = |p: &PathBuf| std::fs::File::create(p).map_err(|e| e.to_string());
    let mut child = cmd
        .stdout(file(&out_path)?)
        .stderr(file(&err_path)?)
        .spawn()
        .map_err(|e| e.to_string())?;
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(status);
        }
        if start.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let stdout = std::fs::read(&out_path).unwrap_or_default();
    let stderr = std::fs::read(&err_path).unwrap_or_default();
    std::fs::remove_file(&out_path).ok();
    std::fs::remove_file(&err_path).ok();
    match status {
        Some(status) => Ok(std::process::Output {
            status,
            stdout,
            stderr,
        }),
        None => Err(format!(
            "still running after {limit:?}; stderr: {}",
            String::from_utf8_lossy(&stderr)
        )),
    }
}

#[test]
fn examples_do_not_hang_on_a_file_that_deadlocks_a_queue_before_decodebin() {
    // 51.7 s of silence, 8 kHz, 16-bit: on GStreamer 1.22 `filesrc ! queue !
    // decodebin` deadlocks at the start on a file of this size (5 runs of 5
    // with gst-launch-1.0; the examples used that pipeline and hung about one
    // run in five). Each example runs several times: the hang is a race.
    // PCM, 8 kHz, 16 bits, 413,600 samples of silence
    let wav = common::wav_file(1, 8000, 16, false, None, &vec![0u8; 2 * 413_600]);
    assert_eq!(wav.len(), 827_244);
    let path = std::env::temp_dir().join(format!("emotiondetect-hang-{}.wav", std::process::id()));
    std::fs::write(&path, wav).unwrap();
    let dir = plugin_dir("python-hang");
    for run in 0..5 {
        let mut rust = Command::new(target_dir().join("examples/emotions"));
        rust.arg(&path);
        let mut python = Command::new("/usr/bin/python3");
        python
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/emotions.py"))
            .arg(&path)
            .env("GST_PLUGIN_PATH", &dir)
            .env("GST_REGISTRY", dir.join("registry.bin"));
        for (name, cmd) in [("rust", rust), ("python", python)] {
            let out = run_or_hang(cmd, std::time::Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("{name} example, run {run}: {e}"));
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            // silence: no window classified, and the summary of the whole file
            let lines = json_lines(&out.stdout);
            assert_eq!(lines.len(), 1, "{name}: {lines:?}");
            assert_eq!(lines[0]["type"], "emotion-summary", "{name}");
            assert_eq!(lines[0]["duration"], 51_700_000_000u64, "{name}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn rust_example_reports_a_bad_model_and_fails() {
    let out = Command::new(target_dir().join("examples/emotions"))
        .args([&demo(), "model-file=/nonexistent.onnx"])
        .output()
        .expect("the example is built: cargo build --examples (scripts/test.sh does)");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read model file /nonexistent.onnx"),
        "{stderr}"
    );
    assert!(!stderr.contains("CRITICAL"), "{stderr}");
}

#[test]
fn rust_example_reports_a_bad_property_and_fails() {
    let cases = [
        (
            "no-such-prop=1",
            &["no property \"no-such-prop\"", "window-duration"][..],
        ),
        (
            "interval=banana",
            &["invalid value \"banana\" for property interval"][..],
        ),
        (
            "min-speech-ratio=5",
            &[
                "invalid value \"5\" for property min-speech-ratio",
                "-1..=1",
            ][..],
        ),
        (
            "execution-provider-in-use=cpu",
            &["property execution-provider-in-use cannot be set"][..],
        ),
        (
            "interval",
            &["expected property=value, got \"interval\""][..],
        ),
    ];
    for (arg, expected) in cases {
        let out = Command::new(target_dir().join("examples/emotions"))
            .args([&demo(), arg])
            .output()
            .expect("the example is built: cargo build --examples (scripts/test.sh does)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{arg}: {stderr}");
        assert!(out.stdout.is_empty(), "{arg}: ran anyway");
        assert!(!stderr.contains("panicked"), "{arg}: {stderr}");
        assert!(!stderr.contains("CRITICAL"), "{arg}: {stderr}");
        for text in expected {
            assert!(stderr.contains(text), "{arg}: {text:?} not in {stderr}");
        }
    }
}

#[test]
fn python_example_reads_bus_messages_and_buffer_meta() {
    // Debian's Python carries the GObject bindings and GStreamer overrides.
    let dir = plugin_dir("python");
    let out = Command::new("/usr/bin/python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/emotions.py"))
        .arg(demo())
        .env("GST_PLUGIN_PATH", &dir)
        .env("GST_REGISTRY", dir.join("registry.bin"))
        .output()
        .expect("/usr/bin/python3 runs");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    let bus: Vec<&Value> = lines
        .iter()
        .filter(|l| l["source"] == "bus" && l["type"] == "emotion")
        .collect();
    let meta: Vec<&Value> = lines.iter().filter(|l| l["source"] == "meta").collect();
    assert_eq!(bus.len(), 12);
    assert_eq!(meta.len(), 12);
    for (b, m) in bus.iter().zip(&meta) {
        for field in [
            "timestamp",
            "duration",
            "emotion",
            "confidence",
            "labels",
            "probabilities",
        ] {
            assert_eq!(b[field], m[field], "{field}");
        }
    }
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "emotion-summary");
    assert_eq!(summary["windows"], 12);
}
