// SPDX-License-Identifier: MPL-2.0
//! The Twilio Media Streams protocol: the JSON text frames a telephony
//! platform sends over the WebSocket, and builders for them (used by the
//! load generator and the tests).
//!
//! Twilio sends numbers such as `sequenceNumber`, `chunk` and `timestamp`
//! as strings; other platforms send numbers. Both are accepted.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// One frame from the platform.
#[derive(Debug, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event<'a> {
    Connected,
    Start {
        #[serde(rename = "streamSid", default)]
        stream_sid: Option<String>,
        start: Start,
    },
    Media {
        #[serde(borrow)]
        media: Media<'a>,
    },
    Mark,
    Dtmf,
    Stop,
    /// Anything else: ignored (and counted), so a platform adding events
    /// does not break calls.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Start {
    #[serde(default)]
    pub stream_sid: Option<String>,
    pub call_sid: String,
    #[serde(default)]
    pub account_sid: Option<String>,
    #[serde(default = "default_tracks")]
    pub tracks: Vec<String>,
    #[serde(default)]
    pub custom_parameters: BTreeMap<String, serde_json::Value>,
    pub media_format: MediaFormat,
}

fn default_tracks() -> Vec<String> {
    vec!["inbound".to_owned()]
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MediaFormat {
    pub encoding: String,
    #[serde(deserialize_with = "number")]
    pub sample_rate: u64,
    #[serde(deserialize_with = "number")]
    pub channels: u64,
}

impl MediaFormat {
    pub fn telephone() -> Self {
        MediaFormat {
            encoding: "audio/x-mulaw".to_owned(),
            sample_rate: 8000,
            channels: 1,
        }
    }
}

/// A `media` frame, read without going through [`Event`].
#[derive(Debug, Deserialize)]
pub struct MediaFrame<'a> {
    #[serde(borrow)]
    pub event: Cow<'a, str>,
    #[serde(borrow)]
    pub media: Media<'a>,
}

#[derive(Debug, Deserialize)]
pub struct Media<'a> {
    #[serde(default)]
    pub track: Option<Cow<'a, str>>,
    #[serde(deserialize_with = "number")]
    pub chunk: u64,
    #[serde(deserialize_with = "number")]
    pub timestamp: u64,
    #[serde(borrow)]
    pub payload: Cow<'a, str>,
}

/// A number, or a string holding one.
fn number<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num<'a> {
        N(u64),
        S(&'a str),
        O(String),
    }
    match Num::deserialize(d)? {
        Num::N(n) => Ok(n),
        Num::S(s) => s.trim().parse().map_err(serde::de::Error::custom),
        Num::O(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

/// The `event` of a frame that parsed as [`Event::Unknown`], for the log.
pub fn event_name(text: &str) -> String {
    #[derive(Deserialize)]
    struct Name {
        event: serde_json::Value,
    }
    serde_json::from_str::<Name>(text)
        .map(|n| n.event.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// Builders of the frames a platform sends, in Twilio's spelling.
pub mod build {
    use super::MediaFormat;
    use base64::Engine as _;
    use serde_json::json;

    pub fn connected() -> String {
        json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string()
    }

    pub fn start(
        stream_sid: &str,
        call_sid: &str,
        tracks: &[&str],
        custom_parameters: &serde_json::Value,
        format: &MediaFormat,
    ) -> String {
        json!({
            "event": "start",
            "sequenceNumber": "1",
            "start": {
                "accountSid": "ACemotiondetect",
                "streamSid": stream_sid,
                "callSid": call_sid,
                "tracks": tracks,
                "customParameters": custom_parameters,
                "mediaFormat": format,
            },
            "streamSid": stream_sid,
        })
        .to_string()
    }

    pub fn media(
        stream_sid: &str,
        sequence: u64,
        track: &str,
        chunk: u64,
        timestamp_ms: u64,
        mulaw: &[u8],
    ) -> String {
        json!({
            "event": "media",
            "sequenceNumber": sequence.to_string(),
            "media": {
                "track": track,
                "chunk": chunk.to_string(),
                "timestamp": timestamp_ms.to_string(),
                "payload": base64::engine::general_purpose::STANDARD.encode(mulaw),
            },
            "streamSid": stream_sid,
        })
        .to_string()
    }

    pub fn mark(stream_sid: &str, name: &str) -> String {
        json!({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}}).to_string()
    }

    pub fn dtmf(stream_sid: &str, digit: &str) -> String {
        json!({"event": "dtmf", "streamSid": stream_sid,
               "dtmf": {"track": "inbound_track", "digit": digit}})
        .to_string()
    }

    pub fn stop(stream_sid: &str, call_sid: &str) -> String {
        json!({"event": "stop", "streamSid": stream_sid,
               "stop": {"accountSid": "ACemotiondetect", "callSid": call_sid}})
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_frames_parse_with_numbers_as_strings() {
        let start = build::start(
            "MZ1",
            "CA1",
            &["inbound", "outbound"],
            &serde_json::json!({"agent": "7"}),
            &MediaFormat::telephone(),
        );
        match serde_json::from_str::<Event>(&start).unwrap() {
            Event::Start { start, .. } => {
                assert_eq!(start.call_sid, "CA1");
                assert_eq!(start.tracks, ["inbound", "outbound"]);
                assert_eq!(start.media_format, MediaFormat::telephone());
            }
            other => panic!("{other:?}"),
        }
        let media = build::media("MZ1", 3, "outbound", 2, 40, &[0xff; 160]);
        let fast = serde_json::from_str::<MediaFrame>(&media).unwrap();
        assert_eq!((fast.event.as_ref(), fast.media.chunk), ("media", 2));
        match serde_json::from_str::<Event>(&media).unwrap() {
            Event::Media { media } => {
                assert_eq!((media.chunk, media.timestamp), (2, 40));
                assert_eq!(media.track.as_deref(), Some("outbound"));
            }
            other => panic!("{other:?}"),
        }
        let unknown = r#"{"event":"transcript","text":"hi"}"#;
        assert!(matches!(
            serde_json::from_str::<Event>(unknown).unwrap(),
            Event::Unknown
        ));
        assert_eq!(event_name(unknown), "\"transcript\"");
    }

    #[test]
    fn numbers_are_accepted_as_numbers() {
        let media = r#"{"event":"media","media":{"chunk":1,"timestamp":20,"payload":"AA=="}}"#;
        assert!(matches!(
            serde_json::from_str::<Event>(media).unwrap(),
            Event::Media { .. }
        ));
    }
}
