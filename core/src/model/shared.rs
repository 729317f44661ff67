// SPDX-License-Identifier: MPL-2.0
//! One ONNX Runtime session per model and provider in the process, shared by
//! every stream that uses it, with requests from concurrent streams run as
//! one batch. On the CPU the few models last asked for stay loaded when no
//! stream holds them; a file changed on disk is loaded anew beside the old
//! version, which goes when its streams end or it leaves the few.
//!
//! Batching is flat combining: a stream queues its request, and whichever
//! stream gets the session runs everything queued with the same number of
//! frames in one call (at most [`MAX_BATCH`], oldest first), then hands
//! each stream its row. No thread of ours, no timer: a lone stream runs its
//! request at once, and a request waits only for the batches ahead of it.
//!
//! Nothing waits on purpose to gather a bigger batch: most of the gain of
//! batching comes with the second window, and the sleeps and wake-ups of a
//! deliberate wait cost more CPU than bigger batches save (README,
//! *Performance*).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::Thread;

use super::{Classifier, Logger, Model, ModelContract, ModelError, ModelSource, Provider};
use crate::sync::{lock, SharedCache};

/// The most sequences run in one call: beyond it the cost per window rises
/// again (README, *Performance*).
pub const MAX_BATCH: usize = 16;

/// Counters of the batches run so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchStats {
    /// Inference calls.
    pub calls: u64,
    /// Sequences classified by them.
    pub sequences: u64,
}

struct Job {
    id: u64,
    frames: usize,
    features: Vec<f32>,
    /// The thread waiting for the result, woken when it is published or
    /// when the job is the oldest left and the session becomes free.
    waiter: Thread,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    done: HashMap<u64, Result<Vec<f32>, String>>,
    next_id: u64,
    /// Buffers of finished jobs, reused for new ones.
    spare: Vec<Vec<f32>>,
    /// A stream is running a batch. Set and cleared under this lock, with
    /// the choice of whom to wake, so no stream parks unseen.
    running: bool,
    stats: BatchStats,
}

/// The one session of a shared model, with the batch buffers it reuses.
struct Session {
    model: Model,
    /// The batch's features, `batch × frames × n_features`.
    input: Vec<f32>,
    /// Its probabilities, `batch × n_labels`.
    output: Vec<f32>,
}

/// A model shared between streams.
pub struct SharedModel {
    contract: ModelContract,
    provider: Provider,
    library: PathBuf,
    n_labels: usize,
    n_features: usize,
    session: Mutex<Session>,
    queue: Mutex<Queue>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum SourceKey {
    Builtin(usize),
    File(PathBuf, FileVersion),
}

/// What tells one version of a file from another: its size and
/// modification time, and on Unix its device, inode and change time, which
/// no tool sets back: a file moved into its place is another version, and
/// so is one written again in place (or even given other permissions) once
/// the file system's clock has moved on.
#[derive(Clone, PartialEq, Eq, Hash)]
struct FileVersion {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    device: u64,
    #[cfg(unix)]
    inode: u64,
    #[cfg(unix)]
    changed: (i64, i64),
}

impl FileVersion {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        FileVersion {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            device: meta.dev(),
            #[cfg(unix)]
            inode: meta.ino(),
            #[cfg(unix)]
            changed: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    source: SourceKey,
    provider: Provider,
}

/// How many models stay loaded on the CPU when no stream holds them, unless
/// `EMOTIONDETECT_KEEP_MODELS` gives another number (0: none).
pub const KEEP_LOADED: usize = 4;

/// Every model loaded, shared by the streams that use it; on the CPU the
/// [`KEEP_LOADED`] most recent pairs of model and provider (both built-in
/// models and two files, say) stay loaded when no stream holds them.
/// Loading a model (ONNX Runtime's session and its graph optimisation) costs
/// more CPU than analysing a few seconds of audio, so an application that
/// runs one short file after another would otherwise load it again for
/// each (README, *Performance*). GPU sessions are not kept: their device
/// memory is not ours to hold, and a GPU may come or go between streams.
static MODELS: LazyLock<SharedCache<Key, SharedModel>> = LazyLock::new(|| {
    SharedCache::new(
        std::env::var("EMOTIONDETECT_KEEP_MODELS")
            .ok()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(KEEP_LOADED),
    )
});

impl SharedModel {
    /// The shared instance for this model and provider, loading it if no
    /// stream holds it and it is not among the models kept loaded
    /// ([`KEEP_LOADED`]). A file is identified by its path and
    /// [`FileVersion`], so an edited or replaced file is loaded anew.
    pub fn get(
        source: ModelSource<'_>,
        provider: Provider,
        logger: Option<Logger>,
    ) -> Result<Arc<Self>, ModelError> {
        let key = Key {
            source: match source {
                ModelSource::Builtin(i) => SourceKey::Builtin(i),
                ModelSource::File(path) => {
                    let meta = std::fs::metadata(path).map_err(|e| ModelError::Read {
                        source_name: source.name(),
                        reason: e.to_string(),
                    })?;
                    SourceKey::File(path.to_path_buf(), FileVersion::of(&meta))
                }
            },
            provider,
        };
        MODELS.get_or_build(key, provider == Provider::Cpu, || {
            let model = Model::load(source, provider, logger)?;
            Ok(SharedModel {
                contract: model.contract().clone(),
                provider: model.provider(),
                library: model.library().to_path_buf(),
                n_labels: model.n_labels(),
                n_features: model.contract().features.n_features(),
                session: Mutex::new(Session {
                    model,
                    input: Vec::new(),
                    output: Vec::new(),
                }),
                queue: Mutex::new(Queue::default()),
            })
        })
    }

    pub fn contract(&self) -> &ModelContract {
        &self.contract
    }

    pub fn provider(&self) -> Provider {
        self.provider
    }

    pub fn library(&self) -> &std::path::Path {
        &self.library
    }

    pub fn n_labels(&self) -> usize {
        self.n_labels
    }

    /// Classifies one sequence of `frames` frames, batched with whatever
    /// other streams submit meanwhile.
    ///
    /// Waiting threads are parked and woken one by one (their result is
    /// out, or their job is the oldest left when the session frees up),
    /// never all at once: with a thousand streams, a broadcast would wake a
    /// thousand threads per batch.
    pub fn classify(
        &self,
        features: &[f32],
        frames: usize,
        out: &mut [f32],
    ) -> Result<(), ModelError> {
        let id = {
            let mut q = lock(&self.queue);
            let id = q.next_id;
            q.next_id += 1;
            let mut buf = q.spare.pop().unwrap_or_default();
            buf.clear();
            buf.extend_from_slice(features);
            q.jobs.push(Job {
                id,
                frames,
                features: buf,
                waiter: std::thread::current(),
            });
            id
        };
        loop {
            {
                let mut q = lock(&self.queue);
                if let Some(result) = q.done.remove(&id) {
                    return match result {
                        Ok(probs) => {
                            out.copy_from_slice(&probs);
                            q.spare.push(probs);
                            Ok(())
                        }
                        Err(e) => Err(ModelError::Inference(e)),
                    };
                }
                if q.running {
                    // Someone else runs a batch: woken when our result is
                    // out or our job is the oldest left.
                    drop(q);
                    std::thread::park();
                    continue;
                }
                q.running = true;
            }
            self.run_batch();
        }
    }

    /// Counters of the batches run so far.
    pub fn batch_stats(&self) -> BatchStats {
        lock(&self.queue).stats
    }

    /// Takes the session, runs the queued jobs that share the first job's
    /// frame count, and publishes their results.
    fn run_batch(&self) {
        let batch: Vec<Job> = {
            let mut q = lock(&self.queue);
            let Some(frames) = q.jobs.first().map(|j| j.frames) else {
                q.running = false;
                return;
            };
            // Oldest first, so the oldest job left leads the next batch.
            let (mut taken, mut left) = (Vec::new(), Vec::with_capacity(q.jobs.len()));
            for job in q.jobs.drain(..) {
                if job.frames == frames && taken.len() < MAX_BATCH {
                    taken.push(job);
                } else {
                    left.push(job);
                }
            }
            q.jobs = left;
            taken
        };
        let mut session = lock(&self.session);
        let Session {
            model,
            input,
            output,
        } = &mut *session;
        let frames = batch[0].frames;
        input.clear();
        for job in &batch {
            input.extend_from_slice(&job.features);
        }
        output.clear();
        output.resize(batch.len() * self.n_labels, 0.0);
        let result = if input.len() == batch.len() * frames * self.n_features {
            // A panic must not leave `running` set, or every stream would
            // park for good: it fails this batch instead.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                model.run(input, batch.len(), frames, output)
            }))
            .unwrap_or_else(|_| Err(ModelError::Inference("ONNX Runtime call panicked".into())))
            .map_err(|e| e.to_string())
        } else {
            Err(format!(
                "a request does not hold {frames} frames of {} features",
                self.n_features
            ))
        };
        let mut q = lock(&self.queue);
        q.stats.calls += 1;
        q.stats.sequences += batch.len() as u64;
        let mut wake = Vec::with_capacity(batch.len() + 1);
        for (k, job) in batch.into_iter().enumerate() {
            wake.push(job.waiter);
            let row = match &result {
                Ok(()) => {
                    let mut buf = job.features;
                    buf.clear();
                    buf.extend_from_slice(&output[k * self.n_labels..(k + 1) * self.n_labels]);
                    Ok(buf)
                }
                Err(e) => Err(e.clone()),
            };
            q.done.insert(job.id, row);
        }
        // The oldest job left runs the next batch. Decided with `running`
        // cleared under the same lock: a stream that queues after this
        // finds nobody running and runs its own.
        q.running = false;
        wake.extend(q.jobs.first().map(|j| j.waiter.clone()));
        drop(q);
        drop(session);
        let me = std::thread::current().id();
        for t in wake.into_iter().filter(|t| t.id() != me) {
            t.unpark();
        }
    }
}

impl std::fmt::Debug for SharedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedModel")
            .field("contract", &self.contract)
            .field("provider", &self.provider)
            .finish()
    }
}

impl Classifier for Arc<SharedModel> {
    fn classify(
        &mut self,
        features: &[f32],
        frames: usize,
        out: &mut [f32],
    ) -> Result<(), ModelError> {
        SharedModel::classify(self, features, frames, out)
    }
}
