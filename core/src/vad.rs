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
    seen: usize,
}

impl VoiceActivity {
    pub fn reset(&mut self) {
        self.seen = 0;
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
        self.flux[self.seen % FLUX_FRAMES] = flux;
        self.seen += 1;
        let n = self.seen.min(FLUX_FRAMES);
        let mean_flux = self.flux[..n].iter().sum::<f32>() / n as f32;
        // `contains` so that a NaN cue fails its test.
        if !(MIN_LEVEL_DB..).contains(&stats.level_db) {
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
}
