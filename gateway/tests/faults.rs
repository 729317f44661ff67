// SPDX-License-Identifier: MPL-2.0
//! Bad input affects only its own call: each fault runs next to a healthy
//! call on the same gateway, which must end normally with its results, and
//! the faulty call gets a final status with the reason (and its summaries,
//! once it had audio).

mod common;

use common::*;
use emotiondetect_gateway::twilio::{build, MediaFormat};
use serde_json::Value;

/// A broker, a subscriber and a gateway, with a healthy call open next to
/// the faulty one.
struct Bench {
    _broker: Broker,
    sub: Subscriber,
    gw: Gateway,
    healthy: Call,
}

impl Bench {
    async fn new(extra: &[&str]) -> Bench {
        let broker = Broker::start();
        let sub = Subscriber::connect(&broker, "emotiondetect/#").await;
        let gw = Gateway::start(&broker.url(), extra);
        let mut healthy = Call::connect(&gw.url(), "CAhealthy").await;
        healthy.start().await;
        healthy.speak(0, 5.0).await;
        Bench {
            _broker: broker,
            sub,
            gw,
            healthy,
        }
    }

    /// Finishes the healthy call and checks it was not disturbed.
    async fn healthy_call_unaffected(mut self) -> (Subscriber, Gateway) {
        self.healthy.speak(5000, 4.0).await;
        self.healthy.stop().await;
        assert_eq!(self.healthy.closed().await.map(|c| c.0), Some(1000));
        let end = self.sub.final_status("CAhealthy").await;
        assert_eq!(end["status"], "ended", "{end}");
        assert_eq!(end["reason"], "stop");
        assert_eq!(self.sub.of("CAhealthy", "summary").len(), 2);
        let windows = self.sub.of("CAhealthy", "emotion").len();
        // 9 s of speech: 14 windows ending at 3..9 s on both tracks. The
        // telephone model calls some windows of this speech (wideband,
        // resampled to 8 kHz μ-law) `non-speech` (a quarter of the demo's,
        // models/MODEL_CARD.md), so at least half must arrive; a call the
        // fault disturbed gets none after it.
        assert!(windows >= 7, "{windows} windows");
        assert_eq!(
            self.gw
                .settled_metric("emotiondetect_gateway_active_calls", 0.0),
            0.0
        );
        (self.sub, self.gw)
    }
}

fn summaries_with_windows(sub: &Subscriber, call: &str) -> Vec<Value> {
    let s = sub.of(call, "summary");
    assert_eq!(s.len(), 2, "one summary per speaker: {s:?}");
    for x in &s {
        assert!(x["windows"].as_u64().unwrap() > 0, "{x}");
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_fails_only_its_call_with_reason_and_summaries() {
    let bench = Bench::new(&[]).await;
    let mut bad = Call::connect(&bench.gw.url(), "CAjson").await;
    bad.start().await;
    bad.speak(0, 4.0).await;
    bad.send(r#"{"event":"media","media":{"#.to_owned()).await;
    assert_eq!(bad.closed().await.map(|c| c.0), Some(1007));
    let end = bench.sub.final_status("CAjson").await;
    assert_eq!(end["status"], "failed");
    assert!(
        end["reason"]
            .as_str()
            .unwrap()
            .starts_with("malformed frame"),
        "{end}"
    );
    summaries_with_windows(&bench.sub, "CAjson");
    bench.healthy_call_unaffected().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_events_marks_and_dtmf_are_ignored_and_counted() {
    let bench = Bench::new(&[]).await;
    let mut call = Call::connect(&bench.gw.url(), "CAunknown").await;
    call.start().await;
    call.speak(0, 2.0).await;
    call.send(r#"{"event":"transcription","text":"hello"}"#.to_owned())
        .await;
    call.send(build::mark(&call.stream_sid.clone(), "greeting"))
        .await;
    call.send(build::dtmf(&call.stream_sid.clone(), "5")).await;
    call.speak(2000, 2.0).await;
    call.stop().await;
    assert_eq!(call.closed().await.map(|c| c.0), Some(1000));
    let end = bench.sub.final_status("CAunknown").await;
    assert_eq!(end["status"], "ended", "{end}");
    assert_eq!(end["ignoredEvents"], 1);
    summaries_with_windows(&bench.sub, "CAunknown");
    assert_eq!(
        bench
            .gw
            .metric("emotiondetect_gateway_events_ignored_total"),
        1.0
    );
    bench.healthy_call_unaffected().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_before_start_closes_with_a_policy_violation() {
    let bench = Bench::new(&[]).await;
    let mut bad = Call::connect(&bench.gw.url(), "CAearly").await;
    bad.frame(0, 0, &speech()[..160]).await;
    let (code, reason) = bad.closed().await.expect("a close frame");
    assert_eq!((code, reason.as_str()), (1008, "media before start"));
    // No call to attach a status to: nothing published for it.
    assert!(bench.sub.of("CAearly", "status").is_empty());
    let (_, gw) = bench.healthy_call_unaffected().await;
    assert_eq!(gw.metric("emotiondetect_gateway_calls_failed_total"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_other_than_8_khz_mulaw_fails_the_call_with_the_reason() {
    let bench = Bench::new(&[]).await;
    let mut bad = Call::connect(&bench.gw.url(), "CAl16").await;
    bad.start_with(&MediaFormat {
        encoding: "audio/x-l16".to_owned(),
        sample_rate: 16000,
        channels: 1,
    })
    .await;
    let (code, reason) = bad.closed().await.expect("a close frame");
    assert_eq!(code, 1003);
    assert!(
        reason.starts_with("unsupported mediaFormat audio/x-l16 16000 Hz"),
        "{reason}"
    );
    let end = bench.sub.final_status("CAl16").await;
    assert_eq!(end["status"], "failed");
    // The close reason is the status reason, cut to fit a close frame.
    assert!(end["reason"].as_str().unwrap().starts_with(&reason));
    assert!(end["reason"]
        .as_str()
        .unwrap()
        .contains("audio/x-mulaw 8000 Hz mono"));
    bench.healthy_call_unaffected().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_base64_fails_the_call_after_summarising_its_audio() {
    let bench = Bench::new(&[]).await;
    let mut bad = Call::connect(&bench.gw.url(), "CAb64").await;
    bad.start().await;
    bad.speak(0, 4.0).await;
    let text = build::media(
        &bad.stream_sid.clone(),
        999,
        "inbound",
        999,
        4000,
        &[0; 160],
    )
    .replace("\"payload\":\"", "\"payload\":\"!!not base64");
    bad.send(text).await;
    assert_eq!(bad.closed().await.map(|c| c.0), Some(1007));
    let end = bench.sub.final_status("CAb64").await;
    assert_eq!(end["status"], "failed");
    assert!(
        end["reason"]
            .as_str()
            .unwrap()
            .starts_with("bad base64 in media chunk 999 of track inbound"),
        "{end}"
    );
    summaries_with_windows(&bench.sub, "CAb64");
    bench.healthy_call_unaffected().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_fails_the_call_after_summarising_its_audio() {
    let bench = Bench::new(&["--max-frame-bytes", "4096"]).await;
    let mut bad = Call::connect(&bench.gw.url(), "CAbig").await;
    bad.start().await;
    bad.speak(0, 4.0).await;
    let huge = build::media(
        &bad.stream_sid.clone(),
        999,
        "inbound",
        999,
        4000,
        &[0x55; 8000],
    );
    assert!(huge.len() > 4096);
    // The server may close before the whole frame is written.
    let _ = futures_util::SinkExt::send(
        &mut bad.ws,
        tokio_tungstenite::tungstenite::Message::text(huge),
    )
    .await;
    let end = bench.sub.final_status("CAbig").await;
    assert_eq!(end["status"], "failed");
    assert!(
        end["reason"]
            .as_str()
            .unwrap()
            .starts_with("frame too large"),
        "{end}"
    );
    summaries_with_windows(&bench.sub, "CAbig");
    bench.healthy_call_unaffected().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_chunks_are_dropped_counted_and_the_call_goes_on() {
    let bench = Bench::new(&[]).await;
    let mut call = Call::connect(&bench.gw.url(), "CAorder").await;
    call.start().await;
    call.speak(0, 4.0).await;
    let sid = call.stream_sid.clone();
    // A replayed chunk and one from the past, on the inbound track.
    call.send(build::media(&sid, 1000, "inbound", 3, 40, &speech()[..160]))
        .await;
    call.send(build::media(
        &sid,
        1001,
        "inbound",
        500,
        1000,
        &speech()[..160],
    ))
    .await;
    call.speak(4000, 1.0).await;
    call.stop().await;
    assert_eq!(call.closed().await.map(|c| c.0), Some(1000));
    let end = bench.sub.final_status("CAorder").await;
    assert_eq!(end["status"], "ended", "{end}");
    assert_eq!(end["outOfOrderFrames"], 2);
    summaries_with_windows(&bench.sub, "CAorder");
    assert_eq!(
        bench
            .gw
            .metric("emotiondetect_gateway_media_frames_out_of_order_total"),
        2.0
    );
    bench.healthy_call_unaffected().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_without_stop_fails_with_its_summaries() {
    let bench = Bench::new(&[]).await;
    let mut call = Call::connect(&bench.gw.url(), "CAdrop").await;
    call.start().await;
    call.speak(0, 4.0).await;
    drop(call);
    let end = bench.sub.final_status("CAdrop").await;
    assert_eq!(end["status"], "failed");
    assert!(
        end["reason"]
            .as_str()
            .unwrap()
            .starts_with("connection closed without stop"),
        "{end}"
    );
    summaries_with_windows(&bench.sub, "CAdrop");
    bench.healthy_call_unaffected().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timestamp_gap_splits_windows_instead_of_shifting_audio() {
    let bench = Bench::new(&[]).await;
    let mut call = Call::connect(&bench.gw.url(), "CAgap").await;
    call.start().await;
    call.speak(0, 4.0).await;
    // Ten seconds of nothing (e.g. the platform's hold), then speech.
    call.speak(14_000, 4.0).await;
    call.stop().await;
    assert_eq!(call.closed().await.map(|c| c.0), Some(1000));
    assert_eq!(bench.sub.final_status("CAgap").await["status"], "ended");
    let emotions = bench.sub.of("CAgap", "emotion");
    assert!(!emotions.is_empty());
    for e in &emotions {
        let start = e["timestamp"].as_u64().unwrap() / 1_000_000;
        let end = start + e["duration"].as_u64().unwrap() / 1_000_000;
        assert!(
            end <= 4000 || start >= 14_000,
            "window {start}..{end} ms spans the gap"
        );
    }
    assert!(emotions
        .iter()
        .any(|e| e["timestamp"].as_u64().unwrap() >= 14_000_000_000));
    bench.healthy_call_unaffected().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timestamp_out_of_range_fails_the_call_after_summarising_its_audio() {
    let bench = Bench::new(&[]).await;
    let mut bad = Call::connect(&bench.gw.url(), "CAfuture").await;
    bad.start().await;
    bad.speak(0, 4.0).await;
    let sid = bad.stream_sid.clone();
    bad.send(build::media(
        &sid,
        999,
        "inbound",
        999,
        u64::MAX,
        &speech()[..160],
    ))
    .await;
    assert_eq!(bad.closed().await.map(|c| c.0), Some(1007));
    let end = bench.sub.final_status("CAfuture").await;
    assert_eq!(end["status"], "failed");
    assert!(
        end["reason"]
            .as_str()
            .unwrap()
            .starts_with("media timestamp 18446744073709551615 ms out of range"),
        "{end}"
    );
    summaries_with_windows(&bench.sub, "CAfuture");
    bench.healthy_call_unaffected().await;
}
