// SPDX-License-Identifier: MPL-2.0
//! Every configuration error is an element error whose text says what is
//! wrong, raised when the pipeline starts, never a crash or a silent run.

mod common;

use common::*;
use emotiondetect_core::model::{Model, ModelSource, Provider};
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
fn gpu_providers_run_as_asked_or_fail_the_start() {
    // Whatever ONNX Runtime is loaded: the element runs on the provider
    // asked for, or fails to start saying it is not available (and, when
    // the runtime lacks it, where to get one that has it), never on the CPU.
    for provider in [Provider::Cuda, Provider::TensorRt] {
        let name = provider.name();
        if Model::load(ModelSource::DEFAULT, provider, None).is_ok() {
            assert!(
                runtime_has(provider),
                "{name} loads on a runtime without it"
            );
            let (h, _bus) = harness(&[("execution-provider", name)], Format::S16, 1);
            let in_use = h
                .element()
                .unwrap()
                .property::<Option<String>>("execution-provider-in-use");
            assert_eq!(in_use.as_deref(), Some(name));
            continue;
        }
        let text = start_error(&[("execution-provider", name)]);
        assert!(
            text.contains(&format!("execution provider {name} is not available")),
            "{text}"
        );
        if !runtime_has(provider) {
            assert!(text.contains("onnxruntime-gpu"), "{text}");
        }
    }
}

#[test]
fn a_model_file_that_is_not_a_regular_file_is_refused_before_reading() {
    // /dev/zero never ends: reading it would take all memory first.
    let dir = std::env::temp_dir().display().to_string();
    for path in ["/dev/zero", dir.as_str()] {
        let started = std::time::Instant::now();
        let text = start_error(&[("model-file", path)]);
        assert!(text.contains(&format!("model file {path}")), "{text}");
        assert!(text.contains("not a regular file"), "{text}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{path}: {:?}",
            started.elapsed()
        );
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
        "non-speech-bias",
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
