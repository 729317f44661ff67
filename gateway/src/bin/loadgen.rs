// SPDX-License-Identifier: MPL-2.0
//! emotiondetect-loadgen: plays N concurrent two-track calls of real speech
//! into a gateway in the Twilio Media Streams format and measures what a
//! subscriber sees.
//!
//! ```text
//! emotiondetect-loadgen --calls 200 --seconds 30 --gateway-pid $(pidof emotiondetect-gateway)
//! ```
//!
//! Latency is measured from sending the `media` frame that completes a
//! window to the arrival of that window's result at an MQTT subscriber.
//! Calls are paced in real time (20 ms frames) unless `--fast`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use clap::Parser;
use futures_util::SinkExt;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use tokio_tungstenite::tungstenite::Message;

use emotiondetect_gateway::twilio::{build, MediaFormat};

#[derive(Debug, Parser)]
#[command(about = "Plays concurrent Twilio-format calls into emotiondetect-gateway")]
struct Args {
    /// The gateway's WebSocket.
    #[arg(long, default_value = "ws://127.0.0.1:8080/media")]
    url: String,
    /// The broker the gateway publishes to.
    #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
    mqtt: String,
    #[arg(long, default_value = "emotiondetect")]
    topic_prefix: String,
    /// Concurrent calls.
    #[arg(long, default_value_t = 10)]
    calls: usize,
    /// Length of each call, in seconds of audio.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Calls start spread over this many seconds, as calls arrive.
    #[arg(long, default_value_t = 5.0)]
    ramp: f64,
    /// Send as fast as possible instead of in real time.
    #[arg(long)]
    fast: bool,
    /// Speech files (any format GStreamer decodes); default: the bundled
    /// demo speech.
    #[arg(long = "speech")]
    speech: Vec<PathBuf>,
    /// Bearer token for the gateway.
    #[arg(long, env = "EMOTIONDETECT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Process id of the gateway, for its CPU and memory.
    #[arg(long)]
    gateway_pid: Option<u32>,
}

const FRAME: usize = 160;
const TRACKS: [&str; 2] = ["inbound", "outbound"];
const SPEAKERS: [&str; 2] = ["customer", "agent"];

/// When each frame of a call's tracks was sent, by frame index.
struct CallLog {
    sent: [Vec<Instant>; 2],
}

#[derive(Default)]
struct Totals {
    started: AtomicU64,
    ended: AtomicU64,
    failed: AtomicU64,
    refused: AtomicU64,
    results: AtomicU64,
    frames: AtomicU64,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(run(args))
}

fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn rss_mib(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Busy and total jiffies of the whole machine.
fn machine_cpu() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: f64 = v.iter().sum();
    let idle = v.get(3)? + v.get(4).unwrap_or(&0.0);
    Some((total - idle, total))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn run(args: Args) -> Result<(), String> {
    gst::init().map_err(|e| e.to_string())?;
    let files = if args.speech.is_empty() {
        // The repository's copy, or the container image's.
        let bundled = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets/demo-speech.wav");
        let installed = PathBuf::from("/usr/share/emotiondetect/demo-speech.wav");
        vec![if bundled.exists() { bundled } else { installed }]
    } else {
        args.speech.clone()
    };
    let mut speech = Vec::new();
    for f in &files {
        speech.extend(emotiondetect_gateway::speech::mulaw_8k(f)?);
    }
    // Every frame's payload encoded once, shared by all calls.
    let payloads: Arc<Vec<String>> = Arc::new(
        speech
            .chunks_exact(FRAME)
            .map(|c| base64::engine::general_purpose::STANDARD.encode(c))
            .collect(),
    );
    let frames_per_call = (args.seconds * 50.0) as usize;
    let run_id = std::process::id();
    let logs: Arc<Vec<Mutex<CallLog>>> = Arc::new(
        (0..args.calls)
            .map(|_| {
                Mutex::new(CallLog {
                    sent: [
                        Vec::with_capacity(frames_per_call),
                        Vec::with_capacity(frames_per_call),
                    ],
                })
            })
            .collect(),
    );
    let totals = Arc::new(Totals::default());
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));

    // The subscriber.
    let (host, port) = args
        .mqtt
        .strip_prefix("mqtt://")
        .and_then(|r| r.rsplit_once(':'))
        .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
        .ok_or("--mqtt mqtt://HOST:PORT")?;
    let mut o = MqttOptions::new(format!("loadgen-{run_id}"), host, port);
    o.set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(o, 64);
    let prefix = args.topic_prefix.clone();
    client
        .subscribe(format!("{prefix}/calls/+/emotion"), QoS::AtLeastOnce)
        .await
        .map_err(|e| e.to_string())?;
    client
        .subscribe(format!("{prefix}/calls/+/status"), QoS::AtLeastOnce)
        .await
        .map_err(|e| e.to_string())?;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    {
        let (logs, totals, latencies) = (logs.clone(), totals.clone(), latencies.clone());
        let mut ready = Some(ready_tx);
        let sid_prefix = format!("CAload{run_id}x");
        tokio::spawn(async move {
            let _client = client;
            loop {
                let p = match events.poll().await {
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                        continue;
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => p,
                    Ok(_) => continue,
                    Err(e) => {
                        eprintln!("subscriber: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let now = Instant::now();
                let Ok(v) = serde_json::from_slice::<serde_json::Value>(&p.payload) else {
                    continue;
                };
                let Some(i) = v["callSid"]
                    .as_str()
                    .and_then(|s| s.strip_prefix(&sid_prefix))
                    .and_then(|s| s.parse::<usize>().ok())
                    .filter(|&i| i < logs.len())
                else {
                    continue;
                };
                if p.topic.ends_with("/status") {
                    match v["status"].as_str() {
                        Some("started") => totals.started.fetch_add(1, Relaxed),
                        Some("ended") => totals.ended.fetch_add(1, Relaxed),
                        Some("failed") => totals.failed.fetch_add(1, Relaxed),
                        _ => 0,
                    };
                    continue;
                }
                totals.results.fetch_add(1, Relaxed);
                let Some(track) = SPEAKERS.iter().position(|s| v["speaker"] == *s) else {
                    continue;
                };
                let (Some(ts), Some(d)) = (v["timestamp"].as_u64(), v["duration"].as_u64()) else {
                    continue;
                };
                // The frame holding the window's last sample.
                let end_ms = (ts + d) / 1_000_000;
                let frame = (end_ms.div_ceil(20) as usize).saturating_sub(1);
                let sent = logs[i].lock().unwrap().sent[track].get(frame).copied();
                if let Some(sent) = sent {
                    latencies
                        .lock()
                        .unwrap()
                        .push(now.duration_since(sent).as_secs_f64() * 1000.0);
                }
            }
        });
    }
    tokio::time::timeout(Duration::from_secs(10), ready_rx)
        .await
        .map_err(|_| "the broker did not acknowledge the subscription")?
        .map_err(|_| "subscriber ended")?;

    let pid = args.gateway_pid.map(|p| p.to_string());
    let gw_cpu0 = pid.as_deref().and_then(cpu_seconds);
    let gw_rss0 = pid.as_deref().and_then(rss_mib);
    let self_cpu0 = cpu_seconds("self");
    let machine0 = machine_cpu();
    let t0 = Instant::now();
    let peak_rss = Arc::new(Mutex::new(gw_rss0.unwrap_or(0.0)));
    if let Some(pid) = pid.clone() {
        let peak = peak_rss.clone();
        tokio::spawn(async move {
            loop {
                if let Some(r) = rss_mib(&pid) {
                    let mut p = peak.lock().unwrap();
                    *p = p.max(r);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    let mut tasks = Vec::new();
    for i in 0..args.calls {
        let delay = if args.calls > 1 {
            Duration::from_secs_f64(args.ramp * i as f64 / args.calls as f64)
        } else {
            Duration::ZERO
        };
        let (logs, totals, payloads) = (logs.clone(), totals.clone(), payloads.clone());
        let url = args.url.clone();
        let token = args.token.clone();
        let fast = args.fast;
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let call_sid = format!("CAload{run_id}x{i}");
            let stream_sid = format!("MZload{run_id}x{i}");
            let mut request = match tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url.as_str()) {
                Ok(r) => r,
                Err(e) => return Err(e.to_string()),
            };
            if let Some(t) = token {
                if let Ok(h) = format!("Bearer {t}").parse() {
                    request.headers_mut().insert("Authorization", h);
                }
            }
            let (mut ws, _) = tokio_tungstenite::connect_async(request)
                .await
                .map_err(|e| {
                    totals.refused.fetch_add(1, Relaxed);
                    e.to_string()
                })?;
            let send_err = |e: tokio_tungstenite::tungstenite::Error| e.to_string();
            ws.send(Message::text(build::connected())).await.map_err(send_err)?;
            let start = build::start(
                &stream_sid,
                &call_sid,
                &TRACKS,
                &serde_json::json!({"loadgen": i}),
                &MediaFormat::telephone(),
            );
            ws.send(Message::text(start)).await.map_err(send_err)?;
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            // Each call starts somewhere else in the speech.
            let offset = (i * 37) % payloads.len();
            for f in 0..frames_per_call {
                if !fast {
                    tick.tick().await;
                }
                let ms = f as u64 * 20;
                for (track, name) in TRACKS.iter().enumerate() {
                    let payload = &payloads[(offset + f + track * 50) % payloads.len()];
                    let text = format!(
                        r#"{{"event":"media","sequenceNumber":"{}","media":{{"track":"{name}","chunk":"{}","timestamp":"{ms}","payload":"{payload}"}},"streamSid":"{stream_sid}"}}"#,
                        2 * f + track + 2,
                        f + 1
                    );
                    logs[i].lock().unwrap().sent[track].push(Instant::now());
                    ws.feed(Message::text(text)).await.map_err(send_err)?;
                }
                ws.flush().await.map_err(send_err)?;
                totals.frames.fetch_add(2, Relaxed);
            }
            ws.send(Message::text(build::stop(&stream_sid, &call_sid)))
                .await
                .map_err(send_err)?;
            // Wait for the gateway to close (summaries published).
            use futures_util::StreamExt;
            while let Some(Ok(m)) = ws.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
            Ok::<(), String>(())
        }));
    }
    let mut errors: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => *errors.entry(e).or_default() += 1,
            Err(e) => *errors.entry(e.to_string()).or_default() += 1,
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    // Let the last results and statuses arrive.
    let settle = Instant::now();
    while totals.ended.load(Relaxed) + totals.failed.load(Relaxed) < totals.started.load(Relaxed)
        && settle.elapsed() < Duration::from_secs(15)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_by(f64::total_cmp);
    let audio_s = totals.frames.load(Relaxed) as f64 * 0.02;
    println!(
        "emotiondetect-loadgen: {} calls x {:.0} s, two tracks, {}",
        args.calls,
        args.seconds,
        if args.fast {
            "as fast as possible"
        } else {
            "real time"
        }
    );
    if args.calls > 1 {
        println!(
            "  wall time                 {wall:.1} s (starts spread over {:.1} s)",
            args.ramp
        );
    } else {
        println!("  wall time                 {wall:.1} s");
    }
    println!(
        "  calls                     started {}, ended {}, failed {}, refused {}",
        totals.started.load(Relaxed),
        totals.ended.load(Relaxed),
        totals.failed.load(Relaxed),
        totals.refused.load(Relaxed)
    );
    for (e, n) in &errors {
        println!("  client errors             {n} x {e}");
    }
    println!("  audio sent                {audio_s:.0} s (both tracks)");
    println!(
        "  results received          {}",
        totals.results.load(Relaxed)
    );
    println!(
        "  latency frame->subscriber p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} windows)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        lat.len()
    );
    if let (Some(c0), Some(pid)) = (gw_cpu0, pid.as_deref()) {
        if let Some(c1) = cpu_seconds(pid) {
            let cpu = c1 - c0;
            println!(
                "  gateway CPU               {cpu:.1} s in {wall:.1} s = {:.2} cores; {:.2} ms CPU per call-second; {:.1}% of a core per call",
                cpu / wall,
                cpu * 1000.0 / (audio_s / 2.0),
                100.0 * cpu / wall / args.calls as f64
            );
        }
        let peak = *peak_rss.lock().unwrap();
        if let Some(r0) = gw_rss0 {
            println!(
                "  gateway memory            RSS {r0:.1} MiB before, peak {peak:.1} MiB: {:.2} MiB per call",
                (peak - r0) / args.calls as f64
            );
        }
    }
    if let (Some(c0), Some(c1)) = (self_cpu0, cpu_seconds("self")) {
        println!("  load generator CPU        {:.1} s", c1 - c0);
    }
    if let (Some((b0, t0)), Some((b1, t1))) = (machine0, machine_cpu()) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        println!(
            "  machine CPU busy          {:.0}% of {cores} cores (everything running)",
            100.0 * (b1 - b0) / (t1 - t0)
        );
    }
    Ok(())
}
