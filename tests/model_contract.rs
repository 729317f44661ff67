// SPDX-License-Identifier: MPL-2.0
//! The model layer on its own: contract checks, errors, execution providers.

mod common;

use std::path::PathBuf;

use common::{best_available_provider, runtime_has};
use emotiondetect_core::model::{
    BuiltinModel, Model, ModelError, ModelSource, Provider, BUILTIN_MODELS,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(name)
}

fn load_err(name: &str) -> String {
    let path = fixture(name);
    let err = Model::load(ModelSource::File(&path), Provider::Cpu, None).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&path.display().to_string()),
        "error does not name the file: {text}"
    );
    text
}

#[test]
fn builtin_model_loads_and_declares_its_contract() {
    let model = Model::load(ModelSource::DEFAULT, Provider::Cpu, None).unwrap();
    let c = model.contract();
    // RAVDESS's eight emotions come first, in its order.
    assert_eq!(
        c.labels[..8],
        [
            "neutral",
            "calm",
            "happy",
            "sad",
            "angry",
            "fearful",
            "disgust",
            "surprised"
        ]
    );
    assert_eq!(
        c.features,
        emotiondetect_core::features::FeatureParams::default().with_pitch()
    );
    assert_eq!(model.provider(), Provider::Cpu);
}

/// An element with `sample-rate` set loads only the built-in models that
/// declare that rate, so the declaration must be the contract's.
#[test]
fn each_builtin_model_is_of_the_rate_the_plugin_declares() {
    for (i, builtin) in BUILTIN_MODELS.iter().enumerate() {
        // Loading checks the declaration itself (a mismatch is an error).
        let model = Model::load(ModelSource::Builtin(i), Provider::Cpu, None)
            .unwrap_or_else(|e| panic!("{}: {e}", builtin.name));
        assert_eq!(
            model.contract().features.sample_rate,
            builtin.sample_rate,
            "{}",
            builtin.name
        );
    }
    let only = |rate| {
        BuiltinModel::sources_for(rate)
            .map(|s| s.name())
            .collect::<Vec<_>>()
    };
    assert_eq!(only(8000), ["built-in model reslstm-sa-8k"]);
    assert_eq!(only(16000), ["built-in model reslstm-sa-16k"]);
    assert_eq!(only(0).len(), BUILTIN_MODELS.len());
    assert!(only(44100).is_empty());
}

#[test]
fn probabilities_are_a_distribution_per_batch_row() {
    let mut model = Model::load(
        ModelSource::File(&fixture("tiny-valid.onnx")),
        Provider::Cpu,
        None,
    )
    .unwrap();
    let (batch, frames, n) = (3, 20, 46);
    let feats: Vec<f32> = (0..batch * frames * n)
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let mut out = vec![0.0; batch * 8];
    model.run(&feats, batch, frames, &mut out).unwrap();
    for row in out.chunks(8) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{row:?}");
        assert!(row.iter().all(|&p| p > 0.0));
    }
    // Rows are independent: the same sequence alone gives the same answer.
    let mut single = vec![0.0; 8];
    model
        .run(&feats[frames * n..2 * frames * n], 1, frames, &mut single)
        .unwrap();
    for (a, b) in single.iter().zip(&out[8..16]) {
        assert!((a - b).abs() < 1e-6);
    }
}

#[test]
fn wrong_shapes_are_refused_before_inference() {
    let mut model = Model::load(
        ModelSource::File(&fixture("tiny-valid.onnx")),
        Provider::Cpu,
        None,
    )
    .unwrap();
    let mut out = vec![0.0; 8];
    let err = model.run(&[0.0; 45], 1, 1, &mut out).unwrap_err();
    assert!(matches!(err, ModelError::Inference(_)), "{err}");
}

#[test]
fn missing_file_is_named() {
    let text = load_err("does-not-exist.onnx");
    assert!(text.contains("cannot read model file"), "{text}");
    assert!(text.contains("No such file"), "{text}");
}

#[test]
fn a_file_that_is_not_onnx_is_refused() {
    let path = std::env::temp_dir().join(format!(
        "emotiondetect-not-onnx-{}.onnx",
        std::process::id()
    ));
    std::fs::write(&path, b"this is not a protobuf model").unwrap();
    let err = Model::load(ModelSource::File(&path), Provider::Cpu, None).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(err, ModelError::NotOnnx { .. }), "{err}");
    assert!(
        err.to_string().contains("is not a loadable ONNX model"),
        "{err}"
    );
}

#[test]
fn contract_violations_say_what_is_wrong() {
    let cases = [
        ("no-metadata.onnx", "emotiondetect.format is missing"),
        ("wrong-labels.onnx", "probabilities has shape"),
        ("wrong-input-width.onnx", "features has shape"),
        ("wrong-input-name.onnx", "the input is named \"mfcc\""),
        (
            "unsupported-features.onnx",
            "field \"window\" is \"hamming\"",
        ),
    ];
    for (file, expected) in cases {
        let text = load_err(file);
        assert!(
            text.contains("does not follow the emotiondetect model contract"),
            "{file}: {text}"
        );
        assert!(text.contains(expected), "{file}: {text}");
    }
}

#[test]
fn the_adaptation_prior_is_read_from_the_model_file() {
    let load = |name: &str| {
        Model::load(ModelSource::File(&fixture(name)), Provider::Cpu, None)
            .unwrap()
            .contract()
            .clone()
    };
    let prior = load("tiny-adaptive.onnx")
        .adaptation
        .expect("tiny-adaptive carries emotiondetect.adaptation");
    assert_eq!(prior.prior_frames(), 100.0);
    assert_eq!(prior.min_std_ratio(), 0.1);
    assert_eq!(prior.mean(), [0.0; 46]);
    assert_eq!(prior.std(), [1.0; 46]);
    assert_eq!(load("tiny-valid.onnx").adaptation, None);
}

#[test]
fn gpu_providers_run_as_asked_or_are_errors_not_fallbacks() {
    // Whatever ONNX Runtime is loaded: a GPU provider runs the model, or the
    // load fails saying so; when the runtime lacks the provider, the error
    // says which runtime has it.
    for provider in [Provider::Cuda, Provider::TensorRt] {
        match Model::load(ModelSource::DEFAULT, provider, None) {
            Ok(model) => {
                assert!(
                    runtime_has(provider),
                    "{provider:?} loads on a runtime without it"
                );
                assert_eq!(model.provider(), provider);
            }
            Err(ModelError::ProviderUnavailable {
                provider: name,
                reason,
            }) => {
                assert_eq!(name, provider.name());
                if !runtime_has(provider) {
                    assert!(reason.contains("onnxruntime-gpu"), "{reason}");
                }
            }
            Err(other) => panic!("{provider:?}: expected ProviderUnavailable, got {other}"),
        }
    }
}

#[test]
fn auto_provider_takes_the_best_available_and_reports_it() {
    // TensorRT, then CUDA, then the CPU; the model reports the one it runs
    // on, never `auto`. (The element's report: `element.rs`.)
    let model = Model::load(ModelSource::DEFAULT, Provider::Auto, None).unwrap();
    assert_eq!(model.provider(), best_available_provider());
    if !runtime_has(Provider::TensorRt) && !runtime_has(Provider::Cuda) {
        assert_eq!(model.provider(), Provider::Cpu);
    }
}
