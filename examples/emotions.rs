// SPDX-License-Identifier: MPL-2.0
//! Runs an audio file through `emotiondetect` and prints one JSON object
//! per result (`emotion` and the final `emotion-summary`), or with
//! `--pretty`, one readable line per result.
//!
//!     cargo run --release --example emotions -- call.wav [--pretty] [element properties…]
//!
//! Extra arguments of the form `name=value` are set on the element, e.g.
//! `interval=500000000`.

use std::io::Write;
use std::process::ExitCode;

use gst::prelude::*;
use serde_json::{json, Map, Value};

#[path = "common/properties.rs"]
mod properties;
use properties::set_property;

fn field_to_json(value: &gst::glib::SendValue) -> Value {
    if let Ok(v) = value.get::<u64>() {
        // GST_CLOCK_TIME_NONE stays null rather than 2^64 - 1.
        return if v == u64::MAX { Value::Null } else { json!(v) };
    }
    if let Ok(v) = value.get::<i32>() {
        return json!(v);
    }
    if let Ok(v) = value.get::<u32>() {
        return json!(v);
    }
    if let Ok(v) = value.get::<f64>() {
        return json!(v);
    }
    if let Ok(v) = value.get::<String>() {
        return json!(v);
    }
    if let Ok(a) = value.get::<gst::Array>() {
        return Value::Array(a.iter().map(field_to_json).collect());
    }
    json!(format!("{value:?}"))
}

fn structure_to_json(s: &gst::StructureRef) -> Value {
    let mut map = Map::new();
    map.insert("type".into(), json!(s.name().as_str()));
    for (name, value) in s.iter() {
        map.insert(name.to_string(), field_to_json(value));
    }
    Value::Object(map)
}

fn pretty(s: &gst::StructureRef) -> String {
    let secs = |field: &str| s.get::<u64>(field).map_or(0.0, |t| t as f64 / 1e9);
    let who = s
        .get::<&str>("speaker")
        .map(|n| format!("{n:>9} "))
        .unwrap_or_default();
    if s.name() == "emotion-segment" {
        return format!(
            "{who}segment {:6.1} – {:6.1} s  {:<10} {:.2}  ({} windows)",
            secs("start"),
            secs("end"),
            s.get::<&str>("emotion").unwrap_or("?"),
            s.get::<f64>("confidence").unwrap_or(0.0),
            s.get::<u32>("windows").unwrap_or(0)
        );
    }
    let (start, duration) = (secs("timestamp"), secs("duration"));
    let head = if s.name() == "emotion-summary" {
        format!(
            "{who}summary {:>3} windows ",
            s.get::<u32>("windows").unwrap_or(0)
        )
    } else {
        format!("{who}{:6.1} – {:6.1} s     ", start, start + duration)
    };
    let (Ok(emotion), Ok(labels), Ok(probs)) = (
        s.get::<&str>("emotion"),
        s.get::<gst::Array>("labels"),
        s.get::<gst::Array>("probabilities"),
    ) else {
        return format!("{head}no speech classified");
    };
    let mut ranked: Vec<(String, f64)> = labels
        .iter()
        .zip(probs.iter())
        .filter_map(|(l, p)| Some((l.get::<String>().ok()?, p.get::<f64>().ok()?)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let others: Vec<String> = ranked
        .iter()
        .skip(1)
        .take(2)
        .map(|(l, p)| format!("{l} {p:.2}"))
        .collect();
    format!(
        "{head}{emotion:<10} {:.2}   (then {})",
        s.get::<f64>("confidence").unwrap_or(0.0),
        others.join(", ")
    )
}

fn run(path: &str, pretty_output: bool, props: &[String]) -> Result<(), String> {
    gst::init().map_err(|e| e.to_string())?;
    gstemotiondetect::plugin_register_static().map_err(|e| e.to_string())?;
    let pipeline = gst::Pipeline::new();
    let make = |name: &str| {
        gst::ElementFactory::make(name)
            .build()
            .map_err(|e| format!("{name}: {e}"))
    };
    // pushfilesrc makes the file push its data: pulled (filesrc !
    // decodebin), GStreamer 1.22's wavparse drops a WAV whose data chunk has
    // an odd length (8-bit and G.711 audio with an odd number of samples) and
    // the file gives no audio at all. A queue after filesrc pushes too, but
    // on 1.22 `filesrc ! queue ! decodebin` deadlocks at the start on some
    // files (sizes, not contents: tests/examples.rs).
    let src = gst::ElementFactory::make("pushfilesrc")
        .property("location", path)
        .build()
        .map_err(|e| format!("pushfilesrc (gstreamer1.0-plugins-good): {e}"))?;
    let decode = make("decodebin")?;
    let convert = make("audioconvert")?;
    let resample = make("audioresample")?;
    let detect = make("emotiondetect")?;
    for prop in props {
        set_property(&detect, prop)?;
    }
    let sink = make("fakesink")?;
    pipeline
        .add_many([&src, &decode, &convert, &resample, &detect, &sink])
        .map_err(|e| e.to_string())?;
    src.link(&decode).map_err(|e| e.to_string())?;
    gst::Element::link_many([&convert, &resample, &detect, &sink]).map_err(|e| e.to_string())?;
    let convert_weak = convert.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let Some(convert) = convert_weak.upgrade() else {
            return;
        };
        let sink = convert
            .static_pad("sink")
            .expect("audioconvert has a sink pad");
        if !sink.is_linked() {
            let _ = pad.link(&sink);
        }
    });

    if pipeline.set_state(gst::State::Playing).is_err() {
        let bus = pipeline.bus().expect("pipelines have a bus");
        let error = bus.pop_filtered(&[gst::MessageType::Error]);
        let text = match error.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Error(e)) => e.error().to_string(),
            _ => "the pipeline failed to start".to_string(),
        };
        let _ = pipeline.set_state(gst::State::Null);
        return Err(text);
    }
    let bus = pipeline.bus().expect("pipelines have a bus");
    let mut stdout = std::io::stdout().lock();
    let mut result = Ok(());
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure().filter(|s| s.name().starts_with("emotion")) {
                    let line = if pretty_output {
                        pretty(s)
                    } else {
                        structure_to_json(s).to_string()
                    };
                    // A closed stdout (`| head`) ends the run quietly.
                    if writeln!(stdout, "{line}").is_err() {
                        break;
                    }
                }
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                result = Err(format!("{} ({:?})", e.error(), e.debug()));
                break;
            }
            _ => {}
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pretty_output = args.iter().any(|a| a == "--pretty");
    let rest: Vec<&String> = args.iter().filter(|a| *a != "--pretty").collect();
    let Some(path) = rest.first() else {
        eprintln!("usage: emotions FILE [--pretty] [property=value …]");
        return ExitCode::from(2);
    };
    let props: Vec<String> = rest[1..].iter().map(|s| s.to_string()).collect();
    match run(path, pretty_output, &props) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("emotions: {e}");
            ExitCode::FAILURE
        }
    }
}
