// SPDX-License-Identifier: MPL-2.0
//! A model stays loaded after the last stream that used it ends, so an
//! application that runs one short file after another loads it once; only
//! the few models last asked for stay, and none with
//! `EMOTIONDETECT_KEEP_MODELS=0`.
//!
//! Tests of their own binary, one at a time: models other tests load in
//! parallel would push theirs out. They expect the default number kept.

mod common;

use std::sync::{Arc, Mutex};

use common::{demo_source, run_pipeline, ModelCopy};
use emotiondetect_core::model::{ModelSource, Provider, SharedModel, KEEP_LOADED};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn get(model: &ModelCopy) -> Arc<SharedModel> {
    SharedModel::get(ModelSource::File(model), Provider::Cpu, None).unwrap()
}

#[test]
fn the_models_last_asked_for_stay_loaded_and_only_they() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let model = ModelCopy::new("kept");
    // With `model-file` the element asks for that model alone.
    let description = format!(
        "{} ! emotiondetect model-file={} ! fakesink",
        demo_source(),
        model.display()
    );
    // Two files, one after the other; nothing else holds the model between
    // them. The instance asked for after them is the one both ran on (each
    // file sends the model the same windows), not one loaded again.
    run_pipeline(&description, None);
    run_pipeline(&description, None);
    let kept = get(&model);
    let two_files = kept.batch_stats().sequences;
    assert!(two_files > 0 && two_files.is_multiple_of(2), "{two_files}");
    let weak = Arc::downgrade(&kept);
    drop(kept);
    run_pipeline(&description, None);
    let kept = weak.upgrade().expect("released with its last user");
    assert_eq!(kept.batch_stats().sequences * 2, two_files * 3);
    drop(kept);

    // As many other models as stay loaded, each asked for and released:
    // the first is the oldest then, and is released with its last user.
    let others: Vec<ModelCopy> = (0..KEEP_LOADED)
        .map(|k| ModelCopy::new(&format!("other-{k}")))
        .collect();
    for (k, other) in others.iter().enumerate() {
        drop(get(other));
        if k + 1 < KEEP_LOADED {
            assert!(weak.upgrade().is_some(), "released after {} others", k + 1);
        }
    }
    assert!(
        weak.upgrade().is_none(),
        "still loaded after {KEEP_LOADED} others"
    );
    // Asked for again, it is loaded anew: fresh counters.
    assert_eq!(get(&model).batch_stats().sequences, 0);
}

#[test]
fn a_model_file_replaced_under_its_old_modification_time_is_loaded_anew() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let model = ModelCopy::new("replaced");
    let first = get(&model);
    // Another model of the same size (one letter of the producer's name
    // changed), written beside it with the old modification time, as
    // `cp --preserve` or `rsync -t` of another build would, and moved into
    // its place.
    let modified = std::fs::metadata(&*model).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&*model).unwrap();
    let at = bytes
        .windows(15)
        .position(|w| w == b"training/export")
        .expect("the exporter names itself");
    bytes[at] = b'T';
    let next = model.with_extension("next");
    std::fs::write(&next, &bytes).unwrap();
    let file = std::fs::File::options().write(true).open(&next).unwrap();
    file.set_modified(modified).unwrap();
    drop(file);
    std::fs::rename(&next, &*model).unwrap();
    assert_eq!(
        std::fs::metadata(&*model).unwrap().modified().unwrap(),
        modified
    );
    let second = get(&model);
    assert!(!Arc::ptr_eq(&first, &second), "the old model was kept");
    // And the same file again, unchanged, is the instance just loaded.
    assert!(Arc::ptr_eq(&second, &get(&model)));
}

#[test]
fn no_model_stays_loaded_with_emotiondetect_keep_models_0() {
    const NAME: &str = "no_model_stays_loaded_with_emotiondetect_keep_models_0";
    if std::env::var_os("EMOTIONDETECT_KEEP_MODELS").is_some_and(|n| n == "0") {
        // This binary again, run by the test below with the variable set.
        let model = ModelCopy::new("not-kept");
        let weak = Arc::downgrade(&get(&model));
        assert!(weak.upgrade().is_none(), "kept with none to keep");
        return;
    }
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .env("EMOTIONDETECT_KEEP_MODELS", "0")
        .args(["--exact", NAME, "--test-threads=1"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(out.contains("1 passed"), "{out}");
}
