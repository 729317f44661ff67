// SPDX-License-Identifier: MPL-2.0
//! Who may call: the connection limit, the shared secret, and the drain on
//! SIGTERM.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_max_calls_are_refused_with_a_close_reason() {
    let broker = Broker::start();
    let sub = Subscriber::connect(&broker, "emotiondetect/#").await;
    let gw = Gateway::start(&broker.url(), &["--max-calls", "1"]);
    let mut first = Call::connect(&gw.url(), "CAfirst").await;
    first.start().await;
    first.speak(0, 1.0).await;
    let mut second = Call::connect(&gw.url(), "CAsecond").await;
    let (code, reason) = second.closed().await.expect("a close frame");
    assert_eq!(code, 1013);
    assert_eq!(reason, "max-calls reached: 1 calls active");
    assert_eq!(gw.metric("emotiondetect_gateway_calls_refused_total"), 1.0);
    first.speak(1000, 3.0).await;
    first.stop().await;
    assert_eq!(sub.final_status("CAfirst").await["status"], "ended");
    // The slot is free again.
    let mut third = Call::connect(&gw.url(), "CAthird").await;
    third.start().await;
    third.speak(0, 1.0).await;
    third.stop().await;
    assert_eq!(sub.final_status("CAthird").await["status"], "ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_required_as_bearer_header_or_query_parameter() {
    let broker = Broker::start();
    let sub = Subscriber::connect(&broker, "emotiondetect/#").await;
    let gw = Gateway::start(&broker.url(), &["--token", "s3cret"]);
    let refused = |r: Result<Call, tokio_tungstenite::tungstenite::Error>| match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("upgrade accepted without the token"),
    };
    assert_eq!(
        refused(Call::connect_with(&gw.url(), "CAx", None).await),
        401
    );
    assert_eq!(
        refused(Call::connect_with(&gw.url(), "CAx", Some("wrong")).await),
        401
    );
    assert_eq!(
        refused(Call::connect_with(&format!("{}?token=s3cre", gw.url()), "CAx", None).await),
        401
    );
    let mut bearer = Call::connect_with(&gw.url(), "CAbearer", Some("s3cret"))
        .await
        .unwrap();
    bearer.start().await;
    bearer.stop().await;
    assert_eq!(sub.final_status("CAbearer").await["status"], "ended");
    let mut query = Call::connect_with(&format!("{}?token=s3cret", gw.url()), "CAquery", None)
        .await
        .unwrap();
    query.start().await;
    query.stop().await;
    assert_eq!(sub.final_status("CAquery").await["status"], "ended");
    assert_eq!(gw.metric("emotiondetect_gateway_calls_refused_total"), 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_open_calls_finish_then_exits_zero() {
    let broker = Broker::start();
    let sub = Subscriber::connect(&broker, "emotiondetect/#").await;
    let mut gw = Gateway::start(&broker.url(), &["--drain-timeout", "30"]);
    let mut call = Call::connect(&gw.url(), "CAdrain").await;
    call.start().await;
    call.speak(0, 4.0).await;
    gw.terminate();
    // Draining: not ready, no new calls, the open one goes on.
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while gw.get("/healthz").0 != 503 {
        assert!(
            std::time::Instant::now() < until,
            "still ready after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gw.get("/livez").0, 200);
    match Call::connect_with(&gw.url(), "CAlate", None).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 503),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a new call accepted while draining"),
    }
    assert_eq!(gw.metric("emotiondetect_gateway_draining"), 1.0);
    call.speak(4000, 2.0).await;
    call.stop().await;
    assert_eq!(call.closed().await.map(|c| c.0), Some(1000));
    let status = gw.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status}: {}", gw.log());
    let end = sub.final_status("CAdrain").await;
    assert_eq!(end["status"], "ended");
    assert_eq!(sub.of("CAdrain", "summary").len(), 2);
    // 6 s of speech, 8 windows on both tracks; the telephone model leaves
    // some of this wideband speech unclassified (see faults.rs), so at
    // least half of them, most after SIGTERM.
    let windows = sub.of("CAdrain", "emotion").len();
    assert!(windows >= 4, "{windows} windows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_still_open_at_the_drain_timeout_are_cut_off_with_summaries() {
    let broker = Broker::start();
    let sub = Subscriber::connect(&broker, "emotiondetect/#").await;
    let mut gw = Gateway::start(&broker.url(), &["--drain-timeout", "1"]);
    let mut call = Call::connect(&gw.url(), "CAcut").await;
    call.start().await;
    call.speak(0, 4.0).await;
    gw.terminate();
    let (code, reason) = call.closed().await.expect("a close frame");
    assert_eq!(code, 1001);
    assert!(reason.contains("drain timeout"), "{reason}");
    let status = gw.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status}: {}", gw.log());
    let end = sub.final_status("CAcut").await;
    assert_eq!(end["status"], "failed");
    assert!(end["reason"].as_str().unwrap().contains("drain timeout"));
    assert_eq!(sub.of("CAcut", "summary").len(), 2);
}
