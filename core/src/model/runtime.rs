// SPDX-License-Identifier: MPL-2.0
//! Loading ONNX Runtime's shared library, once per process.
//!
//! Lookup order (the first that loads wins):
//! 1. `$ORT_DYLIB_PATH`, if set: then nothing else is tried;
//! 2. `$EMOTIONDETECT_ORT_DIR/libonnxruntime.so`, else
//!    `${XDG_DATA_HOME:-$HOME/.local/share}/emotiondetect/onnxruntime/libonnxruntime.so`
//!    (where `scripts/setup.sh` puts it);
//! 3. `libonnxruntime.so.1` and `libonnxruntime.so` on the system library path.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ort::environment::Environment;

pub use ort::logging::LogLevel;

/// Receives ONNX Runtime's own log lines: level, category, message.
pub type Logger = Arc<dyn Fn(LogLevel, &str, &str) + Send + Sync>;

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime could not be loaded; tried: {tried}. Run scripts/setup.sh, or set ORT_DYLIB_PATH to \
         libonnxruntime.so version 1.{min_minor} or newer"
    )]
    NotFound { tried: String, min_minor: u32 },
    #[error("ONNX Runtime environment could not be created: {0}")]
    Environment(String),
}

static ENVIRONMENT: Mutex<Option<(Environment, PathBuf)>> = Mutex::new(None);

/// Candidate library paths, in lookup order.
pub fn candidates() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    let mut out = Vec::new();
    let dir = std::env::var_os("EMOTIONDETECT_ORT_DIR")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_DATA_HOME")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
                .map(|d| d.join("emotiondetect/onnxruntime"))
        });
    if let Some(dir) = dir {
        out.push(dir.join("libonnxruntime.so"));
    }
    out.push(PathBuf::from("libonnxruntime.so.1"));
    out.push(PathBuf::from("libonnxruntime.so"));
    out
}

/// The process-wide ONNX Runtime environment, loading the library on first
/// use. A failed load is not cached: a later call tries again. The logger
/// of the first successful call stays installed.
pub fn environment(logger: Option<Logger>) -> Result<(Environment, PathBuf), RuntimeError> {
    let mut guard = crate::sync::lock(&ENVIRONMENT);
    if let Some((env, path)) = guard.as_ref() {
        return Ok((env.clone(), path.clone()));
    }
    let mut tried = Vec::new();
    for path in candidates() {
        let builder = match ort::init_from(&path) {
            Ok(b) => b,
            Err(e) => {
                tried.push(format!("{} ({e})", path.display()));
                continue;
            }
        };
        let builder = builder.with_name("emotiondetect").with_telemetry(false);
        let builder =
            match logger {
                Some(log) => builder.with_logger(Arc::new(
                    move |level, category, _id, _location, message| log(level, category, message),
                )),
                None => builder,
            };
        let env = builder
            .build()
            .map_err(|e| RuntimeError::Environment(e.to_string()))?;
        *guard = Some((env.clone(), path.clone()));
        return Ok((env, path));
    }
    Err(RuntimeError::NotFound {
        tried: tried.join("; "),
        min_minor: ort::MINOR_VERSION,
    })
}
