// SPDX-License-Identifier: MPL-2.0
//! What the gateway tests share: a real Mosquitto broker on a free loopback
//! port, the gateway binary, an MQTT subscriber, and a WebSocket client
//! that speaks the Twilio Media Streams protocol with real speech.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use emotiondetect_gateway::twilio::{build, MediaFormat};

pub const WAIT: Duration = Duration::from_secs(60);

/// 8 kHz μ-law of the bundled speech (14.5 s, four RAVDESS clips).
pub fn speech() -> &'static [u8] {
    static SPEECH: OnceLock<Vec<u8>> = OnceLock::new();
    SPEECH.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/demo-speech.wav");
        emotiondetect_gateway::speech::mulaw_8k(&path).expect("demo speech")
    })
}

/// A loopback port nothing listens on, never the same twice in this
/// process: the listener is closed before a broker or gateway binds the
/// port, and the system may give a closed port to the next caller (a test
/// on another thread), whose server would then fail to bind it.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if GIVEN.lock().unwrap().insert(port) {
            return port;
        }
    }
}

fn wait_port(port: u16) {
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A Mosquitto broker of its own: loopback port, temp config, in-memory
/// state saved to its temp directory when stopped (so a persistent
/// subscriber session survives a restart).
pub struct Broker {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Broker {
    pub fn start() -> Broker {
        Self::on(free_port())
    }

    /// A broker with a second listener on `tls_port` speaking TLS, with a
    /// certificate for 127.0.0.1 signed by a CA made for the test; returns
    /// the CA's PEM file too.
    pub fn start_tls() -> (Broker, u16, PathBuf) {
        let port = free_port();
        let tls_port = free_port();
        let mut b = Broker::on_with(port, |dir| {
            let run = |args: &[&str]| {
                let ok = Command::new("openssl")
                    .args(args)
                    .current_dir(dir)
                    .stderr(Stdio::null())
                    .status()
                    .expect("openssl")
                    .success();
                assert!(ok, "openssl {args:?}");
            };
            run(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=emotiondetect test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ]);
            run(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ]);
            std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
            run(&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                "ext.cnf",
                "-out",
                "server.pem",
            ]);
            for f in ["server.key", "server.pem", "ca.pem"] {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644))
                    .unwrap();
            }
            format!(
                "listener {tls_port} 127.0.0.1\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n",
                d = dir.display()
            )
        });
        b.resume_wait(tls_port);
        let ca = b.dir.join("ca.pem");
        (b, tls_port, ca)
    }

    /// A broker that will listen on `port` when [`Broker::resume`]d.
    pub fn on(port: u16) -> Broker {
        Self::on_with(port, |_| String::new())
    }

    fn on_with(port: u16, extra: impl FnOnce(&Path) -> String) -> Broker {
        let dir = std::env::temp_dir().join(format!(
            "emotiondetect-gw-mosquitto-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // Run as root, mosquitto drops to its own user, which must be able
        // to save its state here.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
                 persistence_location {}/\nautosave_interval 0\nmax_queued_messages 0\n\
                 log_dest stderr\nlog_type error\n{}",
                dir.display(),
                extra(&dir)
            ),
        )
        .unwrap();
        let mut b = Broker {
            port,
            dir,
            child: None,
        };
        b.resume_wait(port);
        b
    }

    pub fn resume(&mut self) {
        self.resume_wait(self.port);
    }

    fn resume_wait(&mut self, port: u16) {
        if self.child.is_some() {
            wait_port(port);
            return;
        }
        let mosquitto = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("mosquitto installed (scripts/setup.sh)");
        let child = Command::new(mosquitto)
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        self.child = Some(child);
        wait_port(port);
    }

    /// Stops the broker (SIGTERM, so it saves its sessions).
    pub fn pause(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The gateway binary, its log collected.
pub struct Gateway {
    pub addr: SocketAddr,
    child: Child,
    pub log: Arc<Mutex<String>>,
}

impl Gateway {
    pub fn start(broker_url: &str, extra: &[&str]) -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_emotiondetect-gateway"))
            .args(["--listen", "127.0.0.1:0", "--mqtt", broker_url])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the gateway starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_owned();
                    let _ = tx.send(addr);
                }
                let mut l = l.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("gateway did not listen: {}", log.lock().unwrap()))
            .parse()
            .unwrap();
        Gateway { addr, child, log }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/media", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// GET `path`: the status code and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(self.addr).expect("gateway reachable");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map_or("", |b| b.1).to_owned();
        (code, body)
    }

    /// A metric's value from `/metrics`.
    pub fn metric(&self, name: &str) -> f64 {
        let (_, body) = self.get("/metrics");
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in\n{body}"))
    }

    /// Waits up to 10 s for the metric to read `value` (a call's slot is
    /// given back just after its last message is published), and returns
    /// what it read last.
    pub fn settled_metric(&self, name: &str, value: f64) -> f64 {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let read = self.metric(name);
            if read == value || Instant::now() > until {
                return read;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn terminate(&self) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let until = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < until, "gateway did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message the subscriber received.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub json: Value,
}

/// A real MQTT subscriber to `emotiondetect/#`, with a persistent session
/// so what is published while it is cut off reaches it later.
#[derive(Clone)]
pub struct Subscriber {
    pub messages: Arc<Mutex<Vec<Received>>>,
}

impl Subscriber {
    pub async fn connect(broker: &Broker, filter: &str) -> Subscriber {
        let id = format!("test-sub-{}-{}", std::process::id(), broker.port);
        let mut o = MqttOptions::new(id, "127.0.0.1", broker.port);
        o.set_clean_session(false)
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut events) = AsyncClient::new(o, 64);
        client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("subscribe queued");
        let messages = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let mut ready = Some(ready_tx);
        let m = messages.clone();
        tokio::spawn(async move {
            let _client = client;
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        let json = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                        m.lock().unwrap().push(Received {
                            topic: p.topic.clone(),
                            json,
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        let sub = Subscriber { messages };
        sub.await_ready(ready_rx).await;
        sub
    }

    async fn await_ready(&self, ready: tokio::sync::oneshot::Receiver<()>) {
        tokio::time::timeout(WAIT, ready)
            .await
            .expect("subscribed in time")
            .expect("subscriber alive");
    }

    pub fn all(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    /// The messages on `PREFIX/calls/CALL/KIND`.
    pub fn of(&self, call: &str, kind: &str) -> Vec<Value> {
        let suffix = format!("/calls/{call}/{kind}");
        self.all()
            .into_iter()
            .filter(|m| m.topic.ends_with(&suffix))
            .map(|m| m.json)
            .collect()
    }

    /// Waits for the call's final status (ended or failed).
    pub async fn final_status(&self, call: &str) -> Value {
        let until = Instant::now() + WAIT;
        loop {
            if let Some(s) = self
                .of(call, "status")
                .into_iter()
                .find(|s| s["status"] == "ended" || s["status"] == "failed")
            {
                return s;
            }
            assert!(
                Instant::now() < until,
                "no final status of {call}: {:?}",
                self.all()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A telephony platform's side of one call.
pub struct Call {
    pub ws: Ws,
    pub call_sid: String,
    pub stream_sid: String,
    sequence: u64,
    chunks: [u64; 2],
}

pub const TRACKS: [&str; 2] = ["inbound", "outbound"];

impl Call {
    pub async fn connect(url: &str, call_sid: &str) -> Call {
        Self::connect_with(url, call_sid, None)
            .await
            .expect("upgrade accepted")
    }

    pub async fn connect_with(
        url: &str,
        call_sid: &str,
        bearer: Option<&str>,
    ) -> Result<Call, tokio_tungstenite::tungstenite::Error> {
        let mut request = url.into_client_request()?;
        if let Some(t) = bearer {
            request
                .headers_mut()
                .insert("Authorization", format!("Bearer {t}").parse().unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Call {
            ws,
            call_sid: call_sid.to_owned(),
            stream_sid: format!("MZ{call_sid}"),
            sequence: 0,
            chunks: [0; 2],
        })
    }

    pub async fn send(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.expect("frame sent");
    }

    /// `connected` and a `start` with both tracks in telephone format.
    pub async fn start(&mut self) {
        self.start_with(&MediaFormat::telephone()).await;
    }

    pub async fn start_with(&mut self, format: &MediaFormat) {
        self.send(build::connected()).await;
        let start = build::start(
            &self.stream_sid,
            &self.call_sid,
            &TRACKS,
            &serde_json::json!({"campaign": "test", "agentId": "42"}),
            format,
        );
        self.send(start).await;
    }

    /// One 20 ms frame of `track` at `ms`.
    pub async fn frame(&mut self, track: usize, ms: u64, audio: &[u8]) {
        self.sequence += 1;
        self.chunks[track] += 1;
        let text = build::media(
            &self.stream_sid,
            self.sequence,
            TRACKS[track],
            self.chunks[track],
            ms,
            audio,
        );
        self.send(text).await;
    }

    /// `seconds` of speech on both tracks from `from_ms`, as fast as it goes.
    pub async fn speak(&mut self, from_ms: u64, seconds: f64) {
        let s = speech();
        let frames = (seconds * 50.0) as u64;
        for i in 0..frames {
            let ms = from_ms + i * 20;
            let at = (ms as usize * 8) % (s.len() - 160);
            for track in 0..2 {
                // The agent speaks the same speech a second later.
                let at = if track == 0 {
                    at
                } else {
                    (at + 8000) % (s.len() - 160)
                };
                self.frame(track, ms, &s[at..at + 160]).await;
            }
        }
    }

    pub async fn stop(&mut self) {
        let text = build::stop(&self.stream_sid, &self.call_sid);
        self.send(text).await;
    }

    /// Reads until the server closes: its close code and reason.
    pub async fn closed(&mut self) -> Option<(u16, String)> {
        let until = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(until, self.ws.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Ok(None) => return None,
                Err(_) => panic!("the server did not close the connection"),
            }
        }
    }
}

pub fn code(c: u16) -> u16 {
    u16::from(CloseCode::from(c))
}
