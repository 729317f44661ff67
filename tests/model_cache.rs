// SPDX-License-Identifier: MPL-2.0
//! A model stays loaded after the last stream that used it ends, so an
//! application that runs one short file after another loads it once; only
//! the few models last asked for stay.
//!
//! One test in its own binary: the models other tests load in parallel
//! would otherwise push this one's out.

mod common;

use std::sync::Arc;

use common::{demo_source, init, play, ModelCopy};
use emotiondetect_core::model::{ModelSource, Provider, SharedModel, KEEP_LOADED};
use gst::prelude::*;

fn run(description: &str) {
    let pipeline = gst::parse::launch(description).unwrap();
    play(&pipeline, |_| false);
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn the_models_last_asked_for_stay_loaded_and_only_they() {
    init();
    let model = ModelCopy::new("kept");
    let description = format!(
        "{} ! emotiondetect model-file={} ! fakesink",
        demo_source(),
        model.display()
    );
    // Two files, one after the other; nothing else holds the model between
    // them. The instance asked for after them is the one both ran on (each
    // file sends the model the same windows), not one loaded again.
    run(&description);
    run(&description);
    let kept = SharedModel::get(ModelSource::File(&model), Provider::Cpu, None).unwrap();
    let two_files = kept.batch_stats().sequences;
    assert!(two_files > 0 && two_files.is_multiple_of(2), "{two_files}");
    let address = Arc::as_ptr(&kept);
    let weak = Arc::downgrade(&kept);
    drop(kept);
    run(&description);
    let kept = weak.upgrade().expect("released with its last user");
    assert_eq!(kept.batch_stats().sequences * 2, two_files * 3);
    drop(kept);

    // As many other models as stay loaded, each asked for and released:
    // the first is the oldest then, and is released with its last user.
    let others: Vec<ModelCopy> = (0..KEEP_LOADED)
        .map(|k| ModelCopy::new(&format!("other-{k}")))
        .collect();
    for (k, other) in others.iter().enumerate() {
        let shared = SharedModel::get(ModelSource::File(other), Provider::Cpu, None).unwrap();
        assert!(!std::ptr::eq(Arc::as_ptr(&shared), address));
        drop(shared);
        if k + 1 < KEEP_LOADED {
            assert!(weak.upgrade().is_some(), "released after {} others", k + 1);
        }
    }
    assert!(
        weak.upgrade().is_none(),
        "still loaded after {KEEP_LOADED} others"
    );
    // Asked for again, it is loaded anew: fresh counters.
    let again = SharedModel::get(ModelSource::File(&model), Provider::Cpu, None).unwrap();
    assert_eq!(again.batch_stats().sequences, 0);
}
