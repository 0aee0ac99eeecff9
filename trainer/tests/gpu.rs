//! The GPU backend (feature `gpu`, Vulkan) computes what the CPU backend computes: the default
//! network's forward pass, its gradients and one optimiser step, from the same weights and batch
//! on both devices. Needs a GPU with a Vulkan driver; without the feature this file compiles to
//! nothing.
#![cfg(feature = "gpu")]

use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use kindred_trainer::model::{CENS_ROWS, Csn, CsnConfig, FRAMES, MEL_ROWS, TEMPOGRAM_ROWS};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BATCH: usize = 16;
const LEARNING_RATE: f64 = 0.01;

/// `max |a − b| / max |b|`.
fn relative_error(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    diff / b.iter().map(|y| y.abs()).fold(0.0, f32::max)
}

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// A batch in the input ranges the network sees: mel, CENS and tempogram in [0, 1].
struct Batch {
    planes: Vec<(Vec<f32>, usize)>,
    target: Vec<f32>,
}

impl Batch {
    fn new(embedding: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut plane = |n: usize| (0..n).map(|_| rng.random::<f32>()).collect::<Vec<_>>();
        let planes = [MEL_ROWS, CENS_ROWS, TEMPOGRAM_ROWS]
            .into_iter()
            .map(|rows| (plane(BATCH * rows * FRAMES), rows))
            .collect();
        let target = plane(BATCH * embedding);
        Self { planes, target }
    }

    /// One forward, backward and SGD step on `device`: the embeddings before the step, the
    /// loss, and the embeddings after it. SGD, whose step is proportional to the gradient, so
    /// that the step compares the gradients (Adam's first step is ±lr whatever their size).
    fn step(&self, model: Csn, device: &Device) -> (Vec<f32>, f32, Vec<f32>) {
        let inputs: Vec<Tensor<4>> = self
            .planes
            .iter()
            .map(|(v, rows)| {
                Tensor::from_data(
                    TensorData::new(v.clone(), [BATCH, 1, *rows, FRAMES]),
                    device,
                )
            })
            .collect();
        let forward = |model: &Csn| {
            model.forward(
                inputs[0].clone(),
                Some(inputs[1].clone()),
                Some(inputs[2].clone()),
            )
        };
        let target = Tensor::<2>::from_data(
            TensorData::new(self.target.clone(), [BATCH, model.embedding_size()]),
            device,
        );
        let before = forward(&model);
        // Any smooth scalar of every embedding entry reaches every weight.
        let loss = (before.clone() * target).sum().div_scalar(BATCH as f64);
        let loss_value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let mut optim = SgdConfig::new().init();
        let model = optim.step(LEARNING_RATE, model, grads);
        (values(before), loss_value, values(forward(&model)))
    }
}

#[test]
fn a_training_step_on_the_gpu_matches_the_cpu() {
    let cpu = Device::flex().autodiff();
    let gpu = Device::vulkan(DeviceKind::DefaultDevice).autodiff();
    cpu.seed(7);
    let model = CsnConfig::default_cpu().init(&cpu);
    let batch = Batch::new(model.embedding_size());
    let on_gpu = model.clone().fork(&gpu);

    let (cpu_before, cpu_loss, cpu_after) = batch.step(model, &cpu);
    let (gpu_before, gpu_loss, gpu_after) = batch.step(on_gpu, &gpu);
    let forward = relative_error(&gpu_before, &cpu_before);
    let after_step = relative_error(&gpu_after, &cpu_after);
    let moved = relative_error(&cpu_after, &cpu_before);
    println!(
        "GPU (Vulkan) vs CPU: forward {forward:.2e}, loss {gpu_loss} vs {cpu_loss}, after one SGD step \
         {after_step:.2e} (the step itself moved the embeddings by {moved:.2e})"
    );
    assert!(forward < 1e-4, "forward differs by {forward:.2e}");
    assert!(
        ((gpu_loss - cpu_loss) / cpu_loss).abs() < 1e-4,
        "loss {gpu_loss} vs {cpu_loss}"
    );
    // The step must be the same step: far closer than the distance it moved.
    assert!(moved > 1e-3, "the step changed nothing ({moved:.2e})");
    assert!(
        after_step < moved / 100.0,
        "after one step: {after_step:.2e} apart, the step moved {moved:.2e}"
    );
}
