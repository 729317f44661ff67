// SPDX-License-Identifier: MPL-2.0
//! emotiondetect-gateway: see `--help` and the README's "Live calls".

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::sync::watch;

use emotiondetect_gateway::call::{CallConfig, CallContext};
use emotiondetect_gateway::metrics::Metrics;
use emotiondetect_gateway::pipeline::{self, ElementSettings};
use emotiondetect_gateway::server::{self, Gateway};
use emotiondetect_gateway::sink::{MqttConfig, MqttSink, Sink};

/// Live phone calls in over WebSocket (Twilio Media Streams), speech
/// emotions out on MQTT.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address and port of the WebSocket (`/media`), `/healthz` and `/metrics`.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// The MQTT broker: mqtt://HOST:PORT, or mqtts://HOST:PORT for TLS.
    #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
    mqtt: String,
    #[arg(long, env = "EMOTIONDETECT_MQTT_USERNAME")]
    mqtt_username: Option<String>,
    #[arg(long, env = "EMOTIONDETECT_MQTT_PASSWORD", hide_env_values = true)]
    mqtt_password: Option<String>,
    /// PEM CA bundle for mqtts:// (default: the system's).
    #[arg(long)]
    mqtt_ca: Option<std::path::PathBuf>,
    /// MQTT client id (default: emotiondetect-gateway-HOSTNAME-PID).
    #[arg(long)]
    mqtt_client_id: Option<String>,
    /// Topics are PREFIX/calls/CALLSID/{emotion,segment,summary,status}.
    #[arg(long, default_value = "emotiondetect")]
    topic_prefix: String,
    /// Messages kept for the broker at most (while it is down); beyond
    /// this the oldest are dropped, counted and logged.
    #[arg(long, default_value_t = 100_000)]
    queue_capacity: usize,
    /// Speaker name of a track, TRACK=NAME (repeatable).
    #[arg(long = "speaker", value_parser = parse_speaker)]
    speakers: Vec<(String, String)>,
    /// Calls held at once; more are refused with close code 1013.
    #[arg(long, default_value_t = 1000)]
    max_calls: u64,
    /// Shared secret required on the WebSocket upgrade, as
    /// `Authorization: Bearer TOKEN` or `?token=TOKEN`.
    #[arg(long, env = "EMOTIONDETECT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Seconds open calls may go on after SIGTERM before they are cut off.
    #[arg(long, default_value_t = 30)]
    drain_timeout: u64,
    /// Largest WebSocket message accepted, in bytes.
    #[arg(long, default_value_t = 65536)]
    max_frame_bytes: usize,
    /// Audio gathered into one buffer at most, in ms (buffers are also cut
    /// where a window ends, so this costs no result latency).
    #[arg(long, default_value_t = 100)]
    buffer_ms: u64,
    /// Audio per classification, in ms (the element's window-duration).
    #[arg(long, default_value_t = 3000)]
    window_ms: u64,
    /// Time between results, in ms (the element's interval).
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// An 8 kHz ONNX model to use instead of the built-in one, e.g.
    /// models/reslstm-sa-8k-single.onnx (one network: up to about 15 % less
    /// gateway CPU per call than the built-in two-network ensemble). Checked
    /// at start; restart the gateway after changing the file (calls started
    /// after a change would load the new file unchecked).
    #[arg(long, env = "EMOTIONDETECT_MODEL_FILE")]
    model_file: Option<std::path::PathBuf>,
    /// The element's non-speech-bias, -10 to 10: a window is not classified
    /// when the model's non-speech probability times e^bias is its largest
    /// output. Positive values leave fewer windows of ring tones and alerts
    /// classified, and fewer of speech (see the README's property table).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    non_speech_bias: f64,
}

fn parse_speaker(s: &str) -> Result<(String, String), String> {
    let (t, n) = s
        .split_once('=')
        .ok_or_else(|| format!("{s}: expected TRACK=NAME"))?;
    Ok((t.trim().to_owned(), n.trim().to_owned()))
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("tokio: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    if args.interval_ms == 0 || args.interval_ms > args.window_ms {
        return Err("--interval-ms must be more than 0 and at most --window-ms".into());
    }
    let limit = emotiondetect_core::analysis::NON_SPEECH_BIAS_LIMIT;
    if !(-limit..=limit).contains(&args.non_speech_bias) {
        return Err(format!(
            "--non-speech-bias {}: must be within -{limit} and {limit}",
            args.non_speech_bias
        ));
    }
    // The path as given (not resolved: a mounted ConfigMap's symlinks stay
    // valid across its updates); the elements get the same string, so they
    // share the session loaded here while the file does not change.
    let model_file: Option<Arc<str>> = args
        .model_file
        .as_deref()
        .map(|p| {
            p.to_str()
                .map(Arc::from)
                .ok_or_else(|| format!("--model-file {}: not a UTF-8 path", p.display()))
        })
        .transpose()?;
    let file = model_file.clone();
    let model = tokio::task::spawn_blocking(move || pipeline::init(file.as_deref()))
        .await
        .map_err(|e| e.to_string())??;
    tracing::info!(
        "model: {}",
        model_file.as_deref().unwrap_or("built-in 8 kHz")
    );
    let metrics = Arc::new(Metrics::default());
    let (host, port, tls) = MqttConfig::parse_url(&args.mqtt)?;
    let client_id = args.mqtt_client_id.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
        format!("emotiondetect-gateway-{host}-{}", std::process::id())
    });
    let sink = Arc::new(MqttSink::start(
        MqttConfig {
            host,
            port,
            tls,
            ca_file: args.mqtt_ca.clone(),
            username: args.mqtt_username.clone(),
            password: args.mqtt_password.clone(),
            client_id,
            topic_prefix: args.topic_prefix.trim_end_matches('/').to_owned(),
            queue_capacity: args.queue_capacity,
        },
        metrics.clone(),
    )?);
    let mut speakers: BTreeMap<String, String> = [("inbound", "customer"), ("outbound", "agent")]
        .into_iter()
        .map(|(t, s)| (t.to_owned(), s.to_owned()))
        .collect();
    speakers.extend(args.speakers.iter().cloned());
    let (cut_off_tx, cut_off) = watch::channel(false);
    let gateway = Arc::new(Gateway {
        calls: Arc::new(CallContext {
            config: CallConfig {
                speakers,
                element: ElementSettings {
                    window: Duration::from_millis(args.window_ms),
                    interval: Duration::from_millis(args.interval_ms),
                    model_file,
                    non_speech_bias: args.non_speech_bias,
                },
                max_buffer: Duration::from_millis(args.buffer_ms.max(20)),
                end_timeout: Duration::from_secs(10),
            },
            sink: sink.clone(),
            metrics: metrics.clone(),
            cut_off,
        }),
        max_calls: args.max_calls,
        token: args.token.clone().filter(|t| !t.is_empty()),
        max_frame_bytes: args.max_frame_bytes,
        draining: Default::default(),
        model: Some(model),
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("listening on {}: {e}", args.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!("listening on {local} (ws://{local}/media, /healthz, /metrics)");
    // Serves until the end: during the drain, /healthz says 503 (so the
    // load balancer sends new calls elsewhere), /media refuses new calls
    // and /metrics still reports.
    let server = tokio::spawn(axum::serve(listener, server::router(gateway.clone())).into_future());

    shutdown_signal().await;
    let started = Instant::now();
    gateway.draining.store(true, Relaxed);
    let active = || metrics.active_calls.load(Relaxed);
    tracing::info!(
        "draining: {} calls open, waiting up to {} s",
        active(),
        args.drain_timeout
    );
    let drain = Duration::from_secs(args.drain_timeout);
    while active() > 0 && started.elapsed() < drain {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if active() > 0 {
        tracing::warn!("drain timeout: cutting off {} calls", active());
        let _ = cut_off_tx.send(true);
        let until = Instant::now() + Duration::from_secs(10);
        while active() > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let until = Instant::now() + Duration::from_secs(5);
    while sink.pending() > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if sink.pending() > 0 {
        tracing::warn!(
            "exiting with {} results the broker has not acknowledged",
            sink.pending()
        );
    }
    server.abort();
    tracing::info!("drained in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
