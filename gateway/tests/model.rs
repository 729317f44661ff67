// SPDX-License-Identifier: MPL-2.0
//! `--model-file`: another 8 kHz model for every call, or a clear reason
//! why the gateway cannot start with it.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn shipped(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(name)
}

/// The customer's probabilities by window start, for one call.
async fn customer_windows(gw: &Gateway, sub: &Subscriber, call: &str) -> BTreeMap<u64, Vec<f64>> {
    let mut c = Call::connect(&gw.url(), call).await;
    c.start().await;
    c.speak(0, 8.0).await;
    c.stop().await;
    assert_eq!(sub.final_status(call).await["status"], "ended");
    sub.of(call, "emotion")
        .iter()
        .filter(|e| e["speaker"] == "customer")
        .map(|e| {
            let p = e["probabilities"].as_array().unwrap();
            (
                e["timestamp"].as_u64().unwrap(),
                p.iter().map(|v| v.as_f64().unwrap()).collect(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_file_serves_every_call_from_the_session_loaded_at_start() {
    let broker = Broker::start();
    let sub = Subscriber::connect(&broker, "emotiondetect/#").await;
    let single = shipped("reslstm-sa-8k-single.onnx");
    let builtin = Gateway::start(&broker.url(), &[]);
    let chosen = Gateway::start(&broker.url(), &["--model-file", single.to_str().unwrap()]);
    assert!(
        chosen
            .log()
            .contains(&format!("model: {}", single.display())),
        "{}",
        chosen.log()
    );
    assert!(builtin.log().contains("model: built-in 8 kHz"));

    let a = customer_windows(&builtin, &sub, "CAbuiltin").await;
    let b = customer_windows(&chosen, &sub, "CAchosen").await;
    let common: Vec<_> = a.keys().filter(|t| b.contains_key(t)).collect();
    assert!(common.len() >= 4, "{a:?} {b:?}");
    let largest = common
        .iter()
        .flat_map(|t| a[t].iter().zip(&b[t]).map(|(x, y)| (x - y).abs()))
        .fold(0.0, f64::max);
    assert!(largest > 0.01, "the same probabilities: {largest}");
    // The calls ran on the session the gateway loaded (its counters are
    // the ones /metrics reports), not on one of their own.
    let classified = chosen.metric("emotiondetect_gateway_windows_classified_total");
    assert!(classified >= b.len() as f64 && classified > 0.0);
    assert!(chosen.metric("emotiondetect_gateway_inference_sequences_total") >= classified);
}

/// Runs the gateway until it exits; its status and log.
fn start_failing(extra: &[&str]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_emotiondetect-gateway"))
        .args(["--listen", "127.0.0.1:0", "--mqtt", "mqtt://127.0.0.1:9"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("the gateway did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    (status.success(), log)
}

#[test]
fn a_model_file_that_cannot_serve_calls_stops_the_gateway_with_the_reason() {
    let (ok, log) = start_failing(&["--model-file", "/nonexistent/model.onnx"]);
    assert!(!ok);
    assert!(
        log.contains("--model-file /nonexistent/model.onnx"),
        "{log}"
    );
    let wideband = shipped("reslstm-sa-16k.onnx");
    let (ok, log) = start_failing(&["--model-file", wideband.to_str().unwrap()]);
    assert!(!ok);
    assert!(log.contains("a 16000 Hz model; calls are 8000 Hz"), "{log}");
    assert!(!log.contains("listening on"), "{log}");
    let not_onnx = shipped("MODEL_CARD.md");
    let (ok, log) = start_failing(&["--model-file", not_onnx.to_str().unwrap()]);
    assert!(!ok);
    assert!(log.contains("not a loadable ONNX model"), "{log}");
    assert!(log.contains("MODEL_CARD.md"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_non_speech_bias_reaches_the_calls_element() {
    // The same speech through a gateway that weighs the model's non-speech
    // output e^10 times: fewer of its windows are classified.
    let broker = Broker::start();
    let sub = Subscriber::connect(&broker, "emotiondetect/#").await;
    let plain = Gateway::start(&broker.url(), &[]);
    let strict = Gateway::start(&broker.url(), &["--non-speech-bias", "10"]);
    let a = customer_windows(&plain, &sub, "CAplain").await;
    let b = customer_windows(&strict, &sub, "CAstrict").await;
    assert!(a.len() >= 4, "{a:?}");
    assert!(b.len() < a.len(), "{} of {} windows", b.len(), a.len());
}

#[test]
fn a_non_speech_bias_out_of_range_stops_the_gateway() {
    for bad in ["11", "-10.5", "NaN"] {
        let (ok, log) = start_failing(&["--non-speech-bias", bad]);
        assert!(!ok, "{bad}");
        assert!(log.contains("--non-speech-bias"), "{bad}: {log}");
        assert!(!log.contains("listening on"), "{bad}: {log}");
    }
}
