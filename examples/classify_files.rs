// SPDX-License-Identifier: MPL-2.0
//! Classifies whole files with the element and its default settings: reads
//! one path per line on stdin, prints one JSON object per file with the
//! element's `emotion-summary` (the clip's decision as the element takes
//! it). Used by the model evaluation to score clips exactly as the element
//! sees them.
//!
//!     ls *.wav | cargo run --release --example classify_files -- [property=value …]

use std::io::BufRead;
use std::process::ExitCode;

use gst::prelude::*;
use serde_json::json;

#[path = "common/properties.rs"]
mod properties;
use properties::set_property;

fn classify(path: &str, props: &[(String, String)]) -> Result<serde_json::Value, String> {
    // pushfilesrc makes the file push its data (see examples/emotions.rs: a
    // pulled WAV with an odd-length data chunk gives no audio on 1.22, and
    // `filesrc ! queue ! decodebin` can deadlock).
    let pipeline = gst::parse::launch(
        "pushfilesrc name=src ! decodebin ! audioconvert ! audioresample ! emotiondetect name=detect ! fakesink",
    )
    .map_err(|e| e.to_string())?;
    let bin = pipeline
        .downcast_ref::<gst::Bin>()
        .expect("a pipeline is a bin");
    bin.by_name("src")
        .expect("named")
        .set_property("location", path);
    let detect = bin.by_name("detect").expect("named");
    for (name, value) in props {
        set_property(&detect, &format!("{name}={value}"))?;
    }
    let bus = pipeline.bus().expect("pipelines have a bus");
    let started = pipeline.set_state(gst::State::Playing);
    let mut result = Err("no summary".to_string());
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                let Some(s) = e.structure().filter(|s| s.name() == "emotion-summary") else {
                    continue;
                };
                let probs: Vec<f64> = s
                    .get::<gst::Array>("probabilities")
                    .map(|a| a.iter().filter_map(|v| v.get::<f64>().ok()).collect())
                    .unwrap_or_default();
                result = Ok(json!({
                    "file": path,
                    "emotion": s.get::<&str>("emotion").ok(),
                    "windows": s.get::<u32>("windows").unwrap_or(0),
                    "probabilities": probs,
                }));
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                result = Err(e.error().to_string());
                break;
            }
            _ => {}
        }
        if started.is_err() {
            break;
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn main() -> ExitCode {
    if let Err(e) = gst::init() {
        eprintln!("classify_files: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = gstemotiondetect::plugin_register_static() {
        eprintln!("classify_files: {e}");
        return ExitCode::FAILURE;
    }
    let mut props = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.split_once('=') {
            Some((k, v)) => props.push((k.to_string(), v.to_string())),
            None => {
                eprintln!("classify_files: expected property=value, got {arg}");
                return ExitCode::from(2);
            }
        }
    }
    let mut status = ExitCode::SUCCESS;
    for line in std::io::stdin().lock().lines() {
        let Ok(path) = line else { break };
        if path.trim().is_empty() {
            continue;
        }
        match classify(path.trim(), &props) {
            Ok(v) => println!("{v}"),
            Err(e) => {
                eprintln!("classify_files: {path}: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}
