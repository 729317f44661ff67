// SPDX-License-Identifier: MPL-2.0
//! The HTTP side: `/media` (the WebSocket of each call), `/healthz`
//! (ready: 503 while draining), `/livez`, `/metrics`, the connection limit
//! and the shared-secret check.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use emotiondetect_core::model::SharedModel;

use crate::call::{self, close, CallContext};
use crate::metrics::InferenceStats;

const READ_BUFFER: usize = 4096;

pub struct Gateway {
    pub calls: Arc<CallContext>,
    pub max_calls: u64,
    pub token: Option<String>,
    pub max_frame_bytes: usize,
    pub draining: AtomicBool,
    pub model: Option<Arc<SharedModel>>,
}

pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/media", get(media))
        .route("/healthz", get(healthz))
        .route("/livez", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(gateway)
}

async fn healthz(State(gw): State<Arc<Gateway>>) -> Response {
    if gw.draining.load(Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else {
        "ok\n".into_response()
    }
}

async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    let inference = gw.model.as_ref().map(|m| {
        let s = m.batch_stats();
        InferenceStats {
            batches: s.calls,
            sequences: s.sequences,
        }
    });
    let body = gw
        .calls
        .metrics
        .render(inference, gw.draining.load(Relaxed));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn media(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    if gw.draining.load(Relaxed) {
        gw.calls.metrics.calls_refused.fetch_add(1, Relaxed);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "gateway draining: connect to another instance\n",
        )
            .into_response();
    }
    if let Some(token) = &gw.token {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let given = bearer.or(query.get("token").map(String::as_str));
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            gw.calls.metrics.calls_refused.fetch_add(1, Relaxed);
            return (StatusCode::UNAUTHORIZED, "a valid token is required\n").into_response();
        }
    }
    // Twilio's frames are about 400 bytes: a small read buffer (the
    // default is 128 KiB, cleared on every read) saves most of the memset
    // time a busy gateway spent.
    ws.read_buffer_size(READ_BUFFER)
        .max_message_size(gw.max_frame_bytes)
        .max_frame_size(gw.max_frame_bytes)
        .on_upgrade(move |socket| accept(socket, gw))
}

async fn accept(mut socket: WebSocket, gw: Arc<Gateway>) {
    let metrics = &gw.calls.metrics;
    let refusal = if gw.draining.load(Relaxed) {
        Some((
            close::GOING_AWAY,
            "gateway draining: connect to another instance".to_owned(),
        ))
    } else if metrics
        .active_calls
        .fetch_update(Relaxed, Relaxed, |n| (n < gw.max_calls).then_some(n + 1))
        .is_err()
    {
        Some((
            close::TRY_AGAIN_LATER,
            format!("max-calls reached: {} calls active", gw.max_calls),
        ))
    } else {
        None
    };
    if let Some((code, reason)) = refusal {
        metrics.calls_refused.fetch_add(1, Relaxed);
        tracing::warn!("call refused: {reason}");
        let _ = socket
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })))
            .await;
        return;
    }
    // In a task of its own, so even a bug that panics ends only this call
    // and its slot is given back.
    if let Err(e) = tokio::spawn(call::run(socket, gw.calls.clone())).await {
        metrics.calls_failed.fetch_add(1, Relaxed);
        tracing::error!("a call's task failed: {e}");
    }
    metrics.active_calls.fetch_sub(1, Relaxed);
}

/// Compares secrets in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
