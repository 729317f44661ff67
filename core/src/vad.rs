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
//! Each frame is named by the first test it fails ([`Frame`]). Speech in
//! loud noise fails only the noise test ([`Frame::Noisy`]) where it changes
//! enough, so a model that judges noise itself can be given those frames too
//! ([`Frame::is_changing_sound`]). Noise alone changes too little to get
//! there; so does a pure 50 Hz tone, whose speech band holds only flat
//! leakage (not tonal, but steady).

use crate::features::FrameStats;

/// Frames quieter than this are never speech.
pub const MIN_LEVEL_DB: f32 = -55.0;
/// Flatness below this is a tone or a chord.
pub const MIN_FLATNESS: f32 = 0.002;
/// Flatness above this is noise.
pub const MAX_FLATNESS: f32 = 0.6;
/// Mean spectral flux over [`FLUX_FRAMES`] frames below this is a steady sound.
pub const MIN_FLUX_DB: f32 = 4.0;
pub const FLUX_FRAMES: usize = 5;

/// What the detector makes of one frame, by the first test it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Below [`MIN_LEVEL_DB`].
    Quiet,
    /// Flatness below [`MIN_FLATNESS`]: a tone or a chord.
    Tonal,
    /// Flux below [`MIN_FLUX_DB`]: a steady sound.
    Steady,
    /// Loud and changing but flatter than [`MAX_FLATNESS`]: speech in
    /// noise, babble, or changing noise.
    Noisy,
    Speech,
}

impl Frame {
    pub fn is_speech(self) -> bool {
        self == Frame::Speech
    }

    /// Speech, or a loud, changing sound only too noise-like to be called
    /// speech: every test of speech but the noise test.
    pub fn is_changing_sound(self) -> bool {
        matches!(self, Frame::Speech | Frame::Noisy)
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
        } else if !(MIN_FLUX_DB..).contains(&mean_flux) {
            Frame::Steady
        } else if stats.flatness > MAX_FLATNESS {
            Frame::Noisy
        } else {
            Frame::Speech
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
        }
    }

    /// The kind of the last of `n` equal frames.
    fn steady_run(s: FrameStats, n: usize) -> Frame {
        let mut vad = VoiceActivity::default();
        (0..n).map(|_| vad.frame(&s)).last().unwrap()
    }

    #[test]
    fn each_frame_is_named_by_the_first_test_it_fails() {
        assert_eq!(steady_run(stats(-60.0, 0.1, 8.0), 5), Frame::Quiet);
        assert_eq!(steady_run(stats(-20.0, 0.001, 8.0), 5), Frame::Tonal);
        assert_eq!(steady_run(stats(-20.0, 0.1, 2.0), 5), Frame::Steady);
        // Noise that changes too little is steady, not noisy.
        assert_eq!(steady_run(stats(-20.0, 0.8, 2.8), 5), Frame::Steady);
        assert_eq!(steady_run(stats(-20.0, 0.8, 6.0), 5), Frame::Noisy);
        assert_eq!(steady_run(stats(-20.0, 0.3, 6.0), 5), Frame::Speech);
        for f in [
            Frame::Quiet,
            Frame::Tonal,
            Frame::Steady,
            Frame::Noisy,
            Frame::Speech,
        ] {
            assert_eq!(f.is_speech(), f == Frame::Speech, "{f:?}");
            assert_eq!(
                f.is_changing_sound(),
                matches!(f, Frame::Noisy | Frame::Speech),
                "{f:?}"
            );
        }
    }

    #[test]
    fn a_nan_cue_is_never_speech_nor_a_changing_sound() {
        for s in [
            stats(f32::NAN, 0.3, 6.0),
            stats(-20.0, f32::NAN, 6.0),
            stats(-20.0, 0.3, f32::NAN),
        ] {
            let f = steady_run(s, 5);
            assert!(!f.is_changing_sound(), "{s:?}: {f:?}");
        }
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
