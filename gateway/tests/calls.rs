// SPDX-License-Identifier: MPL-2.0
//! Calls through the real gateway binary, a real Mosquitto broker, a real
//! WebSocket client and a real MQTT subscriber, with real speech.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_track_call_publishes_status_emotions_segments_and_a_summary_per_speaker() {
    let broker = Broker::start();
    let sub = Subscriber::connect(&broker, "emotiondetect/#").await;
    let gw = Gateway::start(&broker.url(), &[]);
    assert_eq!(gw.get("/healthz"), (200, "ok\n".to_owned()));

    let mut call = Call::connect(&gw.url(), "CAfull").await;
    call.start().await;
    call.speak(0, 14.0).await;
    call.stop().await;
    assert_eq!(call.closed().await.map(|c| c.0), Some(1000));

    let end = sub.final_status("CAfull").await;
    assert_eq!(end["status"], "ended", "{end}");
    assert_eq!(end["reason"], "stop");
    assert_eq!(end["summariesComplete"], true);
    let started = &sub.of("CAfull", "status")[0];
    assert_eq!(started["status"], "started");
    assert_eq!(started["tracks"]["inbound"], "customer");
    assert_eq!(started["tracks"]["outbound"], "agent");

    let emotions = sub.of("CAfull", "emotion");
    for speaker in ["customer", "agent"] {
        let mine: Vec<_> = emotions
            .iter()
            .filter(|e| e["speaker"] == speaker)
            .collect();
        assert!(mine.len() >= 8, "{speaker}: {} windows", mine.len());
        for e in &mine {
            assert_eq!(e["callSid"], "CAfull");
            assert_eq!(e["streamSid"], "MZCAfull");
            assert_eq!(e["customParameters"]["agentId"], "42");
            let p: f64 = e["probabilities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_f64().unwrap())
                .sum();
            assert!((p - 1.0).abs() < 1e-3, "{e}");
            assert!(e["labels"].as_array().unwrap().contains(&e["emotion"]));
            assert_eq!(e["duration"], 3_000_000_000u64);
        }
        let summary: Vec<_> = sub
            .of("CAfull", "summary")
            .into_iter()
            .filter(|s| s["speaker"] == speaker)
            .collect();
        assert_eq!(summary.len(), 1, "{speaker}");
        assert!(summary[0]["windows"].as_u64().unwrap() >= mine.len() as u64);
    }
    assert!(!sub.of("CAfull", "segment").is_empty());

    assert!(gw.metric("emotiondetect_gateway_windows_classified_total") >= 16.0);
    assert_eq!(gw.metric("emotiondetect_gateway_calls_total"), 1.0);
    assert_eq!(
        gw.settled_metric("emotiondetect_gateway_active_calls", 0.0),
        0.0
    );
    assert!(gw.metric("emotiondetect_gateway_inference_sequences_total") >= 16.0);
    assert!(gw.metric("emotiondetect_gateway_publish_latency_seconds_count") >= 20.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_reach_a_broker_over_tls_with_a_given_ca() {
    let (broker, tls_port, ca) = Broker::start_tls();
    let sub = Subscriber::connect(&broker, "emotiondetect/#").await;
    let gw = Gateway::start(
        &format!("mqtts://127.0.0.1:{tls_port}"),
        &["--mqtt-ca", ca.to_str().unwrap()],
    );
    let mut call = Call::connect(&gw.url(), "CAtls").await;
    call.start().await;
    call.speak(0, 4.0).await;
    call.stop().await;
    assert_eq!(call.closed().await.map(|c| c.0), Some(1000));
    assert_eq!(sub.final_status("CAtls").await["status"], "ended");
    assert_eq!(sub.of("CAtls", "summary").len(), 2);
    assert_eq!(gw.metric("emotiondetect_gateway_broker_connected"), 1.0);
}
