// SPDX-License-Identifier: MPL-2.0
//! Streaming behaviour of the feature layer: buffer-split invariance and
//! hostile samples.

use emotiondetect_core::features::{extract_all, FeatureExtractor, FeatureParams};
use proptest::prelude::*;

fn test_signal(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let t = i as f32 / 16000.0;
            0.3 * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                + 0.05 * ((i * 7919 % 1000) as f32 / 500.0 - 1.0)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn frames_do_not_depend_on_buffer_boundaries(cuts in prop::collection::vec(0usize..20000, 0..40)) {
        let p = FeatureParams::default();
        let samples = test_signal(20000);
        let whole = extract_all(&p, &samples).unwrap();
        let mut cuts = cuts;
        cuts.push(samples.len());
        cuts.sort_unstable();
        let mut ex = FeatureExtractor::new(&p).unwrap();
        let mut streamed = Vec::new();
        let mut indices = Vec::new();
        let mut start = 0;
        for cut in cuts {
            ex.push(&samples[start..cut], |i, f| { indices.push(i); streamed.extend_from_slice(f) });
            start = cut;
        }
        prop_assert_eq!(&whole, &streamed);
        prop_assert_eq!(indices, (0..(whole.len() / p.n_features()) as u64).collect::<Vec<_>>());
    }

    #[test]
    fn any_sample_values_give_finite_features(samples in prop::collection::vec(prop::num::f32::ANY, 1280..4000)) {
        let p = FeatureParams::default();
        let feats = extract_all(&p, &samples).unwrap();
        prop_assert!(!feats.is_empty());
        prop_assert!(feats.iter().all(|v| v.is_finite()));
    }
}

fn assert_finite(name: &str, samples: &[f32]) -> Vec<f32> {
    let feats = extract_all(&FeatureParams::default(), samples).unwrap();
    assert!(!feats.is_empty(), "{name}: no frames");
    assert!(
        feats.iter().all(|v| v.is_finite()),
        "{name}: non-finite feature"
    );
    feats
}

#[test]
fn silence_gives_the_floor_and_zero_chroma() {
    let p = FeatureParams::default();
    let feats = assert_finite("silence", &vec![0.0; 4000]);
    for frame in feats.chunks(p.n_features()) {
        // All mel bands at the -100 dB floor: only c0 of the DCT is non-zero.
        let c0 = -100.0 * (p.n_mels as f32).sqrt();
        assert!((frame[0] - c0).abs() < 1e-2, "c0 {}", frame[0]);
        assert!(frame[1..p.n_mfcc].iter().all(|c| c.abs() < 1e-2));
        assert!(frame[p.n_mfcc..].iter().all(|&c| c == 0.0));
    }
}

#[test]
fn non_finite_samples_read_as_zero() {
    let mut samples = test_signal(4000);
    let clean = {
        let mut s = samples.clone();
        s[100] = 0.0;
        s[2000] = 0.0;
        s[3000] = 0.0;
        assert_finite("clean", &s)
    };
    samples[100] = f32::NAN;
    samples[2000] = f32::INFINITY;
    samples[3000] = f32::NEG_INFINITY;
    assert_eq!(assert_finite("nan/inf", &samples), clean);
}

#[test]
fn full_scale_and_denormal_input_stay_finite() {
    let square: Vec<f32> = (0..8000)
        .map(|i| if (i / 20) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    assert_finite("square", &square);
    assert_finite("huge", &vec![f32::MAX; 4000]);
    assert_finite("denormal", &vec![1e-40; 4000]);
    assert_finite("dc", &vec![0.5; 4000]);
}
