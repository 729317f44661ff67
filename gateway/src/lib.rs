// SPDX-License-Identifier: MPL-2.0
//! emotiondetect-gateway: live phone calls in over WebSocket in the Twilio
//! Media Streams format, the `emotiondetect` element on each track, and
//! every result out to MQTT.
//!
//! The library holds the parts the binary, the load generator and the tests
//! share; the plugin crate itself never links any of this.

pub mod call;
pub mod metrics;
pub mod pipeline;
pub mod server;
pub mod sink;
pub mod speech;
pub mod twilio;
