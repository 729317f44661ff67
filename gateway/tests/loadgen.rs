// SPDX-License-Identifier: MPL-2.0
//! The load generator still plays calls and measures them (a smoke run,
//! as fast as possible; the capacity figures come from real-time runs).

mod common;

use std::process::Command;

use common::*;

#[test]
fn the_load_generator_plays_calls_and_reports_latency_cpu_and_memory() {
    let broker = Broker::start();
    let gw = Gateway::start(&broker.url(), &[]);
    let pid = gw.pid().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_emotiondetect-loadgen"))
        .args(["--url", &gw.url(), "--mqtt", &broker.url()])
        .args(["--calls", "3", "--seconds", "6", "--ramp", "0", "--fast"])
        .args(["--gateway-pid", &pid])
        .output()
        .expect("the load generator runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("started 3, ended 3, failed 0, refused 0"),
        "{text}"
    );
    let latency = text
        .lines()
        .find(|l| l.contains("latency frame->subscriber"))
        .expect("a latency line");
    assert!(
        latency.contains("p99") && !latency.contains("NaN"),
        "{latency}"
    );
    assert!(
        text.contains("gateway CPU") && text.contains("gateway memory"),
        "{text}"
    );
}
