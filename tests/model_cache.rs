// SPDX-License-Identifier: MPL-2.0
//! A model stays loaded after the last stream that used it ends, so an
//! application that runs one short file after another loads it once; only
//! the few models last asked for stay.
//!
//! Tests of their own binary, one at a time: models other tests load in
//! parallel would push theirs out.

mod common;

use std::sync::{Arc, Mutex};

use common::{demo_source, init, play, ModelCopy};
use emotiondetect_core::model::{ModelSource, Provider, SharedModel, KEEP_LOADED};
use gst::prelude::*;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run(description: &str) {
    let pipeline = gst::parse::launch(description).unwrap();
    play(&pipeline, |_| false);
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn the_models_last_asked_for_stay_loaded_and_only_they() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
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

#[test]
fn a_model_file_rewritten_under_its_old_modification_time_is_loaded_anew() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let model = ModelCopy::new("rewritten");
    let first = SharedModel::get(ModelSource::File(&model), Provider::Cpu, None).unwrap();
    // Another model of the same size: one letter of the producer's name
    // changed. Written in place, then given back the old modification time,
    // as `cp --preserve` or `rsync -t` of another build would.
    let modified = std::fs::metadata(&*model).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&*model).unwrap();
    let at = bytes
        .windows(15)
        .position(|w| w == b"training/export")
        .expect("the exporter names itself");
    bytes[at] = b'T';
    std::fs::write(&*model, &bytes).unwrap();
    let file = std::fs::File::options().write(true).open(&*model).unwrap();
    file.set_modified(modified).unwrap();
    drop(file);
    assert_eq!(
        std::fs::metadata(&*model).unwrap().modified().unwrap(),
        modified
    );
    let second = SharedModel::get(ModelSource::File(&model), Provider::Cpu, None).unwrap();
    assert!(!Arc::ptr_eq(&first, &second), "the old model was kept");
    // And the same file again, unchanged, is the instance just loaded.
    let third = SharedModel::get(ModelSource::File(&model), Provider::Cpu, None).unwrap();
    assert!(Arc::ptr_eq(&second, &third));
}
