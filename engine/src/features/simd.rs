//! Element-wise maps over feature buffers eight lanes at a time. The log compressions of the
//! mel spectrogram and of the onset's dB mel are most of a window's transcendental work;
//! `wide`'s polynomial `ln` is accurate to a few ULP, far inside the 1e-4 parity bound.
//! And the one runtime check that picks AVX2 kernels where the CPU has them.

use wide::f32x8;

/// Applies `f` to every element of `data` in place.
pub fn map_in_place(data: &mut [f32], f: impl Fn(f32x8) -> f32x8) {
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let out = f(f32x8::new(chunk.try_into().unwrap()));
        chunk.copy_from_slice(&out.to_array());
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        let mut lanes = [0.0f32; 8];
        lanes[..tail.len()].copy_from_slice(tail);
        let out = f(f32x8::new(lanes)).to_array();
        tail.copy_from_slice(&out[..tail.len()]);
    }
}

/// `log10(x)` lane-wise.
pub fn log10(x: f32x8) -> f32x8 {
    x.ln() * f32x8::splat(std::f32::consts::LOG10_E)
}

/// Whether this CPU runs AVX2 with FMA, the instruction set of the crate's 256-bit kernels
/// (compiled with `#[target_feature(enable = "avx2,fma")]`, chosen at run time).
pub(crate) fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
