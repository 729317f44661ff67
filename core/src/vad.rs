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

#[derive(Debug, Clone, Default)]
pub struct VoiceActivity {
    flux: [f32; FLUX_FRAMES],
    seen: usize,
}

impl VoiceActivity {
    pub fn reset(&mut self) {
        self.seen = 0;
    }

    /// Whether this frame, following the previous ones, is speech.
    pub fn frame(&mut self, stats: &FrameStats) -> bool {
        // Flux into silence or out of it is not speech-like change.
        let flux = if stats.level_db < MIN_LEVEL_DB {
            0.0
        } else {
            stats.flux_db.min(30.0)
        };
        self.flux[self.seen % FLUX_FRAMES] = flux;
        self.seen += 1;
        let n = self.seen.min(FLUX_FRAMES);
        let mean_flux = self.flux[..n].iter().sum::<f32>() / n as f32;
        stats.level_db >= MIN_LEVEL_DB
            && (MIN_FLATNESS..=MAX_FLATNESS).contains(&stats.flatness)
            && mean_flux >= MIN_FLUX_DB
    }
}
