// SPDX-License-Identifier: MPL-2.0
//! Speaker adaptation: each analysed channel's features normalised by
//! statistics of its own speech, gathered during the stream and
//! warm-started from the training statistics. No GStreamer types.
//!
//! A model's graph normalises its input with the global training statistics,
//! `z = (x − μ0)/σ0`. Without changing that contract, the model is fed
//! `x' = μ0 + σ0·(x − m)/s`, so the graph's own normalisation yields
//! `(x − m)/s`, where for each feature `j`, after `n` speech frames with
//! sums `s1 = Σx` and `s2 = Σx²`, and a prior worth `n0` frames:
//!
//! ```text
//! w   = n0 + n
//! m   = (n0·μ0 + s1) / w
//! q   = (n0·(σ0² + μ0²) + s2) / w
//! s   = max(sqrt(max(q − m², 0)), r·σ0)
//! ```
//!
//! The training code (`models/training`) implements the same rule; the two
//! must not drift.

use serde::Deserialize;

/// The metadata key of a model's adaptation prior.
pub const METADATA_KEY: &str = "emotiondetect.adaptation";
/// The prior's format this build reads.
pub const PRIOR_FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AdaptationError {
    #[error("not the expected JSON object: {0}")]
    Json(String),
    #[error("format is {0}; this build reads format {PRIOR_FORMAT}")]
    Format(u32),
    #[error("prior_frames must be a number > 0, got {0}")]
    PriorFrames(f64),
    #[error("min_std_ratio must be a number in (0, 1], got {0}")]
    MinStdRatio(f64),
    #[error("{field} has {got} values, expected {want} (one per feature)")]
    Length {
        field: &'static str,
        got: usize,
        want: usize,
    },
    #[error("mean[{0}] = {1} is not finite")]
    Mean(usize, f64),
    #[error("std[{0}] = {1} must be finite and > 0")]
    Std(usize, f64),
}

/// The prior as the metadata spells it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriorJson {
    format: u32,
    prior_frames: f64,
    min_std_ratio: f64,
    mean: Vec<f64>,
    std: Vec<f64>,
}

/// The training statistics a speaker's statistics start from, and how much
/// they weigh: a model's `emotiondetect.adaptation` metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptationPrior {
    prior_frames: f64,
    min_std_ratio: f64,
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl AdaptationPrior {
    /// A checked prior: `prior_frames` > 0, `min_std_ratio` in (0, 1], as
    /// many finite means as standard deviations, those > 0.
    pub fn new(
        prior_frames: f64,
        min_std_ratio: f64,
        mean: Vec<f64>,
        std: Vec<f64>,
    ) -> Result<Self, AdaptationError> {
        if !(prior_frames.is_finite() && prior_frames > 0.0) {
            return Err(AdaptationError::PriorFrames(prior_frames));
        }
        if !(min_std_ratio > 0.0 && min_std_ratio <= 1.0) {
            return Err(AdaptationError::MinStdRatio(min_std_ratio));
        }
        if std.len() != mean.len() {
            return Err(AdaptationError::Length {
                field: "std",
                got: std.len(),
                want: mean.len(),
            });
        }
        for (j, (&m, &s)) in mean.iter().zip(&std).enumerate() {
            // The second moment σ0² + μ0² must be finite too.
            if !m.is_finite() || !(m * m).is_finite() {
                return Err(AdaptationError::Mean(j, m));
            }
            if !(s.is_finite() && s > 0.0 && (s * s + m * m).is_finite()) {
                return Err(AdaptationError::Std(j, s));
            }
        }
        Ok(AdaptationPrior {
            prior_frames,
            min_std_ratio,
            mean,
            std,
        })
    }

    /// Parses the metadata's JSON for a model of `n_features` features.
    pub fn from_json(json: &str, n_features: usize) -> Result<Self, AdaptationError> {
        let raw: PriorJson =
            serde_json::from_str(json).map_err(|e| AdaptationError::Json(e.to_string()))?;
        if raw.format != PRIOR_FORMAT {
            return Err(AdaptationError::Format(raw.format));
        }
        for (field, got) in [("mean", raw.mean.len()), ("std", raw.std.len())] {
            if got != n_features {
                return Err(AdaptationError::Length {
                    field,
                    got,
                    want: n_features,
                });
            }
        }
        Self::new(raw.prior_frames, raw.min_std_ratio, raw.mean, raw.std)
    }

    /// How many frames the prior weighs, `n0`.
    pub fn prior_frames(&self) -> f64 {
        self.prior_frames
    }

    /// The floor of a speaker's standard deviation, as a share of the
    /// training one, `r`.
    pub fn min_std_ratio(&self) -> f64 {
        self.min_std_ratio
    }

    /// The training means, `μ0`.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The training standard deviations, `σ0`.
    pub fn std(&self) -> &[f64] {
        &self.std
    }

    /// Features per frame.
    pub fn n_features(&self) -> usize {
        self.mean.len()
    }
}

/// One speaker's statistics and the normalisation they give. Allocates
/// only when built.
///
/// Frames can also be staged ([`stage`](Self::stage)): they count at once,
/// and are then kept ([`commit`](Self::commit)) or taken out again
/// exactly ([`discard`](Self::discard)), e.g. when a window turns out not
/// to be speech.
#[derive(Debug, Clone)]
pub struct SpeakerNorm {
    prior: AdaptationPrior,
    /// Frames observed, and the per-feature sums of their values and
    /// squares.
    n: u64,
    s1: Vec<f64>,
    s2: Vec<f64>,
    /// The same for the staged frames.
    staged_n: u64,
    t1: Vec<f64>,
    t2: Vec<f64>,
    /// The speaker's mean and standard deviation, computed when applied.
    m: Vec<f64>,
    s: Vec<f64>,
}

impl SpeakerNorm {
    pub fn new(prior: AdaptationPrior) -> Self {
        let nf = prior.n_features();
        SpeakerNorm {
            prior,
            n: 0,
            s1: vec![0.0; nf],
            s2: vec![0.0; nf],
            staged_n: 0,
            t1: vec![0.0; nf],
            t2: vec![0.0; nf],
            m: vec![0.0; nf],
            s: vec![0.0; nf],
        }
    }

    pub fn prior(&self) -> &AdaptationPrior {
        &self.prior
    }

    /// Adds one frame of the speaker's speech to the statistics.
    pub fn observe(&mut self, frame: &[f32]) {
        add(&mut self.n, &mut self.s1, &mut self.s2, frame);
    }

    /// Adds one frame for now: it counts until [`commit`](Self::commit)
    /// keeps the staged frames or [`discard`](Self::discard) drops them.
    pub fn stage(&mut self, frame: &[f32]) {
        add(&mut self.staged_n, &mut self.t1, &mut self.t2, frame);
    }

    /// Keeps the staged frames.
    pub fn commit(&mut self) {
        self.n += self.staged_n;
        for (s, t) in self.s1.iter_mut().zip(&self.t1) {
            *s += t;
        }
        for (s, t) in self.s2.iter_mut().zip(&self.t2) {
            *s += t;
        }
        self.discard();
    }

    /// Drops the staged frames.
    pub fn discard(&mut self) {
        self.staged_n = 0;
        self.t1.fill(0.0);
        self.t2.fill(0.0);
    }

    /// Frames the statistics rest on, besides the prior (staged ones
    /// included).
    pub fn frames_observed(&self) -> u64 {
        self.n + self.staged_n
    }

    /// Forgets the speaker: back to the prior alone.
    pub fn forget(&mut self) {
        self.n = 0;
        self.s1.fill(0.0);
        self.s2.fill(0.0);
        self.discard();
    }

    /// Normalises `frames` (`frames × n_features` values) in place by the
    /// statistics observed so far: each value becomes
    /// `μ0 + σ0·(x − m)/s`.
    pub fn apply(&mut self, frames: &mut [f32]) {
        let nf = self.s1.len();
        debug_assert_eq!(frames.len() % nf.max(1), 0);
        let p = &self.prior;
        let n0 = p.prior_frames;
        let w = n0 + self.frames_observed() as f64;
        for j in 0..nf {
            let (mu0, sigma0) = (p.mean[j], p.std[j]);
            let m = (n0 * mu0 + self.s1[j] + self.t1[j]) / w;
            let q = (n0 * (sigma0 * sigma0 + mu0 * mu0) + self.s2[j] + self.t2[j]) / w;
            let s = (q - m * m).max(0.0).sqrt();
            self.m[j] = m;
            self.s[j] = s.max(p.min_std_ratio * sigma0);
        }
        for frame in frames.chunks_exact_mut(nf) {
            for (j, v) in frame.iter_mut().enumerate() {
                let (mu0, sigma0) = (p.mean[j], p.std[j]);
                *v = (mu0 + sigma0 * (*v as f64 - self.m[j]) / self.s[j]) as f32;
            }
        }
    }
}

/// One frame into a count and per-feature sums of values and squares.
fn add(n: &mut u64, s1: &mut [f64], s2: &mut [f64], frame: &[f32]) {
    debug_assert_eq!(frame.len(), s1.len());
    *n += 1;
    for ((s1, s2), &x) in s1.iter_mut().zip(s2.iter_mut()).zip(frame) {
        let x = x as f64;
        *s1 += x;
        *s2 += x * x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// F = 2: μ0 = (1, −2), σ0 = (2, 0.5), n0 = 4, r = 0.5.
    fn prior() -> AdaptationPrior {
        AdaptationPrior::new(4.0, 0.5, vec![1.0, -2.0], vec![2.0, 0.5]).unwrap()
    }

    #[test]
    fn the_formula_matches_values_computed_by_hand() {
        let mut norm = SpeakerNorm::new(prior());
        norm.observe(&[3.0, -2.0]);
        norm.observe(&[5.0, -2.0]);
        assert_eq!(norm.frames_observed(), 2);
        // Feature 0: w = 6, m = (4·1 + 8)/6 = 2, q = (4·(4 + 1) + 9 + 25)/6
        // = 9, s = sqrt(9 − 4) = √5 (above the floor 0.5·2 = 1).
        // Feature 1: m = (4·−2 − 4)/6 = −2, q = (4·(0.25 + 4) + 8)/6 = 25/6,
        // s = sqrt(25/6 − 4) = sqrt(1/6) (above the floor 0.25).
        let mut x = [4.0f32, -1.0, 0.0, -3.0];
        norm.apply(&mut x);
        let s0 = 5f64.sqrt();
        let s1 = (1.0f64 / 6.0).sqrt();
        let want = [
            1.0 + 2.0 * (4.0 - 2.0) / s0,
            -2.0 + 0.5 * (-1.0 + 2.0) / s1,
            1.0 + 2.0 * (0.0 - 2.0) / s0,
            -2.0 + 0.5 * (-3.0 + 2.0) / s1,
        ];
        for (got, want) in x.iter().zip(want) {
            assert!(
                (*got as f64 - want).abs() < 1e-6 * want.abs().max(1.0),
                "{x:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn staged_frames_count_until_kept_or_dropped() {
        let x = [4.0f32, -1.0, 0.0, -3.0];
        let applied = |norm: &mut SpeakerNorm| {
            let mut y = x;
            norm.apply(&mut y);
            y
        };
        let mut observed = SpeakerNorm::new(prior());
        observed.observe(&[3.0, -2.0]);
        observed.observe(&[5.0, -2.0]);
        let mut staged = SpeakerNorm::new(prior());
        staged.observe(&[3.0, -2.0]);
        staged.stage(&[5.0, -2.0]);
        assert_eq!(staged.frames_observed(), 2);
        assert_eq!(applied(&mut staged), applied(&mut observed));
        // Dropped, exactly: as if never staged.
        let mut alone = SpeakerNorm::new(prior());
        alone.observe(&[3.0, -2.0]);
        staged.discard();
        assert_eq!(staged.frames_observed(), 1);
        assert_eq!(applied(&mut staged), applied(&mut alone));
        // Kept: a later discard does not take them out.
        staged.stage(&[5.0, -2.0]);
        staged.commit();
        staged.discard();
        assert_eq!(staged.frames_observed(), 2);
        assert_eq!(applied(&mut staged), applied(&mut observed));
        // Forgetting drops both.
        staged.stage(&[9.0, 9.0]);
        staged.forget();
        assert_eq!(staged.frames_observed(), 0);
        assert_eq!(applied(&mut staged), x);
    }

    #[test]
    fn no_frames_observed_is_the_identity() {
        let mut norm = SpeakerNorm::new(prior());
        let orig = [3.5f32, -7.25, -100.0, 0.125, 0.0, 1e4];
        let mut x = orig;
        norm.apply(&mut x);
        for (got, want) in x.iter().zip(orig) {
            assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0), "{x:?}");
        }
    }

    #[test]
    fn the_std_never_falls_below_its_floor() {
        // A speaker who never moves: the spread shrinks towards 0, so the
        // floor r·σ0 holds it.
        let mut norm = SpeakerNorm::new(prior());
        for _ in 0..10_000 {
            norm.observe(&[7.0, -2.0]);
        }
        let (n0, n): (f64, f64) = (4.0, 10_000.0);
        let w = n0 + n;
        let m0 = (n0 * 1.0 + n * 7.0) / w;
        let q0 = (n0 * 5.0 + n * 49.0) / w;
        assert!(
            (q0 - m0 * m0).sqrt() < 0.5 * 2.0,
            "the case is below the floor"
        );
        let mut x = [8.0f32, -1.0];
        norm.apply(&mut x);
        // s0 = 0.5·2 = 1 and s1 = 0.5·0.5 = 0.25 (the spread of feature 1
        // is the prior's alone, shrunk by w).
        let want = [
            1.0 + 2.0 * (8.0 - m0) / 1.0,
            -2.0 + 0.5 * (-1.0 + 2.0) / 0.25,
        ];
        for (got, want) in x.iter().zip(want) {
            assert!((*got as f64 - want).abs() < 1e-5, "{x:?} vs {want:?}");
        }
    }

    #[test]
    fn forget_goes_back_to_the_prior() {
        let mut norm = SpeakerNorm::new(prior());
        norm.observe(&[30.0, 4.0]);
        norm.forget();
        assert_eq!(norm.frames_observed(), 0);
        let mut x = [2.0f32, -1.5];
        norm.apply(&mut x);
        assert!(
            (x[0] - 2.0).abs() < 1e-6 && (x[1] + 1.5).abs() < 1e-6,
            "{x:?}"
        );
    }

    fn json(format: &str, n0: &str, r: &str, mean: &str, std: &str, extra: &str) -> String {
        format!(
            r#"{{"format": {format}, "prior_frames": {n0}, "min_std_ratio": {r}, "mean": {mean}, "std": {std}{extra}}}"#
        )
    }

    #[test]
    fn the_metadata_json_is_parsed_and_checked() {
        let ok = json("1", "200", "0.25", "[1, -2.5]", "[2, 0.5]", "");
        let p = AdaptationPrior::from_json(&ok, 2).unwrap();
        assert_eq!(
            p,
            AdaptationPrior::new(200.0, 0.25, vec![1.0, -2.5], vec![2.0, 0.5]).unwrap()
        );
        let bad = [
            (json("2", "200", "0.25", "[1, 2]", "[2, 1]", ""), "format"),
            (
                json("1", "0", "0.25", "[1, 2]", "[2, 1]", ""),
                "prior_frames",
            ),
            (
                json("1", "-3", "0.25", "[1, 2]", "[2, 1]", ""),
                "prior_frames",
            ),
            (
                json("1", "200", "0", "[1, 2]", "[2, 1]", ""),
                "min_std_ratio",
            ),
            (
                json("1", "200", "1.5", "[1, 2]", "[2, 1]", ""),
                "min_std_ratio",
            ),
            (
                json("1", "200", "0.25", "[1]", "[2, 1]", ""),
                "mean has 1 values",
            ),
            (
                json("1", "200", "0.25", "[1, 2]", "[2, 1, 3]", ""),
                "std has 3",
            ),
            (json("1", "200", "0.25", "[1, 2]", "[2, 0]", ""), "std[1]"),
            (json("1", "200", "0.25", "[1, 2]", "[-1, 1]", ""), "std[0]"),
            (
                json("1", "200", "0.25", "[1, 2]", "[2, 1]", r#", "x": 1"#),
                "unknown field",
            ),
            (
                r#"{"format": 1, "prior_frames": 200}"#.to_string(),
                "missing field",
            ),
            ("[1, 2]".to_string(), "JSON"),
        ];
        for (text, expected) in bad {
            let err = AdaptationPrior::from_json(&text, 2)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
