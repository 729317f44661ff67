// SPDX-License-Identifier: MPL-2.0
//! The element's speaker adaptation is the rule the models were trained
//! with: `tests/fixtures/speaker_adaptation.json`, written by the export
//! from the training code's implementation (`models/training/adapt.py`),
//! holds two clips of one RAVDESS speaker as one stream, their speech
//! flags, and the frames the model must be fed for a few windows.

mod json_fixtures;

use emotiondetect_core::adapt::{AdaptationPrior, SpeakerNorm, METADATA_KEY};
use emotiondetect_core::model::{Model, ModelSource, Provider};
use json_fixtures::f32_rows;
use serde_json::Value;

fn fixture() -> Value {
    json_fixtures::fixture("speaker_adaptation.json")
}

#[test]
fn speaker_normalisation_feeds_the_model_what_training_fed_it() {
    let fx = fixture();
    let frames = f32_rows(&fx["frames"]);
    let n_features = frames[0].len();
    let prior = AdaptationPrior::from_json(&fx["adaptation"].to_string(), n_features).unwrap();
    let speech: Vec<bool> = fx["speech"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_bool().unwrap())
        .collect();
    assert_eq!(speech.len(), frames.len());
    let windows = fx["windows"].as_array().unwrap();
    assert!(windows.len() >= 3);
    let mut worst = 0.0f64;
    for w in windows {
        let (first, end) = (
            w["first"].as_u64().unwrap() as usize,
            w["end"].as_u64().unwrap() as usize,
        );
        // The channel has seen every frame up to the window's end, and
        // learnt from the speech ones.
        let mut norm = SpeakerNorm::new(prior.clone());
        for (f, &s) in frames[..end].iter().zip(&speech) {
            if s {
                norm.observe(f);
            }
        }
        assert_eq!(norm.frames_observed(), w["speech_frames"].as_u64().unwrap());
        let mut input: Vec<f32> = frames[first..end].concat();
        norm.apply(&mut input);
        let expected = f32_rows(&w["adapted"]).concat();
        assert_eq!(input.len(), expected.len());
        for (k, (a, b)) in input.iter().zip(&expected).enumerate() {
            let err = (a - b).abs() as f64;
            worst = worst.max(err);
            assert!(
                err <= 1e-4 * (1.0 + b.abs() as f64),
                "window {first}..{end}, value {k}: element {a} vs training {b}"
            );
        }
    }
    println!("max |element - training| = {worst:.2e}");
}

#[test]
fn the_wideband_model_carries_the_prior_it_was_trained_with() {
    let fx = fixture();
    let model = Model::load(ModelSource::Builtin(0), Provider::Cpu, None).unwrap();
    let contract = model.contract();
    let prior = contract
        .adaptation
        .as_ref()
        .unwrap_or_else(|| panic!("the built-in 16 kHz model has no {METADATA_KEY}"));
    let expected = AdaptationPrior::from_json(
        &fx["adaptation"].to_string(),
        contract.features.n_features(),
    )
    .unwrap();
    assert_eq!(prior, &expected);
}
