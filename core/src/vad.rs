// SPDX-License-Identifier: MPL-2.0
//! Frame-level voice activity from cues the feature extractor computes:
//! level, spectral flatness in the speech band, and spectral flux averaged
//! over the last 200 ms.
//!
//! The thresholds sit between the ranges these cues take on speech and on
//! tones, noise and tone melodies (measured in the README, *Speech
//! gating*).
//!
//! A frame is speech when it is loud enough, neither tonal nor noise-like,
//! and changing the way syllables do. Music with voice-like spectra passes;
//! hold music made of pure tones and steady lines does not.
//!
//! Speech in loud noise fails the noise test, and often the steady-sound
//! test too, so a model that judges noise itself is also given the frames
//! that are only noise-like ([`Frame::is_speech_or_noise`]): loud, not
//! tonal, with power in the speech band. Steady sounds that are not
//! noise-like (a drone, a buzz) and sounds out of that band (a hum, whose
//! speech band holds only flat leakage the tone test does not see) stay out.
//!
//! A sound that starts abruptly changes the spectrum as much as a syllable
//! does, so a steady buzz that starts after silence makes a few speech
//! frames. They keep their kind (the training's speech frames are the
//! same), but [`VoiceActivity::onset_only`] tells the window gate that they
//! belong to an onset and nothing else.

use crate::features::FrameStats;

/// Frames quieter than this are never speech.
pub const MIN_LEVEL_DB: f32 = -55.0;
/// Flatness below this is a tone or a chord.
pub const MIN_FLATNESS: f32 = 0.002;
/// Flatness above this is noise.
pub const MAX_FLATNESS: f32 = 0.6;
/// A loud frame that is not speech, with less of its power than this in the
/// speech band, is out of band (a hum, a rumble).
pub const MIN_BAND_SHARE: f32 = 0.01;
/// Mean spectral flux over [`FLUX_FRAMES`] frames below this is a steady sound.
pub const MIN_FLUX_DB: f32 = 4.0;
pub const FLUX_FRAMES: usize = 5;
/// A frame this much louder than the one before starts an onset.
pub const ONSET_JUMP_DB: f32 = 20.0;
/// The frames whose flux is the onset's: the two an onset falls into (a
/// frame is two hops long) and the first after it, whose flux is measured
/// against a frame the onset only partly fills. Which of them jumps
/// depends on where in a hop the sound starts.
pub const ONSET_FRAMES: usize = 3;

/// What the detector makes of one frame: by the first test it fails, and a
/// frame that is neither quiet, tonal nor speech by where its power lies
/// and how it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Below [`MIN_LEVEL_DB`].
    Quiet,
    /// Flatness below [`MIN_FLATNESS`]: a tone or a chord.
    Tonal,
    /// Not speech, with less than [`MIN_BAND_SHARE`] of its power in the
    /// speech band: a hum or a rumble, whose speech band holds only flat
    /// leakage the tone test does not see.
    OutOfBand,
    /// Not speech, flux below [`MIN_FLUX_DB`], not noise-like: a drone, a
    /// buzz, a held chord.
    Steady,
    /// Not speech, flux below [`MIN_FLUX_DB`], flatter than [`MAX_FLATNESS`]:
    /// steady noise, or speech drowned in it.
    SteadyNoise,
    /// Not speech, changing but flatter than [`MAX_FLATNESS`]: speech in
    /// noise, babble, or changing noise.
    Noisy,
    Speech,
}

impl Frame {
    pub fn is_speech(self) -> bool {
        self == Frame::Speech
    }

    /// Speech, or noise in the speech band (steady or changing) that may
    /// hide speech.
    pub fn is_speech_or_noise(self) -> bool {
        matches!(self, Frame::Speech | Frame::Noisy | Frame::SteadyNoise)
    }
}

#[derive(Debug, Clone, Default)]
pub struct VoiceActivity {
    flux: [f32; FLUX_FRAMES],
    /// The same flux without that of onset frames.
    flux_after_onset: [f32; FLUX_FRAMES],
    seen: usize,
    /// The previous frame's level, dBFS.
    last_level_db: Option<f32>,
    /// Frames of the current onset still to come, this one included.
    onset_left: usize,
    onset_only: bool,
}

impl VoiceActivity {
    pub fn reset(&mut self) {
        self.seen = 0;
        self.last_level_db = None;
        self.onset_left = 0;
        self.onset_only = false;
    }

    /// Whether the last frame is part of an onset, or speech only by an
    /// onset's flux. An onset is a frame at least [`ONSET_JUMP_DB`] louder
    /// than the one before and the [`ONSET_FRAMES`] − 1 after it; a later
    /// speech frame is speech only by the onset if its mean flux would be
    /// steady without the onset frames' flux. A steady sound that starts
    /// abruptly gives only such frames; speech gives them where an
    /// utterance starts out of a much quieter pause, and other frames
    /// after them.
    pub fn onset_only(&self) -> bool {
        self.onset_only
    }

    /// This frame, following the previous ones.
    pub fn frame(&mut self, stats: &FrameStats) -> Frame {
        // Flux into silence or out of it is not speech-like change (nor is
        // a NaN flux, which `min` would turn into 30).
        let flux = if stats.level_db >= MIN_LEVEL_DB && stats.flux_db >= 0.0 {
            stats.flux_db.min(30.0)
        } else {
            0.0
        };
        // `contains` so that a NaN cue fails its test.
        let quiet = !(MIN_LEVEL_DB..).contains(&stats.level_db);
        if self
            .last_level_db
            .is_some_and(|last| (last + ONSET_JUMP_DB..).contains(&stats.level_db))
        {
            self.onset_left = ONSET_FRAMES;
        }
        self.last_level_db = Some(stats.level_db);
        let onset = self.onset_left > 0;
        self.onset_left = self.onset_left.saturating_sub(1);
        let slot = self.seen % FLUX_FRAMES;
        self.flux[slot] = flux;
        self.flux_after_onset[slot] = if onset { 0.0 } else { flux };
        self.seen += 1;
        let n = self.seen.min(FLUX_FRAMES);
        let mean_flux = self.flux[..n].iter().sum::<f32>() / n as f32;
        let kind = kind(stats, quiet, mean_flux);
        let mean_after_onset = self.flux_after_onset[..n].iter().sum::<f32>() / n as f32;
        self.onset_only =
            onset || (kind == Frame::Speech && !(MIN_FLUX_DB..).contains(&mean_after_onset));
        kind
    }
}

/// A frame's kind by its cues and the mean flux of the last frames.
fn kind(stats: &FrameStats, quiet: bool, mean_flux: f32) -> Frame {
    if quiet {
        Frame::Quiet
    } else if !(MIN_FLATNESS..).contains(&stats.flatness) {
        Frame::Tonal
    } else if (MIN_FLUX_DB..).contains(&mean_flux) && stats.flatness <= MAX_FLATNESS {
        Frame::Speech
    } else if !(MIN_BAND_SHARE..).contains(&stats.band_share) {
        Frame::OutOfBand
    } else if stats.flatness <= MAX_FLATNESS {
        // Not changing, or it would be speech.
        Frame::Steady
    } else if (MIN_FLUX_DB..).contains(&mean_flux) {
        Frame::Noisy
    } else {
        Frame::SteadyNoise
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(level_db: f32, flatness: f32, flux_db: f32) -> FrameStats {
        FrameStats {
            level_db,
            flatness,
            flux_db,
            band_share: 0.5,
        }
    }

    fn out_of_band(s: FrameStats) -> FrameStats {
        FrameStats {
            band_share: 0.001,
            ..s
        }
    }

    /// The kind of the last of `n` equal frames.
    fn steady_run(s: FrameStats, n: usize) -> Frame {
        let mut vad = VoiceActivity::default();
        (0..n).map(|_| vad.frame(&s)).last().unwrap()
    }

    #[test]
    fn each_frame_is_named_by_its_tests() {
        assert_eq!(steady_run(stats(-60.0, 0.1, 8.0), 5), Frame::Quiet);
        assert_eq!(steady_run(stats(-20.0, 0.001, 8.0), 5), Frame::Tonal);
        assert_eq!(steady_run(stats(-20.0, 0.1, 2.0), 5), Frame::Steady);
        // Noise that changes too little is steady noise, not noisy.
        assert_eq!(steady_run(stats(-20.0, 0.8, 2.8), 5), Frame::SteadyNoise);
        assert_eq!(steady_run(stats(-20.0, 0.8, 6.0), 5), Frame::Noisy);
        assert_eq!(steady_run(stats(-20.0, 0.3, 6.0), 5), Frame::Speech);
        // Little power in the speech band makes a frame that is not speech
        // out of band, whether steady or changing; speech stays speech.
        for (s, f) in [
            (stats(-20.0, 0.1, 2.0), Frame::OutOfBand),
            (stats(-20.0, 0.8, 6.0), Frame::OutOfBand),
            (stats(-20.0, 0.3, 6.0), Frame::Speech),
            (stats(-60.0, 0.1, 8.0), Frame::Quiet),
            (stats(-20.0, 0.001, 8.0), Frame::Tonal),
        ] {
            assert_eq!(steady_run(out_of_band(s), 5), f, "{s:?}");
        }
        for f in [
            Frame::Quiet,
            Frame::Tonal,
            Frame::OutOfBand,
            Frame::Steady,
            Frame::SteadyNoise,
            Frame::Noisy,
            Frame::Speech,
        ] {
            assert_eq!(f.is_speech(), f == Frame::Speech, "{f:?}");
            assert_eq!(
                f.is_speech_or_noise(),
                matches!(f, Frame::SteadyNoise | Frame::Noisy | Frame::Speech),
                "{f:?}"
            );
        }
    }

    #[test]
    fn a_nan_cue_fails_its_test() {
        for s in [
            stats(f32::NAN, 0.3, 6.0),
            stats(-20.0, f32::NAN, 6.0),
            stats(-20.0, 0.3, f32::NAN),
        ] {
            let f = steady_run(s, 5);
            assert!(!f.is_speech(), "{s:?}: {f:?}");
        }
        assert_eq!(steady_run(stats(f32::NAN, 0.3, 6.0), 5), Frame::Quiet);
        assert_eq!(steady_run(stats(-20.0, f32::NAN, 6.0), 5), Frame::Tonal);
        // A NaN flux counts as none, so a loud noise-like frame is steady.
        assert_eq!(
            steady_run(stats(-20.0, 0.8, f32::NAN), 5),
            Frame::SteadyNoise
        );
        let nan_band = FrameStats {
            band_share: f32::NAN,
            ..stats(-20.0, 0.8, 2.0)
        };
        assert_eq!(steady_run(nan_band, 5), Frame::OutOfBand);
    }

    #[test]
    fn flux_is_averaged_over_the_last_frames() {
        let mut vad = VoiceActivity::default();
        // One changing frame among steady ones does not make the average.
        for _ in 0..4 {
            assert_eq!(vad.frame(&stats(-20.0, 0.3, 1.0)), Frame::Steady);
        }
        assert_eq!(vad.frame(&stats(-20.0, 0.3, 12.0)), Frame::Steady);
        // Flux into silence counts as none: a loud frame after quiet ones.
        let mut vad = VoiceActivity::default();
        for _ in 0..4 {
            vad.frame(&stats(-70.0, 0.3, 20.0));
        }
        assert_eq!(vad.frame(&stats(-20.0, 0.3, 15.0)), Frame::Steady);
    }

    /// (kind, onset only) of each frame after four quiet ones.
    fn after_silence(fluxes: &[f32]) -> Vec<(Frame, bool)> {
        let mut vad = VoiceActivity::default();
        for _ in 0..4 {
            vad.frame(&stats(-80.0, 0.3, 0.0));
        }
        fluxes
            .iter()
            .map(|&f| (vad.frame(&stats(-20.0, 0.3, f)), vad.onset_only()))
            .collect()
    }

    #[test]
    fn a_steady_sound_out_of_silence_is_speech_by_its_onset_only() {
        // An abrupt buzz: the frames the onset falls into change by up to
        // 30 dB, then nothing changes. Their flux makes six speech frames
        // (the 5-frame mean stays at 4 dB or more), all of them the onset's.
        let got = after_silence(&[30.0, 25.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        let kinds: Vec<Frame> = got.iter().map(|g| g.0).collect();
        assert_eq!(&kinds[..6], &[Frame::Speech; 6]);
        assert_eq!(&kinds[6..], &[Frame::Steady; 2]);
        for (kind, onset) in &got {
            assert_eq!(*onset, *kind == Frame::Speech, "{got:?}");
        }
        // The same when the sound starts late in a hop: the third frame's
        // flux is still the onset's.
        let got = after_silence(&[30.0, 20.0, 20.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        assert!(got.iter().all(|g| g.1 == (g.0 == Frame::Speech)), "{got:?}");
        assert_eq!(got.iter().filter(|g| g.0 == Frame::Speech).count(), 7);
        // The onset's frames are its own whatever their kind: a sliver of
        // the sound at the end of a frame can be noise-like.
        let mut vad = VoiceActivity::default();
        vad.frame(&stats(-80.0, 0.3, 0.0));
        assert_eq!(vad.frame(&stats(-50.0, 0.8, 30.0)), Frame::Noisy);
        assert!(vad.onset_only());
        // Speech out of silence: its onset frames, and those whose mean
        // flux rests on the onset, then its syllables' own flux makes
        // speech of the rest.
        let got = after_silence(&[30.0, 25.0, 8.0, 9.0, 7.0, 10.0, 6.0, 9.0]);
        assert!(got.iter().all(|g| g.0 == Frame::Speech), "{got:?}");
        assert!(got[..5].iter().all(|g| g.1), "{got:?}");
        assert!(got[5..].iter().all(|g| !g.1), "{got:?}");
        // A rise of less than 20 dB is no onset.
        let mut vad = VoiceActivity::default();
        vad.frame(&stats(-50.0, 0.3, 0.0));
        assert_eq!(vad.frame(&stats(-31.0, 0.3, 30.0)), Frame::Speech);
        assert!(!vad.onset_only());
        // No silence before: a change is the sound's own.
        let mut vad = VoiceActivity::default();
        for (f, kind) in [
            (0.0, Frame::Steady),
            (30.0, Frame::Speech),
            (25.0, Frame::Speech),
        ] {
            assert_eq!(vad.frame(&stats(-20.0, 0.3, f)), kind);
            assert!(!vad.onset_only());
        }
        // A reset forgets the silence.
        let mut vad = VoiceActivity::default();
        vad.frame(&stats(-80.0, 0.3, 0.0));
        vad.reset();
        vad.frame(&stats(-20.0, 0.3, 0.0));
        vad.frame(&stats(-20.0, 0.3, 30.0));
        assert!(!vad.onset_only());
    }
}
