// SPDX-License-Identifier: MPL-2.0
//! 64 pipelines in parallel threads share one model; they start and stop at
//! random moments, and every result equals a lone run's for the same window.

mod common;

use std::collections::HashMap;

use common::*;
use emotiondetect_core::model::{ModelSource, Provider, SharedModel};
use gst::prelude::*;

/// Runs the demo speech through the element until EOS, or until
/// `stop_after` results; returns timestamp -> probabilities.
fn run(stop_after: Option<usize>) -> HashMap<u64, Vec<f64>> {
    let p = gst::parse::launch(&format!(
        "{} ! emotiondetect ! fakesink sync=false",
        demo_source()
    ))
    .unwrap();
    let results = play(&p, |got| {
        stop_after.is_some_and(|n| only(got, "emotion").len() == n)
    });
    p.set_state(gst::State::Null).unwrap();
    only(&results, "emotion")
        .into_iter()
        .map(|s| {
            (
                s.get::<u64>("timestamp").unwrap(),
                f64_array(s, "probabilities"),
            )
        })
        .collect()
}

#[test]
fn parallel_pipelines_sharing_one_model_match_a_lone_run() {
    init();
    let lone = run(None);
    assert_eq!(lone.len(), 12);
    let threads: Vec<_> = (0..64u64)
        .map(|t| {
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(t);
                let mut runs = Vec::new();
                for _ in 0..3 {
                    std::thread::sleep(std::time::Duration::from_millis(rng.u64(0..20)));
                    // A third of the runs go to the end, the others stop early.
                    let stop = if rng.usize(0..3) == 0 {
                        None
                    } else {
                        Some(1 + rng.usize(0..11))
                    };
                    runs.push((stop, run(stop)));
                }
                runs
            })
        })
        .collect();
    let mut compared = 0;
    for t in threads {
        for (stop, results) in t.join().unwrap() {
            assert_eq!(results.len(), stop.unwrap_or(12));
            for (ts, probs) in results {
                let expected = &lone[&ts];
                for (a, b) in probs.iter().zip(expected) {
                    assert!((a - b).abs() < 1e-5, "window at {ts}: {a} vs {b}");
                }
                compared += 1;
            }
        }
    }
    assert!(compared > 64 * 3);
}

#[test]
fn file_pipelines_share_inference_calls() {
    init();
    let model = ModelCopy::new("batching-files");
    let shared = SharedModel::get(ModelSource::File(&model), Provider::Cpu, None).unwrap();
    // Each round starts eight pipelines together, prerolled, so their
    // windows come due at about the same moments. Four pipelines left to
    // drift apart shared a call for only 4-10 of their 240 windows here,
    // and for none in one CI run; eight started together share one for
    // 55-69 of 288.
    let start = std::sync::Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let description = format!(
                "{} ! emotiondetect model-file={} ! fakesink",
                demo_source(),
                model.display()
            );
            let start = std::sync::Arc::clone(&start);
            std::thread::spawn(move || {
                for _ in 0..3 {
                    let p = gst::parse::launch(&description).unwrap();
                    p.set_state(gst::State::Paused).unwrap();
                    let (prerolled, _, _) = p.state(gst::ClockTime::from_seconds(30));
                    prerolled.unwrap();
                    start.wait();
                    play(&p, |_| false);
                    p.set_state(gst::State::Null).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stats = shared.batch_stats();
    // 8 streams × 3 runs × 12 windows.
    assert_eq!(stats.sequences, 288, "{stats:?}");
    assert!(stats.calls < stats.sequences, "{stats:?}");
}
