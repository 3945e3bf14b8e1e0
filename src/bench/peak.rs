//! `vgg-train bench-peak`: the CPU's attainable f32 peak, measured rather than taken from a spec
//! sheet (a VM's clock is not the model number's): every thread of the pool runs independent
//! fused multiply-adds on the widest vectors the CPU has, and the rate is summed. It is the
//! denominator of the GFLOP/s efficiencies the README reports.

use std::time::Instant;

/// Result of [`measure`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Peak {
    /// Instruction set the loop ran on (`avx512f`, `avx2+fma`, or `scalar`).
    pub isa: &'static str,
    /// Threads that ran it at once.
    pub threads: usize,
    /// Summed f32 GFLOP/s (an FMA counts two).
    pub gflop_s: f64,
}

/// Independent accumulators per thread: enough to hide the FMA latency (4 cycles × 2 ports).
const LANES: usize = 16;

/// Runs FMAs on every thread of the rayon pool for about `seconds` and returns the summed rate.
pub fn measure(seconds: f64) -> Peak {
    let threads = rayon::current_num_threads();
    let (isa, width) = isa();
    // Calibrate: iterations that take about `seconds` on one thread.
    let mut iterations = 1u64 << 16;
    loop {
        let t = Instant::now();
        std::hint::black_box(fma_loop(iterations));
        if t.elapsed().as_secs_f64() > seconds / 4.0 || iterations > 1 << 40 {
            break;
        }
        iterations *= 2;
    }
    let start = Instant::now();
    rayon::broadcast(|_| std::hint::black_box(fma_loop(iterations * 4)));
    let elapsed = start.elapsed().as_secs_f64();
    let flops = (threads as u64 * iterations * 4 * LANES as u64 * width as u64 * 2) as f64;
    Peak {
        isa,
        threads,
        gflop_s: flops / elapsed / 1e9,
    }
}

fn isa() -> (&'static str, usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return ("avx512f", 16);
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return ("avx2+fma", 8);
        }
    }
    ("scalar", 1)
}

/// `iterations` rounds of [`LANES`] independent FMAs on the widest vectors; returns a sum so the
/// work cannot be optimised away.
fn fma_loop(iterations: u64) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        if std::is_x86_feature_detected!("avx512f") {
            #[target_feature(enable = "avx512f")]
            fn run(iterations: u64) -> f32 {
                let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
                let mut acc = [_mm512_set1_ps(1.0); LANES];
                for _ in 0..iterations {
                    for v in acc.iter_mut() {
                        *v = _mm512_fmadd_ps(*v, a, b);
                    }
                }
                acc.iter().map(|v| _mm512_reduce_add_ps(*v)).sum()
            }
            // SAFETY: the CPU has AVX-512F (checked above).
            return unsafe { run(iterations) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            #[target_feature(enable = "avx2,fma")]
            fn run(iterations: u64) -> f32 {
                let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
                let mut acc = [_mm256_set1_ps(1.0); LANES];
                for _ in 0..iterations {
                    for v in acc.iter_mut() {
                        *v = _mm256_fmadd_ps(*v, a, b);
                    }
                }
                let mut out = [0f32; 8];
                let mut sum = 0.0;
                for v in acc {
                    // SAFETY: `out` holds 8 floats.
                    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
                    sum += out.iter().sum::<f32>();
                }
                sum
            }
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            return unsafe { run(iterations) };
        }
    }
    let mut acc = [1.0f32; LANES];
    for _ in 0..iterations {
        for v in acc.iter_mut() {
            *v = v.mul_add(0.999_999, 1e-7);
        }
    }
    acc.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fma_loop_does_its_arithmetic() {
        // (1·a + b) applied twice to 1.0 in every lane, summed over the lanes of every vector.
        let (_, width) = isa();
        let one = 1.0f32.mul_add(0.999_999, 1e-7);
        let two = one.mul_add(0.999_999, 1e-7);
        let want = two * (LANES * width) as f32;
        assert!((fma_loop(2) - want).abs() < 1e-3 * want);
    }
}
