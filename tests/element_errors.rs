// SPDX-License-Identifier: MPL-2.0
//! Every configuration error is an element error whose text says what is
//! wrong, raised when the pipeline starts, never a crash or a silent run.

mod common;

use common::*;
use gst::prelude::*;

/// Starts `audiotestsrc ! emotiondetect <props> ! fakesink` and returns the
/// text of the error message it fails with.
fn start_error(props: &[(&str, &str)]) -> String {
    init();
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("audiotestsrc")
        .property("num-buffers", 10)
        .build()
        .unwrap();
    let mut builder = gst::ElementFactory::make("emotiondetect");
    for (name, value) in props {
        builder = builder.property_from_str(name, value);
    }
    let detect = builder.build().unwrap();
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    pipeline.add_many([&src, &detect, &sink]).unwrap();
    gst::Element::link_many([&src, &detect, &sink]).unwrap();
    let changed = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Error])
        .expect("an error message");
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(changed.is_err(), "the state change must fail");
    match msg.view() {
        gst::MessageView::Error(e) => {
            assert_eq!(
                e.src().map(|s| s.name().to_string()),
                Some(detect.name().to_string())
            );
            e.error().to_string()
        }
        _ => unreachable!(),
    }
}

fn fixture_model(name: &str) -> String {
    repo_path("tests/fixtures/models")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn a_missing_model_file_is_named() {
    let text = start_error(&[("model-file", "/nonexistent/model.onnx")]);
    assert!(
        text.contains("cannot read model file /nonexistent/model.onnx"),
        "{text}"
    );
    assert!(text.contains("No such file or directory"), "{text}");
}

#[test]
fn a_file_that_is_not_onnx_is_named() {
    let path = repo_path("Cargo.toml").display().to_string();
    let text = start_error(&[("model-file", &path)]);
    assert!(text.contains(&path), "{text}");
    assert!(text.contains("is not a loadable ONNX model"), "{text}");
}

#[test]
fn a_model_breaking_the_contract_says_how() {
    let path = fixture_model("no-metadata.onnx");
    let text = start_error(&[("model-file", &path)]);
    assert!(text.contains(&path), "{text}");
    assert!(text.contains("emotiondetect.format is missing"), "{text}");

    let path = fixture_model("wrong-input-width.onnx");
    let text = start_error(&[("model-file", &path)]);
    assert!(
        text.contains("features has shape [-1, -1, 40], expected [-1, -1, 46]"),
        "{text}"
    );
}

#[test]
fn gpu_providers_fail_on_a_cpu_only_runtime() {
    for provider in ["cuda", "tensorrt"] {
        let text = start_error(&[("execution-provider", provider)]);
        assert!(
            text.contains(&format!("execution provider {provider} is not available")),
            "{text}"
        );
        assert!(text.contains("onnxruntime-gpu"), "{text}");
    }
}

#[test]
fn invalid_windows_are_refused_with_the_values() {
    let text = start_error(&[("interval", "0")]);
    assert!(
        text.contains("interval must be within 1..=window"),
        "{text}"
    );
    let text = start_error(&[
        ("window-duration", "1000000000"),
        ("interval", "2000000000"),
    ]);
    assert!(
        text.contains("interval must be within 1..=window (16000 samples), got 32000"),
        "{text}"
    );
    let text = start_error(&[("window-duration", "50000000")]);
    assert!(
        text.contains("shorter than one analysis frame (1280 samples)"),
        "{text}"
    );
}

#[test]
fn the_built_plugin_loads_in_gst_inspect() {
    let dir = plugin_dir("inspect");
    let out = std::process::Command::new("gst-inspect-1.0")
        .arg("emotiondetect")
        .env("GST_PLUGIN_PATH", &dir)
        .env("GST_REGISTRY", dir.join("registry.bin"))
        .output()
        .expect("gst-inspect-1.0 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Filter/Analyzer/Audio"), "{stdout}");
    for property in [
        "model-file",
        "execution-provider",
        "window-duration",
        "interval",
        "silence-threshold",
        "min-speech-ratio",
        "post-messages",
        "channel-mode",
        "channel-names",
    ] {
        assert!(
            stdout.contains(property),
            "{property} missing from:\n{stdout}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
