// SPDX-License-Identifier: MPL-2.0
//! Loading ONNX Runtime from the documented lookup, in a process of its own
//! (the library is loaded once per process, so this file holds one test).
//!
//! Needs `scripts/setup.sh` (the current library) and a C compiler (`cc`),
//! which builds a stand-in for an old ONNX Runtime: PyPI's wheels before 1.17
//! do not ship `libonnxruntime.so` on its own.

use std::path::{Path, PathBuf};
use std::process::Command;

use emotiondetect_core::model::{runtime, Model, ModelSource, Provider};

/// A library exporting ONNX Runtime's entry point, reporting version 1.10.0.
fn old_runtime(dir: &Path) -> PathBuf {
    let src = dir.join("fake_ort.c");
    let lib = dir.join("libonnxruntime.so.1.10.0");
    std::fs::write(
        &src,
        "typedef struct { const void *(*get_api)(unsigned); const char *(*version)(void); } Base;\n\
         static const void *get_api(unsigned v) { (void)v; return 0; }\n\
         static const char *version(void) { return \"1.10.0\"; }\n\
         static const Base base = { get_api, version };\n\
         const Base *OrtGetApiBase(void) { return &base; }\n",
    )
    .unwrap();
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .expect("a C compiler (cc) is needed for this test");
    assert!(status.success());
    lib
}

#[test]
fn library_errors_name_what_was_tried_then_the_lookup_succeeds() {
    // Only this test touches the environment in this process.
    let load = || Model::load(ModelSource::DEFAULT, Provider::Cpu, None);

    std::env::set_var("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so");
    let err = load().unwrap_err().to_string();
    assert!(err.contains("ONNX Runtime could not be loaded"), "{err}");
    assert!(err.contains("/nonexistent/libonnxruntime.so"), "{err}");
    assert!(err.contains("ORT_DYLIB_PATH"), "{err}");

    // A shared library that is not ONNX Runtime.
    let not_ort = [
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("libz is part of every Debian system");
    std::env::set_var("ORT_DYLIB_PATH", not_ort);
    let err = load().unwrap_err().to_string();
    assert!(err.contains("does not export `OrtGetApiBase`"), "{err}");

    // An ONNX Runtime older than the API this build needs.
    let dir = std::env::temp_dir().join(format!("emotiondetect-ort-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let old = old_runtime(&dir);
    std::env::set_var("ORT_DYLIB_PATH", &old);
    let err = load().unwrap_err().to_string();
    assert!(err.contains("expected version >= '1.17.x'"), "{err}");
    assert!(err.contains("1.10.0"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();

    // Unset: the setup location is found.
    std::env::remove_var("ORT_DYLIB_PATH");
    let expected = runtime::candidates()[0].clone();
    let model = load().unwrap();
    assert_eq!(model.library(), expected);
}
