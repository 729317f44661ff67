// SPDX-License-Identifier: MPL-2.0
//! The model: ONNX Runtime sessions, execution providers and the model
//! contract. No GStreamer types.
//!
//! The contract a model file must meet:
//! - one input `features`, float32 `[batch, time, n_features]`;
//! - an output `probabilities`, float32 `[batch, n_labels]`, after softmax;
//! - metadata `emotiondetect.format` = `1`, `emotiondetect.labels` (comma
//!   separated, in output order) and `emotiondetect.features` (the JSON of
//!   [`FeatureParams::to_json`]); `emotiondetect.evaluation` is optional,
//!   and so is `emotiondetect.adaptation` (the prior of speaker adaptation,
//!   see [`crate::adapt`]).

pub mod runtime;
mod shared;

use std::path::Path;

use ort::ep::{self, ExecutionProvider as _};
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::Session;
use ort::value::TensorRef;

use crate::adapt::{self, AdaptationPrior};
use crate::features::{FeatureError, FeatureParams};
pub use runtime::{LogLevel, Logger, RuntimeError};
pub use shared::{BatchStats, SharedModel, KEEP_LOADED, MAX_BATCH};

/// Something that turns one sequence of feature frames into the model's
/// output probabilities: the [`SharedModel`] in the element, a stand-in in
/// tests.
pub trait Classifier {
    /// `features` holds `frames × n_features` values; `out` receives one
    /// probability per label.
    fn classify(
        &mut self,
        features: &[f32],
        frames: usize,
        out: &mut [f32],
    ) -> Result<(), ModelError>;
}

/// A model compiled into the plugin.
#[derive(Debug)]
pub struct BuiltinModel {
    pub name: &'static str,
    /// The rate its contract declares, known without loading it: an
    /// element whose `sample-rate` is set loads only the model it can use
    /// (a test checks that every built-in model's contract agrees).
    pub sample_rate: u32,
    pub bytes: &'static [u8],
}

impl BuiltinModel {
    /// The built-in models for a sample rate (0: all), as sources to load.
    pub fn sources_for(rate: u32) -> impl Iterator<Item = ModelSource<'static>> {
        BUILTIN_MODELS
            .iter()
            .enumerate()
            .filter(move |(_, m)| rate == 0 || m.sample_rate == rate)
            .map(|(i, _)| ModelSource::Builtin(i))
    }
}

/// The models built into the plugin, the default first: ResLSTM-SA for
/// 16 kHz speech, and for 8 kHz narrowband (telephone) speech.
pub static BUILTIN_MODELS: &[BuiltinModel] = &[
    BuiltinModel {
        name: "reslstm-sa-16k",
        sample_rate: 16000,
        bytes: include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/reslstm-sa-16k.onnx"
        )),
    },
    BuiltinModel {
        name: "reslstm-sa-8k",
        sample_rate: 8000,
        bytes: include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/reslstm-sa-8k.onnx"
        )),
    },
];

pub const CONTRACT_FORMAT: &str = "1";
pub const INPUT_NAME: &str = "features";
pub const OUTPUT_NAME: &str = "probabilities";

/// The execution provider a user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Provider {
    #[default]
    Cpu,
    Cuda,
    TensorRt,
    /// The best available: TensorRT, then CUDA, then CPU.
    Auto,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::TensorRt => "tensorrt",
            Provider::Auto => "auto",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("cannot read {source_name}: {reason}")]
    Read { source_name: String, reason: String },
    #[error("{source_name} is not a loadable ONNX model: {reason}")]
    NotOnnx { source_name: String, reason: String },
    #[error("{source_name} does not follow the emotiondetect model contract: {reason}")]
    Contract { source_name: String, reason: String },
    #[error("execution provider {provider} is not available: {reason}")]
    ProviderUnavailable {
        provider: &'static str,
        reason: String,
    },
    #[error("ONNX Runtime session options: {0}")]
    Session(String),
    #[error("inference failed: {0}")]
    Inference(String),
}

/// The label of a model's non-speech output: a window where it is the most
/// probable label is not classified, and it is left out of the emotions.
pub const NON_SPEECH_LABEL: &str = "non-speech";

/// What the model declares about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelContract {
    /// Every output, in order (the emotions, and `non-speech` if the model
    /// has it).
    pub labels: Vec<String>,
    pub features: FeatureParams,
    /// The evaluation figures the model carries, as JSON, if any.
    pub evaluation: Option<String>,
    /// The training statistics speaker adaptation starts from; `None`: the
    /// model does not support it.
    pub adaptation: Option<AdaptationPrior>,
}

impl ModelContract {
    /// Reads and checks the contract from metadata entries.
    pub fn from_metadata(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let format = get("emotiondetect.format")
            .ok_or("metadata key emotiondetect.format is missing (not an emotiondetect model)")?;
        if format != CONTRACT_FORMAT {
            return Err(format!(
                "metadata emotiondetect.format is {format:?}; this build reads format {CONTRACT_FORMAT:?}"
            ));
        }
        let labels: Vec<String> = get("emotiondetect.labels")
            .ok_or("metadata key emotiondetect.labels is missing")?
            .split(',')
            .map(|l| l.trim().to_string())
            .collect();
        if labels.len() < 2 || labels.iter().any(String::is_empty) {
            return Err(format!("metadata emotiondetect.labels must name at least two non-empty labels, got {labels:?}"));
        }
        if (1..labels.len()).any(|i| labels[..i].contains(&labels[i])) {
            return Err(format!(
                "metadata emotiondetect.labels has duplicates: {labels:?}"
            ));
        }
        let features_json = get("emotiondetect.features")
            .ok_or("metadata key emotiondetect.features is missing")?;
        let features = FeatureParams::from_json(&features_json).map_err(|e: FeatureError| {
            format!("metadata emotiondetect.features cannot be produced by this extractor: {e}")
        })?;
        if labels.iter().filter(|l| *l != NON_SPEECH_LABEL).count() < 2 {
            return Err(format!(
                "metadata emotiondetect.labels must name at least two emotions besides {NON_SPEECH_LABEL}, got {labels:?}"
            ));
        }
        let adaptation = get(adapt::METADATA_KEY)
            .map(|json| AdaptationPrior::from_json(&json, features.n_features()))
            .transpose()
            .map_err(|e| format!("metadata {} is invalid: {e}", adapt::METADATA_KEY))?;
        Ok(ModelContract {
            labels,
            features,
            evaluation: get("emotiondetect.evaluation"),
            adaptation,
        })
    }

    /// The index of the `non-speech` output, if the model has one.
    pub fn non_speech(&self) -> Option<usize> {
        self.labels.iter().position(|l| l == NON_SPEECH_LABEL)
    }

    /// The emotion labels: every label but `non-speech`, in output order.
    pub fn emotions(&self) -> Vec<String> {
        self.labels
            .iter()
            .filter(|l| *l != NON_SPEECH_LABEL)
            .cloned()
            .collect()
    }
}

/// Where a model comes from.
#[derive(Debug, Clone, Copy)]
pub enum ModelSource<'a> {
    /// An index into [`BUILTIN_MODELS`].
    Builtin(usize),
    File(&'a Path),
}

impl ModelSource<'_> {
    /// The default model: the first built-in one.
    pub const DEFAULT: ModelSource<'static> = ModelSource::Builtin(0);

    pub fn name(&self) -> String {
        match self {
            ModelSource::Builtin(i) => match BUILTIN_MODELS.get(*i) {
                Some(m) => format!("built-in model {}", m.name),
                None => format!("built-in model #{i} (there are {})", BUILTIN_MODELS.len()),
            },
            ModelSource::File(p) => format!("model file {}", p.display()),
        }
    }
}

/// The largest model file read: the shipped models are about 200 KB, and
/// the contract's budget (50k parameters a member) keeps any ensemble far
/// below this.
pub const MAX_MODEL_FILE_BYTES: u64 = 256 << 20;

/// Reads a model file, refusing what is not a regular file (a device such
/// as `/dev/zero`, a FIFO, a directory) and files over
/// [`MAX_MODEL_FILE_BYTES`], before reading a byte.
fn read_model_file(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_MODEL_FILE_BYTES {
        return Err(format!(
            "{} bytes, more than the {} MiB a model may have",
            meta.len(),
            MAX_MODEL_FILE_BYTES >> 20
        ));
    }
    std::fs::read(path).map_err(|e| e.to_string())
}

/// A loaded model, ready to classify feature sequences.
pub struct Model {
    session: Session,
    contract: ModelContract,
    provider: Provider,
    library: std::path::PathBuf,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("contract", &self.contract)
            .field("provider", &self.provider)
            .finish()
    }
}

impl Model {
    /// Loads ONNX Runtime (if not yet loaded), the model, and checks its
    /// contract. A provider other than `Cpu` or `Auto` that cannot be used
    /// is an error, never a silent CPU run.
    pub fn load(
        source: ModelSource<'_>,
        provider: Provider,
        logger: Option<Logger>,
    ) -> Result<Self, ModelError> {
        let source_name = source.name();
        // Read the file before loading the runtime, so the user hears about
        // the first thing that is wrong with what they configured.
        let file_bytes;
        let bytes: &[u8] = match source {
            ModelSource::Builtin(i) => {
                BUILTIN_MODELS
                    .get(i)
                    .ok_or_else(|| ModelError::Read {
                        source_name: source_name.clone(),
                        reason: "no such built-in model".into(),
                    })?
                    .bytes
            }
            ModelSource::File(path) => {
                file_bytes = read_model_file(path).map_err(|reason| ModelError::Read {
                    source_name: source_name.clone(),
                    reason,
                })?;
                &file_bytes
            }
        };
        let (env, library) = runtime::environment(logger)?;
        let session_err = |e: ort::Error<SessionBuilder>| ModelError::Session(e.to_string());
        let builder = Session::builder(&env)
            .map_err(|e| ModelError::Session(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(session_err)?
            .with_intra_threads(1)
            .map_err(session_err)?
            .with_inter_threads(1)
            .map_err(session_err)?
            .with_intra_op_spinning(false)
            .map_err(session_err)?
            .with_inter_op_spinning(false)
            .map_err(session_err)?;
        let (mut builder, active) = register_provider(builder, provider, &library)?;
        let session = builder
            .commit_from_memory(bytes)
            .map_err(|e| ModelError::NotOnnx {
                source_name: source_name.clone(),
                reason: e.to_string(),
            })?;
        let contract = check_contract(&session).map_err(|reason| ModelError::Contract {
            source_name: source_name.clone(),
            reason,
        })?;
        if let ModelSource::Builtin(i) = source {
            let declared = BUILTIN_MODELS[i].sample_rate;
            if contract.features.sample_rate != declared {
                return Err(ModelError::Contract {
                    source_name,
                    reason: format!(
                        "a {} Hz model where the plugin declares {declared} Hz (a build error)",
                        contract.features.sample_rate
                    ),
                });
            }
        }
        Ok(Model {
            session,
            contract,
            provider: active,
            library,
        })
    }

    pub fn contract(&self) -> &ModelContract {
        &self.contract
    }

    /// The provider in use: never `Auto`.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The ONNX Runtime library this model runs on.
    pub fn library(&self) -> &Path {
        &self.library
    }

    pub fn n_labels(&self) -> usize {
        self.contract.labels.len()
    }

    /// Classifies `batch` sequences of `frames` frames each. `features` is
    /// `batch × frames × n_features`, `out` receives `batch × n_labels`
    /// probabilities.
    pub fn run(
        &mut self,
        features: &[f32],
        batch: usize,
        frames: usize,
        out: &mut [f32],
    ) -> Result<(), ModelError> {
        let n_features = self.contract.features.n_features();
        let n_labels = self.n_labels();
        if frames == 0
            || features.len() != batch * frames * n_features
            || out.len() != batch * n_labels
        {
            return Err(ModelError::Inference(format!(
                "shape mismatch: {} values for {batch}×{frames}×{n_features}, {} outputs for {batch}×{n_labels}",
                features.len(),
                out.len()
            )));
        }
        let input = TensorRef::from_array_view(([batch, frames, n_features], features))
            .map_err(|e| ModelError::Inference(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![INPUT_NAME => input])
            .map_err(|e| ModelError::Inference(e.to_string()))?;
        let (shape, probs) = outputs[OUTPUT_NAME]
            .try_extract_tensor::<f32>()
            .map_err(|e| ModelError::Inference(e.to_string()))?;
        if probs.len() != out.len() {
            return Err(ModelError::Inference(format!(
                "output {OUTPUT_NAME} has shape {shape:?}, expected [{batch}, {n_labels}]"
            )));
        }
        if probs.iter().any(|p| !p.is_finite()) {
            return Err(ModelError::Inference(
                "the model produced non-finite probabilities".into(),
            ));
        }
        out.copy_from_slice(probs);
        Ok(())
    }
}

fn register_provider(
    builder: SessionBuilder,
    provider: Provider,
    library: &Path,
) -> Result<(SessionBuilder, Provider), ModelError> {
    let gpu_hint = "point ORT_DYLIB_PATH at libonnxruntime.so from the onnxruntime-gpu wheel, on a machine with an NVIDIA GPU";
    // Gives the builder back either way, with the reason a provider failed.
    let try_register =
        |builder: SessionBuilder, which: Provider| -> (SessionBuilder, Result<(), String>) {
            let (available, dispatch) = match which {
                Provider::Cuda => (ep::CUDA::is_available(), ep::CUDA::default().build()),
                Provider::TensorRt => (
                    ep::TensorRT::is_available(),
                    ep::TensorRT::default().build(),
                ),
                Provider::Cpu | Provider::Auto => return (builder, Ok(())),
            };
            match available {
                Ok(true) => {}
                Ok(false) => {
                    let reason = format!(
                        "the ONNX Runtime library {} was built without it; {gpu_hint}",
                        library.display()
                    );
                    return (builder, Err(reason));
                }
                Err(e) => return (builder, Err(e.to_string())),
            }
            match builder.with_execution_providers([dispatch.error_on_failure()]) {
                Ok(b) => (b, Ok(())),
                Err(e) => {
                    let reason = e.to_string();
                    (e.recover(), Err(reason))
                }
            }
        };
    match provider {
        Provider::Cpu => Ok((builder, Provider::Cpu)),
        Provider::Cuda | Provider::TensorRt => match try_register(builder, provider) {
            (b, Ok(())) => Ok((b, provider)),
            (_, Err(reason)) => Err(ModelError::ProviderUnavailable {
                provider: provider.name(),
                reason,
            }),
        },
        Provider::Auto => {
            let mut builder = builder;
            for candidate in [Provider::TensorRt, Provider::Cuda] {
                match try_register(builder, candidate) {
                    (b, Ok(())) => return Ok((b, candidate)),
                    (b, Err(_)) => builder = b,
                }
            }
            Ok((builder, Provider::Cpu))
        }
    }
}

fn check_contract(session: &Session) -> Result<ModelContract, String> {
    let metadata = session
        .metadata()
        .map_err(|e| format!("metadata unreadable: {e}"))?;
    let contract = ModelContract::from_metadata(|key| metadata.custom(key))?;
    let n_features = contract.features.n_features() as i64;
    let n_labels = contract.labels.len() as i64;

    let inputs = session.inputs();
    let [input] = inputs else {
        return Err(format!(
            "expected exactly one input named {INPUT_NAME:?}, found {}",
            inputs.len()
        ));
    };
    let float = ort::value::TensorElementType::Float32;
    let check = |name: &str, dtype: &ort::value::ValueType, want: &[i64]| -> Result<(), String> {
        let shape = dtype
            .tensor_shape()
            .ok_or(format!("{name} is not a tensor"))?;
        if dtype.tensor_type() != Some(float) {
            return Err(format!(
                "{name} must be float32, is {:?}",
                dtype.tensor_type()
            ));
        }
        let dims: &[i64] = shape;
        let ok = dims.len() == want.len()
            && dims
                .iter()
                .zip(want)
                .all(|(&d, &w)| w < 0 || d < 0 || d == w);
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{name} has shape {dims:?}, expected {want:?} (-1: any)"
            ))
        }
    };
    if input.name() != INPUT_NAME {
        return Err(format!(
            "the input is named {:?}, expected {INPUT_NAME:?}",
            input.name()
        ));
    }
    check(INPUT_NAME, input.dtype(), &[-1, -1, n_features])?;
    let output = session
        .outputs()
        .iter()
        .find(|o| o.name() == OUTPUT_NAME)
        .ok_or(format!("no output named {OUTPUT_NAME:?}"))?;
    check(OUTPUT_NAME, output.dtype(), &[-1, n_labels])?;
    Ok(contract)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid contract's metadata, with `adaptation` as the
    /// `emotiondetect.adaptation` entry if given.
    fn contract(adaptation: Option<&str>) -> Result<ModelContract, String> {
        let features = FeatureParams::default().to_json();
        ModelContract::from_metadata(|key| match key {
            "emotiondetect.format" => Some(CONTRACT_FORMAT.into()),
            "emotiondetect.labels" => Some("neutral,happy,sad".into()),
            "emotiondetect.features" => Some(features.clone()),
            "emotiondetect.adaptation" => adaptation.map(String::from),
            _ => None,
        })
    }

    fn prior_json(n: usize, prior_frames: &str, std: f64, extra: &str) -> String {
        let mean = vec!["0.5"; n].join(",");
        let std = vec![std.to_string(); n].join(",");
        format!(
            r#"{{"format": 1, "prior_frames": {prior_frames}, "min_std_ratio": 0.3, "mean": [{mean}], "std": [{std}]{extra}}}"#
        )
    }

    #[test]
    fn a_model_without_the_adaptation_key_has_no_prior() {
        assert_eq!(contract(None).unwrap().adaptation, None);
    }

    #[test]
    fn the_adaptation_prior_is_read_from_the_metadata() {
        let n = FeatureParams::default().n_features();
        let c = contract(Some(&prior_json(n, "150", 2.0, ""))).unwrap();
        let p = c.adaptation.expect("a prior");
        assert_eq!(p.prior_frames(), 150.0);
        assert_eq!(p.min_std_ratio(), 0.3);
        assert_eq!(p.mean(), vec![0.5; n]);
        assert_eq!(p.std(), vec![2.0; n]);
    }

    #[test]
    fn a_malformed_adaptation_prior_is_a_contract_error_naming_the_key() {
        let n = FeatureParams::default().n_features();
        for (json, why) in [
            (prior_json(n - 1, "150", 2.0, ""), "mean has 45 values"),
            (prior_json(n + 1, "150", 2.0, ""), "mean has 47 values"),
            (prior_json(n, "150", 0.0, ""), "std[0]"),
            (prior_json(n, "150", -1.0, ""), "std[0]"),
            (prior_json(n, "0", 2.0, ""), "prior_frames"),
            (prior_json(n, "-5", 2.0, ""), "prior_frames"),
            (
                prior_json(n, "150", 2.0, r#", "variance": []"#),
                "unknown field",
            ),
            ("not json".to_string(), "JSON"),
        ] {
            let err = contract(Some(&json)).unwrap_err();
            assert!(
                err.contains("metadata emotiondetect.adaptation is invalid"),
                "{err}"
            );
            assert!(err.contains(why), "{why}: {err}");
        }
    }
}
