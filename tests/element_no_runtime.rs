// SPDX-License-Identifier: MPL-2.0
//! Without ONNX Runtime the element fails to start with an error naming
//! what was tried and how to point at a library. In a process of its own:
//! the library is loaded at most once per process.

mod common;

use common::*;
use gst::prelude::*;

#[test]
fn a_missing_onnx_runtime_is_an_element_error_that_says_where_it_looked() {
    std::env::set_var("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.31.1");
    init();
    let pipeline =
        gst::parse::launch("audiotestsrc num-buffers=5 ! emotiondetect name=d ! fakesink").unwrap();
    assert!(pipeline.set_state(gst::State::Playing).is_err());
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Error])
        .expect("an error message");
    pipeline.set_state(gst::State::Null).unwrap();
    let gst::MessageView::Error(e) = msg.view() else {
        unreachable!()
    };
    let text = e.error().to_string();
    assert!(
        e.error().matches(gst::LibraryError::Init),
        "{:?}",
        e.error()
    );
    assert!(text.contains("ONNX Runtime could not be loaded"), "{text}");
    assert!(
        text.contains("/nonexistent/libonnxruntime.so.1.31.1"),
        "{text}"
    );
    assert!(text.contains("set ORT_DYLIB_PATH"), "{text}");
}
