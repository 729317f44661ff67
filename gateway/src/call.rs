// SPDX-License-Identifier: MPL-2.0
//! One call: the WebSocket of a Twilio media stream, its pipeline, and the
//! records it publishes.
//!
//! Whatever a connection sends, only its own call is affected: a frame the
//! gateway cannot accept ends the call with status `failed` and the reason,
//! after the audio received so far has been analysed and summarised.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, watch};

use crate::metrics::Metrics;
use crate::pipeline::{CallPipeline, ElementSettings, Report, ResultKind, RATE};
use crate::sink::{Kind, Record, Sink};
use crate::twilio::{self, Event};

/// WebSocket close codes (RFC 6455).
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const UNSUPPORTED: u16 = 1003;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL: u16 = 1011;
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// Media timestamps beyond this (about 31 years of call) are refused: the
/// arithmetic on them and their nanosecond buffer times could not hold.
const MAX_TIMESTAMP_MS: u64 = 1_000_000_000_000;

/// How calls are handled; the same for every call.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// Track name to speaker name.
    pub speakers: BTreeMap<String, String>,
    pub element: ElementSettings,
    /// Audio gathered into one buffer at most, between window ends.
    pub max_buffer: Duration,
    /// How long the end of a call waits for its summaries.
    pub end_timeout: Duration,
}

/// What every call shares.
pub struct CallContext {
    pub config: CallConfig,
    pub sink: Arc<dyn Sink>,
    pub metrics: Arc<Metrics>,
    /// Turns true when the drain timeout has passed: open calls end now.
    pub cut_off: watch::Receiver<bool>,
}

/// How a call ends.
struct End {
    failed: bool,
    reason: String,
    /// The close frame to send, when the gateway closes the connection.
    close: Option<(u16, String)>,
}

impl End {
    fn ended(reason: &str, close: Option<u16>) -> Self {
        End {
            failed: false,
            reason: reason.to_owned(),
            close: close.map(|c| (c, reason.to_owned())),
        }
    }
    fn failed(reason: String, close: Option<u16>) -> Self {
        End {
            failed: true,
            close: close.map(|c| (c, reason.clone())),
            reason,
        }
    }
}

/// One track of a started call.
struct Track {
    name: String,
    speaker: String,
    last_chunk: Option<u64>,
    last_timestamp: Option<u64>,
    /// Audio gathered for the next buffer, and the time of its first sample.
    pending: Vec<u8>,
    pending_start_ms: u64,
    /// Where the audio received so far ends.
    end_ms: Option<u64>,
    /// The next instant a window of the element ends.
    next_window_end_ms: u64,
    discont: bool,
}

impl Track {
    /// A track before its first media frame.
    fn new(name: String, speaker: String) -> Self {
        Track {
            name,
            speaker,
            last_chunk: None,
            last_timestamp: None,
            pending: Vec::new(),
            pending_start_ms: 0,
            end_ms: None,
            next_window_end_ms: 0,
            discont: false,
        }
    }
}

struct Started {
    call_sid: String,
    stream_sid: String,
    custom: Value,
    tracks: Vec<Track>,
    pipeline: CallPipeline,
    reports: mpsc::UnboundedReceiver<Report>,
    began: Instant,
    frames: u64,
    out_of_order: u64,
    ignored: u64,
}

/// Runs a call to its end. The caller has counted it as active.
pub async fn run(mut ws: WebSocket, ctx: Arc<CallContext>) {
    let mut cut_off = ctx.cut_off.clone();
    let mut call: Option<Started> = None;
    let mut scratch = Vec::with_capacity(4096);
    let mut ignored_before_start = 0u64;
    let end = loop {
        let reports = async {
            match call.as_mut() {
                Some(c) => c.reports.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = ws.recv() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None => {
                        break End::failed("connection closed without stop".to_owned(), None);
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => {
                        let text = e.to_string();
                        if text.contains("too long") || text.contains("Space limit") {
                            break End::failed(format!("frame too large: {text}"), Some(close::TOO_BIG));
                        }
                        break End::failed(format!("connection closed without stop: {text}"), None);
                    }
                };
                match handle_text(&text, &mut call, &ctx, &mut scratch).await {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Ignored) => {
                        if let Some(c) = call.as_mut() { c.ignored += 1 } else { ignored_before_start += 1 }
                    }
                    Ok(Flow::Stop) => break End::ended("stop", Some(close::NORMAL)),
                    Err(end) => break end,
                }
            }
            report = reports => match report {
                Some(Report::Result { kind, track, fields, at }) => {
                    if let Some(c) = call.as_ref() { publish_result(c, &ctx, kind, track, fields, at) }
                }
                Some(Report::Error(e)) => break End::failed(format!("analysis failed: {e}"), Some(close::INTERNAL)),
                Some(Report::Eos) | None => break End::failed("analysis ended early".to_owned(), Some(close::INTERNAL)),
            },
            _ = async { let _ = cut_off.wait_for(|c| *c).await; } => {
                break End::failed("gateway shut down before the call ended (drain timeout)".to_owned(), Some(close::GOING_AWAY));
            }
        }
    };
    if end.failed {
        tracing::warn!(
            call = call.as_ref().map_or("-", |c| c.call_sid.as_str()),
            "call failed: {}",
            end.reason
        );
    }
    let close_frame = end.close.clone();
    match call {
        Some(c) => finish(c, end, &ctx).await,
        None => {
            if end.failed {
                ctx.metrics.calls_failed.fetch_add(1, Relaxed);
            }
            tracing::info!(
                ignored = ignored_before_start,
                "connection ended before a start: {}",
                end.reason
            );
        }
    }
    // Closed once everything of the call is handed to the sink.
    if let Some((code, reason)) = close_frame {
        let _ = ws
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: truncate(&reason, 120).into(),
            })))
            .await;
    }
}

enum Flow {
    Continue,
    Ignored,
    Stop,
}

async fn handle_text(
    text: &str,
    call: &mut Option<Started>,
    ctx: &Arc<CallContext>,
    scratch: &mut Vec<u8>,
) -> Result<Flow, End> {
    // Nearly every frame is a media frame: read it straight into its
    // struct, without the buffering an internally tagged enum needs.
    let fast = serde_json::from_str::<twilio::MediaFrame>(text)
        .ok()
        .filter(|f| f.event == "media");
    let event = match fast {
        Some(f) => Ok(Event::Media { media: f.media }),
        None => serde_json::from_str::<Event>(text),
    };
    let event = event.map_err(|e| {
        End::failed(
            format!("malformed frame: {}", truncate(&e.to_string(), 80)),
            Some(close::INVALID_PAYLOAD),
        )
    })?;
    match event {
        Event::Connected | Event::Mark | Event::Dtmf => Ok(Flow::Continue),
        Event::Stop => Ok(Flow::Stop),
        Event::Unknown => {
            ctx.metrics.events_ignored.fetch_add(1, Relaxed);
            tracing::debug!("ignored the unknown event {}", twilio::event_name(text));
            Ok(Flow::Ignored)
        }
        Event::Start { stream_sid, start } => {
            if call.is_some() {
                return Err(End::failed(
                    "a second start on one stream".to_owned(),
                    Some(close::POLICY),
                ));
            }
            *call = Some(begin(stream_sid, start, ctx).await?);
            Ok(Flow::Continue)
        }
        Event::Media { media } => {
            let Some(c) = call.as_mut() else {
                return Err(End::failed(
                    "media before start".to_owned(),
                    Some(close::POLICY),
                ));
            };
            ctx.metrics.media_frames.fetch_add(1, Relaxed);
            c.frames += 1;
            let t = match media.track.as_deref() {
                None => 0,
                Some(name) => match c.tracks.iter().position(|t| t.name == name) {
                    Some(t) => t,
                    None => {
                        ctx.metrics.events_ignored.fetch_add(1, Relaxed);
                        return Ok(Flow::Ignored);
                    }
                },
            };
            scratch.clear();
            base64::engine::general_purpose::STANDARD
                .decode_vec(media.payload.as_bytes(), scratch)
                .map_err(|e| {
                    End::failed(
                        format!(
                            "bad base64 in media chunk {} of track {}: {e}",
                            media.chunk, c.tracks[t].name
                        ),
                        Some(close::INVALID_PAYLOAD),
                    )
                })?;
            if media.timestamp > MAX_TIMESTAMP_MS {
                return Err(End::failed(
                    format!(
                        "media timestamp {} ms out of range (chunk {})",
                        media.timestamp, media.chunk
                    ),
                    Some(close::INVALID_PAYLOAD),
                ));
            }
            let track = &mut c.tracks[t];
            let backwards = track.last_chunk.is_some_and(|l| media.chunk <= l)
                || track.last_timestamp.is_some_and(|l| media.timestamp < l);
            if backwards {
                c.out_of_order += 1;
                ctx.metrics.frames_out_of_order.fetch_add(1, Relaxed);
                if c.out_of_order == 1 {
                    tracing::warn!(
                        call = c.call_sid,
                        "out-of-order media on track {} (chunk {} at {} ms): dropped",
                        track.name,
                        media.chunk,
                        media.timestamp
                    );
                }
                return Ok(Flow::Continue);
            }
            track.last_chunk = Some(media.chunk);
            track.last_timestamp = Some(media.timestamp);
            let to_push = track.add(
                media.timestamp,
                scratch,
                &ctx.config.element,
                ctx.config.max_buffer,
            );
            for (pts, audio, discont) in to_push {
                c.pipeline
                    .push(t, pts, audio, discont)
                    .map_err(|e| End::failed(e, Some(close::INTERNAL)))?;
            }
            Ok(Flow::Continue)
        }
    }
}

/// Checks a start and brings up its pipeline.
async fn begin(
    stream_sid: Option<String>,
    start: twilio::Start,
    ctx: &Arc<CallContext>,
) -> Result<Started, End> {
    let stream_sid = start.stream_sid.or(stream_sid).unwrap_or_default();
    let custom = serde_json::to_value(&start.custom_parameters).unwrap_or(Value::Null);
    let call_sid = start.call_sid;
    let status = |fields: Value| {
        let mut v = json!({
            "type": "status",
            "callSid": call_sid,
            "streamSid": stream_sid,
            "customParameters": custom,
            "time": unix_ms(),
        });
        if let (Value::Object(m), Value::Object(f)) = (&mut v, fields) {
            m.extend(f);
        }
        v
    };
    ctx.metrics.calls_total.fetch_add(1, Relaxed);
    let fail = |reason: String, code: u16| {
        ctx.metrics.calls_failed.fetch_add(1, Relaxed);
        publish(
            ctx,
            &call_sid,
            Kind::Status,
            &status(json!({"status": "failed", "reason": reason})),
            Instant::now(),
        );
        End::failed(reason, Some(code))
    };
    let f = &start.media_format;
    if !f.encoding.eq_ignore_ascii_case("audio/x-mulaw") || f.sample_rate != RATE || f.channels != 1
    {
        return Err(fail(
            format!(
                "unsupported mediaFormat {} {} Hz {} channel(s): the gateway takes audio/x-mulaw 8000 Hz mono",
                f.encoding, f.sample_rate, f.channels
            ),
            close::UNSUPPORTED,
        ));
    }
    if call_sid.is_empty() || call_sid.contains(['/', '+', '#']) {
        return Err(fail(
            "callSid empty or not usable in a topic".to_owned(),
            close::POLICY,
        ));
    }
    let mut names = start.tracks.clone();
    names.dedup();
    if names.is_empty() || names.len() > 2 {
        return Err(fail(
            format!("{} tracks: expected one or two", names.len()),
            close::POLICY,
        ));
    }
    let speakers: Vec<String> = names
        .iter()
        .map(|n| {
            ctx.config
                .speakers
                .get(n)
                .cloned()
                .unwrap_or_else(|| n.clone())
        })
        .collect();
    let (tx, reports) = mpsc::unbounded_channel();
    let settings = ctx.config.element.clone();
    let sp = speakers.clone();
    let pipeline = tokio::task::spawn_blocking(move || CallPipeline::start(&sp, &settings, tx))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
        .map_err(|e| fail(e, close::INTERNAL))?;
    let tracks = names
        .into_iter()
        .zip(speakers)
        .map(|(name, speaker)| Track::new(name, speaker))
        .collect::<Vec<_>>();
    let speakers_json: Map<String, Value> = tracks
        .iter()
        .map(|t| (t.name.clone(), Value::from(t.speaker.clone())))
        .collect();
    publish(
        ctx,
        &call_sid,
        Kind::Status,
        &status(json!({"status": "started", "tracks": speakers_json})),
        Instant::now(),
    );
    tracing::info!(call = call_sid, stream = stream_sid, "call started");
    Ok(Started {
        call_sid,
        stream_sid,
        custom,
        tracks,
        pipeline,
        reports,
        began: Instant::now(),
        frames: 0,
        out_of_order: 0,
        ignored: 0,
    })
}

impl Track {
    /// Adds a frame's audio; returns the buffers to push now. Audio is
    /// gathered up to `max_buffer`, but a buffer is cut at every instant a
    /// window of the element ends, so results are not delayed.
    fn add(
        &mut self,
        timestamp_ms: u64,
        audio: &[u8],
        element: &ElementSettings,
        max_buffer: Duration,
    ) -> Vec<(gst::ClockTime, Vec<u8>, bool)> {
        let mut out = Vec::new();
        let samples_per_ms = RATE / 1000;
        let window_ms = element.window.as_millis() as u64;
        let interval_ms = (element.interval.as_millis() as u64).max(1);
        let gap = match self.end_ms {
            None => true,
            // The element's own tolerance before it calls a jump a gap.
            Some(end) => timestamp_ms.abs_diff(end) > 40,
        };
        if gap {
            if self.end_ms.is_some() {
                out.extend(self.flush());
                self.discont = true;
            }
            self.next_window_end_ms = timestamp_ms + window_ms;
        }
        if self.pending.is_empty() {
            self.pending_start_ms = timestamp_ms;
        }
        self.pending.extend_from_slice(audio);
        let end = self.pending_start_ms + self.pending.len() as u64 / samples_per_ms;
        self.end_ms = Some(timestamp_ms + audio.len() as u64 / samples_per_ms);
        if end >= self.next_window_end_ms {
            while self.next_window_end_ms <= end {
                self.next_window_end_ms += interval_ms;
            }
            out.extend(self.flush());
        } else if self.pending.len() as u64 >= max_buffer.as_millis() as u64 * samples_per_ms {
            out.extend(self.flush());
        }
        out
    }

    fn flush(&mut self) -> Option<(gst::ClockTime, Vec<u8>, bool)> {
        if self.pending.is_empty() {
            return None;
        }
        let audio = std::mem::replace(&mut self.pending, Vec::with_capacity(2048));
        let discont = std::mem::take(&mut self.discont);
        Some((
            gst::ClockTime::from_mseconds(self.pending_start_ms),
            audio,
            discont,
        ))
    }
}

/// Ends the pipeline, publishes what it still reports (the summaries),
/// then the call's final status.
async fn finish(mut c: Started, end: End, ctx: &Arc<CallContext>) {
    let mut error = None;
    for t in 0..c.tracks.len() {
        if let Some((pts, audio, discont)) = c.tracks[t].flush() {
            if let Err(e) = c.pipeline.push(t, pts, audio, discont) {
                error = Some(e);
            }
        }
    }
    c.pipeline.end();
    let deadline = tokio::time::Instant::now() + ctx.config.end_timeout;
    let mut complete = false;
    loop {
        match tokio::time::timeout_at(deadline, c.reports.recv()).await {
            Ok(Some(Report::Result {
                kind,
                track,
                fields,
                at,
            })) => publish_result(&c, ctx, kind, track, fields, at),
            Ok(Some(Report::Eos)) => {
                complete = true;
                break;
            }
            Ok(Some(Report::Error(e))) => {
                error = Some(e);
                break;
            }
            Ok(None) | Err(_) => break,
        }
    }
    let pipeline = c.pipeline;
    let _ = tokio::task::spawn_blocking(move || drop(pipeline)).await;
    let (failed, reason) = match (end.failed, error) {
        (true, _) => (true, end.reason),
        (false, Some(e)) => (true, format!("analysis failed at the end: {e}")),
        (false, None) => (false, end.reason),
    };
    if failed {
        ctx.metrics.calls_failed.fetch_add(1, Relaxed);
    }
    let status = json!({
        "type": "status",
        "status": if failed { "failed" } else { "ended" },
        "reason": reason,
        "callSid": c.call_sid,
        "streamSid": c.stream_sid,
        "customParameters": c.custom,
        "time": unix_ms(),
        "seconds": c.began.elapsed().as_secs_f64(),
        "mediaFrames": c.frames,
        "outOfOrderFrames": c.out_of_order,
        "ignoredEvents": c.ignored,
        "summariesComplete": complete,
    });
    publish(ctx, &c.call_sid, Kind::Status, &status, Instant::now());
    tracing::info!(
        call = c.call_sid,
        failed,
        frames = c.frames,
        "call over: {reason}"
    );
}

fn publish_result(
    c: &Started,
    ctx: &CallContext,
    kind: ResultKind,
    track: usize,
    mut fields: Map<String, Value>,
    at: Instant,
) {
    let (kind, name) = match kind {
        ResultKind::Emotion => {
            ctx.metrics.windows_classified.fetch_add(1, Relaxed);
            (Kind::Emotion, "emotion")
        }
        ResultKind::Segment => (Kind::Segment, "segment"),
        ResultKind::Summary => (Kind::Summary, "summary"),
    };
    let t = c.tracks.get(track);
    fields.insert("type".into(), name.into());
    fields.insert("callSid".into(), c.call_sid.clone().into());
    fields.insert("streamSid".into(), c.stream_sid.clone().into());
    fields.insert(
        "track".into(),
        t.map_or(Value::Null, |t| t.name.clone().into()),
    );
    fields.insert(
        "speaker".into(),
        t.map_or(Value::Null, |t| t.speaker.clone().into()),
    );
    fields.insert("customParameters".into(), c.custom.clone());
    publish(ctx, &c.call_sid, kind, &Value::Object(fields), at);
}

fn publish(ctx: &CallContext, call_sid: &str, kind: Kind, payload: &Value, at: Instant) {
    ctx.sink.submit(Record {
        call_sid: call_sid.to_owned(),
        kind,
        payload: serde_json::to_vec(payload).unwrap_or_default(),
        created: at,
    });
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track() -> Track {
        Track::new("inbound".into(), "customer".into())
    }

    const ELEMENT: ElementSettings = ElementSettings {
        window: Duration::from_secs(3),
        interval: Duration::from_secs(1),
        model_file: None,
        non_speech_bias: 0.0,
    };

    #[test]
    fn buffers_are_cut_at_window_ends_and_gaps() {
        let mut t = track();
        let mut pushed = Vec::new();
        for i in 0..300u64 {
            // 20 ms frames; a 1 s gap after 2 s.
            let ts = if i < 100 { i * 20 } else { i * 20 + 1000 };
            for (pts, audio, discont) in
                t.add(ts, &[0u8; 160], &ELEMENT, Duration::from_millis(100))
            {
                pushed.push((pts.mseconds(), audio.len() as u64 / 8, discont));
            }
        }
        // Contiguous 100 ms buffers, the first after the gap flagged.
        assert_eq!(pushed[0], (0, 100, false));
        assert_eq!(pushed[19], (1900, 100, false));
        assert_eq!(pushed[20], (3000, 100, true));
        // A window ends 3 s after the stretch starts (6000 ms): a buffer
        // ends there exactly.
        assert!(pushed.iter().any(|&(pts, ms, _)| pts + ms == 6000));
        let total: u64 = pushed.iter().map(|p| p.1).sum();
        assert_eq!(total + t.pending.len() as u64 / 8, 6000);
    }
}
