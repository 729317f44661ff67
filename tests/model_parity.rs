// SPDX-License-Identifier: MPL-2.0
//! The shipped ONNX models, run by ONNX Runtime from Rust, give the
//! probabilities PyTorch gave at export (`tests/fixtures/model_parity*.json`,
//! written by the export scripts), within 1e-5: the built-in ensembles, and
//! the single-network models shipped beside them for `model-file`
//! (`models/reslstm-sa-*-single.onnx`, the previous built-in models, with
//! the fixtures their export wrote).

mod json_fixtures;

use std::path::PathBuf;

use emotiondetect_core::model::{Model, ModelSource, Provider};
use json_fixtures::f32_rows;

fn check(builtin: usize, fixture: &str, sample_rate: u32) {
    check_source(ModelSource::Builtin(builtin), fixture, sample_rate);
}

fn check_source(source: ModelSource<'_>, fixture: &str, sample_rate: u32) {
    let name = source.name();
    let fixture = json_fixtures::fixture(fixture);
    let mut model = Model::load(source, Provider::Cpu, None).unwrap();
    assert_eq!(model.contract().features.sample_rate, sample_rate);
    let n_features = model.contract().features.n_features();
    let inputs = fixture["inputs"].as_array().unwrap();
    assert!(inputs.len() >= 3);
    let mut worst = 0.0f64;
    for input in inputs {
        let frames = input["frames"].as_u64().unwrap() as usize;
        let features = f32_rows(&input["features"]).concat();
        assert_eq!(features.len(), frames * n_features);
        let expected: Vec<f64> = input["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let mut out = vec![0.0f32; model.n_labels()];
        model.run(&features, 1, frames, &mut out).unwrap();
        for (a, b) in out.iter().zip(&expected) {
            worst = worst.max((*a as f64 - b).abs());
            assert!(
                (*a as f64 - b).abs() <= 1e-5,
                "{frames} frames: onnx {a} vs pytorch {b}"
            );
        }
    }
    println!("{name}: max |onnx - pytorch| = {worst:.2e}");
}

/// A single-network model shipped in `models/` beside the built-in ones.
fn check_single_network(file: &str, fixture: &str, sample_rate: u32) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(file);
    check_source(ModelSource::File(&path), fixture, sample_rate);
}

#[test]
fn the_16k_model_matches_pytorch_on_fixture_inputs() {
    check(0, "model_parity.json", 16000);
}

#[test]
fn the_8k_model_matches_pytorch_on_fixture_inputs() {
    check(1, "model_parity_8k.json", 8000);
}

#[test]
fn the_16k_single_network_matches_pytorch_on_fixture_inputs() {
    check_single_network(
        "reslstm-sa-16k-single.onnx",
        "model_parity_16k_single.json",
        16000,
    );
}

#[test]
fn the_8k_single_network_matches_pytorch_on_fixture_inputs() {
    check_single_network(
        "reslstm-sa-8k-single.onnx",
        "model_parity_8k_single.json",
        8000,
    );
}
