// SPDX-License-Identifier: MPL-2.0
//! Feature extraction cost: time per second of 16 kHz audio, for several
//! buffer sizes (the extractor must not care how input is cut), without and
//! with the pitch features.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use emotiondetect_core::features::{FeatureExtractor, FeatureParams};

fn signal(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let t = i as f32 / 16000.0;
            0.3 * (2.0 * std::f32::consts::PI * 180.0 * t).sin()
                + 0.02 * ((i * 7919 % 997) as f32 / 498.0 - 1.0)
        })
        .collect()
}

fn features(c: &mut Criterion) {
    let plain = FeatureParams::default();
    let one_second = signal(plain.sample_rate as usize);
    let mut group = c.benchmark_group("features_per_second_of_16k_audio");
    group.throughput(Throughput::Elements(one_second.len() as u64));
    let cases = [160usize, 1024, 16000]
        .map(|chunk| ("buffer_samples", chunk, plain.clone()))
        .into_iter()
        .chain([(
            "with_pitch_buffer_samples",
            1024,
            plain.clone().with_pitch(),
        )]);
    for (name, chunk, params) in cases {
        group.bench_with_input(BenchmarkId::new(name, chunk), &chunk, |b, &chunk| {
            let mut ex = FeatureExtractor::new(&params).unwrap();
            let mut sink = 0.0f32;
            b.iter(|| {
                for c in one_second.chunks(chunk) {
                    ex.push(c, |_, f| sink += f[0]);
                }
            });
            std::hint::black_box(sink);
        });
    }
    group.finish();
}

criterion_group!(benches, features);
criterion_main!(benches);
