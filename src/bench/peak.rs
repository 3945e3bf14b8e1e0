//! `vgg-train bench-peak`: the CPU's attainable f32 peak, measured rather than taken from a spec
//! sheet (a VM's clock is not the model number's): every thread of the pool runs independent
//! fused multiply-adds on the widest vectors the CPU has, and the rate is summed. It is the
//! denominator of the GFLOP/s efficiencies the README reports. A peak that a library beats is
//! not a peak: the same command times a 2048² SGEMM (the `gemm` crate every kernel runs on) and
//! warns when it runs faster than the loop.

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
    /// GFLOP/s of a 2048 × 2048 × 2048 SGEMM on the same threads (best of three), the check.
    pub sgemm_gflop_s: f64,
}

/// Independent FMA chains a thread keeps in flight on AVX-512: 32 vector registers hold them
/// and the two constants; 16 covers FMA latency × ports on every AVX-512 core (4 × 2).
const LANES_AVX512: usize = 16;
/// The same on AVX2, which has only 16 vector registers: 16 chains and two constants spilled
/// to the stack (a load and a store per FMA, read 30–39 GFLOP/s where a SGEMM ran 37–59 on an
/// AVX2 EPYC); 12 fit and still cover latency × ports (5 × 2 on Zen 2/3, 4 × 2 on Intel).
const LANES_AVX2: usize = 12;
/// The portable loop's chains.
const LANES_SCALAR: usize = 16;

/// The side of the SGEMM check.
pub const SGEMM_SIDE: usize = 2048;

/// A vector instruction set the loop can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// 512-bit FMAs.
    Avx512f,
    /// 256-bit FMAs.
    Avx2,
    /// Scalar `mul_add` (whatever the compiler makes of it).
    Scalar,
}

impl Isa {
    /// `avx512f`, `avx2+fma` or `scalar`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512f => "avx512f",
            Isa::Avx2 => "avx2+fma",
            Isa::Scalar => "scalar",
        }
    }

    /// The instruction set of `name` (`avx512f`, `avx2` or `avx2+fma`, `scalar`).
    pub fn parse(name: &str) -> Option<Isa> {
        match name {
            "avx512f" => Some(Isa::Avx512f),
            "avx2" | "avx2+fma" => Some(Isa::Avx2),
            "scalar" => Some(Isa::Scalar),
            _ => None,
        }
    }

    /// Whether this CPU runs it.
    pub fn supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512f => std::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx512f | Isa::Avx2 => false,
            Isa::Scalar => true,
        }
    }

    /// The widest this CPU runs.
    pub fn best() -> Isa {
        [Isa::Avx512f, Isa::Avx2]
            .into_iter()
            .find(|i| i.supported())
            .unwrap_or(Isa::Scalar)
    }

    /// f32 lanes per vector.
    fn width(self) -> usize {
        match self {
            Isa::Avx512f => 16,
            Isa::Avx2 => 8,
            Isa::Scalar => 1,
        }
    }

    /// Independent FMA chains a thread keeps in flight.
    fn lanes(self) -> usize {
        match self {
            Isa::Avx512f => LANES_AVX512,
            Isa::Avx2 => LANES_AVX2,
            Isa::Scalar => LANES_SCALAR,
        }
    }
}

/// Runs FMAs of `isa` (which this CPU must run: [`Isa::supported`]) on every thread of the
/// rayon pool for about `seconds` and returns the summed rate, with the SGEMM check.
pub fn measure(seconds: f64, isa: Isa) -> Peak {
    assert!(
        isa.supported(),
        "bench-peak: this CPU has no {}",
        isa.name()
    );
    let threads = rayon::current_num_threads();
    // Calibrate: iterations that take about `seconds` on one thread.
    let mut iterations = 1u64 << 16;
    loop {
        let t = Instant::now();
        std::hint::black_box(fma_loop(isa, iterations));
        if t.elapsed().as_secs_f64() > seconds / 4.0 || iterations > 1 << 40 {
            break;
        }
        iterations *= 2;
    }
    let start = Instant::now();
    rayon::broadcast(|_| std::hint::black_box(fma_loop(isa, iterations * 4)));
    let elapsed = start.elapsed().as_secs_f64();
    let flops = (threads as u64 * iterations * 4 * (isa.width() * isa.lanes()) as u64 * 2) as f64;
    Peak {
        isa: isa.name(),
        threads,
        gflop_s: flops / elapsed / 1e9,
        sgemm_gflop_s: sgemm_rate(SGEMM_SIDE),
    }
}

/// GFLOP/s of an `n`-sided f32 matrix product over the rayon pool: best of three after a
/// warm-up.
fn sgemm_rate(n: usize) -> f64 {
    use vgg_kernels::gemm::{MatRef, Threads, matmul};
    let a: Vec<f32> = (0..n * n).map(|i| ((i % 97) as f32) * 0.01).collect();
    let b: Vec<f32> = (0..n * n).map(|i| ((i % 89) as f32) * 0.01).collect();
    let mut c = vec![0f32; n * n];
    let mut run = || {
        let t = Instant::now();
        matmul(
            &mut c,
            false,
            MatRef::row_major(&a, n),
            MatRef::row_major(&b, n),
            (n, n, n),
            Threads::Pool,
        );
        std::hint::black_box(&c);
        t.elapsed().as_secs_f64()
    };
    run();
    let best = (0..3).map(|_| run()).fold(f64::INFINITY, f64::min);
    2.0 * (n as f64).powi(3) / best / 1e9
}

/// `iterations` rounds of [`lanes`] independent FMAs on the widest vectors; returns a sum so the
/// work cannot be optimised away.
fn fma_loop(isa: Isa, iterations: u64) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        if isa == Isa::Avx512f && isa.supported() {
            #[target_feature(enable = "avx512f")]
            fn run(iterations: u64) -> f32 {
                let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
                let mut acc = [_mm512_set1_ps(1.0); LANES_AVX512];
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
        if isa == Isa::Avx2 && isa.supported() {
            #[target_feature(enable = "avx2,fma")]
            fn run(iterations: u64) -> f32 {
                let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
                let mut acc = [_mm256_set1_ps(1.0); LANES_AVX2];
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
    let mut acc = [1.0f32; LANES_SCALAR];
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
    fn the_sgemm_check_counts_two_flops_a_multiply_add() {
        // A rate, not a timing: positive and finite for any machine.
        let rate = sgemm_rate(64);
        assert!(rate.is_finite() && rate > 0.0, "{rate}");
    }

    #[test]
    fn the_fma_loop_does_its_arithmetic() {
        // (1·a + b) applied twice to 1.0 in every lane, summed over the lanes of every vector.
        let one = 1.0f32.mul_add(0.999_999, 1e-7);
        let two = one.mul_add(0.999_999, 1e-7);
        for isa in [Isa::Avx512f, Isa::Avx2, Isa::Scalar] {
            if !isa.supported() {
                continue;
            }
            let want = two * (isa.lanes() * isa.width()) as f32;
            let got = fma_loop(isa, 2);
            assert!((got - want).abs() < 1e-3 * want, "{isa:?}: {got} vs {want}");
        }
    }
}
