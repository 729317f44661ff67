// SPDX-License-Identifier: MPL-2.0
//! Reading the committed JSON fixtures of `tests/fixtures/` (written by the
//! training and reference scripts). GStreamer-free, unlike `common`, for
//! the tests of the core alone.
#![allow(dead_code)]

use serde_json::Value;

/// The parsed fixture `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// An array of arrays of numbers, as f32 rows.
pub fn f32_rows(v: &Value) -> Vec<Vec<f32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}
