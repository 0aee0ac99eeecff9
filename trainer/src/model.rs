//! The conditional similarity network (SPEC §2): the multi-input CSN of Ribecky et al.
//! (paper Fig. 1b) and the single-input baseline of Lee et al. (Fig. 1a).
//!
//! ```text
//!                                      conv 3×3/2 → pool      Inception → pool  Inception
//! mel  [B,1,128,259] ─ standardise ─ [63,129] → 4×4 [15,32] ─ 2×2 [7,16] ─ [7,16] ─┐
//! cens [B,1, 16,259] ─────────────── [ 7,129] → 1×4 [ 7,32] ─ 1×2 [7,16] ─ [7,16] ─┼ cat [B,3r,7,16]
//! tgram[B,1,384,259] ─────────────── [191,129]→12×4 [15,32] ─ 2×2 [7,16] ─ [7,16] ─┘
//!   ─ Inception → pool 2×2 [B,h,3,8] (─ Inception…) ─ global avg [B,h] ─┐
//! cens  ─ mean over time [B,16] ────────────────────────────────────────┤
//! tgram ─ mean over time [B,384] ───────────────────────────────────────┼ cat ─ dense [B,E] ─ layer norm
//! cens  ─ key scorer: softmax over 12 pitch classes [B,12] ──────────────┤
//! tgram ─ tempo scorer: softmax over 24 bins of a log-BPM octave [B,24] ─┘
//!                                                     (6-dim) cat key scores × 16 [B,12] ─ [B,E]
//! ```
//!
//! Every branch ends in a `[B, reduce, 7, 16]` map (the pools above are chosen for that), so
//! the maps concatenate on channels. The stride-2 first convolution and early pooling keep the
//! cost on a 2-core CPU down: the full-resolution tempogram (384 × 259) dominated otherwise. The single-input baseline is the mel branch and the same head.
//!
//! Decisions (measured, not guessed; see also [`CsnConfig::default_cpu`]):
//! - An *Inception block* is a naïve Inception module (parallel 1×1, 3×3 and 5×5 convolutions with
//!   ReLU, and a 3×3/stride-1 max pool, concatenated on channels) followed by a dimension-reduction
//!   module (1×1 convolution, optional batch norm, ReLU, max pool).
//! - Global pooling is `AdaptiveAvgPool2d([1, 1])`, which burn-onnx lowers to ONNX (a slice of
//!   the batch axis would not export).
//! - The dense layer also sees the CENS and the tempogram averaged over the window's frames
//!   (multi-input only). Global pooling keeps *what* the convolutions found but not *where* on
//!   the pitch-class and lag axes, and where is exactly key and tempo; the branches' early
//!   pooling also merges 24 lags (±10 BPM at 120 BPM). Measured on the synthetic test split with
//!   the same shortened recipe: see `models/MODEL_CARD.md`.
//! - The key and tempo [`CircularScorer`]s give the dense layer what a linear map of those
//!   averages cannot: a tonic (tempo) that moves with the transposition (tempo change) of the
//!   music, scored by one network shared over every shift.
//! - The 6-dim multi-input network's key slice ends with the key scorer's own output (scaled,
//!   after the layer norm): the dense layer fills the slice's first 52 values, the scorer its
//!   last 12 ([`KEY_SLICE_GAIN`]). Measured on v4 (dense only): its key slice scored 0.931 on the
//!   held-out real key triplets (a pitch-shifted copy against a time-stretched one) while the
//!   key scorer's output alone scored 0.999 there, with the same 0.75 on the rendered key
//!   triplets: the dense layer mixes tempo-dependent inputs into the key slice. The scorer part
//!   is detached from the triplet loss, so it stays the tonic distribution the scorer's own loss
//!   teaches. Measured on v5 (not detached) and v6 (detached): those 12 values alone score
//!   0.997–0.998 on the real key triplets either way, the whole slice 0.96 — what is left is
//!   the dense part, which is therefore weighted down ([`KEY_DENSE_WEIGHT`]).
//!   Results: `models/MODEL_CARD.md`.
//! - Layer normalisation is written with `sum_dim`/`sqrt` over the dense output, no affine:
//!   `nn::LayerNorm` and `mean_dim` do not export with burn-onnx 0.23.0-pre.1.
//! - The network takes the compressed mel `log10(1 + 10·S)` and standardises it itself with the
//!   training split's per-band mean/std, held as non-trainable parameters (exported as ONNX
//!   initializers and saved in checkpoints).

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use kindred_engine::tempo::TempoEstimator;

/// Mel bands of the input.
pub const MEL_ROWS: usize = 128;
/// CENS rows after zero padding.
pub const CENS_ROWS: usize = 16;
/// Tempogram rows (lags).
pub const TEMPOGRAM_ROWS: usize = 384;
/// Frames per 3 s window.
pub const FRAMES: usize = 259;
/// Width of each dimension's slice of the embedding.
pub const SLICE_WIDTH: usize = 64;
/// Epsilon of the embedding's layer normalisation.
const LAYER_NORM_EPS: f64 = 1e-5;

/// A convolutional block: 3×3 convolution with stride 2 (no padding), optional batch norm,
/// ReLU, max pool.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    norm: Option<BatchNorm>,
    pool: MaxPool2d,
}

impl ConvBlock {
    fn new(device: &Device, channels: [usize; 2], pool: [usize; 2], batch_norm: bool) -> Self {
        Self {
            conv: Conv2dConfig::new(channels, [3, 3])
                .with_stride([2, 2])
                .init(device),
            norm: batch_norm.then(|| BatchNormConfig::new(channels[1]).init(device)),
            pool: MaxPool2dConfig::new(pool).init(),
        }
    }

    /// `[B, in, H, W]` → conv `[B, out, (H − 1) / 2, (W − 1) / 2]` → `[B, out, ·/pool₀, ·/pool₁]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv.forward(x);
        let x = match &self.norm {
            Some(norm) => norm.forward(x),
            None => x,
        };
        self.pool.forward(relu(x))
    }
}

/// An Inception block: naïve Inception module then a dimension-reduction module.
#[derive(Module, Debug)]
pub struct InceptionBlock {
    conv1: Conv2d,
    conv3: Conv2d,
    conv5: Conv2d,
    pool3: MaxPool2d,
    reduce: Conv2d,
    norm: Option<BatchNorm>,
    pool: Option<MaxPool2d>,
}

impl InceptionBlock {
    /// `input` channels in, `width` per convolution path, `out` after reduction, then `pool`.
    fn new(
        device: &Device,
        input: usize,
        width: usize,
        out: usize,
        pool: [usize; 2],
        batch_norm: bool,
    ) -> Self {
        let conv = |k: usize| {
            Conv2dConfig::new([input, width], [k, k])
                .with_padding(PaddingConfig2d::Same)
                .init(device)
        };
        Self {
            conv1: conv(1),
            conv3: conv(3),
            conv5: conv(5),
            pool3: MaxPool2dConfig::new([3, 3])
                .with_strides([1, 1])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            reduce: Conv2dConfig::new([3 * width + input, out], [1, 1]).init(device),
            norm: batch_norm.then(|| BatchNormConfig::new(out).init(device)),
            pool: (pool != [1, 1]).then(|| MaxPool2dConfig::new(pool).init()),
        }
    }

    /// `[B, in, H, W]` → naïve module `[B, 3·width + in, H, W]` → `[B, out, H / p₀, W / p₁]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let naive = Tensor::cat(
            vec![
                relu(self.conv1.forward(x.clone())),
                relu(self.conv3.forward(x.clone())),
                relu(self.conv5.forward(x.clone())),
                self.pool3.forward(x),
            ],
            1,
        );
        let x = self.reduce.forward(naive);
        let x = match &self.norm {
            Some(norm) => norm.forward(x),
            None => x,
        };
        let x = relu(x);
        match &self.pool {
            Some(pool) => pool.forward(x),
            None => x,
        }
    }
}

/// One input branch: a convolutional block then two Inception blocks.
#[derive(Module, Debug)]
pub struct Branch {
    conv: ConvBlock,
    inception1: InceptionBlock,
    inception2: InceptionBlock,
}

impl Branch {
    /// Pools: `stem` after the convolutional block, `pools` after each Inception block.
    fn new(device: &Device, c: &CsnConfig, stem: [usize; 2], pools: [[usize; 2]; 2]) -> Self {
        Self {
            conv: ConvBlock::new(device, [1, c.stem], stem, c.batch_norm),
            inception1: InceptionBlock::new(
                device,
                c.stem,
                c.width,
                c.reduce,
                pools[0],
                c.batch_norm,
            ),
            inception2: InceptionBlock::new(
                device,
                c.reduce,
                c.width,
                c.reduce,
                pools[1],
                c.batch_norm,
            ),
        }
    }

    /// `[B, 1, rows, 259]` → `[B, reduce, 7, 16]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.inception2
            .forward(self.inception1.forward(self.conv.forward(x)))
    }
}

/// A shift-equivariant scorer for key or tempo (multi-input only): one small network, shared
/// over every circular shift of a summary axis, scores each position, and a softmax over the
/// positions says where the window's tonic (or tempo) lies.
///
/// The summary axis is the 12 pitch classes for key (a transposition rotates the CENS rows) and
/// tempo folded into one octave of log-BPM in [`TEMPO_BINS`] bins for tempo (a tempo change
/// shifts the tempogram's peaks along log-lag, and tempo octaves are positives, SPEC §3). The
/// input is the window's time mean and mean square, mapped onto the axis by a constant matrix
/// that also repeats the first `bins − 1` positions after the last, so that one unpadded
/// convolution with a `bins`-long kernel sees every rotation (exportable: no slice of the
/// batch axis, no circular padding op). Measured before it was built: the same scorer trained
/// as a classifier on the training split's window summaries (numpy) scored 0.85 (key) and
/// 0.80 (tempo) on the held-out triplets where the network's slices scored 0.72 and 0.64.
#[derive(Module, Debug)]
pub struct CircularScorer {
    /// `[rows, 2·bins − 1]`, not trainable.
    axis: Param<Tensor<2>>,
    /// Kernel `[bins, 1]`, 2 → width channels.
    hidden: Conv2d,
    /// 1×1, width → 1 channel.
    score: Conv2d,
}

/// Bins of the tempo scorer's octave of log-BPM (one bin ≈ 2.9 %, about the ±5 BPM tolerance
/// at 120 BPM).
pub const TEMPO_BINS: usize = 24;
/// Tempo range the tempo scorer folds, BPM.
const TEMPO_RANGE: (f64, f64) = (30.0, 480.0);
/// Weight of the key scorer's output in the key slice: a window's tonic distribution has a
/// norm of 0.4–0.5 on average (1 when certain), so ×16 gives it about the weight of the slice's
/// 52 layer-normalised values (norm ≈ 6–7). Chosen from v4's outputs: the scorer at that weight
/// beside v4's key slice scored 0.990 on the held-out real key triplets (0.931 without) and
/// 0.766 on the rendered ones (0.754 without).
pub const KEY_SLICE_GAIN: f64 = 16.0;
/// Weight of the dense layer's 52 values in the key slice (after the layer norm), against the
/// key scorer's 12: the dense part carries tempo and timbre into key. Chosen on the real
/// validation packages (flare-game, tecnoballz) from v5's and v6's outputs: the scorer part
/// alone scored 0.997 on their key triplets, the whole slice 0.95, the scorer ×4 against the
/// dense part 0.992–0.996. Trained with it (v7): the whole slice 0.992 there and 0.996 on the
/// held-out test packages (v6: 0.950 and 0.958).
pub const KEY_DENSE_WEIGHT: f64 = 0.25;
/// Softmax logits are bounded to ±this (exp stays finite without a max: `max_dim` does not export).
const SCORE_BOUND: f64 = 8.0;
/// Gain on the scores before the softmax, so that a freshly initialised scorer already peaks
/// (a random template matched at every shift) instead of giving the dense layer a flat 1/bins.
/// Measured (10 epochs × 80 steps, triplet loss only): with a gain of 1 the held-out rendered
/// tempo and key stayed at chance (0.48, 0.48; the network without scorers: 0.49, 0.49), with 10
/// they reached 0.70 and 0.67.
const SCORE_GAIN: f64 = 10.0;

/// The scorer position of a tempo: its place in the log-BPM octave, rounded to a bin.
pub fn tempo_bin(bpm: f32) -> usize {
    octave_position(f64::from(bpm)).round() as usize % TEMPO_BINS
}

/// Where `bpm` lies in its octave, in bins: `[0, TEMPO_BINS)`.
fn octave_position(bpm: f64) -> f64 {
    bpm.log2().rem_euclid(1.0) * TEMPO_BINS as f64
}

/// The key and tempo scorers' outputs of a batch (see [`Csn::forward_scored`]).
pub struct Scores {
    /// `[B, 12]`, a softmax over tonic pitch classes (0 = C).
    pub key: Tensor<2>,
    /// `[B, TEMPO_BINS]`, a softmax over positions in the log-BPM octave ([`tempo_bin`]).
    pub tempo: Tensor<2>,
}

impl CircularScorer {
    /// The key scorer over CENS rows (the first 12 of [`CENS_ROWS`] are the pitch classes).
    fn key(device: &Device, width: usize) -> Self {
        let mut axis = vec![0f32; CENS_ROWS * 12];
        for pc in 0..12 {
            axis[pc * 12 + pc] = 1.0;
        }
        Self::new(device, width, &axis, CENS_ROWS, 12)
    }

    /// The tempo scorer over tempogram lags: lag `k` frames is `60·sr / (hop·k)` BPM, folded
    /// to its position in the octave and shared linearly between the two nearest bins.
    fn tempo(device: &Device, width: usize) -> Self {
        let lags = TempoEstimator::new(&kindred_engine::FrontEndConfig::default());
        let mut axis = vec![0f32; TEMPOGRAM_ROWS * TEMPO_BINS];
        for lag in 1..TEMPOGRAM_ROWS {
            let bpm = f64::from(lags.lag_to_bpm(lag as f32));
            if !(TEMPO_RANGE.0..=TEMPO_RANGE.1).contains(&bpm) {
                continue;
            }
            let pos = octave_position(bpm);
            let (bin, frac) = (pos.floor() as usize, pos.fract());
            axis[lag * TEMPO_BINS + bin % TEMPO_BINS] += (1.0 - frac) as f32;
            axis[lag * TEMPO_BINS + (bin + 1) % TEMPO_BINS] += frac as f32;
        }
        // Scale so the busiest bin sums to 1 (slow octaves hold many more lags than fast ones).
        let busiest = (0..TEMPO_BINS)
            .map(|b| {
                (0..TEMPOGRAM_ROWS)
                    .map(|l| axis[l * TEMPO_BINS + b])
                    .sum::<f32>()
            })
            .fold(0f32, f32::max);
        axis.iter_mut().for_each(|v| *v /= busiest);
        Self::new(device, width, &axis, TEMPOGRAM_ROWS, TEMPO_BINS)
    }

    /// A scorer whose `[rows, bins]` axis matrix is `axis` (row-major).
    fn new(device: &Device, width: usize, axis: &[f32], rows: usize, bins: usize) -> Self {
        Self {
            axis: Self::wrapped(device, axis, rows, bins),
            hidden: Conv2dConfig::new([2, width], [bins, 1]).init(device),
            score: Conv2dConfig::new([width, 1], [1, 1]).init(device),
        }
    }

    /// `[rows, bins]` → the constant `[rows, 2·bins − 1]` (first `bins − 1` columns repeated).
    fn wrapped(device: &Device, axis: &[f32], rows: usize, bins: usize) -> Param<Tensor<2>> {
        let wide = 2 * bins - 1;
        let mut out = vec![0f32; rows * wide];
        for r in 0..rows {
            for c in 0..wide {
                out[r * wide + c] = axis[r * bins + c % bins];
            }
        }
        constant(out, [rows, wide], device)
    }

    /// `[B, 1, rows, 259]` → `[B, bins]`, a softmax over positions.
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let batch = x.dims()[0];
        let axis = self.axis.val();
        let wide = axis.dims()[1];
        let bins = wide.div_ceil(2);
        let summary = |x: Tensor<4>| {
            time_mean(x)
                .matmul(axis.clone())
                .reshape([batch, 1, wide, 1])
        };
        let x = Tensor::cat(vec![summary(x.clone()), summary(x.clone() * x)], 1); // [B, 2, wide, 1]
        let s = self.score.forward(relu(self.hidden.forward(x))); // [B, 1, bins, 1]
        let s = s
            .reshape([batch, bins])
            .mul_scalar(SCORE_GAIN / SCORE_BOUND);
        let e = (s.tanh() * SCORE_BOUND).exp();
        e.clone() / e.sum_dim(1)
    }
}

/// Configuration of a [`Csn`].
///
/// Sizes ([`CsnConfig::tiny`], [`CsnConfig::default_cpu`], [`CsnConfig::large`]) differ only in
/// widths; the pools (and so the `[·, 7, 16]` branch maps) are fixed by the input shapes.
#[derive(Config, Debug)]
pub struct CsnConfig {
    /// Multi-input (mel, CENS, tempogram; Fig. 1b) or mel only (Fig. 1a).
    #[config(default = true)]
    pub multi_input: bool,
    /// Similarity dimensions (6: genre, mood, instrument, era, tempo, key; or 4: the first four).
    #[config(default = 6)]
    pub dimensions: usize,
    /// Channels of each branch's convolutional block.
    #[config(default = 8)]
    pub stem: usize,
    /// Channels of each convolution path of a branch's Inception modules.
    #[config(default = 8)]
    pub width: usize,
    /// Channels after a branch Inception block's reduction module.
    #[config(default = 16)]
    pub reduce: usize,
    /// Inception blocks after the concatenation (each pools 2×2 first, then 1×1).
    #[config(default = 1)]
    pub head_blocks: usize,
    /// Channels of each convolution path of the head's Inception modules.
    #[config(default = 16)]
    pub head_width: usize,
    /// Channels after a head Inception block's reduction module (input of the dense layer).
    #[config(default = 64)]
    pub head_out: usize,
    /// Batch normalisation after every convolutional/reduction convolution.
    #[config(default = true)]
    pub batch_norm: bool,
    /// Hidden channels of the key and tempo [`CircularScorer`]s (multi-input only).
    #[config(default = 32)]
    pub scorer_width: usize,
}

impl CsnConfig {
    /// For tests: a few thousand parameters, fast on any machine.
    pub fn tiny() -> Self {
        Self::new()
            .with_stem(2)
            .with_width(2)
            .with_reduce(4)
            .with_head_width(4)
            .with_head_out(8)
            .with_scorer_width(4)
    }

    /// The default: about an hour of training on a 2-core CPU on the built dataset.
    ///
    /// Measured on the full dataset (7 127 training windows, batch 32, 223 steps per epoch,
    /// 24 validation batches) with the release build, on a 2-core machine shared with other
    /// builds (the process got 0.67 core on average): 1.16 s per step and 68 s for 40 steps
    /// plus validation, i.e. ≈ 280 s per epoch under that load. CPU time was 0.87 core-seconds
    /// per step, so on 2 free cores an epoch takes ≈ 100 s and 35 epochs ≈ 1 h (an estimate
    /// from CPU time, not a measured wall time). `--steps` shortens epochs if needed.
    /// The first version (stride-1 stems, branch maps [8, 16]) cost about three times as much.
    pub fn default_cpu() -> Self {
        Self::new()
    }

    /// For a GPU: wider branches and two head blocks.
    pub fn large() -> Self {
        Self::new()
            .with_stem(32)
            .with_width(32)
            .with_reduce(64)
            .with_head_blocks(2)
            .with_head_width(64)
            .with_head_out(256)
            .with_scorer_width(64)
    }

    /// A named size: `tiny`, `default` or `large`.
    pub fn sized(name: &str) -> Option<Self> {
        match name {
            "tiny" => Some(Self::tiny()),
            "default" => Some(Self::default_cpu()),
            "large" => Some(Self::large()),
            _ => None,
        }
    }

    /// Embedding size: `dimensions × 64`.
    pub fn embedding_size(&self) -> usize {
        self.dimensions * SLICE_WIDTH
    }

    /// The network, with mel statistics 0/1 (set the training split's with
    /// [`Csn::with_mel_stats`]).
    pub fn init(&self, device: &Device) -> Csn {
        let branch_in = if self.multi_input { 3 } else { 1 } * self.reduce;
        let head = (0..self.head_blocks)
            .map(|i| {
                InceptionBlock::new(
                    device,
                    if i == 0 { branch_in } else { self.head_out },
                    self.head_width,
                    self.head_out,
                    if i == 0 { [2, 2] } else { [1, 1] }, // [B, h, 3, 8]
                    self.batch_norm,
                )
            })
            .collect();
        // The dense layer's input: the pooled maps, the time-averaged CENS and tempogram, and
        // the key and tempo scorers' positions.
        let pooled = if self.head_blocks == 0 {
            branch_in
        } else {
            self.head_out
        };
        let summaries = if self.multi_input {
            CENS_ROWS + TEMPOGRAM_ROWS + 12 + TEMPO_BINS
        } else {
            0
        };
        // The key slice is the last (slice order of `data::triplets::DIMENSIONS`).
        let key_in_slice = self.multi_input && self.dimensions == 6;
        let dense_out = self.embedding_size() - if key_in_slice { 12 } else { 0 };
        // 1 on every column but the key slice's dense part.
        let column_weight = key_in_slice.then(|| {
            let key_start = (self.dimensions - 1) * SLICE_WIDTH;
            let weights: Vec<f32> = (0..dense_out)
                .map(|c| {
                    if c < key_start {
                        1.0
                    } else {
                        KEY_DENSE_WEIGHT as f32
                    }
                })
                .collect();
            constant(weights, [1, dense_out], device)
        });
        let mel_stat = |value: f32| constant(vec![value; MEL_ROWS], [1, 1, MEL_ROWS, 1], device);
        Csn {
            mel_mean: mel_stat(0.0),
            mel_std: mel_stat(1.0),
            mel: Branch::new(device, self, [4, 4], [[2, 2], [1, 1]]),
            cens: self
                .multi_input
                .then(|| Branch::new(device, self, [1, 4], [[1, 2], [1, 1]])),
            tempogram: self
                .multi_input
                .then(|| Branch::new(device, self, [12, 4], [[2, 2], [1, 1]])),
            key: self
                .multi_input
                .then(|| CircularScorer::key(device, self.scorer_width)),
            tempo: self
                .multi_input
                .then(|| CircularScorer::tempo(device, self.scorer_width)),
            head,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            dense: LinearConfig::new(pooled + summaries, dense_out).init(device),
            column_weight,
        }
    }
}

/// The conditional similarity network. Build it with [`CsnConfig::init`].
#[derive(Module, Debug)]
pub struct Csn {
    /// Per-band mean of the compressed mel on the training split, `[1, 1, 128, 1]`.
    mel_mean: Param<Tensor<4>>,
    /// Per-band standard deviation, `[1, 1, 128, 1]`.
    mel_std: Param<Tensor<4>>,
    mel: Branch,
    cens: Option<Branch>,
    tempogram: Option<Branch>,
    key: Option<CircularScorer>,
    tempo: Option<CircularScorer>,
    head: Vec<InceptionBlock>,
    pool: AdaptiveAvgPool2d,
    dense: Linear,
    /// Present when the key slice ends with the key scorer's output (6-dim multi-input): the
    /// layer-normalised dense output's per-column weight, `[1, E − 12]`, [`KEY_DENSE_WEIGHT`] on
    /// the key slice's part and 1 elsewhere. Not trainable; a constant tensor rather than a
    /// slice of the output, so that the exported graph keeps a dynamic batch axis.
    column_weight: Option<Param<Tensor<2>>>,
}

impl Csn {
    /// Whether the network takes CENS and tempogram too.
    pub fn is_multi_input(&self) -> bool {
        self.cens.is_some()
    }

    /// Size of the embedding (`64 × dimensions`).
    pub fn embedding_size(&self) -> usize {
        self.dense.weight.dims()[1] + if self.column_weight.is_some() { 12 } else { 0 }
    }

    /// Sets the mel standardisation (128 means and standard deviations); not trainable.
    pub fn with_mel_stats(mut self, mean: &[f32], std: &[f32]) -> Self {
        assert_eq!(mean.len(), MEL_ROWS);
        assert_eq!(std.len(), MEL_ROWS);
        let device = self.dense.weight.device();
        let mel_stat = |v: &[f32]| constant(v.to_vec(), [1, 1, MEL_ROWS, 1], &device);
        self.mel_mean = mel_stat(mean);
        self.mel_std = mel_stat(std);
        self
    }

    /// The mel statistics `(mean, std)` the network carries.
    pub fn mel_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let read = |p: &Param<Tensor<4>>| p.val().into_data().try_to_vec::<f32>().unwrap();
        (read(&self.mel_mean), read(&self.mel_std))
    }

    /// The embedding of a batch of windows.
    ///
    /// - `mel`: `[B, 1, 128, 259]` compressed mel `log10(1 + 10·S)` (not standardised);
    /// - `cens`: `[B, 1, 16, 259]` CENS zero-padded from 12 rows (multi-input only);
    /// - `tempogram`: `[B, 1, 384, 259]` (multi-input only);
    /// - returns `[B, 64 · dimensions]`: the dense output layer-normalised (zero mean, unit
    ///   variance per row) and, for the 6-dim multi-input network, the key slice's part of it
    ///   weighted by [`KEY_DENSE_WEIGHT`] and followed by the key scorer's output.
    ///
    /// Panics if a multi-input network is not given CENS and tempogram.
    pub fn forward(
        &self,
        mel: Tensor<4>,
        cens: Option<Tensor<4>>,
        tempogram: Option<Tensor<4>>,
    ) -> Tensor<2> {
        self.forward_scored(mel, cens, tempogram).0
    }

    /// [`forward`](Self::forward), and the key and tempo scorers' outputs (multi-input only),
    /// for training them on their own labels too.
    pub fn forward_scored(
        &self,
        mel: Tensor<4>,
        cens: Option<Tensor<4>>,
        tempogram: Option<Tensor<4>>,
    ) -> (Tensor<2>, Option<Scores>) {
        let mel = (mel - self.mel_mean.val()) / self.mel_std.val();
        let mel = self.mel.forward(mel); // [B, r, 7, 16]
        let mut summaries = None;
        let mut x = match (&self.cens, &self.tempogram) {
            (Some(cb), Some(tb)) => {
                let cens = cens.expect("a multi-input CSN needs CENS");
                let tempogram = tempogram.expect("a multi-input CSN needs a tempogram");
                summaries = Some((cens.clone(), tempogram.clone()));
                Tensor::cat(vec![mel, cb.forward(cens), tb.forward(tempogram)], 1) // [B, 3r, 7, 16]
            }
            _ => mel,
        };
        for block in &self.head {
            x = block.forward(x); // [B, h, 3, 8]
        }
        let x = self.pool.forward(x); // [B, h, 1, 1]
        let [batch, channels, _, _] = x.dims();
        let x = x.reshape([batch, channels]);
        let (x, scores) = match (summaries, &self.key, &self.tempo) {
            (Some((cens, tempogram)), Some(key), Some(tempo)) => {
                let scores = Scores {
                    key: key.forward(cens.clone()),
                    tempo: tempo.forward(tempogram.clone()),
                };
                let x = Tensor::cat(
                    vec![
                        x,
                        time_mean(cens),
                        time_mean(tempogram),
                        scores.key.clone(),
                        scores.tempo.clone(),
                    ],
                    1,
                ); // [B, h + 400 + 12 + 24]
                (x, Some(scores))
            }
            _ => (x, None),
        };
        let x = layer_norm(self.dense.forward(x));
        let x = match (&scores, &self.column_weight) {
            (Some(s), Some(weight)) => {
                // Detached: through these 12 values the triplet loss does not reach the scorer, so
                // they stay the tonic distribution its own loss teaches.
                Tensor::cat(
                    vec![
                        x * weight.val(),
                        s.key.clone().detach().mul_scalar(KEY_SLICE_GAIN),
                    ],
                    1,
                )
            }
            _ => x,
        };
        (x, scores) // [B, E]
    }

    /// Multi-input forward, the signature the ONNX exporter captures.
    pub fn forward_multi(&self, inputs: (Tensor<4>, Tensor<4>, Tensor<4>)) -> Tensor<2> {
        self.forward(inputs.0, Some(inputs.1), Some(inputs.2))
    }

    /// Single-input forward, the signature the ONNX exporter captures.
    pub fn forward_single(&self, mel: Tensor<4>) -> Tensor<2> {
        self.forward(mel, None, None)
    }
}

/// A non-trainable parameter of `values` in `shape` (row-major): exported as an ONNX
/// initializer and saved in checkpoints, never changed by the optimiser.
fn constant<const D: usize>(
    values: Vec<f32>,
    shape: [usize; D],
    device: &Device,
) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::<D>::from_data(
        TensorData::new(values, shape),
        device,
    ))
    .set_require_grad(false)
}

/// `[B, 1, rows, frames]` averaged over frames → `[B, rows]` (from a sum: `mean_dim` does not
/// export).
fn time_mean(x: Tensor<4>) -> Tensor<2> {
    let [batch, _, rows, frames] = x.dims();
    x.sum_dim(3)
        .div_scalar(frames as f64)
        .reshape([batch, rows])
}

/// Layer normalisation over the last axis without affine parameters, from sums and a square
/// root (exportable; `mean_dim` and `nn::LayerNorm` are not).
pub fn layer_norm(x: Tensor<2>) -> Tensor<2> {
    let [_, n] = x.dims();
    let mean = x.clone().sum_dim(1).div_scalar(n as f64); // [B, 1]
    let centred = x - mean;
    let var = (centred.clone() * centred.clone())
        .sum_dim(1)
        .div_scalar(n as f64);
    centred / var.add_scalar(LAYER_NORM_EPS).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(batch: usize, device: &Device) -> (Tensor<4>, Tensor<4>, Tensor<4>) {
        let r = |rows| {
            Tensor::<4>::random(
                [batch, 1, rows, FRAMES],
                burn::tensor::Distribution::Uniform(0.0, 1.0),
                device,
            )
        };
        (r(MEL_ROWS), r(CENS_ROWS), r(TEMPOGRAM_ROWS))
    }

    #[test]
    fn shapes_and_layer_norm() {
        let device = Device::default();
        for (multi, dims) in [(true, 6), (true, 4), (false, 4)] {
            let model = CsnConfig::tiny()
                .with_multi_input(multi)
                .with_dimensions(dims)
                .init(&device);
            let (m, c, t) = inputs(3, &device);
            let e = if multi {
                model.forward_multi((m, c, t))
            } else {
                model.forward_single(m)
            };
            assert_eq!(e.dims(), [3, dims * 64]);
            assert_eq!(model.embedding_size(), dims * 64);
            let v = e.into_data().try_to_vec::<f32>().unwrap();
            // The 6-dim multi-input key slice is the dense output's part × KEY_DENSE_WEIGHT and
            // the key scorer's distribution × gain.
            let scorer = if multi && dims == 6 { 12 } else { 0 };
            let key_start = (dims - 1) * 64;
            for full in v.chunks(dims * 64) {
                let (row, key) = full.split_at(full.len() - scorer);
                let mut row = row.to_vec();
                if scorer > 0 {
                    let sum: f32 = key.iter().sum();
                    assert!((sum - KEY_SLICE_GAIN as f32).abs() < 1e-3, "{sum}");
                    assert!(key.iter().all(|&k| k >= 0.0));
                    // Undone, the dense output is layer-normalised as a whole.
                    row[key_start..]
                        .iter_mut()
                        .for_each(|x| *x /= KEY_DENSE_WEIGHT as f32);
                }
                let mean: f32 = row.iter().sum::<f32>() / row.len() as f32;
                let var: f32 =
                    row.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / row.len() as f32;
                assert!(
                    mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-2,
                    "{mean} {var}"
                );
            }
        }
    }

    /// Transposing the music rotates the CENS rows; the key scorer's output rotates with it.
    #[test]
    fn key_scorer_follows_transposition() {
        let device = Device::default();
        let scorer = CircularScorer::key(&device, 8);
        let (_, cens, _) = inputs(1, &device);
        let rows: Vec<f32> = cens.into_data().try_to_vec().unwrap();
        let mut padded = rows.clone();
        padded[12 * FRAMES..].iter_mut().for_each(|v| *v = 0.0);
        let transposed = |k: usize| {
            let mut out = padded.clone();
            for pc in 0..12 {
                let to = (pc + k) % 12;
                out[to * FRAMES..(to + 1) * FRAMES]
                    .copy_from_slice(&padded[pc * FRAMES..(pc + 1) * FRAMES]);
            }
            let x =
                Tensor::<4>::from_data(TensorData::new(out, [1, 1, CENS_ROWS, FRAMES]), &device);
            scorer.forward(x).into_data().try_to_vec::<f32>().unwrap()
        };
        let base = transposed(0);
        assert!((base.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        let spread =
            base.iter().cloned().fold(0f32, f32::max) - base.iter().cloned().fold(1f32, f32::min);
        assert!(
            spread > 1e-3,
            "a flat softmax cannot show a rotation: {base:?}"
        );
        for k in [1, 5, 7] {
            let moved = transposed(k);
            for pc in 0..12 {
                assert!((moved[(pc + k) % 12] - base[pc]).abs() < 1e-5, "shift {k}");
            }
        }
    }

    /// The key slice's scorer part passes no gradient back to the key scorer (which still learns
    /// from its tonic labels, and from the triplets through the dense layer's input).
    #[test]
    fn key_slice_scorer_part_is_detached() {
        let device = Device::default().autodiff();
        let model = CsnConfig::tiny()
            .with_multi_input(true)
            .with_dimensions(6)
            .init(&device);
        let n = model.embedding_size();
        let largest_grad = |of_slice: bool| {
            let (m, c, t) = inputs(2, &device);
            let (e, scores) = model.forward_scored(m, Some(c), Some(t));
            let key = if of_slice {
                e.slice([0..2, n - 12..n])
            } else {
                scores.unwrap().key
            };
            // Squared: a softmax's plain sum is constant and has no gradient.
            let grads = (key.clone() * key).sum().backward();
            let hidden = model.key.as_ref().unwrap().hidden.weight.val();
            hidden
                .grad(&grads)
                .map_or(0.0, |g| g.abs().max().into_scalar::<f32>())
        };
        assert_eq!(largest_grad(true), 0.0);
        assert!(largest_grad(false) > 0.0);
    }

    /// The tempo scorer's axis puts the tempogram lag of a tempo at that tempo's bin, and its
    /// octaves at the same bin.
    #[test]
    fn tempo_axis_folds_octaves() {
        let device = Device::default();
        let scorer = CircularScorer::tempo(&device, 4);
        let axis: Vec<f32> = scorer.axis.val().into_data().try_to_vec().unwrap();
        let wide = 2 * TEMPO_BINS - 1;
        let frames_per_minute = 60.0 * 22_050.0 / 256.0;
        for lag in [20usize, 40, 43, 80, 86, 129, 160] {
            let bpm = frames_per_minute / lag as f32;
            let row = &axis[lag * wide..lag * wide + TEMPO_BINS];
            let peak = (0..TEMPO_BINS)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap();
            let d = (peak + TEMPO_BINS - tempo_bin(bpm)) % TEMPO_BINS;
            assert!(
                d == 0 || d == 1 || d == TEMPO_BINS - 1,
                "lag {lag}: {bpm} BPM"
            );
            for c in TEMPO_BINS..wide {
                assert_eq!(axis[lag * wide + c], axis[lag * wide + c - TEMPO_BINS]);
            }
        }
        assert_eq!(tempo_bin(120.0), tempo_bin(60.0));
        assert_eq!(tempo_bin(120.0), tempo_bin(240.0));
        assert_ne!(tempo_bin(120.0), tempo_bin(90.0));
        assert!(axis[..wide].iter().all(|&v| v == 0.0), "lag 0 is no tempo");
    }
}
