// SPDX-License-Identifier: MPL-2.0
//! Sliding-window analysis of one mono stream: features computed once per
//! frame, windows cut from them, silence gating, and the end-of-stream rule.
//! No GStreamer types: the element converts sample offsets to time.
//!
//! Windows start every `interval` samples at `s = k·interval` and cover
//! `[s, s + window)`; a window uses the frames that lie entirely inside it.
//! At the end of a stream ([`Analyzer::finish`]):
//! - a stream shorter than one window is classified whole, if it holds at
//!   least one frame;
//! - otherwise the next window, cut short at the end, is classified if at
//!   least `min_tail` samples lie after the end of the last full window.
//!
//! Speaker adaptation ([`crate::adapt`]): with a model's prior, a window's
//! frames are normalised by the stream's speaker statistics, which hold the
//! speech frames of the windows classified so far, each frame once, and the
//! window's own speech frames. Those stay in the statistics only if the
//! window is classified: a window the model hears as `non-speech` (hold
//! music, noise) or that the gates keep from it teaches the statistics
//! nothing, and its frames are offered again to the next window containing
//! them. A reset keeps the statistics (the same speaker goes on after a
//! gap); [`Analyzer::forget_speaker`] clears them.

use crate::adapt::{AdaptationPrior, SpeakerNorm};
use crate::features::{sanitize, FeatureError, FeatureExtractor, FeatureParams};
use crate::model::{Classifier, ModelError};
use crate::vad::{Frame, VoiceActivity};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowConfig {
    /// Samples per window.
    pub window: u64,
    /// Samples between window starts; `1..=window`.
    pub interval: u64,
    /// Least audio after the last full window for a final, shorter window.
    pub min_tail: u64,
    /// Windows whose RMS is below this (dBFS) are not classified.
    pub silence_threshold_db: f64,
    /// Windows with a smaller share of speech frames are not classified;
    /// negative: automatic, [`AUTO_MIN_SPEECH_RATIO`] of speech frames for a
    /// model without a `non-speech` output, [`AUTO_MIN_SPEECH_RATIO_WITH_GATE`]
    /// of speech-or-noise frames ([`Frame::is_speech_or_noise`]) for one with.
    pub min_speech_ratio: f64,
}

/// The speech ratio an automatic `min_speech_ratio` asks of a model
/// without a `non-speech` output: a 3 s window of conversational speech
/// has 30–80 % speech frames, one with a short word or a cough fewer.
pub const AUTO_MIN_SPEECH_RATIO: f64 = 0.2;

/// The same for a model with a `non-speech` output, whose gate judges the
/// rest, counting the frames that are speech or noise-like
/// ([`Frame::is_speech_or_noise`]), not only speech frames: 4 of a 3 s
/// window's 74, one of which must be more than an onset
/// ([`crate::vad::VoiceActivity::onset_only`]). That keeps out what the
/// models' non-speech training lacks (silence, a constant offset, a pure
/// 50 Hz tone, a low buzz on a telephone line, also when it starts after
/// silence), while speech in loud noise, whose frames the detector calls
/// noise, reaches the model (the model card, *Speech gating*).
pub const AUTO_MIN_SPEECH_RATIO_WITH_GATE: f64 = 0.05;

/// Whether a set `min-speech-ratio` asks for the automatic one: anything but
/// a ratio >= 0 (a negative value, or NaN).
pub fn is_automatic_speech_ratio(set: f64) -> bool {
    !(0.0..).contains(&set)
}

/// The window speech ratio in force for a set `min-speech-ratio` (negative:
/// automatic) and a model with or without a `non-speech` output.
pub fn effective_min_speech_ratio(set: f64, has_non_speech: bool) -> f64 {
    match (is_automatic_speech_ratio(set), has_non_speech) {
        (false, _) => set,
        (true, true) => AUTO_MIN_SPEECH_RATIO_WITH_GATE,
        (true, false) => AUTO_MIN_SPEECH_RATIO,
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AnalysisError {
    #[error(transparent)]
    Features(#[from] FeatureError),
    #[error("window of {window} samples is shorter than one analysis frame ({n_fft} samples)")]
    WindowTooShort { window: u64, n_fft: usize },
    #[error("interval must be within 1..=window ({window} samples), got {interval}")]
    BadInterval { interval: u64, window: u64 },
    #[error("the adaptation prior has {prior} features per frame, the features {features}")]
    PriorWidth { prior: usize, features: usize },
}

/// One analysed window, in samples since the last reset.
#[derive(Debug, PartialEq)]
pub struct Window<'a> {
    pub start: u64,
    pub len: u64,
    pub rms_dbfs: f64,
    /// Share of the window's frames judged speech, 0..=1.
    pub speech_ratio: f64,
    /// Share judged speech or noise ([`Frame::is_speech_or_noise`]), 0..=1:
    /// what the automatic gate of a model with a `non-speech` output counts,
    /// so a window it classifies may hold less speech than the ratio.
    pub speech_or_noise_ratio: f64,
    /// The emotions' probabilities (the model's outputs without
    /// `non-speech`, renormalised); `None` when the window was below the
    /// silence threshold, held too little speech (or speech and noise, see
    /// [`Analyzer::gates_on_speech_or_noise`]), or the model found it most
    /// likely not speech.
    pub probabilities: Option<&'a [f32]>,
    /// The speech frames the speaker normalisation rests on (besides the
    /// prior); 0 when speaker adaptation is off or the model has no prior.
    pub speaker_frames: u64,
}

/// The largest bias, either way, that the element's `non-speech-bias` and
/// the gateway's `--non-speech-bias` accept: e^10 weighs the `non-speech`
/// probability about 22,000 times. [`Analyzer::set_non_speech_bias`] itself
/// takes any value.
pub const NON_SPEECH_BIAS_LIMIT: f64 = 10.0;

pub struct Analyzer {
    config: WindowConfig,
    extractor: FeatureExtractor,
    n_features: usize,
    hop: u64,
    n_fft: u64,
    /// Ring of frames: `frame_cap` slots of `n_features` values.
    frames: Vec<f32>,
    frame_cap: usize,
    /// What the detector (or the external flag) made of each kept frame
    /// (same slots as `frames`).
    kinds: Vec<Frame>,
    /// Whether the detector's frame belongs to an onset, or is speech only
    /// by one ([`VoiceActivity::onset_only`]; same slots).
    onsets: Vec<bool>,
    vad: VoiceActivity,
    /// Voice activity given from outside (e.g. upstream level meta), used
    /// instead of ours for the frames completed while set.
    external_vad: Option<bool>,
    /// Index of the oldest frame kept, and how many are kept.
    first_frame: u64,
    n_frames: usize,
    /// Sum of squared samples of each open window, window `k` in slot
    /// `k % energy.len()`: enough slots for every window that can be open.
    energy: Vec<f64>,
    /// Windows opened since the last reset (window `k` opens at `k·interval`).
    opened: u64,
    /// Samples received since the last reset.
    received: u64,
    /// Start of the next window.
    next_start: u64,
    /// Full windows completed since the last reset.
    full_windows: u64,
    input: Vec<f32>,
    /// The model's outputs, and the emotions' share of them.
    outputs: Vec<f32>,
    probabilities: Vec<f32>,
    /// Index of the model's `non-speech` output, if it has one.
    non_speech: Option<usize>,
    /// The speaker's statistics, when the model has an adaptation prior:
    /// gathered whether or not they are applied.
    speaker: Option<SpeakerNorm>,
    /// Frames before this index are in the statistics or never will be.
    learned: u64,
    /// Whether classified windows are normalised by them.
    adapt: bool,
    /// What the `non-speech` output is multiplied by before the decision
    /// (e^[`Self::set_non_speech_bias`]; 1: the model's own argmax).
    non_speech_weight: f32,
}

impl Analyzer {
    /// Checks that `config` suits `params` without building anything.
    pub fn check(params: &FeatureParams, config: &WindowConfig) -> Result<(), AnalysisError> {
        params.validate()?;
        if config.window < params.n_fft as u64 {
            return Err(AnalysisError::WindowTooShort {
                window: config.window,
                n_fft: params.n_fft,
            });
        }
        if config.interval == 0 || config.interval > config.window {
            return Err(AnalysisError::BadInterval {
                interval: config.interval,
                window: config.window,
            });
        }
        Ok(())
    }

    /// An analyzer for a model with `n_labels` outputs, of which
    /// `non_speech` (if any) is the `non-speech` one, and with the model's
    /// speaker adaptation `prior` (if any), applied until
    /// [`set_speaker_adaptation`](Self::set_speaker_adaptation) says
    /// otherwise.
    pub fn new(
        params: &FeatureParams,
        n_labels: usize,
        non_speech: Option<usize>,
        prior: Option<&AdaptationPrior>,
        config: WindowConfig,
    ) -> Result<Self, AnalysisError> {
        Self::check(params, &config)?;
        if let Some(p) = prior.filter(|p| p.n_features() != params.n_features()) {
            return Err(AnalysisError::PriorWidth {
                prior: p.n_features(),
                features: params.n_features(),
            });
        }
        let extractor = FeatureExtractor::new(params)?;
        let n_features = params.n_features();
        let frame_cap = (config.window / params.hop_length as u64) as usize + 2;
        Ok(Analyzer {
            config,
            extractor,
            n_features,
            hop: params.hop_length as u64,
            n_fft: params.n_fft as u64,
            frames: vec![0.0; frame_cap * n_features],
            kinds: vec![Frame::Quiet; frame_cap],
            onsets: vec![false; frame_cap],
            vad: VoiceActivity::default(),
            external_vad: None,
            frame_cap,
            first_frame: 0,
            n_frames: 0,
            energy: vec![0.0; config.window.div_ceil(config.interval) as usize + 1],
            opened: 0,
            received: 0,
            next_start: 0,
            full_windows: 0,
            input: vec![0.0; frame_cap * n_features],
            outputs: vec![0.0; n_labels],
            probabilities: Vec::with_capacity(n_labels),
            non_speech: non_speech.filter(|&i| i < n_labels),
            speaker: prior.cloned().map(SpeakerNorm::new),
            learned: 0,
            adapt: true,
            non_speech_weight: 1.0,
        })
    }

    pub fn set_silence_threshold(&mut self, db: f64) {
        self.config.silence_threshold_db = db;
    }

    pub fn set_min_speech_ratio(&mut self, ratio: f64) {
        self.config.min_speech_ratio = ratio;
    }

    /// The speech ratio a window needs: the configured one, or when that is
    /// negative (automatic), [`AUTO_MIN_SPEECH_RATIO_WITH_GATE`] if the
    /// model has a `non-speech` output (its gate rejects noise, tones and
    /// music; a higher ratio would drop much speech in white noise), of
    /// speech-or-noise frames ([`Self::gates_on_speech_or_noise`]),
    /// [`AUTO_MIN_SPEECH_RATIO`] if it has not.
    pub fn min_speech_ratio(&self) -> f64 {
        effective_min_speech_ratio(self.config.min_speech_ratio, self.non_speech.is_some())
    }

    /// Whether the window gate counts speech-or-noise frames rather than speech
    /// frames (and asks for one that is more than an onset): the automatic
    /// ratio with a model whose own gate judges noise.
    pub fn gates_on_speech_or_noise(&self) -> bool {
        is_automatic_speech_ratio(self.config.min_speech_ratio) && self.non_speech.is_some()
    }

    /// Voice activity known from outside for the samples pushed next, or
    /// `None` to use the built-in detector.
    pub fn set_external_voice_activity(&mut self, active: Option<bool>) {
        self.external_vad = active;
    }

    /// Shifts the decision between speech and not speech for a model with a
    /// `non-speech` output: a window is not classified when its `non-speech`
    /// probability times e^`bias` is its largest output. 0 (the default)
    /// keeps the model's own argmax, exactly; a positive bias leaves more
    /// windows unclassified (fewer false alarms on sounds that are not
    /// speech, less speech covered), a negative one fewer. A window's
    /// probabilities are the model's whatever the bias, but with speaker
    /// adaptation the statistics learn only from classified windows, so the
    /// bias also moves later windows' inputs. NaN counts as 0. No effect on
    /// a model without that output.
    pub fn set_non_speech_bias(&mut self, bias: f64) {
        self.non_speech_weight = if bias.is_nan() {
            1.0
        } else {
            bias.exp() as f32
        };
    }

    /// The bias set by [`Self::set_non_speech_bias`].
    pub fn non_speech_bias(&self) -> f64 {
        (self.non_speech_weight as f64).ln()
    }

    /// Whether classified windows are normalised by the speaker's
    /// statistics (when the model has a prior). The statistics are gathered
    /// either way, so turning it on uses every speech frame learnt so far.
    pub fn set_speaker_adaptation(&mut self, on: bool) {
        self.adapt = on;
    }

    /// Whether windows are normalised by the speaker's statistics: it is
    /// on, and the model has a prior.
    pub fn adapts_to_speaker(&self) -> bool {
        self.adapt && self.speaker.is_some()
    }

    /// Speech frames the speaker's statistics rest on (0 without a prior),
    /// whether or not they are applied.
    pub fn speaker_frames(&self) -> u64 {
        self.speaker
            .as_ref()
            .map_or(0, SpeakerNorm::frames_observed)
    }

    /// Forgets the speaker's statistics: a new speaker starts from the
    /// prior. [`reset`](Self::reset) keeps them.
    pub fn forget_speaker(&mut self) {
        if let Some(s) = self.speaker.as_mut() {
            s.forget();
        }
    }

    /// Samples received since the last reset.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Forgets the stream (the next sample is sample 0 of a new stream) but
    /// not the speaker's statistics.
    pub fn reset(&mut self) {
        self.extractor.reset();
        self.vad.reset();
        self.first_frame = 0;
        self.n_frames = 0;
        self.learned = 0;
        self.received = 0;
        self.next_start = 0;
        self.full_windows = 0;
        self.opened = 0;
    }

    /// Feeds mono samples; `on_window` is called for each window they
    /// complete, in order.
    pub fn push(
        &mut self,
        mut mono: &[f32],
        classifier: &mut dyn Classifier,
        mut on_window: impl FnMut(&Window),
    ) -> Result<(), ModelError> {
        while !mono.is_empty() {
            let next_open = self.opened * self.config.interval;
            if next_open == self.received {
                let slot = (self.opened % self.energy.len() as u64) as usize;
                self.energy[slot] = 0.0;
                self.opened += 1;
                continue;
            }
            let window_end = self.next_start + self.config.window;
            let take = ((window_end.min(next_open) - self.received) as usize).min(mono.len());
            self.ingest(&mono[..take]);
            mono = &mono[take..];
            if self.received == window_end {
                let start = self.next_start;
                self.full_windows += 1;
                self.next_start += self.config.interval;
                self.analyse(start, window_end, classifier, &mut on_window)?;
            }
        }
        Ok(())
    }

    /// End of stream (or of a continuous stretch): applies the tail rule,
    /// then resets.
    pub fn finish(
        &mut self,
        classifier: &mut dyn Classifier,
        mut on_window: impl FnMut(&Window),
    ) -> Result<(), ModelError> {
        let end = self.received;
        let result = if self.full_windows == 0 {
            if end >= self.n_fft {
                self.analyse(0, end, classifier, &mut on_window)
            } else {
                Ok(())
            }
        } else {
            let last_full_end = self.next_start - self.config.interval + self.config.window;
            if end >= last_full_end + self.config.min_tail && end > self.next_start {
                self.analyse(self.next_start, end, classifier, &mut on_window)
            } else {
                Ok(())
            }
        };
        self.reset();
        result
    }

    fn ingest(&mut self, mono: &[f32]) {
        // The chunk lies inside the same open windows from start to end.
        let mut acc = [0.0f32; 8];
        let (eight, rest) = mono.split_at(mono.len() - mono.len() % 8);
        for c in eight.chunks_exact(8) {
            for k in 0..8 {
                let s = sanitize(c[k]);
                acc[k] += s * s;
            }
        }
        let e = acc.iter().map(|&v| v as f64).sum::<f64>()
            + rest
                .iter()
                .map(|&s| (sanitize(s) as f64).powi(2))
                .sum::<f64>();
        let slots = self.energy.len() as u64;
        for k in self.next_start / self.config.interval..self.opened {
            self.energy[(k % slots) as usize] += e;
        }
        let (frames, frame_cap, nf) = (&mut self.frames, self.frame_cap, self.n_features);
        let (first_frame, n_frames) = (&mut self.first_frame, &mut self.n_frames);
        let (kinds, onsets) = (&mut self.kinds, &mut self.onsets);
        let (vad, external) = (&mut self.vad, self.external_vad);
        let keep_from = self.next_start.div_ceil(self.hop);
        self.extractor
            .push_with_stats(mono, |index, features, stats| {
                // Frames that start before the next window are no longer needed.
                while *n_frames > 0 && (*first_frame < keep_from || *n_frames == frame_cap) {
                    *first_frame += 1;
                    *n_frames -= 1;
                }
                if *n_frames == 0 {
                    *first_frame = index;
                }
                let slot = (index % frame_cap as u64) as usize;
                frames[slot * nf..(slot + 1) * nf].copy_from_slice(features);
                // The detector sees every frame, so its history stays whole.
                let ours = vad.frame(stats);
                // An external flag says speech or not: a frame it calls
                // not speech counts as no noise either.
                kinds[slot] = match external {
                    Some(true) => Frame::Speech,
                    Some(false) => Frame::Quiet,
                    None => ours,
                };
                onsets[slot] = external.is_none() && vad.onset_only();
                *n_frames += 1;
            });
        self.received += mono.len() as u64;
    }

    fn analyse(
        &mut self,
        start: u64,
        end: u64,
        classifier: &mut dyn Classifier,
        on_window: &mut impl FnMut(&Window),
    ) -> Result<(), ModelError> {
        let len = end - start;
        let slot = (start / self.config.interval) % self.energy.len() as u64;
        let energy = self.energy[slot as usize];
        let rms_dbfs = 10.0 * (energy / len as f64).max(1e-20).log10();

        let first = start.div_ceil(self.hop).max(self.first_frame);
        let last_exclusive = if end >= self.n_fft {
            (end - self.n_fft) / self.hop + 1
        } else {
            0
        };
        let last_exclusive = last_exclusive.min(self.first_frame + self.n_frames as u64);
        let frames = last_exclusive.saturating_sub(first) as usize;

        let slots = (first..last_exclusive).map(|i| (i % self.frame_cap as u64) as usize);
        let share = |test: fn(Frame) -> bool| {
            let n = slots.clone().filter(|&k| test(self.kinds[k])).count();
            if frames > 0 {
                n as f64 / frames as f64
            } else {
                0.0
            }
        };
        let speech_ratio = share(Frame::is_speech);
        let speech_or_noise_ratio = share(Frame::is_speech_or_noise);
        let gated = if self.gates_on_speech_or_noise() {
            // The automatic gate also asks for one counted frame that is
            // more than an onset: a steady buzz that starts abruptly gives a
            // few speech frames and nothing else.
            speech_or_noise_ratio >= self.min_speech_ratio()
                && slots
                    .clone()
                    .any(|k| self.kinds[k].is_speech_or_noise() && !self.onsets[k])
        } else {
            speech_ratio >= self.min_speech_ratio()
        };
        let mut classified = rms_dbfs >= self.config.silence_threshold_db && frames > 0 && gated;
        // The window's speech frames that are not in the statistics yet
        // count for it, and stay if the model hears speech in it; if not,
        // the next window containing them offers them again.
        if let Some(speaker) = self.speaker.as_mut() {
            let nf = self.n_features;
            for index in self.learned.max(first)..last_exclusive {
                let slot = (index % self.frame_cap as u64) as usize;
                if self.kinds[slot].is_speech() {
                    speaker.stage(&self.frames[slot * nf..(slot + 1) * nf]);
                }
            }
        }
        if classified {
            let nf = self.n_features;
            for (k, index) in (first..last_exclusive).enumerate() {
                let slot = (index % self.frame_cap as u64) as usize;
                self.input[k * nf..(k + 1) * nf]
                    .copy_from_slice(&self.frames[slot * nf..(slot + 1) * nf]);
            }
            if let Some(speaker) = self.speaker.as_mut().filter(|_| self.adapt) {
                speaker.apply(&mut self.input[..frames * nf]);
            }
            let result = classifier.classify(&self.input[..frames * nf], frames, &mut self.outputs);
            if let Err(e) = result {
                self.speaker.as_mut().map(SpeakerNorm::discard);
                return Err(e);
            }
            classified = self.keep_emotions();
        }
        if let Some(speaker) = self.speaker.as_mut() {
            if classified {
                speaker.commit();
                self.learned = self.learned.max(last_exclusive);
            } else {
                speaker.discard();
            }
        }
        on_window(&Window {
            start,
            len,
            rms_dbfs,
            speech_ratio,
            speech_or_noise_ratio,
            probabilities: classified.then_some(&self.probabilities[..]),
            speaker_frames: if self.adapts_to_speaker() {
                self.speaker_frames()
            } else {
                0
            },
        });
        Ok(())
    }
}

impl Analyzer {
    /// Fills `probabilities` with the emotions' share of the model's
    /// outputs; false when `non-speech` is the most probable output.
    fn keep_emotions(&mut self) -> bool {
        self.probabilities.clear();
        let Some(ns) = self.non_speech else {
            self.probabilities.extend_from_slice(&self.outputs);
            return true;
        };
        // Weight 1 (the default) leaves the outputs as they are: the
        // model's own argmax.
        let weight = self.non_speech_weight;
        let top = self
            .outputs
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                (
                    i,
                    if i == ns && weight != 1.0 {
                        p * weight
                    } else {
                        p
                    },
                )
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(0, |(i, _)| i);
        if top == ns {
            return false;
        }
        let speech = (1.0 - self.outputs[ns]).max(f32::MIN_POSITIVE);
        self.probabilities.extend(
            self.outputs
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != ns)
                .map(|(_, &p)| p / speech),
        );
        true
    }
}

/// A stretch of time with one dominant emotion, in samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub start: u64,
    pub end: u64,
    pub label: usize,
    /// Mean probability of `label` over the segment's windows.
    pub confidence: f64,
    pub windows: u32,
}

/// Turns window results into emotion segments: probabilities smoothed
/// over time (exponential, weight [`SegmentTracker::ALPHA`] on the newest
/// window), and the dominant emotion changes only when another has led for
/// [`SegmentTracker::SWITCH_AFTER`] consecutive windows. A window that is
/// not classified (silence, no speech) closes the open segment.
#[derive(Debug, Clone)]
pub struct SegmentTracker {
    smoothed: Vec<f64>,
    open: Option<Segment>,
    /// Windows since the last one the open segment's label led: the label
    /// that led them (or, if they disagree, the last one), how many, the
    /// start of the first, and their probability sums for that label and
    /// for the open segment's label.
    challenger: Option<Challenger>,
}

#[derive(Debug, Clone, Copy)]
struct Challenger {
    label: usize,
    count: u32,
    first: u64,
    sum_own: f64,
    sum_open: f64,
}

impl SegmentTracker {
    pub const ALPHA: f64 = 0.6;
    pub const SWITCH_AFTER: u32 = 2;

    pub fn new(n_labels: usize) -> Self {
        SegmentTracker {
            smoothed: vec![0.0; n_labels],
            open: None,
            challenger: None,
        }
    }

    /// Feeds one window (`None`: not classified); closed segments are
    /// appended to `out`.
    pub fn window(
        &mut self,
        start: u64,
        len: u64,
        probabilities: Option<&[f32]>,
        out: &mut Vec<Segment>,
    ) {
        let Some(p) = probabilities else {
            // The window is not classified: the open segment ends where it
            // starts, so the next segment cannot begin before this one ends.
            self.close(Some(start), out);
            return;
        };
        let end = start + len;
        match self.open {
            None => {
                for (s, &v) in self.smoothed.iter_mut().zip(p) {
                    *s = v as f64;
                }
            }
            Some(_) => {
                for (s, &v) in self.smoothed.iter_mut().zip(p) {
                    *s = Self::ALPHA * v as f64 + (1.0 - Self::ALPHA) * *s;
                }
            }
        }
        let top = self
            .smoothed
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i);
        let Some(open) = self.open.as_mut() else {
            self.open = Some(Segment {
                start,
                end,
                label: top,
                confidence: p[top] as f64,
                windows: 1,
            });
            return;
        };
        if top == open.label {
            // Back to the open label: the windows in between were its too.
            if let Some(c) = self.challenger.take() {
                open.windows += c.count;
                open.confidence += c.sum_open;
            }
            open.end = end;
            open.confidence += p[top] as f64;
            open.windows += 1;
            return;
        }
        let c = match self.challenger {
            Some(c) if c.label == top => Challenger {
                count: c.count + 1,
                sum_own: c.sum_own + p[top] as f64,
                sum_open: c.sum_open + p[open.label] as f64,
                ..c
            },
            // A different challenger restarts the count, from its own window.
            _ => {
                if let Some(c) = self.challenger {
                    open.windows += c.count;
                    open.confidence += c.sum_open;
                }
                Challenger {
                    label: top,
                    count: 1,
                    first: start,
                    sum_own: p[top] as f64,
                    sum_open: p[open.label] as f64,
                }
            }
        };
        if c.count >= Self::SWITCH_AFTER {
            let mut closed = self.open.take().expect("checked above");
            closed.end = c.first.max(closed.start);
            closed.confidence /= closed.windows.max(1) as f64;
            out.push(closed);
            self.open = Some(Segment {
                start: c.first,
                end,
                label: top,
                confidence: c.sum_own,
                windows: c.count,
            });
            self.challenger = None;
        } else {
            open.end = end;
            self.challenger = Some(c);
        }
    }

    /// Closes the open segment, if any, at the end of its last window: the
    /// end of a stretch of audio.
    pub fn finish(&mut self, out: &mut Vec<Segment>) {
        self.close(None, out);
    }

    /// Closes the open segment, at `at` if that comes before the end of its
    /// last window.
    fn close(&mut self, at: Option<u64>, out: &mut Vec<Segment>) {
        if let Some(mut s) = self.open.take() {
            if let Some(c) = self.challenger.take() {
                s.windows += c.count;
                s.confidence += c.sum_open;
            }
            if let Some(at) = at {
                s.end = s.end.min(at).max(s.start);
            }
            s.confidence /= s.windows.max(1) as f64;
            out.push(s);
        }
        self.challenger = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records every input it is given and its frame count; answers 0.25,
    /// 0.75.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<Vec<f32>>,
        frames: Vec<usize>,
    }

    impl Classifier for Recorder {
        fn classify(
            &mut self,
            f: &[f32],
            frames: usize,
            out: &mut [f32],
        ) -> Result<(), ModelError> {
            self.calls.push(f.to_vec());
            self.frames.push(frames);
            out.copy_from_slice(&[0.25, 0.75]);
            Ok(())
        }
    }

    fn config(window: u64, interval: u64) -> WindowConfig {
        WindowConfig {
            window,
            interval,
            min_tail: 16000,
            silence_threshold_db: -60.0,
            min_speech_ratio: 0.0,
        }
    }

    fn noise(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 % 2000) as f32 / 1000.0 - 1.0) * 0.3)
            .collect()
    }

    fn run(samples: &[f32], cfg: WindowConfig, chunk: usize) -> Vec<(u64, u64, bool)> {
        let p = FeatureParams::default();
        let mut a = Analyzer::new(&p, 2, None, None, cfg).unwrap();
        let mut rec = Recorder::default();
        let mut out = vec![];
        for c in samples.chunks(chunk) {
            a.push(c, &mut rec, |w| {
                out.push((w.start, w.len, w.probabilities.is_some()))
            })
            .unwrap();
        }
        a.finish(&mut rec, |w| {
            out.push((w.start, w.len, w.probabilities.is_some()))
        })
        .unwrap();
        out
    }

    #[test]
    fn windows_advance_by_interval() {
        let out = run(&noise(80000), config(48000, 16000), 1000);
        assert_eq!(
            out,
            vec![(0, 48000, true), (16000, 48000, true), (32000, 48000, true)]
        );
    }

    #[test]
    fn overlapping_windows_at_a_short_interval() {
        let out = run(&noise(48000), config(32000, 8000), 4000);
        assert_eq!(
            out,
            vec![(0, 32000, true), (8000, 32000, true), (16000, 32000, true)]
        );
    }

    #[test]
    fn short_stream_is_classified_whole() {
        assert_eq!(
            run(&noise(32000), config(48000, 16000), 777),
            vec![(0, 32000, true)]
        );
        assert_eq!(run(&noise(1000), config(48000, 16000), 777), vec![]);
    }

    #[test]
    fn tail_window_needs_min_tail_after_the_last_full_window() {
        // window 2 s, interval 2 s: 5 s of audio leaves a 1 s tail.
        let out = run(&noise(80000), config(32000, 32000), 4096);
        assert_eq!(
            out,
            vec![(0, 32000, true), (32000, 32000, true), (64000, 16000, true)]
        );
        let out = run(&noise(79000), config(32000, 32000), 4096);
        assert_eq!(out, vec![(0, 32000, true), (32000, 32000, true)]);
    }

    #[test]
    fn silence_is_not_classified() {
        let out = run(&vec![0.0; 48000], config(48000, 16000), 1000);
        assert_eq!(out, vec![(0, 48000, false)]);
    }

    #[test]
    fn window_frames_are_those_inside_the_window() {
        let p = FeatureParams::default();
        let mut a = Analyzer::new(&p, 2, None, None, config(48000, 16000)).unwrap();
        let mut rec = Recorder::default();
        let samples = noise(64000);
        for c in samples.chunks(333) {
            a.push(c, &mut rec, |_| {}).unwrap();
        }
        let per_window = (48000 - p.n_fft) / p.hop_length + 1;
        assert_eq!(rec.frames, vec![per_window, per_window]);
        // The second window's first frame is frame 25 of the whole signal.
        let all = crate::features::extract_all(&p, &samples).unwrap();
        assert_eq!(rec.calls[1][0], all[25 * p.n_features()]);
    }

    #[test]
    fn bad_configs_are_refused() {
        let p = FeatureParams::default();
        assert!(matches!(
            Analyzer::new(&p, 2, None, None, config(1000, 1000)),
            Err(AnalysisError::WindowTooShort { .. })
        ));
        assert!(matches!(
            Analyzer::new(&p, 2, None, None, config(48000, 0)),
            Err(AnalysisError::BadInterval { .. })
        ));
        assert!(matches!(
            Analyzer::new(&p, 2, None, None, config(48000, 48001)),
            Err(AnalysisError::BadInterval { .. })
        ));
    }

    fn one_hot(label: usize, p: f32) -> Vec<f32> {
        let mut v = vec![(1.0 - p) / 2.0; 3];
        v[label] = p;
        v
    }

    #[test]
    fn segments_follow_the_dominant_emotion_with_hysteresis() {
        let mut t = SegmentTracker::new(3);
        let mut out = Vec::new();
        let labels = [0, 0, 0, 1, 0, 0, 2, 2, 2, 2];
        for (k, &l) in labels.iter().enumerate() {
            t.window(k as u64 * 10, 30, Some(&one_hot(l, 0.9)), &mut out);
        }
        t.finish(&mut out);
        // The lone 1 does not switch (its window counts for 0); the run of
        // 2s does, from its first window.
        let spans: Vec<(u64, u64, usize, u32)> = out
            .iter()
            .map(|s| (s.start, s.end, s.label, s.windows))
            .collect();
        assert_eq!(spans, vec![(0, 60, 0, 6), (60, 120, 2, 4)]);
        assert!((out[1].confidence - 0.9).abs() < 1e-6);
    }

    #[test]
    fn an_unclassified_window_closes_the_segment() {
        let mut t = SegmentTracker::new(3);
        let mut out = Vec::new();
        t.window(0, 30, Some(&one_hot(1, 0.8)), &mut out);
        t.window(10, 30, None, &mut out);
        t.window(20, 30, Some(&one_hot(1, 0.8)), &mut out);
        t.finish(&mut out);
        let spans: Vec<(u64, u64, usize)> = out.iter().map(|s| (s.start, s.end, s.label)).collect();
        // The first segment ends where the unclassified window starts.
        assert_eq!(spans, vec![(0, 10, 1), (20, 50, 1)]);
    }

    #[test]
    fn segments_never_overlap_whatever_windows_are_gated() {
        // Every pattern of 8 windows (3 labels or not classified), windows
        // of 30 every 10.
        for code in 0..4u32.pow(8) {
            let mut t = SegmentTracker::new(3);
            let mut out = Vec::new();
            let mut c = code;
            for k in 0..8u64 {
                let p = match c % 4 {
                    3 => None,
                    l => Some(one_hot(l as usize, 0.8)),
                };
                c /= 4;
                t.window(k * 10, 30, p.as_deref(), &mut out);
            }
            t.finish(&mut out);
            for pair in out.windows(2) {
                assert!(
                    pair[0].end <= pair[1].start,
                    "pattern {code}: {:?} overlaps {:?}",
                    pair[0],
                    pair[1]
                );
            }
            assert!(
                out.iter().all(|s| s.start < s.end),
                "pattern {code}: {out:?}"
            );
        }
    }

    #[test]
    fn window_levels_are_the_rms_of_their_samples() {
        // A level that changes every 0.3 s, windows of 1 s every 0.25 s,
        // odd buffer sizes, and a short tail window.
        let samples: Vec<f32> = (0..70000)
            .map(|i| if (i / 4800) % 2 == 0 { 0.5 } else { -0.05 })
            .collect();
        let cfg = WindowConfig {
            min_tail: 1000,
            ..config(16000, 4000)
        };
        let p = FeatureParams::default();
        let mut a = Analyzer::new(&p, 2, None, None, cfg).unwrap();
        let mut rec = Recorder::default();
        let mut levels = vec![];
        for c in samples.chunks(777) {
            a.push(c, &mut rec, |w| levels.push((w.start, w.len, w.rms_dbfs)))
                .unwrap();
        }
        a.finish(&mut rec, |w| levels.push((w.start, w.len, w.rms_dbfs)))
            .unwrap();
        assert_eq!(levels.len(), 15);
        assert_eq!(levels.last().unwrap().0, 56000);
        for (start, len, db) in levels {
            let window = &samples[start as usize..(start + len) as usize];
            let mean_square = window.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / len as f64;
            assert!(
                (10.0 * mean_square.log10() - db).abs() < 1e-6,
                "window at {start}: {db}"
            );
        }
    }

    /// A prior unlike the features of [`noise`], so normalising changes
    /// them.
    fn prior(nf: usize) -> AdaptationPrior {
        AdaptationPrior::new(
            50.0,
            0.2,
            (0..nf).map(|j| j as f64 * 0.5 - 3.0).collect(),
            (0..nf).map(|j| 1.0 + j as f64 * 0.1).collect(),
        )
        .unwrap()
    }

    /// The adaptation rule written out: `frames` normalised by the prior and
    /// the `observed` frames.
    fn normalised(prior: &AdaptationPrior, observed: &[&[f32]], frames: &[f32]) -> Vec<f32> {
        let nf = prior.n_features();
        let (n0, n) = (prior.prior_frames(), observed.len() as f64);
        let mut out = frames.to_vec();
        for j in 0..nf {
            let (mu0, sigma0) = (prior.mean()[j], prior.std()[j]);
            let s1: f64 = observed.iter().map(|f| f[j] as f64).sum();
            let s2: f64 = observed.iter().map(|f| (f[j] as f64).powi(2)).sum();
            let m = (n0 * mu0 + s1) / (n0 + n);
            let q = (n0 * (sigma0 * sigma0 + mu0 * mu0) + s2) / (n0 + n);
            let s = (q - m * m)
                .max(0.0)
                .sqrt()
                .max(prior.min_std_ratio() * sigma0);
            for v in out.iter_mut().skip(j).step_by(nf) {
                *v = (mu0 + sigma0 * (*v as f64 - m) / s) as f32;
            }
        }
        out
    }

    fn assert_close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                "{what}: value {i} is {g}, expected {w}"
            );
        }
    }

    /// Noise whose level changes every 0.4 s, so the frames' statistics
    /// differ from window to window.
    fn varying_noise(n: usize) -> Vec<f32> {
        noise(n)
            .iter()
            .enumerate()
            .map(|(i, &s)| s * [1.0, 0.2, 0.6, 0.05][(i / 6400) % 4])
            .collect()
    }

    #[test]
    fn the_model_gets_windows_normalised_by_every_speech_frame_seen_once() {
        // Windows of 2 s every 0.5 s: each frame lies in up to four
        // windows, and is still counted once. Speech is given from outside,
        // on for some buffers and off for others.
        let p = FeatureParams::default();
        let nf = p.n_features();
        let prior = prior(nf);
        let mut a = Analyzer::new(&p, 2, None, Some(&prior), config(32000, 8000)).unwrap();
        let mut rec = Recorder::default();
        let samples = varying_noise(72000);
        let chunk = 777;
        let is_speech = |chunk_index: usize| (chunk_index * chunk / 5000) % 3 != 1;
        let mut windows = vec![];
        for (k, c) in samples.chunks(chunk).enumerate() {
            a.set_external_voice_activity(Some(is_speech(k)));
            a.push(c, &mut rec, |w| {
                windows.push((w.start, w.len, w.speaker_frames))
            })
            .unwrap();
        }
        let all = crate::features::extract_all(&p, &samples).unwrap();
        let frame = |i: usize| &all[i * nf..(i + 1) * nf];
        // Frame i is computed, with the speech flag of its buffer, when its
        // last sample arrives.
        let frame_end = |i: usize| i * p.hop_length + p.n_fft;
        let speech_frame = |i: usize| is_speech((frame_end(i) - 1) / chunk);
        assert_eq!(windows.len(), 6);
        assert_eq!(rec.calls.len(), windows.len());
        for ((start, len, speaker_frames), input) in windows.iter().zip(&rec.calls) {
            let (start, end) = (*start as usize, (start + len) as usize);
            let observed: Vec<&[f32]> = (0..all.len() / nf)
                .filter(|&i| frame_end(i) <= end && speech_frame(i))
                .map(frame)
                .collect();
            assert_eq!(*speaker_frames, observed.len() as u64, "window at {start}");
            let first = start.div_ceil(p.hop_length);
            let raw = &all[first * nf..first * nf + input.len()];
            let want = normalised(&prior, &observed, raw);
            assert_close(input, &want, &format!("window at {start}"));
            assert!(
                input.iter().zip(raw).any(|(a, b)| (a - b).abs() > 0.1),
                "normalising changes the frames"
            );
        }
        // Some frames were not speech, and they were left out.
        let computed = (0..all.len() / nf).filter(|&i| frame_end(i) <= 72000);
        let speech = computed.clone().filter(|&i| speech_frame(i)).count() as u64;
        assert!(speech < computed.count() as u64);
        assert_eq!(a.speaker_frames(), speech);
    }

    /// A model with a `non-speech` output (index 1) that hears speech in
    /// the windows its script says, non-speech in the others.
    struct Scripted {
        speech: Vec<bool>,
        calls: Vec<Vec<f32>>,
    }

    impl Classifier for Scripted {
        fn classify(&mut self, f: &[f32], _: usize, out: &mut [f32]) -> Result<(), ModelError> {
            let speech = self.speech[self.calls.len()];
            self.calls.push(f.to_vec());
            out.copy_from_slice(if speech { &[0.75, 0.25] } else { &[0.25, 0.75] });
            Ok(())
        }
    }

    #[test]
    fn windows_the_model_hears_as_non_speech_teach_the_statistics_nothing() {
        // Hold music in a call: the detector calls many of its frames
        // speech, but statistics learnt from them would make music look
        // like this speaker's speech. Windows of 2 s every second, every
        // frame flagged speech; the model hears non-speech in the first and
        // third.
        let p = FeatureParams::default();
        let nf = p.n_features();
        let prior = prior(nf);
        let mut a = Analyzer::new(&p, 2, Some(1), Some(&prior), config(32000, 16000)).unwrap();
        a.set_external_voice_activity(Some(true));
        let mut model = Scripted {
            speech: vec![false, true, false, true],
            calls: vec![],
        };
        let samples = varying_noise(80000);
        let mut windows = vec![];
        a.push(&samples, &mut model, |w| {
            windows.push((w.start, w.probabilities.is_some(), w.speaker_frames))
        })
        .unwrap();
        let all = crate::features::extract_all(&p, &samples).unwrap();
        let last = |end: usize| (end - p.n_fft) / p.hop_length + 1;
        let first = |start: usize| start.div_ceil(p.hop_length);
        // Window 2 (2-4 s) was heard as non-speech, so its frames after
        // window 1 count again in window 3 (3-5 s), those that lie in it;
        // the first second's frames, and the one across 3 s, are in no
        // window heard as speech.
        let learnt_by_1 = last(48000) - first(16000);
        assert_eq!(last(48000) + 1, first(48000));
        let learnt_by_3 = learnt_by_1 + last(80000) - first(48000);
        assert_eq!(
            windows,
            vec![
                (0, false, 0),
                (16000, true, learnt_by_1 as u64),
                (32000, false, learnt_by_1 as u64),
                (48000, true, learnt_by_3 as u64),
            ]
        );
        assert_eq!(a.speaker_frames(), learnt_by_3 as u64);
        // Each window was normalised by what was learnt before it and its
        // own frames.
        let frames = |from: usize, to: usize| -> Vec<&[f32]> {
            all[from * nf..to * nf].chunks_exact(nf).collect()
        };
        let input = |start: usize| &all[first(start) * nf..last(start + 32000) * nf];
        assert_close(
            &model.calls[0],
            &normalised(&prior, &frames(0, last(32000)), input(0)),
            "window 0",
        );
        assert_close(
            &model.calls[2],
            &normalised(&prior, &frames(first(16000), last(64000)), input(32000)),
            "window 2",
        );
        let mut learnt = frames(first(16000), last(48000));
        learnt.extend(frames(first(48000), last(80000)));
        assert_close(
            &model.calls[3],
            &normalised(&prior, &learnt, input(48000)),
            "window 3",
        );
    }

    #[test]
    fn a_reset_keeps_the_speaker_and_forget_speaker_clears_it() {
        let p = FeatureParams::default();
        let prior = prior(p.n_features());
        let mut a = Analyzer::new(&p, 2, None, Some(&prior), config(16000, 16000)).unwrap();
        a.set_external_voice_activity(Some(true));
        let mut rec = Recorder::default();
        let samples = varying_noise(40000);
        a.push(&samples, &mut rec, |_| {}).unwrap();
        a.finish(&mut rec, |_| {}).unwrap();
        // Two windows (the last half second is too short for one), and
        // the frames of no window (across their border, or after them) are
        // not learnt.
        let seen = a.speaker_frames();
        let per_window = ((16000 - p.n_fft) / p.hop_length + 1) as u64;
        assert_eq!(rec.calls.len(), 2);
        assert_eq!(seen, 2 * per_window);
        a.reset();
        assert_eq!(a.speaker_frames(), seen, "a reset keeps the statistics");
        // The next stretch's first window rests on both stretches' frames.
        let mut frames = vec![];
        a.push(&samples[..16000], &mut rec, |w| {
            frames.push(w.speaker_frames)
        })
        .unwrap();
        assert_eq!(frames, vec![seen + per_window]);
        a.forget_speaker();
        assert_eq!(a.speaker_frames(), 0);
        // From the prior alone, a window is passed on as it is.
        a.reset();
        a.set_external_voice_activity(Some(false));
        let before = rec.calls.len();
        a.push(&samples[..16000], &mut rec, |w| {
            assert_eq!(w.speaker_frames, 0)
        })
        .unwrap();
        let all = crate::features::extract_all(&p, &samples[..16000]).unwrap();
        assert_close(&rec.calls[before], &all, "after forget_speaker");
    }

    #[test]
    fn with_adaptation_off_the_model_gets_raw_frames_and_statistics_still_grow() {
        let p = FeatureParams::default();
        let nf = p.n_features();
        let prior = prior(nf);
        let mut a = Analyzer::new(&p, 2, None, Some(&prior), config(16000, 16000)).unwrap();
        assert!(a.adapts_to_speaker());
        a.set_speaker_adaptation(false);
        assert!(!a.adapts_to_speaker());
        a.set_external_voice_activity(Some(true));
        let mut rec = Recorder::default();
        let samples = varying_noise(48000);
        let mut reported = vec![];
        a.push(&samples[..32000], &mut rec, |w| {
            reported.push(w.speaker_frames)
        })
        .unwrap();
        assert_eq!(reported, vec![0, 0], "off: no window rests on statistics");
        let all = crate::features::extract_all(&p, &samples).unwrap();
        let per_window = (16000 - p.n_fft) / p.hop_length + 1;
        let window = |k: usize| {
            let first = (k * 16000).div_ceil(p.hop_length);
            &all[first * nf..(first + per_window) * nf]
        };
        assert_eq!(rec.calls[0], window(0));
        assert_eq!(rec.calls[1], window(1));
        // The frames of both windows (not those across their border).
        let seen = a.speaker_frames();
        assert_eq!(seen, 2 * per_window as u64);
        // Turned on, the next window rests on everything seen while off.
        a.set_speaker_adaptation(true);
        a.push(&samples[32000..], &mut rec, |w| {
            reported.push(w.speaker_frames)
        })
        .unwrap();
        assert_eq!(reported[2], 3 * per_window as u64);
        let observed: Vec<&[f32]> = (0..3).flat_map(|k| window(k).chunks_exact(nf)).collect();
        assert_close(
            &rec.calls[2],
            &normalised(&prior, &observed, window(2)),
            "third window",
        );
    }

    #[test]
    fn without_a_prior_windows_rest_on_no_speaker_frames() {
        let p = FeatureParams::default();
        let mut a = Analyzer::new(&p, 2, None, None, config(16000, 16000)).unwrap();
        assert!(!a.adapts_to_speaker());
        a.set_external_voice_activity(Some(true));
        let samples = varying_noise(16000);
        let mut rec = Recorder::default();
        let mut reported = vec![];
        a.push(&samples, &mut rec, |w| reported.push(w.speaker_frames))
            .unwrap();
        assert_eq!(reported, vec![0]);
        assert_eq!(a.speaker_frames(), 0);
        let all = crate::features::extract_all(&p, &samples).unwrap();
        assert_eq!(rec.calls[0], all);
    }

    #[test]
    fn a_prior_of_another_width_is_refused() {
        let p = FeatureParams::default();
        let prior = prior(p.n_features() - 1);
        assert!(matches!(
            Analyzer::new(&p, 2, None, Some(&prior), config(16000, 16000)),
            Err(AnalysisError::PriorWidth { .. })
        ));
    }

    #[test]
    fn an_automatic_speech_ratio_depends_on_the_models_non_speech_output() {
        let p = FeatureParams::default();
        for (set, with_gate, without) in [
            (-1.0, AUTO_MIN_SPEECH_RATIO_WITH_GATE, AUTO_MIN_SPEECH_RATIO),
            (-0.5, AUTO_MIN_SPEECH_RATIO_WITH_GATE, AUTO_MIN_SPEECH_RATIO),
            (
                f64::NAN,
                AUTO_MIN_SPEECH_RATIO_WITH_GATE,
                AUTO_MIN_SPEECH_RATIO,
            ),
            (0.0, 0.0, 0.0),
            (0.3, 0.3, 0.3),
        ] {
            let cfg = WindowConfig {
                min_speech_ratio: set,
                ..config(16000, 16000)
            };
            let gated = Analyzer::new(&p, 3, Some(2), None, cfg).unwrap();
            assert_eq!(gated.min_speech_ratio(), with_gate, "{set}");
            // Only the automatic ratio of a model with non-speech counts
            // noise frames too.
            let automatic = !(0.0..).contains(&set);
            assert_eq!(gated.gates_on_speech_or_noise(), automatic, "{set}");
            let plain = Analyzer::new(&p, 3, None, None, cfg).unwrap();
            assert_eq!(plain.min_speech_ratio(), without, "{set}");
            assert!(!plain.gates_on_speech_or_noise(), "{set}");
        }
        // Set while running, as the element does on a property change.
        let mut a = Analyzer::new(&p, 3, Some(2), None, config(16000, 16000)).unwrap();
        a.set_min_speech_ratio(-1.0);
        assert_eq!(a.min_speech_ratio(), AUTO_MIN_SPEECH_RATIO_WITH_GATE);
    }

    /// Answers "speech" (label 0) for every window, `non-speech` (label 2)
    /// least likely.
    struct Speech;

    impl Classifier for Speech {
        fn classify(&mut self, _: &[f32], _: usize, out: &mut [f32]) -> Result<(), ModelError> {
            out.copy_from_slice(&[0.6, 0.3, 0.1]);
            Ok(())
        }
    }

    #[test]
    fn a_model_with_non_speech_needs_four_speech_frames_of_a_window_by_default() {
        // A 3 s window of 74 frames, its first k frames speech (an external
        // flag for the samples that complete them): 3 are too few for the
        // automatic ratio, 4 are enough.
        let p = FeatureParams::default();
        let cfg = WindowConfig {
            min_speech_ratio: -1.0,
            ..config(48000, 48000)
        };
        let samples = noise(48000);
        let classified = |k: usize| {
            let mut a = Analyzer::new(&p, 3, Some(2), None, cfg).unwrap();
            let split = p.n_fft + (k - 1) * p.hop_length;
            let mut out = vec![];
            a.set_external_voice_activity(Some(true));
            a.push(&samples[..split], &mut Speech, |_| {}).unwrap();
            a.set_external_voice_activity(Some(false));
            a.push(&samples[split..], &mut Speech, |w| {
                out.push((w.speech_ratio, w.probabilities.is_some()))
            })
            .unwrap();
            assert_eq!(out.len(), 1);
            assert!((out[0].0 - k as f64 / 74.0).abs() < 1e-9, "{out:?}");
            out[0].1
        };
        assert!(!classified(3));
        assert!(classified(4));
    }

    /// Answers the same outputs for every window.
    struct Fixed(Vec<f32>);

    impl Classifier for Fixed {
        fn classify(&mut self, _: &[f32], _: usize, out: &mut [f32]) -> Result<(), ModelError> {
            out.copy_from_slice(&self.0);
            Ok(())
        }
    }

    #[test]
    fn the_non_speech_bias_moves_the_decision_not_the_probabilities() {
        // One 1 s window of speech-flagged noise; label 1 is `non-speech`
        // (when the model has it).
        let p = FeatureParams::default();
        let samples = noise(16000);
        let run = |outputs: &[f32], non_speech: Option<usize>, bias: Option<f64>| {
            let mut a = Analyzer::new(&p, 3, non_speech, None, config(16000, 16000)).unwrap();
            assert_eq!(a.non_speech_bias(), 0.0);
            if let Some(b) = bias {
                a.set_non_speech_bias(b);
                let expected = if b.is_nan() { 0.0 } else { b };
                assert!((a.non_speech_bias() - expected).abs() < 1e-6);
            }
            a.set_external_voice_activity(Some(true));
            let mut out = vec![];
            a.push(&samples, &mut Fixed(outputs.to_vec()), |w| {
                out.push(w.probabilities.map(<[f32]>::to_vec))
            })
            .unwrap();
            assert_eq!(out.len(), 1);
            out.remove(0)
        };
        let speech_first = [0.5, 0.3, 0.2];
        let emotions = Some(vec![0.5 / 0.7, 0.2 / 0.7]);
        assert_eq!(run(&speech_first, Some(1), None), emotions);
        // Bias 0, set or not, and NaN (taken as 0) decide as the argmax
        // always did, ties included: of equal outputs the last wins.
        for bias in [None, Some(0.0), Some(f64::NAN)] {
            let tie = [0.4, 0.4, 0.2];
            assert_eq!(run(&tie, Some(1), bias), None);
            assert_eq!(run(&tie, Some(0), bias), Some(vec![0.4 / 0.6, 0.2 / 0.6]));
        }
        // 0.3 weighed twice (and a little more) outweighs 0.5 ...
        assert_eq!(run(&speech_first, Some(1), Some(0.7)), None);
        // ... 0.3 weighed 1.6 times does not, and the probabilities
        // reported are the model's.
        assert_eq!(run(&speech_first, Some(1), Some(0.47)), emotions);
        // A negative bias lets speech through that the model's argmax
        // would call non-speech.
        let non_speech_first = [0.3, 0.5, 0.2];
        assert_eq!(run(&non_speech_first, Some(1), None), None);
        assert_eq!(
            run(&non_speech_first, Some(1), Some(-1.0)),
            Some(vec![0.3 / 0.5, 0.2 / 0.5])
        );
        // A model without the output: every label is an emotion, whatever
        // the bias.
        assert_eq!(
            run(&non_speech_first, None, Some(5.0)),
            Some(non_speech_first.to_vec())
        );
    }

    /// White noise switched between two levels 20 dB apart every 100 ms:
    /// loud, flat and changing, so the detector calls its frames noisy, not
    /// speech.
    fn bursts_of_noise(n: usize) -> Vec<f32> {
        crate::features::uniform_noise(n, 5)
            .into_iter()
            .enumerate()
            .map(|(i, white)| white * if (i / 1600) % 2 == 0 { 0.6 } else { 0.06 })
            .collect()
    }

    #[test]
    fn only_the_automatic_gate_of_a_model_with_non_speech_counts_noise_frames() {
        let p = FeatureParams::default();
        let samples = bursts_of_noise(48000);
        let window = |set: f64, non_speech: Option<usize>| {
            let cfg = WindowConfig {
                min_speech_ratio: set,
                ..config(48000, 48000)
            };
            let mut a = Analyzer::new(&p, 3, non_speech, None, cfg).unwrap();
            let mut out = vec![];
            a.push(&samples, &mut Speech, |w| {
                out.push((
                    w.speech_ratio,
                    w.speech_or_noise_ratio,
                    w.probabilities.is_some(),
                ))
            })
            .unwrap();
            assert_eq!(out.len(), 1);
            out[0]
        };
        let (speech, noise, classified) = window(-1.0, Some(2));
        assert!(
            speech < 0.05 && noise > 0.5,
            "speech {speech}, speech or noise {noise}"
        );
        assert!(classified);
        // A ratio set by hand counts speech frames, as does the automatic
        // one of a model without non-speech.
        assert!(!window(AUTO_MIN_SPEECH_RATIO_WITH_GATE, Some(2)).2);
        assert!(!window(-1.0, None).2);
        assert!(window(0.0, None).2);
    }
}
