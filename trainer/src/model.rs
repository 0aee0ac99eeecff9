//! The conditional similarity network (SPEC §2): the multi-input CSN of Ribecky et al.
//! (paper Fig. 1b) and the single-input baseline of Lee et al. (Fig. 1a).
//!
//! ```text
//!                                      conv 3×3/2 → pool      Inception → pool  Inception
//! mel  [B,1,128,259] ─ standardise ─ [63,129] → 4×4 [15,32] ─ 2×2 [7,16] ─ [7,16] ─┐
//! cens [B,1, 16,259] ─────────────── [ 7,129] → 1×4 [ 7,32] ─ 1×2 [7,16] ─ [7,16] ─┼ cat [B,3r,7,16]
//! tgram[B,1,384,259] ─────────────── [191,129]→12×4 [15,32] ─ 2×2 [7,16] ─ [7,16] ─┘
//!   ─ Inception → pool 2×2 [B,h,3,8] (─ Inception…) ─ global avg [B,h] ─┐
//! cens  ─ mean over time [B,16] ────────────────────────────────────────┼ cat ─ dense [B,E] ─ layer norm
//! tgram ─ mean over time [B,384] ───────────────────────────────────────┘
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
//! - Layer normalisation is written with `sum_dim`/`sqrt` over the whole embedding, no affine:
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
        // The dense layer's input: the pooled maps, and the time-averaged CENS and tempogram.
        let pooled = if self.head_blocks == 0 {
            branch_in
        } else {
            self.head_out
        };
        let summaries = if self.multi_input {
            CENS_ROWS + TEMPOGRAM_ROWS
        } else {
            0
        };
        let constant = |value: f32| {
            Param::from_tensor(Tensor::<4>::full([1, 1, MEL_ROWS, 1], value, device))
                .set_require_grad(false)
        };
        Csn {
            mel_mean: constant(0.0),
            mel_std: constant(1.0),
            mel: Branch::new(device, self, [4, 4], [[2, 2], [1, 1]]),
            cens: self
                .multi_input
                .then(|| Branch::new(device, self, [1, 4], [[1, 2], [1, 1]])),
            tempogram: self
                .multi_input
                .then(|| Branch::new(device, self, [12, 4], [[2, 2], [1, 1]])),
            head,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            dense: LinearConfig::new(pooled + summaries, self.embedding_size()).init(device),
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
    head: Vec<InceptionBlock>,
    pool: AdaptiveAvgPool2d,
    dense: Linear,
}

impl Csn {
    /// Whether the network takes CENS and tempogram too.
    pub fn is_multi_input(&self) -> bool {
        self.cens.is_some()
    }

    /// Size of the embedding (`64 × dimensions`).
    pub fn embedding_size(&self) -> usize {
        self.dense.weight.dims()[1]
    }

    /// Sets the mel standardisation (128 means and standard deviations); not trainable.
    pub fn with_mel_stats(mut self, mean: &[f32], std: &[f32]) -> Self {
        assert_eq!(mean.len(), MEL_ROWS);
        assert_eq!(std.len(), MEL_ROWS);
        let device = self.dense.weight.device();
        let constant = |v: &[f32]| {
            Param::from_tensor(Tensor::<4>::from_data(
                TensorData::new(v.to_vec(), [1, 1, MEL_ROWS, 1]),
                &device,
            ))
            .set_require_grad(false)
        };
        self.mel_mean = constant(mean);
        self.mel_std = constant(std);
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
    /// - returns `[B, 64 · dimensions]`, layer-normalised (zero mean, unit variance per row).
    ///
    /// Panics if a multi-input network is not given CENS and tempogram.
    pub fn forward(
        &self,
        mel: Tensor<4>,
        cens: Option<Tensor<4>>,
        tempogram: Option<Tensor<4>>,
    ) -> Tensor<2> {
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
        let x = match summaries {
            Some((cens, tempogram)) => {
                Tensor::cat(vec![x, time_mean(cens), time_mean(tempogram)], 1) // [B, h + 400]
            }
            None => x,
        };
        layer_norm(self.dense.forward(x)) // [B, E]
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
        for (multi, dims) in [(true, 6), (false, 4)] {
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
            let v = e.into_data().try_to_vec::<f32>().unwrap();
            for row in v.chunks(dims * 64) {
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
}
