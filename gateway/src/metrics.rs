// SPDX-License-Identifier: MPL-2.0
//! The gateway's counters and the Prometheus text exposition of them.
//!
//! A handful of atomics and one histogram: hand-written, because the text
//! format is a few lines and a metrics framework would be the largest
//! dependency of the crate.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the publish latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0, 30.0,
];

/// A cumulative histogram of durations.
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            if s <= *bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_us
            .fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Relaxed)
            );
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_us.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Everything `/metrics` shows. One instance per process.
#[derive(Default)]
pub struct Metrics {
    pub active_calls: AtomicU64,
    pub calls_total: AtomicU64,
    pub calls_failed: AtomicU64,
    pub calls_refused: AtomicU64,
    pub windows_classified: AtomicU64,
    pub media_frames: AtomicU64,
    pub frames_out_of_order: AtomicU64,
    pub events_ignored: AtomicU64,
    pub results_published: AtomicU64,
    pub results_queued: AtomicU64,
    pub results_dropped: AtomicU64,
    pub broker_connected: AtomicU64,
    pub broker_reconnects: AtomicU64,
    pub publish_latency: Histogram,
}

/// Counters of the shared inference session, when it can be reached.
#[derive(Debug, Clone, Copy)]
pub struct InferenceStats {
    pub batches: u64,
    pub sequences: u64,
}

impl Metrics {
    /// The Prometheus text format of every metric.
    pub fn render(&self, inference: Option<InferenceStats>, draining: bool) -> String {
        let mut out = String::with_capacity(4096);
        let mut put = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        let g = |a: &AtomicU64| a.load(Relaxed);
        put(
            "emotiondetect_gateway_active_calls",
            "gauge",
            "Calls being analysed now.",
            g(&self.active_calls),
        );
        put(
            "emotiondetect_gateway_draining",
            "gauge",
            "1 while the gateway drains before shutting down.",
            u64::from(draining),
        );
        put(
            "emotiondetect_gateway_calls_total",
            "counter",
            "Calls accepted since start.",
            g(&self.calls_total),
        );
        put(
            "emotiondetect_gateway_calls_failed_total",
            "counter",
            "Calls that ended with status failed.",
            g(&self.calls_failed),
        );
        put(
            "emotiondetect_gateway_calls_refused_total",
            "counter",
            "Connections refused by --max-calls or while draining.",
            g(&self.calls_refused),
        );
        put(
            "emotiondetect_gateway_windows_classified_total",
            "counter",
            "Windows the element classified (emotion results).",
            g(&self.windows_classified),
        );
        put(
            "emotiondetect_gateway_media_frames_total",
            "counter",
            "Media frames received.",
            g(&self.media_frames),
        );
        put(
            "emotiondetect_gateway_media_frames_out_of_order_total",
            "counter",
            "Media frames dropped because their chunk or timestamp went backwards.",
            g(&self.frames_out_of_order),
        );
        put(
            "emotiondetect_gateway_events_ignored_total",
            "counter",
            "Unknown events, and media of tracks the start did not announce.",
            g(&self.events_ignored),
        );
        put(
            "emotiondetect_gateway_results_published_total",
            "counter",
            "Messages acknowledged by the broker (QoS 1).",
            g(&self.results_published),
        );
        put(
            "emotiondetect_gateway_results_queued",
            "gauge",
            "Messages waiting for the broker.",
            g(&self.results_queued),
        );
        put(
            "emotiondetect_gateway_results_dropped_total",
            "counter",
            "Messages dropped because the queue was full.",
            g(&self.results_dropped),
        );
        put(
            "emotiondetect_gateway_broker_connected",
            "gauge",
            "1 while connected to the broker.",
            g(&self.broker_connected),
        );
        put(
            "emotiondetect_gateway_broker_reconnects_total",
            "counter",
            "Connections to the broker after the first.",
            g(&self.broker_reconnects),
        );
        if let Some(s) = inference {
            put(
                "emotiondetect_gateway_inference_batches_total",
                "counter",
                "Inference calls of the shared model session.",
                s.batches,
            );
            put(
                "emotiondetect_gateway_inference_sequences_total",
                "counter",
                "Windows classified by those calls (sequences / batches = mean batch).",
                s.sequences,
            );
        }
        self.publish_latency.render(
            &mut out,
            "emotiondetect_gateway_publish_latency_seconds",
            "From the result on the bus to the broker's acknowledgement.",
        );
        out
    }
}
