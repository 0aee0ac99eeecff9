//! Autocorrelation tempogram, mirroring
//! `librosa.feature.tempogram(onset_envelope=onset, win_length, center=True, window="hann",
//! norm=inf)`: the onset envelope is padded by `win_length/2` on each side with a linear ramp
//! to zero, cut into `win_length`-frame windows at every frame, Hann-windowed,
//! autocorrelated (as `librosa.autocorrelate`) and max-normalised per frame.
//!
//! librosa transforms every frame (two FFTs of `2·win_length` points each). Here no frame is
//! transformed: with the periodic Hann window `w[n] = ½ − ½·cos(θn)`, `θ = 2π/win_length`,
//! the product `w[n]·w[n+k]` is a constant plus a first and a second harmonic in `n`, so frame
//! `t`'s autocorrelation at lag `k`,
//! `r_t[k] = Σ_{n<N−k} x[t+n]·x[t+n+k]·w[n]·w[n+k]`, is a fixed combination of three sums over
//! the lag products `q_k[m] = x[m]·x[m+k]`: a sliding DFT of `q_k` at bins 0, 1 and 2. Each
//! sum slides from one frame to the next in O(1) per lag, and all lags slide side by side,
//! which vectorises. The result equals the FFT route up to rounding.

use ndarray::{Array1, Array2, ArrayView2};

use super::simd;

/// Tempogram extractor: owns the per-lag coefficients, the sliding sums and the padded envelope.
pub struct Tempogram {
    win_length: usize,
    coefficients: LagCoefficients,
    sums: SlidingSums,
    /// `e^{−iθ}` and `e^{−2iθ}` as `[re, im, re, im]`: what the bin-1 and bin-2 sums are
    /// multiplied by when the frame advances by one.
    advance: [f32; 4],
    /// The padded envelope, plus one trailing zero so the last frame's (unused) slide stays
    /// in bounds for an odd `win_length` too.
    padded: Vec<f32>,
    /// `padded` back to front, so `x[t+N−k]` is contiguous in `k`.
    reversed: Vec<f32>,
    /// The normalised autocorrelation of every frame, frame-major `[frames, win_length]`.
    columns: Vec<f32>,
    avx2: bool,
}

/// Per lag `k`: `w[n]·w[n+k] = a + Re(b·e^{iθn}) + Re(c·e^{2iθn})`, and the phase `e^{−iθk}`,
/// `e^{−2iθk}` at which the sums' incoming term enters.
struct LagCoefficients {
    a: Vec<f32>,
    b_re: Vec<f32>,
    b_im: Vec<f32>,
    c_re: Vec<f32>,
    c_im: Vec<f32>,
    enter1_re: Vec<f32>,
    enter1_im: Vec<f32>,
    enter2_re: Vec<f32>,
    enter2_im: Vec<f32>,
}

/// Per lag, frame `t`'s `S_j = Σ_{n<N−k} q_k[t+n]·e^{ijθn}` for `j` = 0, 1, 2.
struct SlidingSums {
    s0: Vec<f32>,
    s1_re: Vec<f32>,
    s1_im: Vec<f32>,
    s2_re: Vec<f32>,
    s2_im: Vec<f32>,
}

impl LagCoefficients {
    fn new(win_length: usize) -> Self {
        let theta = std::f64::consts::TAU / win_length as f64;
        let map = |f: &dyn Fn(f64) -> f64| -> Vec<f32> {
            (0..win_length)
                .map(|k| f(theta * k as f64) as f32)
                .collect()
        };
        // w[n]w[n+k] = ¼ − ¼cos θn − ¼cos(θn + θk) + ¼cos θn·cos(θn + θk)
        //            = (¼ + ⅛cos θk) + Re(−¼(1 + e^{iθk})·e^{iθn}) + Re(⅛e^{iθk}·e^{2iθn}).
        Self {
            a: map(&|p| 0.25 + 0.125 * p.cos()),
            b_re: map(&|p| -0.25 * (1.0 + p.cos())),
            b_im: map(&|p| -0.25 * p.sin()),
            c_re: map(&|p| 0.125 * p.cos()),
            c_im: map(&|p| 0.125 * p.sin()),
            enter1_re: map(&|p| p.cos()),
            enter1_im: map(&|p| -p.sin()),
            enter2_re: map(&|p| (2.0 * p).cos()),
            enter2_im: map(&|p| -(2.0 * p).sin()),
        }
    }
}

impl SlidingSums {
    fn new(win_length: usize) -> Self {
        Self {
            s0: vec![0.0; win_length],
            s1_re: vec![0.0; win_length],
            s1_im: vec![0.0; win_length],
            s2_re: vec![0.0; win_length],
            s2_im: vec![0.0; win_length],
        }
    }

    /// The sums of the first frame, `x = padded[..N]`, directly. The phases `e^{ijθn}` are the
    /// conjugates of the lag coefficients' entry phases at `k = n`.
    #[inline(always)]
    fn start(&mut self, x: &[f32], c: &LagCoefficients) {
        let n_lags = self.s0.len();
        for s in [
            &mut self.s0,
            &mut self.s1_re,
            &mut self.s1_im,
            &mut self.s2_re,
            &mut self.s2_im,
        ] {
            s.fill(0.0);
        }
        for n in 0..n_lags {
            let v = x[n];
            let (v1r, v1i) = (v * c.enter1_re[n], -v * c.enter1_im[n]);
            let (v2r, v2i) = (v * c.enter2_re[n], -v * c.enter2_im[n]);
            let others = &x[n..n_lags];
            let len = others.len();
            let (s0, s1r, s1i) = (
                &mut self.s0[..len],
                &mut self.s1_re[..len],
                &mut self.s1_im[..len],
            );
            let (s2r, s2i) = (&mut self.s2_re[..len], &mut self.s2_im[..len]);
            for k in 0..len {
                let o = others[k];
                s0[k] += v * o;
                s1r[k] += v1r * o;
                s1i[k] += v1i * o;
                s2r[k] += v2r * o;
                s2i[k] += v2i * o;
            }
        }
    }
}

impl Tempogram {
    /// Prepares a tempogram of `win_length` lags over an envelope of `frames` frames.
    pub fn new(win_length: usize, frames: usize) -> Self {
        let theta = std::f64::consts::TAU / win_length as f64;
        let padded_len = frames + 2 * (win_length / 2) + 1;
        Self {
            win_length,
            coefficients: LagCoefficients::new(win_length),
            sums: SlidingSums::new(win_length),
            advance: [
                theta.cos() as f32,
                -theta.sin() as f32,
                (2.0 * theta).cos() as f32,
                -(2.0 * theta).sin() as f32,
            ],
            padded: vec![0.0; padded_len],
            reversed: vec![0.0; padded_len],
            columns: vec![0.0; frames * win_length],
            avx2: simd::avx2_fma(),
        }
    }

    /// Writes the tempogram of `onset` (`[frames]`) into `out` (`[win_length, frames]`).
    pub fn apply(&mut self, onset: &Array1<f32>, out: &mut Array2<f32>) {
        let frames = onset.len();
        let half = self.win_length / 2;
        // numpy.pad(mode="linear_ramp", end_values=0): ramps from 0 up to the edge values.
        let (first, last) = (onset[0] as f64, onset[frames - 1] as f64);
        for i in 0..half {
            self.padded[i] = (first * i as f64 / half as f64) as f32;
            self.padded[half + frames + i] = (last * (half - 1 - i) as f64 / half as f64) as f32;
        }
        for (p, &o) in self.padded[half..half + frames].iter_mut().zip(onset) {
            *p = o;
        }
        for (r, &p) in self.reversed.iter_mut().zip(self.padded.iter().rev()) {
            *r = p;
        }
        self.autocorrelate(frames);
        // The frames were computed lag-contiguous; the tempogram is lag-major.
        let n = self.win_length;
        let columns = ArrayView2::from_shape((frames, n), &self.columns[..frames * n])
            .expect("`columns` holds `frames` frames of `win_length` lags");
        out.assign(&columns.t());
    }

    /// Every frame's normalised autocorrelation into `columns`, frame-major.
    fn autocorrelate(&mut self, frames: usize) {
        let n = self.win_length;
        let avx2 = self.avx2;
        start(avx2, &mut self.sums, &self.padded[..n], &self.coefficients);
        let end = self.padded.len() - 1;
        let step = Step {
            c: &self.coefficients,
            advance: self.advance,
        };
        for (t, lags) in self.columns.chunks_exact_mut(n).take(frames).enumerate() {
            let frame = Frame {
                head: &self.padded[t..t + n],
                tail: &self.reversed[end - t - n..end - t],
                first: self.padded[t],
                incoming: self.padded[t + n],
            };
            slide(avx2, &step, &frame, &mut self.sums, lags);
            // As librosa's `util.normalize`: a column whose norm is not a positive normal float
            // (silence) is left as it is.
            let length = max_abs(lags);
            if length >= f32::MIN_POSITIVE {
                for l in lags.iter_mut() {
                    *l /= length;
                }
            }
        }
    }
}

/// [`SlidingSums::start`] with the AVX2 kernel where the CPU has it.
fn start(avx2: bool, sums: &mut SlidingSums, x: &[f32], c: &LagCoefficients) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        /// The generic code compiled for AVX2 (+FMA), which LLVM vectorises 256 bits wide.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn start_avx2(sums: &mut SlidingSums, x: &[f32], c: &LagCoefficients) {
            sums.start(x, c)
        }
        // SAFETY: `avx2` is set only when the CPU reports AVX2 and FMA.
        return unsafe { start_avx2(sums, x, c) };
    }
    sums.start(x, c)
}

/// [`Step::apply`] with the AVX2 kernel where the CPU has it.
fn slide(avx2: bool, step: &Step, frame: &Frame, sums: &mut SlidingSums, lags: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        /// The generic code compiled for AVX2 (+FMA), which LLVM vectorises 256 bits wide.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn slide_avx2(step: &Step, frame: &Frame, sums: &mut SlidingSums, lags: &mut [f32]) {
            step.apply(frame, sums, lags)
        }
        // SAFETY: `avx2` is set only when the CPU reports AVX2 and FMA.
        return unsafe { slide_avx2(step, frame, sums, lags) };
    }
    step.apply(frame, sums, lags)
}

/// `max |x|`, in eight independent lanes so it vectorises.
#[inline(always)]
fn max_abs(x: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut chunks = x.chunks_exact(8);
    for chunk in &mut chunks {
        for (m, v) in lanes.iter_mut().zip(chunk) {
            *m = m.max(v.abs());
        }
    }
    let rest = chunks
        .remainder()
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()));
    lanes.iter().fold(rest, |m, &v| m.max(v))
}

/// What one frame's step reads of the envelope `x`.
struct Frame<'a> {
    /// `x[t+k]` for every lag `k`.
    head: &'a [f32],
    /// `x[t+N−k]` for every lag `k`.
    tail: &'a [f32],
    /// `x[t]`.
    first: f32,
    /// `x[t+N]`.
    incoming: f32,
}

/// The constants of a step.
struct Step<'a> {
    c: &'a LagCoefficients,
    advance: [f32; 4],
}

impl Step<'_> {
    /// Frame `t`'s autocorrelation into `lags`, then every lag's sums slide to frame `t+1`:
    /// `S_j ← e^{−ijθ}·(S_j − q_k[t] + q_k[t+N−k]·e^{−ijθk})`.
    #[inline(always)]
    fn apply(&self, frame: &Frame, sums: &mut SlidingSums, lags: &mut [f32]) {
        let n = lags.len();
        let c = self.c;
        let [r1, i1, r2, i2] = self.advance;
        let (a, b_re, b_im) = (&c.a[..n], &c.b_re[..n], &c.b_im[..n]);
        let (c_re, c_im) = (&c.c_re[..n], &c.c_im[..n]);
        let (e1r, e1i) = (&c.enter1_re[..n], &c.enter1_im[..n]);
        let (e2r, e2i) = (&c.enter2_re[..n], &c.enter2_im[..n]);
        let (s0, s1r, s1i) = (
            &mut sums.s0[..n],
            &mut sums.s1_re[..n],
            &mut sums.s1_im[..n],
        );
        let (s2r, s2i) = (&mut sums.s2_re[..n], &mut sums.s2_im[..n]);
        let (head, tail) = (&frame.head[..n], &frame.tail[..n]);
        for k in 0..n {
            lags[k] = a[k] * s0[k] + b_re[k] * s1r[k] - b_im[k] * s1i[k] + c_re[k] * s2r[k]
                - c_im[k] * s2i[k];
            let leaving = frame.first * head[k];
            let entering = tail[k] * frame.incoming;
            s0[k] += entering - leaving;
            let (re, im) = (
                s1r[k] - leaving + entering * e1r[k],
                s1i[k] + entering * e1i[k],
            );
            s1r[k] = re * r1 - im * i1;
            s1i[k] = re * i1 + im * r1;
            let (re, im) = (
                s2r[k] - leaving + entering * e2r[k],
                s2i[k] + entering * e2i[k],
            );
            s2r[k] = re * r2 - im * i2;
            s2i[k] = re * i2 + im * r2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// librosa's definition computed literally in f64: pad, frame, window, autocorrelate by
    /// direct sums, max-normalise.
    fn literal(onset: &[f32], n: usize) -> Array2<f64> {
        let frames = onset.len();
        let half = n / 2;
        let (first, last) = (onset[0] as f64, onset[frames - 1] as f64);
        let mut x = vec![0.0f64; frames + 2 * half];
        for i in 0..half {
            x[i] = first * i as f64 / half as f64;
            x[half + frames + i] = last * (half - 1 - i) as f64 / half as f64;
        }
        for (p, &o) in x[half..].iter_mut().zip(onset) {
            *p = o as f64;
        }
        let w: Vec<f64> = (0..n)
            .map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos())
            .collect();
        let mut out = Array2::zeros((n, frames));
        for t in 0..frames {
            let y: Vec<f64> = (0..n)
                .map(|i| x.get(t + i).copied().unwrap_or(0.0) * w[i])
                .collect();
            let r: Vec<f64> = (0..n)
                .map(|k| (0..n - k).map(|i| y[i] * y[i + k]).sum())
                .collect();
            let m = r.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let m = if m > 0.0 { m } else { 1.0 };
            for k in 0..n {
                out[[k, t]] = r[k] / m;
            }
        }
        out
    }

    /// An onset envelope with a pulse, noise and a silent stretch.
    fn envelope(frames: usize) -> Array1<f32> {
        let mut seed = 12345u32;
        Array1::from_iter((0..frames).map(|i| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (seed >> 8) as f32 / (1u32 << 24) as f32;
            let pulse = if i % 21 == 0 { 3.0 } else { 0.0 };
            if (100..140).contains(&i) {
                0.0
            } else {
                pulse + noise
            }
        }))
    }

    fn max_error(tempogram: &mut Tempogram, onset: &Array1<f32>, n: usize) -> f64 {
        let mut out = Array2::zeros((n, onset.len()));
        tempogram.apply(onset, &mut out);
        let want = literal(onset.as_slice().unwrap(), n);
        out.iter()
            .zip(&want)
            .map(|(&a, &b)| (a as f64 - b).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn sliding_sums_equal_the_literal_definition() {
        for (n, frames) in [(384, 259), (383, 259), (16, 40)] {
            let onset = envelope(frames);
            let mut tempogram = Tempogram::new(n, frames);
            let mut kernels = vec![tempogram.avx2];
            if tempogram.avx2 {
                kernels.push(false);
            }
            for avx2 in kernels {
                tempogram.avx2 = avx2;
                let err = max_error(&mut tempogram, &onset, n);
                println!("win_length {n}, avx2 {avx2}: max error {err:.2e}");
                assert!(err < 2e-5, "win_length {n}, avx2 {avx2}: {err}");
            }
        }
    }

    #[test]
    fn silence_stays_zero() {
        let mut tempogram = Tempogram::new(384, 259);
        let mut out = Array2::from_elem((384, 259), 7.0f32);
        tempogram.apply(&Array1::zeros(259), &mut out);
        assert!(out.iter().all(|&v| v == 0.0));
    }
}
