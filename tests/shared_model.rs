// SPDX-License-Identifier: MPL-2.0
//! The shared, batching model: concurrent streams get what a lone stream
//! gets, and streams with the same model share one session.

mod common;

use std::sync::Arc;

use common::ModelCopy;
use emotiondetect_core::features::FeatureParams;
use emotiondetect_core::model::{Model, ModelSource, Provider, SharedModel};

/// `frames` frames of made-up features in the model's layout: MFCCs in
/// their range, then chroma in theirs.
fn input(params: &FeatureParams, seed: usize, frames: usize) -> Vec<f32> {
    let n = params.n_features();
    (0..frames * n)
        .map(|i| {
            (((i * 31 + seed * 977) % 211) as f32 / 105.0 - 1.0)
                * if i % n < params.n_mfcc { 20.0 } else { 0.5 }
        })
        .collect()
}

#[test]
fn the_same_model_and_provider_share_one_instance() {
    let a = SharedModel::get(ModelSource::DEFAULT, Provider::Cpu, None).unwrap();
    let b = SharedModel::get(ModelSource::DEFAULT, Provider::Cpu, None).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
}

#[test]
fn concurrent_requests_get_the_results_of_lone_runs() {
    let shared = SharedModel::get(ModelSource::DEFAULT, Provider::Cpu, None).unwrap();
    let mut lone = Model::load(ModelSource::DEFAULT, Provider::Cpu, None).unwrap();
    let params = lone.contract().features.clone();
    let n_labels = lone.contract().labels.len();
    // Two window lengths, so batches must be split by frame count.
    let jobs: Vec<(usize, usize)> = (0..96)
        .map(|k| (k, if k % 3 == 0 { 50 } else { 73 }))
        .collect();
    let expected: Vec<Vec<f32>> = jobs
        .iter()
        .map(|&(seed, frames)| {
            let mut out = vec![0.0; n_labels];
            lone.run(&input(&params, seed, frames), 1, frames, &mut out)
                .unwrap();
            out
        })
        .collect();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let shared = Arc::clone(&shared);
            let params = params.clone();
            let jobs: Vec<(usize, usize)> =
                jobs.iter().copied().filter(|(k, _)| k % 16 == t).collect();
            std::thread::spawn(move || {
                jobs.into_iter()
                    .map(|(seed, frames)| {
                        let mut out = vec![0.0; n_labels];
                        shared
                            .classify(&input(&params, seed, frames), frames, &mut out)
                            .unwrap();
                        (seed, out)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seen = 0;
    for t in threads {
        for (seed, out) in t.join().unwrap() {
            for (a, b) in out.iter().zip(&expected[seed]) {
                assert!((a - b).abs() < 1e-5, "job {seed}: {a} vs {b}");
            }
            seen += 1;
        }
    }
    assert_eq!(seen, jobs.len());
}

#[test]
fn streams_running_together_share_calls_and_get_lone_results() {
    // A copy of the model file: an instance of its own, used by nobody else.
    let path = ModelCopy::new("copy");
    let shared = SharedModel::get(ModelSource::File(&path), Provider::Cpu, None).unwrap();
    let mut lone = Model::load(ModelSource::File(&path), Provider::Cpu, None).unwrap();
    let params = lone.contract().features.clone();
    let n_labels = lone.contract().labels.len();
    let (streams, per_stream) = (4, 25);
    let start = Arc::new(std::sync::Barrier::new(streams));
    let threads: Vec<_> = (0..streams)
        .map(|t| {
            let shared = Arc::clone(&shared);
            let start = Arc::clone(&start);
            let params = params.clone();
            std::thread::spawn(move || {
                start.wait();
                (0..per_stream)
                    .map(|k| {
                        let seed = t * per_stream + k;
                        let mut out = vec![0.0; n_labels];
                        shared
                            .classify(&input(&params, seed, 73), 73, &mut out)
                            .unwrap();
                        (seed, out)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for t in threads {
        for (seed, out) in t.join().unwrap() {
            let mut expected = vec![0.0; n_labels];
            lone.run(&input(&params, seed, 73), 1, 73, &mut expected)
                .unwrap();
            for (a, b) in out.iter().zip(&expected) {
                assert!((a - b).abs() < 1e-5, "job {seed}: {a} vs {b}");
            }
        }
    }
    let stats = shared.batch_stats();
    assert_eq!(stats.sequences, (streams * per_stream) as u64);
    // Four streams started together on a machine with fewer cores: windows
    // queue while one runs, and run together next.
    assert!(stats.calls < stats.sequences, "{stats:?}");
}

#[test]
fn many_streams_hammering_the_queue_all_finish() {
    // A stream that parks unseen (its job queued while nobody runs a batch)
    // would hang here; the watchdog turns that into a failure.
    let shared = SharedModel::get(ModelSource::DEFAULT, Provider::Cpu, None).unwrap();
    let params = shared.contract().features.clone();
    let n_labels = shared.contract().labels.len();
    let (streams, per_stream) = (8, 150);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    for t in 0..streams {
        let shared = Arc::clone(&shared);
        let done_tx = done_tx.clone();
        let params = params.clone();
        std::thread::spawn(move || {
            let mut out = vec![0.0; n_labels];
            for k in 0..per_stream {
                // Two lengths, so batches also split by frame count.
                let frames = if (t + k) % 5 == 0 { 20 } else { 30 };
                shared
                    .classify(
                        &input(&params, t * per_stream + k, frames),
                        frames,
                        &mut out,
                    )
                    .unwrap();
                assert!(out.iter().all(|p| p.is_finite()));
            }
            done_tx.send(t).unwrap();
        });
    }
    for _ in 0..streams {
        done_rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("a stream never got its result");
    }
}
