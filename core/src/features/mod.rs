// SPDX-License-Identifier: MPL-2.0
//! Streaming MFCC + chroma (+ pitch and voicing) features, the numbers the
//! model sees.
//!
//! Pure DSP: no GStreamer types. The same code runs in the element and, via
//! the `emotiondetect-features` binary, in the training pipeline.
//!
//! Definitions follow librosa 0.11 with these streaming choices:
//! - frames are not centred (`center=False`): frame `j` covers samples
//!   `[j·hop, j·hop + n_fft)` of the stream since the last reset;
//! - `power_to_db` uses `ref=1.0` and the fixed floor `amin`, without
//!   `top_db` (librosa's `top_db` clips relative to the whole signal's
//!   maximum, which a stream does not know);
//! - chroma uses tuning 0 (librosa estimates tuning from the whole file);
//! - non-finite input samples are read as 0 and samples are clamped to
//!   ±[`SAMPLE_LIMIT`], so no NaN or Inf can reach the output.

mod filters;
mod pitch;

pub use filters::{
    chroma_filterbank, dot, hz_to_mel, mel_filterbank, mel_to_hz, Dct, RangeFilterbank,
};
pub use pitch::{PitchParams, PITCH_REFERENCE_HZ};

use std::sync::{Arc, LazyLock};

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use crate::sync::SharedCache;

/// Version of the feature definition; models declare the version they need.
pub const FEATURE_FORMAT: u32 = 1;

/// Input samples are clamped to this magnitude (full scale is 1.0).
pub const SAMPLE_LIMIT: f32 = 16.0;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FeatureError {
    #[error("invalid feature parameter {name}: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    #[error("feature parameters: {0}")]
    Parse(String),
}

/// Everything that defines the features. Models carry these in their
/// metadata. The defaults are the 16 kHz MFCC and chroma; the shipped
/// models add the pitch features ([`FeatureParams::with_pitch`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureParams {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub hop_length: usize,
    pub n_mels: usize,
    pub fmin: f64,
    pub fmax: f64,
    pub n_mfcc: usize,
    pub n_chroma: usize,
    /// Floor of the mel power before `10·log10`.
    pub amin: f64,
    /// With a pitch range, each frame ends with pitch and voicing (see
    /// [`PitchParams`]). `None`: MFCC and chroma only.
    pub pitch: Option<PitchParams>,
    /// Subtract each frame's mean from its samples before anything else, so
    /// a constant offset (a DC bias of the source) changes nothing. Models
    /// before this option computed without it.
    pub remove_dc: bool,
}

impl Default for FeatureParams {
    fn default() -> Self {
        FeatureParams {
            sample_rate: 16000,
            n_fft: 1280,
            hop_length: 640,
            n_mels: 128,
            fmin: 0.0,
            fmax: 8000.0,
            n_mfcc: 34,
            n_chroma: 12,
            amin: 1e-10,
            pitch: None,
            remove_dc: false,
        }
    }
}

impl FeatureParams {
    /// The same analysis for 8 kHz narrowband (telephone) audio: 80 ms
    /// frames every 40 ms, mel bands up to 4 kHz.
    pub fn narrowband() -> Self {
        FeatureParams {
            sample_rate: 8000,
            n_fft: 640,
            hop_length: 320,
            fmax: 4000.0,
            ..FeatureParams::default()
        }
    }

    /// The same parameters with the pitch features of the default range.
    pub fn with_pitch(self) -> Self {
        FeatureParams {
            pitch: Some(PitchParams::default()),
            ..self
        }
    }

    /// The same parameters with each frame's mean removed
    /// ([`FeatureParams::remove_dc`]).
    pub fn with_dc_removal(self) -> Self {
        FeatureParams {
            remove_dc: true,
            ..self
        }
    }

    /// Values per frame: MFCC, chroma, then (with a pitch range) pitch and
    /// voicing.
    pub fn n_features(&self) -> usize {
        self.n_mfcc + self.n_chroma + self.pitch.map_or(0, |_| PitchParams::N_FEATURES)
    }

    pub fn validate(&self) -> Result<(), FeatureError> {
        let bad = |name, reason: &str| {
            Err(FeatureError::InvalidParameter {
                name,
                reason: reason.to_string(),
            })
        };
        if !(1000..=384_000).contains(&self.sample_rate) {
            return bad("sample_rate", "must be within 1000..=384000 Hz");
        }
        if self.n_fft < 16 || self.n_fft > 65536 || !self.n_fft.is_multiple_of(2) {
            return bad("n_fft", "must be even and within 16..=65536");
        }
        if self.hop_length == 0 || self.hop_length > self.n_fft {
            return bad("hop_length", "must be within 1..=n_fft");
        }
        if self.n_mels == 0 || self.n_mels > 1024 {
            return bad("n_mels", "must be within 1..=1024");
        }
        let nyquist = self.sample_rate as f64 / 2.0;
        if !(self.fmin >= 0.0 && self.fmin < self.fmax && self.fmax <= nyquist) {
            return bad("fmin/fmax", "need 0 <= fmin < fmax <= sample_rate / 2");
        }
        if self.n_mfcc == 0 || self.n_mfcc > self.n_mels {
            return bad("n_mfcc", "must be within 1..=n_mels");
        }
        if self.n_chroma == 0 || !self.n_chroma.is_multiple_of(12) || self.n_chroma > 120 {
            return bad("n_chroma", "must be a positive multiple of 12, at most 120");
        }
        if !(self.amin > 0.0 && self.amin.is_finite()) {
            return bad("amin", "must be positive and finite");
        }
        if let Some(pitch) = &self.pitch {
            pitch.validate(self.sample_rate, self.n_fft)?;
        }
        Ok(())
    }

    /// The parameters as the JSON object stored in model metadata.
    pub fn to_json(&self) -> String {
        let doc = ParamsDocument {
            format: FEATURE_FORMAT,
            sample_rate: self.sample_rate,
            n_fft: self.n_fft,
            hop_length: self.hop_length,
            window: WINDOW.into(),
            center: false,
            n_mels: self.n_mels,
            fmin: self.fmin,
            fmax: self.fmax,
            mel_norm: MEL_NORM.into(),
            n_mfcc: self.n_mfcc,
            n_chroma: self.n_chroma,
            tuning: 0.0,
            amin: self.amin,
            pitch: self.pitch,
            remove_dc: self.remove_dc,
            n_features: Some(self.n_features()),
        };
        serde_json::to_string(&doc).expect("plain numbers and strings serialise")
    }

    /// Parses the object written by [`FeatureParams::to_json`]. Fields that
    /// define a different computation than this extractor's (window,
    /// centring, mel norm, tuning, format) are refused.
    pub fn from_json(json: &str) -> Result<Self, FeatureError> {
        let doc: ParamsDocument =
            serde_json::from_str(json).map_err(|e| FeatureError::Parse(e.to_string()))?;
        if doc.format != FEATURE_FORMAT {
            return Err(FeatureError::Parse(format!(
                "feature format {} is not supported (this build computes format {FEATURE_FORMAT})",
                doc.format
            )));
        }
        let unsupported = |key: &str, got: &dyn std::fmt::Debug, want: &dyn std::fmt::Debug| {
            FeatureError::Parse(format!(
                "field \"{key}\" is {got:?}, this extractor computes {want:?}"
            ))
        };
        if doc.window != WINDOW {
            return Err(unsupported("window", &doc.window, &WINDOW));
        }
        if doc.center {
            return Err(unsupported("center", &doc.center, &false));
        }
        if doc.mel_norm != MEL_NORM {
            return Err(unsupported("mel_norm", &doc.mel_norm, &MEL_NORM));
        }
        if doc.tuning != 0.0 {
            return Err(unsupported("tuning", &doc.tuning, &0.0));
        }
        let params = FeatureParams {
            sample_rate: doc.sample_rate,
            n_fft: doc.n_fft,
            hop_length: doc.hop_length,
            n_mels: doc.n_mels,
            fmin: doc.fmin,
            fmax: doc.fmax,
            n_mfcc: doc.n_mfcc,
            n_chroma: doc.n_chroma,
            amin: doc.amin,
            pitch: doc.pitch,
            remove_dc: doc.remove_dc,
        };
        params.validate()?;
        match doc.n_features {
            Some(n) if n != params.n_features() => Err(FeatureError::Parse(format!(
                "n_features {n} disagrees with n_mfcc + n_chroma (+ {} with pitch) = {}",
                PitchParams::N_FEATURES,
                params.n_features()
            ))),
            _ => Ok(params),
        }
    }
}

const WINDOW: &str = "hann";
const MEL_NORM: &str = "slaney";

/// The JSON form of [`FeatureParams`], with the fields that fix what this
/// extractor computes (window, centring, mel norm, tuning) spelled out so a
/// model trained on anything else is refused.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamsDocument {
    format: u32,
    sample_rate: u32,
    n_fft: usize,
    hop_length: usize,
    window: String,
    center: bool,
    n_mels: usize,
    fmin: f64,
    fmax: f64,
    mel_norm: String,
    n_mfcc: usize,
    n_chroma: usize,
    tuning: f64,
    amin: f64,
    /// Absent in models without pitch features (all models before them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pitch: Option<PitchParams>,
    /// Absent (false) in models before the option.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    remove_dc: bool,
    #[serde(default)]
    n_features: Option<usize>,
}

/// Per-frame cues for voice activity detection, computed with the features.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FrameStats {
    /// RMS level of the frame's samples, dBFS.
    pub level_db: f32,
    /// Spectral flatness (geometric over arithmetic mean of the mel band
    /// powers) in the 300–3400 Hz speech band: near 0 for tones, near 1 for
    /// white noise.
    pub flatness: f32,
    /// Mean absolute change of the log-mel spectrum from the previous
    /// frame, dB (0 for the first frame after a reset).
    pub flux_db: f32,
    /// Share of the mel bands' power in the 300–3400 Hz speech band, 0..=1:
    /// near 0 for a hum or a rumble with nothing above 300 Hz.
    pub band_share: f32,
}

/// Streaming extractor: push samples, receive each completed frame once.
///
/// All buffers are allocated in [`FeatureExtractor::new`]; pushing does not
/// allocate.
pub struct FeatureExtractor {
    params: FeatureParams,
    tables: Arc<Tables>,
    /// The samples of the frame being filled, `len() == filled`.
    pending: Vec<f32>,
    filled: usize,
    fft_in: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    power: Vec<f32>,
    scratch: Vec<Complex<f32>>,
    mel_out: Vec<f32>,
    frame: Vec<f32>,
    prev_log_mel: Vec<f32>,
    pitch: Option<pitch::PitchScratch>,
    stats: FrameStats,
    frames_emitted: u64,
}

/// Parameter sets whose [`Tables`] stay built when no extractor uses them:
/// both built-in models' and two more.
const KEEP_TABLES: usize = 4;

/// What the parameters alone determine: the FFT plan, window, filterbanks
/// and DCT. Built once per parameter set in the process and shared by every
/// extractor using it (a thousand streams would otherwise build a thousand
/// copies); those of the last [`KEEP_TABLES`] parameter sets stay built
/// when no extractor uses them (building them costs about as much CPU as
/// the features of a second of audio).
struct Tables {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    mel: RangeFilterbank,
    dct: Dct,
    chroma: RangeFilterbank,
    /// Mel bands centred in the 300–3400 Hz speech band.
    speech_bands: std::ops::Range<usize>,
    pitch: Option<pitch::PitchTables>,
}

impl Tables {
    /// The shared tables for `params` (already validated).
    fn shared(params: &FeatureParams) -> Arc<Tables> {
        static CACHE: LazyLock<SharedCache<String, Tables>> =
            LazyLock::new(|| SharedCache::new(KEEP_TABLES));
        let Ok(tables) = CACHE.get_or_build(params.to_json(), true, || {
            Ok::<_, std::convert::Infallible>(Tables::new(params))
        });
        tables
    }

    fn new(params: &FeatureParams) -> Tables {
        let n_fft = params.n_fft;
        let sr = params.sample_rate as f64;
        // Periodic Hann, as scipy.signal.get_window("hann", n_fft).
        let window: Vec<f32> = (0..n_fft)
            .map(|i| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n_fft as f64).cos()) as f32
            })
            .collect();
        Tables {
            fft: RealFftPlanner::<f32>::new().plan_fft_forward(n_fft),
            pitch: params
                .pitch
                .map(|p| pitch::PitchTables::new(&p, params.sample_rate, &window)),
            window,
            mel: filters::mel_filterbank(sr, n_fft, params.n_mels, params.fmin, params.fmax),
            dct: Dct::new(params.n_mels, params.n_mfcc),
            chroma: chroma_filterbank(sr, n_fft, params.n_chroma, 0.0),
            speech_bands: {
                let (lo, hi) = (hz_to_mel(params.fmin), hz_to_mel(params.fmax));
                let centre = |m: usize| {
                    mel_to_hz(lo + (hi - lo) * (m + 1) as f64 / (params.n_mels + 1) as f64)
                };
                let first = (0..params.n_mels)
                    .find(|&m| centre(m) >= 300.0)
                    .unwrap_or(0);
                let end = (0..params.n_mels)
                    .rfind(|&m| centre(m) <= 3400.0)
                    .map_or(params.n_mels, |m| m + 1);
                first..end.max(first + 1)
            },
        }
    }
}

impl FeatureExtractor {
    pub fn new(params: &FeatureParams) -> Result<Self, FeatureError> {
        params.validate()?;
        let tables = Tables::shared(params);
        Ok(FeatureExtractor {
            pending: vec![0.0; params.n_fft],
            filled: 0,
            fft_in: tables.fft.make_input_vec(),
            spectrum: tables.fft.make_output_vec(),
            power: vec![0.0; params.n_fft / 2 + 1],
            scratch: tables.fft.make_scratch_vec(),
            mel_out: vec![0.0; params.n_mels],
            frame: vec![0.0; params.n_features()],
            prev_log_mel: vec![0.0; params.n_mels],
            pitch: tables.pitch.as_ref().map(pitch::PitchScratch::new),
            stats: FrameStats::default(),
            frames_emitted: 0,
            tables,
            params: params.clone(),
        })
    }

    /// Frames emitted since creation or the last [`reset`](Self::reset).
    pub fn frames_emitted(&self) -> u64 {
        self.frames_emitted
    }

    /// The log-mel spectrum (dB) of the last frame emitted.
    pub fn last_log_mel(&self) -> &[f32] {
        &self.mel_out
    }

    /// Forget buffered samples: the next sample starts frame 0 again.
    pub fn reset(&mut self) {
        self.filled = 0;
        self.frames_emitted = 0;
    }

    /// Feeds samples; `on_frame(index, features)` is called for each frame
    /// completed by them, in order. `features` holds
    /// [`FeatureParams::n_features`] values: MFCC, chroma, then pitch and
    /// voicing if the parameters have a pitch range.
    pub fn push(&mut self, samples: &[f32], mut on_frame: impl FnMut(u64, &[f32])) {
        self.push_with_stats(samples, |i, f, _| on_frame(i, f));
    }

    /// As [`push`](Self::push), with each frame's [`FrameStats`].
    pub fn push_with_stats(
        &mut self,
        mut samples: &[f32],
        mut on_frame: impl FnMut(u64, &[f32], &FrameStats),
    ) {
        let n_fft = self.params.n_fft;
        let hop = self.params.hop_length;
        while !samples.is_empty() {
            let take = (n_fft - self.filled).min(samples.len());
            for (dst, &s) in self.pending[self.filled..self.filled + take]
                .iter_mut()
                .zip(samples)
            {
                *dst = sanitize(s);
            }
            self.filled += take;
            samples = &samples[take..];
            if self.filled == n_fft {
                self.compute_frame();
                on_frame(self.frames_emitted, &self.frame, &self.stats);
                self.frames_emitted += 1;
                self.pending.copy_within(hop.., 0);
                self.filled = n_fft - hop;
            }
        }
    }

    fn compute_frame(&mut self) {
        // Subtracting 0.0 leaves every sample as it is, so without the
        // option the frame is bit for bit what it was before it.
        let dc = if self.params.remove_dc {
            lane_sum(self.pending.iter().copied()) / self.pending.len() as f32
        } else {
            0.0
        };
        // Eight running sums, so the loop vectorises (one serial sum would
        // chain 1280 dependent additions).
        let mut lanes = [0.0f32; 8];
        for ((dst, x), w) in self
            .fft_in
            .chunks_exact_mut(8)
            .zip(self.pending.chunks_exact(8))
            .zip(self.tables.window.chunks_exact(8))
        {
            for k in 0..8 {
                let x = x[k] - dc;
                dst[k] = x * w[k];
                lanes[k] += x * x;
            }
        }
        let whole = self.pending.len() - self.pending.len() % 8;
        for i in whole..self.pending.len() {
            let x = self.pending[i] - dc;
            self.fft_in[i] = x * self.tables.window[i];
            lanes[0] += x * x;
        }
        let energy: f32 = lanes.iter().sum();
        // Lengths come from the plan itself, so this cannot fail.
        let _ = self.tables.fft.process_with_scratch(
            &mut self.fft_in,
            &mut self.spectrum,
            &mut self.scratch,
        );
        for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
            *p = c.norm_sqr();
        }

        let (mfcc, rest) = self.frame.split_at_mut(self.params.n_mfcc);
        let (chroma, prosody) = rest.split_at_mut(self.params.n_chroma);
        self.tables.mel.apply(&self.power, &mut self.mel_out);
        let amin = self.params.amin as f32;
        let (mut band_power, mut band_db, mut total_power) = (0.0f32, 0.0f32, 0.0f32);
        for (k, m) in self.mel_out.iter_mut().enumerate() {
            let p = m.max(amin);
            total_power += p;
            *m = 10.0 * p.log10();
            if self.tables.speech_bands.contains(&k) {
                band_power += p;
                band_db += *m;
            }
        }
        self.tables.dct.apply(&self.mel_out, mfcc);

        // Flatness over the speech band's mel powers: geometric mean (from
        // the dB values just computed) over arithmetic mean.
        let n_bands = self.tables.speech_bands.len() as f32;
        let (mean, geometric) = (band_power / n_bands, 10f32.powf(band_db / n_bands / 10.0));
        let flux = if self.frames_emitted == 0 {
            0.0
        } else {
            let diff: f32 = self
                .mel_out
                .iter()
                .zip(&self.prev_log_mel)
                .map(|(a, b)| (a - b).abs())
                .sum();
            diff / self.mel_out.len() as f32
        };
        self.prev_log_mel.copy_from_slice(&self.mel_out);
        self.stats = FrameStats {
            level_db: 10.0 * (energy / self.params.n_fft as f32).max(1e-12).log10(),
            flatness: if mean > amin {
                (geometric / mean).min(1.0)
            } else {
                0.0
            },
            flux_db: flux,
            band_share: band_power / total_power,
        };

        self.tables.chroma.apply(&self.power, chroma);
        let max = chroma.iter().cloned().fold(0.0f32, f32::max);
        if max > f32::MIN_POSITIVE {
            for c in chroma.iter_mut() {
                *c /= max;
            }
        }

        if let (Some(tables), Some(scratch)) = (&self.tables.pitch, &mut self.pitch) {
            prosody.copy_from_slice(&pitch::estimate(tables, scratch, &self.power));
        }
    }
}

/// Sum in eight interleaved lanes (vectorisable; the order of additions is
/// fixed, so the result is reproducible).
fn lane_sum(values: impl Iterator<Item = f32>) -> f32 {
    let mut lanes = [0.0f32; 8];
    for (i, v) in values.enumerate() {
        lanes[i % 8] += v;
    }
    lanes.iter().sum()
}

/// The sample the features see: non-finite values read as 0, the rest
/// clamped to ±[`SAMPLE_LIMIT`].
#[inline]
pub fn sanitize(s: f32) -> f32 {
    if s.is_finite() {
        s.clamp(-SAMPLE_LIMIT, SAMPLE_LIMIT)
    } else {
        0.0
    }
}

/// Features of a whole signal (frames × n_features, frame-major).
pub fn extract_all(params: &FeatureParams, samples: &[f32]) -> Result<Vec<f32>, FeatureError> {
    let mut ex = FeatureExtractor::new(params)?;
    let mut out = Vec::new();
    ex.push(samples, |_, f| out.extend_from_slice(f));
    Ok(out)
}

/// `n` samples of uniform white noise in [-0.5, 0.5), the same for a seed
/// (for the crate's tests).
#[cfg(test)]
pub(crate) fn uniform_noise(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n).map(|_| rng.f32() - 0.5).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_round_trip_through_json() {
        let p = FeatureParams::default();
        assert_eq!(FeatureParams::from_json(&p.to_json()).unwrap(), p);
    }

    #[test]
    fn pitch_params_round_trip_and_older_models_have_none() {
        let p = FeatureParams::narrowband().with_pitch();
        let json = p.to_json();
        assert!(
            json.contains("\"pitch\":{\"fmin\":60.0,\"fmax\":600.0}"),
            "{json}"
        );
        assert!(json.contains("\"n_features\":48"), "{json}");
        assert_eq!(FeatureParams::from_json(&json).unwrap(), p);
        // The shipped models before pitch features carry no pitch field.
        let old = FeatureParams::default().to_json();
        assert!(!old.contains("pitch"), "{old}");
        assert_eq!(FeatureParams::from_json(&old).unwrap().pitch, None);
        // A count that leaves the pitch features out is refused.
        let wrong = json.replace("\"n_features\":48", "\"n_features\":46");
        assert!(FeatureParams::from_json(&wrong).is_err());
    }

    #[test]
    fn dc_removal_round_trips_and_older_models_have_none() {
        let p = FeatureParams::narrowband().with_pitch().with_dc_removal();
        let json = p.to_json();
        assert!(json.contains("\"remove_dc\":true"), "{json}");
        assert_eq!(FeatureParams::from_json(&json).unwrap(), p);
        let old = FeatureParams::default().with_pitch().to_json();
        assert!(!old.contains("remove_dc"), "{old}");
        assert!(!FeatureParams::from_json(&old).unwrap().remove_dc);
    }

    /// A voiced vowel-like signal: 140 Hz with 20 harmonics under a slow
    /// amplitude swell.
    fn vowel(rate: u32, seconds: f32) -> Vec<f32> {
        let n = (rate as f32 * seconds) as usize;
        (0..n)
            .map(|i| {
                let t = i as f32 / rate as f32;
                let swell = 0.6 + 0.4 * (2.0 * std::f32::consts::PI * 1.5 * t).sin();
                let voice: f32 = (1..=20)
                    .filter(|h| 140.0 * *h as f32 <= rate as f32 / 2.0)
                    .map(|h| (2.0 * std::f32::consts::PI * 140.0 * h as f32 * t).sin() / h as f32)
                    .sum();
                0.05 * swell * voice
            })
            .collect()
    }

    fn max_difference(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn dc_removal_makes_a_constant_offset_change_nothing() {
        for base in [FeatureParams::default(), FeatureParams::narrowband()] {
            let speech = vowel(base.sample_rate, 1.0);
            let biased: Vec<f32> = speech.iter().map(|x| x + 0.05).collect();
            let p = base.clone().with_pitch().with_dc_removal();
            let clean = extract_all(&p, &speech).unwrap();
            let offset = extract_all(&p, &biased).unwrap();
            // float rounding of the subtraction only
            assert!(
                max_difference(&clean, &offset) < 0.05,
                "{}",
                max_difference(&clean, &offset)
            );
            // without the option the same offset moves the features by decibels
            let q = base.with_pitch();
            let moved = max_difference(
                &extract_all(&q, &speech).unwrap(),
                &extract_all(&q, &biased).unwrap(),
            );
            assert!(moved > 1.0, "{moved}");
        }
    }

    #[test]
    fn a_constant_alone_reads_as_silence_with_dc_removal() {
        let p = FeatureParams::default().with_pitch().with_dc_removal();
        let mut ex = FeatureExtractor::new(&p).unwrap();
        let mut seen = 0;
        ex.push_with_stats(&vec![0.25; 8000], |_, f, stats| {
            assert!(stats.level_db < -100.0, "{stats:?}");
            assert_eq!(&f[f.len() - 2..], &[0.0, 0.0]);
            seen += 1;
        });
        assert!(seen > 0);
    }

    #[test]
    fn band_share_is_the_speech_bands_part_of_the_power() {
        // At both rates: a 50 Hz hum has next to nothing in 300–3400 Hz, a
        // 1 kHz tone nearly everything, white noise a part.
        for p in [FeatureParams::default(), FeatureParams::narrowband()] {
            let rate = p.sample_rate as f32;
            let sine = |hz: f32| -> Vec<f32> {
                (0..p.sample_rate as usize)
                    .map(|i| 0.1 * (2.0 * std::f32::consts::PI * hz * i as f32 / rate).sin())
                    .collect()
            };
            let noise = uniform_noise(p.sample_rate as usize, 1);
            let shares = |x: &[f32]| {
                let mut out = vec![];
                FeatureExtractor::new(&p)
                    .unwrap()
                    .push_with_stats(x, |_, _, s| out.push(s.band_share));
                out
            };
            assert!(shares(&sine(50.0)).iter().all(|&v| v < 0.01));
            assert!(shares(&sine(1000.0)).iter().all(|&v| v > 0.95));
            assert!(shares(&noise).iter().all(|&v| (0.2..0.95).contains(&v)));
        }
    }

    #[test]
    fn json_with_other_window_is_refused() {
        let json = FeatureParams::default()
            .to_json()
            .replace("\"hann\"", "\"hamming\"");
        let err = FeatureParams::from_json(&json).unwrap_err();
        assert!(err.to_string().contains("window"), "{err}");
    }

    #[test]
    fn invalid_params_are_refused() {
        let p = FeatureParams {
            hop_length: 0,
            ..FeatureParams::default()
        };
        assert!(matches!(
            FeatureExtractor::new(&p),
            Err(FeatureError::InvalidParameter {
                name: "hop_length",
                ..
            })
        ));
    }

    #[test]
    fn frame_count_follows_hop() {
        let p = FeatureParams::default();
        let n = 16000;
        let feats = extract_all(&p, &vec![0.1; n]).unwrap();
        let expected = (n - p.n_fft) / p.hop_length + 1;
        assert_eq!(feats.len(), expected * p.n_features());
    }
}
