// SPDX-License-Identifier: MPL-2.0
//! Pitch and voicing of a frame, from the power spectrum the extractor has
//! already computed.
//!
//! The autocorrelation of the windowed frame is the inverse FFT of its power
//! spectrum (one extra inverse FFT per frame). Divided by the window's own
//! autocorrelation, as in Boersma (1993, the method of Praat's pitch
//! tracker), a periodic signal scores close to 1 at its period whatever the
//! taper. The period is the lag with the best normalised autocorrelation in
//! the pitch range, with Praat's small preference for shorter lags (octave
//! cost): each local maximum is refined by a parabola, and the best few are
//! scored again at their fractional lag. Each frame is analysed
//! alone: no tracking, so features sliced from a clip equal those of the
//! window's own samples.
//!
//! The circular autocorrelation the FFT gives equals the linear one up to a
//! term from the frame's tapered ends; [`PitchParams::validate`] keeps the
//! longest lag within a quarter of the frame, where that term is below 1 %
//! of the frame's energy.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner};

use super::FeatureError;

/// Preference for shorter lags, per octave of lag (Praat's default).
const OCTAVE_COST: f32 = 0.01;

/// Candidate peaks scored exactly.
const CANDIDATES: usize = 3;

/// Mean square of the windowed frame below which it has no pitch.
const SILENT_MEAN_SQUARE: f32 = 1e-10;

/// Reference of the pitch feature: semitones relative to 100 Hz.
pub const PITCH_REFERENCE_HZ: f64 = 100.0;

/// The pitch range searched. With it, a frame gets two more features:
/// pitch (semitones re 100 Hz) and voicing (the peak's normalised
/// autocorrelation, 0–1).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PitchParams {
    pub fmin: f64,
    pub fmax: f64,
}

impl Default for PitchParams {
    /// 60–600 Hz: low male voices to raised female and child voices
    /// (Praat's default ceiling).
    fn default() -> Self {
        PitchParams {
            fmin: 60.0,
            fmax: 600.0,
        }
    }
}

impl PitchParams {
    pub const N_FEATURES: usize = 2;

    /// Shortest and longest lag searched, samples.
    fn lags(&self, sample_rate: u32) -> (usize, usize) {
        let sr = sample_rate as f64;
        (
            (sr / self.fmax).floor() as usize,
            (sr / self.fmin).ceil() as usize,
        )
    }

    pub(super) fn validate(&self, sample_rate: u32, n_fft: usize) -> Result<(), FeatureError> {
        let bad = |reason: String| {
            Err(FeatureError::InvalidParameter {
                name: "pitch",
                reason,
            })
        };
        if !(self.fmin.is_finite()
            && self.fmax.is_finite()
            && 0.0 < self.fmin
            && self.fmin < self.fmax)
        {
            return bad("needs 0 < fmin < fmax".into());
        }
        let (shortest, longest) = self.lags(sample_rate);
        if shortest < 2 {
            return bad(format!(
                "fmax {} Hz is too close to the sample rate {sample_rate} Hz",
                self.fmax
            ));
        }
        if longest > n_fft / 4 {
            return bad(format!(
                "fmin {} Hz needs lags up to {longest} samples; frames of {n_fft} samples allow {}",
                self.fmin,
                n_fft / 4
            ));
        }
        Ok(())
    }
}

/// What the parameters determine: the inverse FFT plan and the window's
/// normalised autocorrelation over the searched lags.
pub(super) struct PitchTables {
    ifft: Arc<dyn ComplexToReal<f32>>,
    /// Lags searched, `shortest..=longest`.
    shortest: usize,
    longest: usize,
    /// The window's autocorrelation over its energy, lags 0..=longest + 1.
    window_acf: Vec<f32>,
    /// The octave cost of each whole lag searched, from `shortest`.
    lag_cost: Vec<f32>,
    sample_rate: f32,
    /// The inverse FFT's lag-0 value (n_fft² times the mean square of the
    /// windowed frame) below which a frame is silent: mean square 1e-10,
    /// -100 dBFS.
    silence: f32,
}

impl PitchTables {
    pub(super) fn new(pitch: &PitchParams, sample_rate: u32, window: &[f32]) -> Self {
        let (shortest, longest) = pitch.lags(sample_rate);
        let acf = |lag: usize| -> f64 {
            window
                .iter()
                .zip(&window[lag..])
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum()
        };
        let energy = acf(0);
        PitchTables {
            ifft: RealFftPlanner::<f32>::new().plan_fft_inverse(window.len()),
            shortest,
            longest,
            window_acf: (0..=longest + 1)
                .map(|l| (acf(l) / energy) as f32)
                .collect(),
            lag_cost: (shortest..=longest)
                .map(|l| OCTAVE_COST * (l as f32).log2())
                .collect(),
            sample_rate: sample_rate as f32,
            silence: (window.len() * window.len()) as f32 * SILENT_MEAN_SQUARE,
        }
    }

    /// The autocorrelation at fractional lags within the searched range,
    /// scaled as the inverse FFT's, over the window's (interpolated).
    ///
    /// The lags' sums run interleaved: each is a chain of dependent
    /// additions (the phasor and the sum), and the processor overlaps
    /// independent chains. Each lag's arithmetic is that of a sum on its own.
    fn acf_at(&self, power: &[f32], lags: [f32; CANDIDATES]) -> [f32; CANDIDATES] {
        let n = 2 * (power.len() - 1);
        let mut rotation = [(0.0f64, 0.0f64); CANDIDATES];
        for (r, &lag) in rotation.iter_mut().zip(&lags) {
            *r = (2.0 * std::f64::consts::PI * lag as f64 / n as f64).sin_cos();
        }
        // cos(k·step) by rotating a phasor, bin by bin.
        let mut phasor = [(1.0f64, 0.0f64); CANDIDATES];
        let mut sum = [power[0] as f64; CANDIDATES];
        let last = power.len() - 1;
        for &p in &power[1..last] {
            for c in 0..CANDIDATES {
                let ((re, im), (sin, cos)) = (phasor[c], rotation[c]);
                phasor[c] = (re * cos - im * sin, re * sin + im * cos);
                sum[c] += 2.0 * p as f64 * phasor[c].0;
            }
        }
        let mut out = [0.0f32; CANDIDATES];
        for c in 0..CANDIDATES {
            let ((re, im), (sin, cos)) = (phasor[c], rotation[c]);
            let re = re * cos - im * sin;
            let total = sum[c] + power[last] as f64 * re;
            let whole = lags[c].floor() as usize;
            let frac = lags[c] - whole as f32;
            let window = self.window_acf[whole] * (1.0 - frac) + self.window_acf[whole + 1] * frac;
            out[c] = total as f32 / window;
        }
        out
    }
}

/// Per-extractor buffers, allocated once.
pub(super) struct PitchScratch {
    spectrum: Vec<Complex<f32>>,
    acf: Vec<f32>,
    scratch: Vec<Complex<f32>>,
}

impl PitchScratch {
    pub(super) fn new(tables: &PitchTables) -> Self {
        PitchScratch {
            spectrum: tables.ifft.make_input_vec(),
            acf: tables.ifft.make_output_vec(),
            scratch: tables.ifft.make_scratch_vec(),
        }
    }
}

/// Pitch (semitones re [`PITCH_REFERENCE_HZ`]) and voicing (0–1) of the frame
/// whose power spectrum (`n_fft / 2 + 1` bins) is `power`. A frame without
/// energy has voicing 0 and pitch 0.
pub(super) fn estimate(
    tables: &PitchTables,
    scratch: &mut PitchScratch,
    power: &[f32],
) -> [f32; 2] {
    for (c, &p) in scratch.spectrum.iter_mut().zip(power) {
        *c = Complex::new(p, 0.0);
    }
    // The input is real, as the inverse of a real signal's spectrum needs,
    // and the lengths come from the plan: this cannot fail.
    let _ = tables.ifft.process_with_scratch(
        &mut scratch.spectrum,
        &mut scratch.acf,
        &mut scratch.scratch,
    );
    let acf = &scratch.acf;
    let energy = acf[0];
    if energy.is_nan() || energy <= tables.silence {
        return [0.0, 0.0];
    }
    let r = |lag: usize| acf[lag] / energy / tables.window_acf[lag];
    // A parabola through a lag and its neighbours: the offset of its vertex
    // (within ±½ lag) and its height.
    let refine = |lag: usize| -> (f32, f32) {
        let (a, b, c) = (r(lag - 1), r(lag), r(lag + 1));
        let curvature = a - 2.0 * b + c;
        if curvature < 0.0 {
            let d = (0.5 * (a - c) / curvature).clamp(-0.5, 0.5);
            (d, b - 0.25 * (a - c) * d)
        } else {
            (0.0, b)
        }
    };
    let score = |lag: f32, value: f32| value - OCTAVE_COST * lag.log2();

    // The local maxima in range, each refined by a parabola; the best lag
    // if there is none (the peak lies beyond the range's edge).
    let mut candidates = [(f32::NEG_INFINITY, 0.0f32); CANDIDATES]; // (score, lag), best first
    let (mut fallback, mut fallback_score) = (tables.shortest, f32::NEG_INFINITY);
    let (mut before, mut here) = (r(tables.shortest - 1), r(tables.shortest));
    for lag in tables.shortest..=tables.longest {
        let after = r(lag + 1);
        let s = here - tables.lag_cost[lag - tables.shortest];
        if s > fallback_score {
            (fallback, fallback_score) = (lag, s);
        }
        if here >= before && here > after {
            let (offset, height) = refine(lag);
            let at = lag as f32 + offset;
            let s = score(at, height);
            if let Some(k) = candidates.iter().position(|&(b, _)| s > b) {
                candidates.copy_within(k..CANDIDATES - 1, k + 1);
                candidates[k] = (s, at);
            }
        }
        (before, here) = (here, after);
    }
    // A parabola underestimates a sharp peak that falls between lags, by
    // more than the octave cost: the few best candidates are scored again
    // with the autocorrelation at their fractional lag, summed from the
    // spectrum.
    // Empty slots are summed at the shortest lag and ignored.
    let lags = candidates.map(|(s, at)| {
        if s.is_finite() {
            at
        } else {
            tables.shortest as f32
        }
    });
    let acf_at = tables.acf_at(power, lags);
    let mut best: Option<(f32, f32, f32)> = None; // (score, lag, height)
    for (&(s, at), acf_at) in candidates.iter().zip(acf_at) {
        if !s.is_finite() {
            continue;
        }
        let height = acf_at / energy;
        let s = score(at, height);
        if best.is_none_or(|(b, _, _)| s > b) {
            best = Some((s, at, height));
        }
    }
    let (period, peak) = match best {
        Some((_, at, height)) => (at, height),
        None => (fallback as f32, r(fallback)),
    };
    let f0 = tables.sample_rate / period;
    [
        12.0 * (f0 / PITCH_REFERENCE_HZ as f32).log2(),
        peak.clamp(0.0, 1.0),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::{extract_all, FeatureParams};

    /// A voice-like periodic signal: harmonics of `f0` falling 6 dB per
    /// octave, up to Nyquist.
    fn harmonics(f0: f64, rate: u32, seconds: f64) -> Vec<f32> {
        let n = (rate as f64 * seconds) as usize;
        let top = (rate as f64 / 2.0 / f0) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / rate as f64;
                (1..=top)
                    .map(|k| {
                        0.3 / k as f64 * (2.0 * std::f64::consts::PI * k as f64 * f0 * t).sin()
                    })
                    .sum::<f64>() as f32
            })
            .collect()
    }

    /// (pitch, voicing) of every frame.
    fn prosody(params: &FeatureParams, samples: &[f32]) -> Vec<(f32, f32)> {
        let n = params.n_features();
        extract_all(params, samples)
            .unwrap()
            .chunks_exact(n)
            .map(|f| (f[n - 2], f[n - 1]))
            .collect()
    }

    #[test]
    fn the_pitch_of_a_periodic_voice_is_found_at_both_rates() {
        for params in [
            FeatureParams::default().with_pitch(),
            FeatureParams::narrowband().with_pitch(),
        ] {
            // 220 Hz at 8 kHz has a period of 36.36 samples, whose third
            // multiple falls almost on a whole lag (109): without refining
            // each candidate peak the tracker answered 73 Hz.
            for f0 in [65.0, 110.0, 150.0, 220.0, 330.0, 480.0] {
                let frames = prosody(&params, &harmonics(f0, params.sample_rate, 1.0));
                assert!(!frames.is_empty());
                let want = 12.0 * (f0 / 100.0).log2() as f32;
                for (pitch, voicing) in frames {
                    assert!(
                        (pitch - want).abs() < 0.1,
                        "{} Hz at {} Hz: pitch {pitch} semitones, want {want}",
                        f0,
                        params.sample_rate
                    );
                    assert!(voicing > 0.95, "{f0} Hz: voicing {voicing}");
                }
            }
        }
    }

    #[test]
    fn noise_is_not_voiced_and_silence_has_no_pitch() {
        let params = FeatureParams::default().with_pitch();
        // A fixed pseudo-random sequence (xorshift), uniform in ±0.1.
        let mut state = 0x2545_f491_u32;
        let noise: Vec<f32> = (0..16000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32 - 0.5) * 0.2
            })
            .collect();
        for (_, voicing) in prosody(&params, &noise) {
            assert!(voicing < 0.35, "white noise voicing {voicing}");
        }
        for (pitch, voicing) in prosody(&params, &vec![0.0; 16000]) {
            assert_eq!((pitch, voicing), (0.0, 0.0));
        }
        // Below -100 dBFS counts as silence too.
        for (pitch, voicing) in prosody(
            &params,
            &harmonics(150.0, 16000, 1.0)
                .iter()
                .map(|x| x * 1e-6)
                .collect::<Vec<_>>(),
        ) {
            assert_eq!((pitch, voicing), (0.0, 0.0));
        }
    }

    #[test]
    fn pitch_features_follow_mfcc_and_chroma_unchanged() {
        let plain = FeatureParams::default();
        let with = plain.clone().with_pitch();
        assert_eq!(with.n_features(), plain.n_features() + 2);
        let x = harmonics(180.0, 16000, 0.5);
        let (a, b) = (
            extract_all(&plain, &x).unwrap(),
            extract_all(&with, &x).unwrap(),
        );
        for (fa, fb) in a
            .chunks_exact(plain.n_features())
            .zip(b.chunks_exact(with.n_features()))
        {
            assert_eq!(fa, &fb[..plain.n_features()]);
        }
    }

    #[test]
    fn the_range_must_fit_the_frame() {
        let low = FeatureParams {
            pitch: Some(super::PitchParams {
                fmin: 20.0,
                fmax: 600.0,
            }),
            ..FeatureParams::default()
        };
        let err = low.validate().unwrap_err().to_string();
        assert!(
            err.contains("fmin 20 Hz needs lags up to 800 samples"),
            "{err}"
        );
        let high = FeatureParams {
            pitch: Some(super::PitchParams {
                fmin: 60.0,
                fmax: 5000.0,
            }),
            ..FeatureParams::narrowband()
        };
        assert!(high
            .validate()
            .unwrap_err()
            .to_string()
            .contains("too close"));
        let upside_down = FeatureParams {
            pitch: Some(super::PitchParams {
                fmin: 300.0,
                fmax: 100.0,
            }),
            ..FeatureParams::default()
        };
        assert!(upside_down.validate().is_err());
    }
}
