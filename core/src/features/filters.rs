// SPDX-License-Identifier: MPL-2.0
//! Filterbanks and transforms built once per parameter set: Slaney mel
//! triangles, librosa's chroma filterbank and the orthonormal DCT-II.
//!
//! Construction follows librosa 0.11 (`filters.mel`, `filters.chroma`,
//! `scipy.fft.dct(norm="ortho")`) and is computed in `f64`, then stored as
//! `f32`, as librosa does.

/// `Σ a[i]·b[i]` with eight partial sums, so the compiler can vectorise it.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let (a8, a_rest) = a.split_at(n - n % 8);
    let (b8, b_rest) = b.split_at(n - n % 8);
    for (x, y) in a8.chunks_exact(8).zip(b8.chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// A filterbank stored as runs of consecutive weights, without the zeros
/// (or negligible weights) between them.
#[derive(Debug, Clone)]
pub struct RangeFilterbank {
    n_bands: usize,
    /// `(band, first_bin, offset into weights, length)`, grouped by band.
    runs: Vec<(usize, usize, usize, usize)>,
    weights: Vec<f32>,
}

impl RangeFilterbank {
    /// `out[b] = Σ_k w[b][k] · spectrum[k]` over the stored weights.
    pub fn apply(&self, spectrum: &[f32], out: &mut [f32]) {
        out[..self.n_bands].fill(0.0);
        for &(band, first, offset, len) in &self.runs {
            out[band] += dot(
                &self.weights[offset..offset + len],
                &spectrum[first..first + len],
            );
        }
    }

    /// The value at `(band, bin)` (0 where nothing is stored), for tests
    /// against references.
    pub fn weight(&self, band: usize, bin: usize) -> f32 {
        self.runs
            .iter()
            .find(|&&(b, first, _, len)| b == band && (first..first + len).contains(&bin))
            .map_or(0.0, |&(_, first, offset, _)| {
                self.weights[offset + bin - first]
            })
    }

    /// Keeps the weights for which `keep(band, bin, weight)` holds, as runs.
    fn from_dense_rows(rows: &[Vec<f64>], keep: impl Fn(usize, usize, f64) -> bool) -> Self {
        let mut runs = Vec::new();
        let mut weights = Vec::new();
        for (band, row) in rows.iter().enumerate() {
            let mut bin = 0;
            while bin < row.len() {
                if !keep(band, bin, row[bin]) {
                    bin += 1;
                    continue;
                }
                let first = bin;
                while bin < row.len() && keep(band, bin, row[bin]) {
                    weights.push(row[bin] as f32);
                    bin += 1;
                }
                runs.push((band, first, weights.len() - (bin - first), bin - first));
            }
        }
        RangeFilterbank {
            n_bands: rows.len(),
            runs,
            weights,
        }
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
    let rows: Vec<Vec<f64>> = (0..n_mels)
        .map(|m| {
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
        })
        .collect();
    RangeFilterbank::from_dense_rows(&rows, |_, _, w| w != 0.0)
}

/// Weights below this fraction of a bin's largest weight are not stored;
/// the largest effect on a normalised chroma value is below 1e-7.
const CHROMA_PRUNE: f64 = 1e-9;

/// librosa's chroma filterbank (`filters.chroma` with `ctroct=5`,
/// `octwidth=2`, `norm=2`, `base_c=True`), `n_chroma` rows over
/// `n_fft / 2 + 1` bins. Stored as runs per row: each row is a Gaussian
/// bump per octave, so weights far from the row's pitch class are dropped
/// (see [`CHROMA_PRUNE`]).
pub fn chroma_filterbank(
    sample_rate: f64,
    n_fft: usize,
    n_chroma: usize,
    tuning: f64,
) -> RangeFilterbank {
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
    let mut rows = vec![vec![0.0f64; n_bins]; n_chroma];
    let mut column_max = vec![0.0f64; n_bins];
    let mut column = vec![0.0f64; n_chroma];
    for bin in 0..n_bins {
        for (c, w) in column.iter_mut().enumerate() {
            let d = (frqbins[bin] - c as f64 + half + 10.0 * nc).rem_euclid(nc) - half;
            *w = (-0.5 * (2.0 * d / binwidth[bin]).powi(2)).exp();
        }
        let norm = column.iter().map(|w| w * w).sum::<f64>().sqrt();
        let octave = (-0.5 * ((frqbins[bin] / nc - 5.0) / 2.0).powi(2)).exp();
        for (c, &w) in column.iter().enumerate() {
            // base_c: roll so that row 0 is C rather than A.
            let row = (c + n_chroma - roll) % n_chroma;
            rows[row][bin] = w / norm * octave;
            column_max[bin] = column_max[bin].max(rows[row][bin]);
        }
    }
    RangeFilterbank::from_dense_rows(&rows, |_, bin, w| w > column_max[bin] * CHROMA_PRUNE)
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
            *o = dot(row, input);
        }
    }
}
