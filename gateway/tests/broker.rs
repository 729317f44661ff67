// SPDX-License-Identifier: MPL-2.0
//! The broker away: results wait in the gateway's bounded queue and arrive
//! when it is back; what does not fit is counted and logged.

mod common;

use std::time::Duration;

use common::*;

/// Every result of the call, in the numbers the gateway's own counters
/// give: nothing lost.
fn assert_complete(sub: &Subscriber, gw: &Gateway, call: &str) {
    let emotions = sub.of(call, "emotion");
    let mut windows: Vec<_> = emotions
        .iter()
        .map(|e| (e["speaker"].to_string(), e["timestamp"].as_u64().unwrap()))
        .collect();
    windows.sort();
    windows.dedup();
    assert_eq!(
        windows.len() as f64,
        gw.metric("emotiondetect_gateway_windows_classified_total"),
        "every classified window arrived"
    );
    assert_eq!(sub.of(call, "summary").len(), 2);
    let statuses: Vec<_> = sub.of(call, "status");
    assert!(statuses.iter().any(|s| s["status"] == "started"));
    assert!(statuses.iter().any(|s| s["status"] == "ended"));
    assert_eq!(
        gw.metric("emotiondetect_gateway_results_dropped_total"),
        0.0
    );
}

async fn wait_delivered(gw: &Gateway) {
    let until = std::time::Instant::now() + WAIT;
    while gw.metric("emotiondetect_gateway_results_queued") > 0.0 {
        assert!(std::time::Instant::now() < until, "results still queued");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_wait_for_a_broker_down_at_start_and_arrive_when_it_comes_up() {
    let mut broker = Broker::start();
    // The subscriber's session outlives the broker's restart.
    let sub = Subscriber::connect(&broker, "emotiondetect/#").await;
    broker.pause();
    let gw = Gateway::start(&broker.url(), &[]);
    let mut call = Call::connect(&gw.url(), "CAlate").await;
    call.start().await;
    call.speak(0, 8.0).await;
    call.stop().await;
    assert_eq!(call.closed().await.map(|c| c.0), Some(1000));
    assert!(gw.metric("emotiondetect_gateway_results_queued") >= 12.0);
    assert_eq!(gw.metric("emotiondetect_gateway_broker_connected"), 0.0);
    broker.resume();
    wait_delivered(&gw).await;
    sub.final_status("CAlate").await;
    assert_complete(&sub, &gw, "CAlate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_call_loses_nothing_and_the_gateway_reconnects() {
    let mut broker = Broker::start();
    let sub = Subscriber::connect(&broker, "emotiondetect/#").await;
    let gw = Gateway::start(&broker.url(), &[]);
    let mut call = Call::connect(&gw.url(), "CAmid").await;
    call.start().await;
    call.speak(0, 5.0).await;
    broker.pause();
    call.speak(5000, 5.0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.resume();
    call.speak(10_000, 3.0).await;
    call.stop().await;
    assert_eq!(call.closed().await.map(|c| c.0), Some(1000));
    wait_delivered(&gw).await;
    sub.final_status("CAmid").await;
    assert_complete(&sub, &gw, "CAmid");
    assert!(gw.metric("emotiondetect_gateway_broker_reconnects_total") >= 1.0);
    assert_eq!(gw.metric("emotiondetect_gateway_broker_connected"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_beyond_the_queue_bound_are_dropped_counted_and_logged() {
    let mut broker = Broker::start();
    broker.pause();
    let gw = Gateway::start(&broker.url(), &["--queue-capacity", "5"]);
    let mut call = Call::connect(&gw.url(), "CAflood").await;
    call.start().await;
    // Enough speech to overflow the queue by far, even with the windows the
    // telephone model leaves unclassified.
    call.speak(0, 16.0).await;
    call.stop().await;
    assert_eq!(call.closed().await.map(|c| c.0), Some(1000));
    let dropped = gw.metric("emotiondetect_gateway_results_dropped_total");
    assert!(dropped >= 10.0, "{dropped}");
    assert_eq!(gw.metric("emotiondetect_gateway_results_queued"), 5.0);
    assert!(gw.log().contains("result queue full"), "{}", gw.log());
}
