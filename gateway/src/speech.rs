// SPDX-License-Identifier: MPL-2.0
//! Speech for the load generator and the tests: any audio file decoded,
//! resampled to 8 kHz mono and μ-law encoded, as a telephone would send it.

use std::path::Path;

use gst::prelude::*;

/// The file's audio as 8 kHz μ-law bytes, one per sample.
pub fn mulaw_8k(path: &Path) -> Result<Vec<u8>, String> {
    gst::init().map_err(|e| e.to_string())?;
    let location = path.to_str().ok_or("path not UTF-8")?;
    // pushfilesrc makes the file push its data: pulled, GStreamer 1.22's
    // wavparse drops a WAV whose data chunk has an odd length, and
    // `filesrc ! queue ! decodebin` can deadlock at the start.
    let description = "pushfilesrc name=src ! decodebin ! audioconvert ! audioresample ! \
         audio/x-raw,rate=8000,channels=1 ! mulawenc ! appsink name=sink sync=false";
    let pipeline = gst::parse::launch(description)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    pipeline
        .by_name("src")
        .ok_or("no pushfilesrc")?
        .set_property("location", location);
    let sink = pipeline
        .by_name("sink")
        .ok_or("no appsink")?
        .downcast::<gst_app::AppSink>()
        .map_err(|_| "not an appsink")?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    let result = loop {
        match sink.pull_sample() {
            Ok(sample) => {
                if let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) {
                    out.extend_from_slice(&map);
                }
            }
            Err(_) => {
                let bus = pipeline.bus().ok_or("no bus")?;
                let error =
                    bus.pop_filtered(&[gst::MessageType::Error])
                        .and_then(|m| match m.view() {
                            gst::MessageView::Error(e) => Some(e.error().to_string()),
                            _ => None,
                        });
                break match error {
                    Some(e) => Err(format!("{}: {e}", path.display())),
                    None => Ok(()),
                };
            }
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    if out.is_empty() {
        return Err(format!("{}: no audio", path.display()));
    }
    Ok(out)
}
