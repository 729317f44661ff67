//! Filterbanks and transforms built once per parameter set: Slaney mel
//! triangles, librosa's chroma filterbank and the orthonormal DCT-II.
//!
//! Construction follows librosa 0.11 (`filters.mel`, `filters.chroma`,
//! `scipy.fft.dct(norm="ortho")`) and is computed in `f64`, then stored as
//! `f32`, as librosa does.

/// A filterbank stored as one contiguous run of weights per output band.
#[derive(Debug, Clone)]
pub struct RangeFilterbank {
    /// `(first_bin, offset into weights, length)` per band.
    bands: Vec<(usize, usize, usize)>,
    weights: Vec<f32>,
}

impl RangeFilterbank {
    pub fn n_bands(&self) -> usize {
        self.bands.len()
    }

    /// `out[b] = Σ_k w[b][k] · spectrum[first_bin + k]`.
    pub fn apply(&self, spectrum: &[f32], out: &mut [f32]) {
        for (o, &(first, offset, len)) in out.iter_mut().zip(&self.bands) {
            let w = &self.weights[offset..offset + len];
            let s = &spectrum[first..first + len];
            *o = w.iter().zip(s).map(|(w, s)| w * s).sum();
        }
    }

    /// The dense value at `(band, bin)`, for tests against references.
    pub fn weight(&self, band: usize, bin: usize) -> f32 {
        let (first, offset, len) = self.bands[band];
        if bin >= first && bin < first + len {
            self.weights[offset + bin - first]
        } else {
            0.0
        }
    }

    fn from_dense_rows(rows: impl Iterator<Item = Vec<f64>>) -> Self {
        let mut bands = Vec::new();
        let mut weights = Vec::new();
        for row in rows {
            let first = row.iter().position(|&w| w != 0.0).unwrap_or(0);
            let last = row.iter().rposition(|&w| w != 0.0).map_or(first, |l| l + 1);
            bands.push((first, weights.len(), last - first));
            weights.extend(row[first..last].iter().map(|&w| w as f32));
        }
        RangeFilterbank { bands, weights }
    }
}

/// Slaney's mel scale (librosa `hz_to_mel(htk=False)`).
pub fn hz_to_mel(hz: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= MIN_LOG_HZ {
        min_log_mel + (hz / MIN_LOG_HZ).ln() / logstep
    } else {
        hz / F_SP
    }
}

/// Inverse of [`hz_to_mel`].
pub fn mel_to_hz(mel: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        MIN_LOG_HZ * (logstep * (mel - min_log_mel)).exp()
    } else {
        F_SP * mel
    }
}

/// Slaney-normalised triangular mel filterbank (librosa `filters.mel`,
/// `htk=False`, `norm="slaney"`), `n_mels` bands over `n_fft / 2 + 1` bins.
pub fn mel_filterbank(
    sample_rate: f64,
    n_fft: usize,
    n_mels: usize,
    fmin: f64,
    fmax: f64,
) -> RangeFilterbank {
    let n_bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..n_bins)
        .map(|k| k as f64 * sample_rate / n_fft as f64)
        .collect();
    let (mel_min, mel_max) = (hz_to_mel(fmin), hz_to_mel(fmax));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(mel_min + (mel_max - mel_min) * i as f64 / (n_mels + 1) as f64))
        .collect();
    RangeFilterbank::from_dense_rows((0..n_mels).map(|m| {
        let (lo, mid, hi) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
        let enorm = 2.0 / (hi - lo);
        fft_freqs
            .iter()
            .map(|&f| {
                let lower = (f - lo) / (mid - lo);
                let upper = (hi - f) / (hi - mid);
                lower.min(upper).max(0.0) * enorm
            })
            .collect()
    }))
}

/// librosa's chroma filterbank (`filters.chroma` with `ctroct=5`,
/// `octwidth=2`, `norm=2`, `base_c=True`), stored sparse: per FFT bin, the
/// weights of the chroma classes that are not negligible.
#[derive(Debug, Clone)]
pub struct ChromaFilterbank {
    n_chroma: usize,
    /// `(bin, chroma, weight)` sorted by bin.
    entries: Vec<(u32, u32, f32)>,
}

/// Weights below this fraction of a bin's largest weight are dropped; the
/// largest effect on a normalised chroma value is below 1e-7.
const CHROMA_PRUNE: f64 = 1e-9;

impl ChromaFilterbank {
    pub fn new(sample_rate: f64, n_fft: usize, n_chroma: usize, tuning: f64) -> Self {
        let nc = n_chroma as f64;
        let a440 = 440.0 * 2f64.powf(tuning / nc);
        let hz_to_octs = |f: f64| (f / (a440 / 16.0)).log2();
        // Bin positions in chroma units; DC is made up 1.5 octaves below bin 1.
        let mut frqbins: Vec<f64> = (1..n_fft)
            .map(|k| nc * hz_to_octs(k as f64 * sample_rate / n_fft as f64))
            .collect();
        frqbins.insert(0, frqbins[0] - 1.5 * nc);
        let mut binwidth: Vec<f64> = frqbins.windows(2).map(|w| (w[1] - w[0]).max(1.0)).collect();
        binwidth.push(1.0);
        let half = (nc / 2.0).round();
        let roll = 3 * (n_chroma / 12);

        let n_bins = n_fft / 2 + 1;
        let mut entries = Vec::new();
        let mut column = vec![0.0f64; n_chroma];
        for bin in 0..n_bins {
            for (c, w) in column.iter_mut().enumerate() {
                let d = (frqbins[bin] - c as f64 + half + 10.0 * nc).rem_euclid(nc) - half;
                *w = (-0.5 * (2.0 * d / binwidth[bin]).powi(2)).exp();
            }
            let norm = column.iter().map(|w| w * w).sum::<f64>().sqrt();
            let octave = (-0.5 * ((frqbins[bin] / nc - 5.0) / 2.0).powi(2)).exp();
            let max = column.iter().cloned().fold(0.0, f64::max);
            for (c, &w) in column.iter().enumerate() {
                if w > max * CHROMA_PRUNE {
                    // base_c: roll so that row 0 is C rather than A.
                    let row = (c + n_chroma - roll) % n_chroma;
                    entries.push((bin as u32, row as u32, (w / norm * octave) as f32));
                }
            }
        }
        ChromaFilterbank { n_chroma, entries }
    }

    pub fn n_chroma(&self) -> usize {
        self.n_chroma
    }

    /// `out[c] = Σ_bin w[c][bin] · spectrum[bin]` (not yet normalised).
    pub fn apply(&self, spectrum: &[f32], out: &mut [f32]) {
        out.fill(0.0);
        for &(bin, c, w) in &self.entries {
            out[c as usize] += w * spectrum[bin as usize];
        }
    }

    /// The dense value at `(chroma, bin)`, for tests against references.
    pub fn weight(&self, chroma: usize, bin: usize) -> f32 {
        self.entries
            .iter()
            .find(|&&(b, c, _)| b as usize == bin && c as usize == chroma)
            .map_or(0.0, |e| e.2)
    }
}

/// Orthonormal DCT-II (scipy `norm="ortho"`), first `n_out` coefficients of
/// an `n_in`-point transform, as a dense `n_out × n_in` matrix.
#[derive(Debug, Clone)]
pub struct Dct {
    n_in: usize,
    matrix: Vec<f32>,
}

impl Dct {
    pub fn new(n_in: usize, n_out: usize) -> Self {
        let n = n_in as f64;
        let mut matrix = Vec::with_capacity(n_in * n_out);
        for k in 0..n_out {
            let scale = if k == 0 {
                (1.0 / n).sqrt()
            } else {
                (2.0 / n).sqrt()
            };
            for i in 0..n_in {
                let arg = std::f64::consts::PI * k as f64 * (2 * i + 1) as f64 / (2.0 * n);
                matrix.push((scale * arg.cos()) as f32);
            }
        }
        Dct { n_in, matrix }
    }

    pub fn apply(&self, input: &[f32], out: &mut [f32]) {
        for (o, row) in out.iter_mut().zip(self.matrix.chunks_exact(self.n_in)) {
            *o = row.iter().zip(input).map(|(a, b)| a * b).sum();
        }
    }
}
