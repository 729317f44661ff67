// SPDX-License-Identifier: MPL-2.0
//! Where results go: the [`Sink`] trait, and its MQTT implementation.
//!
//! The MQTT sink keeps every record in its own bounded queue until the
//! broker acknowledges it (QoS 1): records survive a broker restart or a
//! lost connection and are sent again after reconnecting (with back-off),
//! so nothing is lost within the bound; what does not fit is dropped
//! oldest first, counted and logged. A record may arrive twice after a
//! reconnection, as QoS 1 allows.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, Outgoing, QoS, Transport};
use tokio::sync::{mpsc, Notify};

use crate::metrics::Metrics;

/// What a record is, which picks its topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Emotion,
    Segment,
    Summary,
    Status,
}

impl Kind {
    pub fn topic_suffix(self) -> &'static str {
        match self {
            Kind::Emotion => "emotion",
            Kind::Segment => "segment",
            Kind::Summary => "summary",
            Kind::Status => "status",
        }
    }
}

/// One message for the outside world.
#[derive(Debug, Clone)]
pub struct Record {
    pub call_sid: String,
    pub kind: Kind,
    pub payload: Vec<u8>,
    /// When the result was produced, for the publish latency.
    pub created: Instant,
}

/// A destination for records: MQTT now, Kafka possibly later. `submit`
/// never blocks the caller.
pub trait Sink: Send + Sync {
    fn submit(&self, record: Record);
    /// Records submitted and not yet delivered.
    fn pending(&self) -> usize;
}

/// The MQTT connection settings.
#[derive(Debug, Clone)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// PEM file of the CA that signs the broker's certificate (TLS only);
    /// the system's bundle when not given.
    pub ca_file: Option<std::path::PathBuf>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: String,
    pub topic_prefix: String,
    pub queue_capacity: usize,
}

impl MqttConfig {
    /// Parses `mqtt://HOST:PORT` or `mqtts://HOST:PORT`.
    pub fn parse_url(url: &str) -> Result<(String, u16, bool), String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else {
            return Err(format!(
                "{url}: expected mqtt://HOST:PORT or mqtts://HOST:PORT"
            ));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("{url}: bad port {p:?}"))?,
            ),
            None => (rest, if tls { 8883 } else { 1883 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{url}: no host"));
        }
        Ok((host.to_owned(), port, tls))
    }

    fn options(&self) -> Result<MqttOptions, String> {
        let mut o = MqttOptions::new(&self.client_id, &self.host, self.port);
        o.set_keep_alive(Duration::from_secs(15))
            .set_clean_session(true)
            .set_inflight(MAX_INFLIGHT as u16)
            .set_max_packet_size(1 << 20, 1 << 20);
        if let Some(user) = &self.username {
            o.set_credentials(user, self.password.as_deref().unwrap_or(""));
        }
        if self.tls {
            let path = self
                .ca_file
                .clone()
                .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
            let ca = std::fs::read(&path)
                .map_err(|e| format!("reading the CA file {}: {e}", path.display()))?;
            o.set_transport(Transport::Tls(rumqttc::TlsConfiguration::Simple {
                ca,
                alpn: None,
                client_auth: None,
            }));
        }
        Ok(o)
    }
}

/// Records handed to the client and not yet acknowledged, at most. The
/// rate a connection sustains is this many per round trip to the broker:
/// with too small a window a loaded machine's slower round trips, not its
/// CPU, become the limit and results wait in the queue.
const MAX_INFLIGHT: usize = 1024;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

struct Shared {
    queue: Mutex<Queue>,
    wake: Notify,
    metrics: Arc<Metrics>,
    capacity: usize,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Record>,
    /// Handed to the client (in flight); counted against the capacity too.
    inflight: usize,
}

/// Publishes records to an MQTT broker.
pub struct MqttSink {
    shared: Arc<Shared>,
}

impl MqttSink {
    /// Starts the connection on a thread of its own. The broker need not be
    /// up: records wait in the queue until it is.
    pub fn start(config: MqttConfig, metrics: Arc<Metrics>) -> Result<Self, String> {
        let options = config.options()?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            metrics,
            capacity: config.queue_capacity.max(1),
        });
        // A thread of its own: on a runtime busy with hundreds of calls,
        // each hop between the sink's tasks waited behind every call's
        // frames, and results queued up although the CPU was not busy.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("the MQTT sink's runtime: {e}"))?;
        let s = shared.clone();
        std::thread::Builder::new()
            .name("mqtt-sink".into())
            .spawn(move || runtime.block_on(run(options, config.topic_prefix, s)))
            .map_err(|e| format!("the MQTT sink's thread: {e}"))?;
        Ok(MqttSink { shared })
    }
}

impl Sink for MqttSink {
    fn submit(&self, record: Record) {
        let s = &self.shared;
        let dropped = {
            let mut q = lock(&s.queue);
            q.waiting.push_back(record);
            if q.waiting.len() + q.inflight > s.capacity {
                q.waiting.pop_front()
            } else {
                None
            }
        };
        match dropped {
            Some(old) => {
                let n = s.metrics.results_dropped.fetch_add(1, Relaxed) + 1;
                if n.is_power_of_two() || n.is_multiple_of(1000) {
                    tracing::warn!(
                        dropped_total = n,
                        capacity = s.capacity,
                        "result queue full (broker unreachable?): dropped the oldest, a {} of call {}",
                        old.kind.topic_suffix(),
                        old.call_sid
                    );
                }
            }
            None => {
                s.metrics.results_queued.fetch_add(1, Relaxed);
            }
        }
        s.wake.notify_one();
    }

    fn pending(&self) -> usize {
        let q = lock(&self.shared.queue);
        q.waiting.len() + q.inflight
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Connects, publishes, and on any failure puts the unacknowledged records
/// back at the head of the queue and connects again after a back-off.
async fn run(options: MqttOptions, prefix: String, shared: Arc<Shared>) {
    let metrics = shared.metrics.clone();
    let mut backoff = BACKOFF_MIN;
    let mut connections = 0u64;
    loop {
        let (client, mut eventloop) = AsyncClient::new(options.clone(), MAX_INFLIGHT * 2);
        let (tx, mut events) = mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            loop {
                let ev = eventloop.poll().await;
                let failed = ev.is_err();
                if tx.send(ev).is_err() || failed {
                    break;
                }
            }
        });
        // Sent, waiting for their packet id; then by packet id.
        let mut unassigned: VecDeque<Record> = VecDeque::new();
        let mut inflight: HashMap<u16, Record> = HashMap::new();
        let mut connected = false;
        let error = loop {
            if connected {
                while unassigned.len() + inflight.len() < MAX_INFLIGHT {
                    let Some(r) = lock(&shared.queue).waiting.pop_front() else {
                        break;
                    };
                    lock(&shared.queue).inflight += 1;
                    let topic = format!("{prefix}/calls/{}/{}", r.call_sid, r.kind.topic_suffix());
                    if let Err(e) =
                        client.try_publish(topic, QoS::AtLeastOnce, false, r.payload.clone())
                    {
                        unassigned.push_back(r);
                        connected = false;
                        tracing::debug!("publish refused by the client: {e}");
                        break;
                    }
                    unassigned.push_back(r);
                }
            }
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(Ok(Event::Incoming(Incoming::ConnAck(ack)))) => {
                        if ack.code == rumqttc::ConnectReturnCode::Success {
                            connected = true;
                            connections += 1;
                            if connections > 1 {
                                metrics.broker_reconnects.fetch_add(1, Relaxed);
                            }
                            metrics.broker_connected.store(1, Relaxed);
                            backoff = BACKOFF_MIN;
                            tracing::info!("connected to the MQTT broker");
                        } else {
                            break format!("broker refused the connection: {:?}", ack.code);
                        }
                    }
                    Some(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) => {
                        if let Some(r) = unassigned.pop_front() {
                            inflight.insert(pkid, r);
                        }
                    }
                    Some(Ok(Event::Incoming(Incoming::PubAck(ack)))) => {
                        if let Some(r) = inflight.remove(&ack.pkid) {
                            lock(&shared.queue).inflight -= 1;
                            metrics.results_published.fetch_add(1, Relaxed);
                            metrics.results_queued.fetch_sub(1, Relaxed);
                            metrics.publish_latency.observe(r.created.elapsed());
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break e.to_string(),
                    None => break "connection task ended".to_owned(),
                },
                _ = shared.wake.notified(), if connected => {}
            }
        };
        driver.abort();
        metrics.broker_connected.store(0, Relaxed);
        // Back to the head of the queue, oldest first.
        let mut back: Vec<Record> = inflight.into_values().chain(unassigned).collect();
        back.sort_by_key(|r| r.created);
        let queued = {
            let mut q = lock(&shared.queue);
            q.inflight -= back.len();
            for r in back.into_iter().rev() {
                q.waiting.push_front(r);
            }
            q.waiting.len()
        };
        tracing::warn!(
            "MQTT broker unreachable ({error}); {queued} results queued, retrying in {backoff:?}"
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_parse() {
        assert_eq!(
            MqttConfig::parse_url("mqtt://127.0.0.1:1884").unwrap(),
            ("127.0.0.1".to_owned(), 1884, false)
        );
        assert_eq!(
            MqttConfig::parse_url("mqtts://broker.example").unwrap(),
            ("broker.example".to_owned(), 8883, true)
        );
        assert!(MqttConfig::parse_url("http://x:1").is_err());
        assert!(MqttConfig::parse_url("mqtt://x:port").is_err());
    }
}
