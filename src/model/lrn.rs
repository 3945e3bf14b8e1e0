//! The paper's LRN layer on top of burn's `LocalResponseNorm`.
//!
//! Krizhevsky et al. (2012, §3.3) define, for channel `i` at one position,
//! `b_i = a_i / (k + alpha * Σ_{j=max(0,i-n/2)}^{min(N-1,i+n/2)} a_j²)^beta`
//! with `k = 2, n = 5, alpha = 1e-4, beta = 0.75`, and `alpha` **not** divided by `n`.
//! burn (like PyTorch's `local_response_norm` and Caffe) divides `alpha` by `size`, so the
//! paper's layer is burn's `size = n, alpha = n * alpha`. [`LrnConfig`] holds the paper's
//! convention; [`paper_lrn`] does the conversion.

use burn::nn::{LocalResponseNorm, LocalResponseNormConfig};

use crate::config::LrnConfig;

/// The same layer as the own kernels take it (paper convention, f32).
pub fn kernel_params(cfg: &LrnConfig) -> vgg_kernels::LrnParams {
    vgg_kernels::LrnParams {
        size: cfg.size,
        alpha: cfg.alpha as f32,
        beta: cfg.beta as f32,
        k: cfg.k as f32,
    }
}

/// Builds burn's LRN so that it computes the paper's (Krizhevsky's) formula for `cfg`.
pub fn paper_lrn(cfg: &LrnConfig) -> LocalResponseNorm {
    LocalResponseNormConfig::new(cfg.size)
        .with_alpha(cfg.alpha * cfg.size as f64)
        .with_beta(cfg.beta)
        .with_k(cfg.k)
        .init()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use burn::tensor::{Tensor, TensorData, Tolerance};
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Fixture {
        script: String,
        shape: [usize; 4],
        input: Vec<f32>,
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        name: String,
        size: usize,
        /// PyTorch convention (divided by size inside the op).
        alpha: f64,
        beta: f64,
        k: f64,
        output: Vec<f32>,
    }

    /// Reference values from PyTorch 2.9.0's `torch.nn.functional.local_response_norm`,
    /// written by `scripts/peer/lrn_reference.py` into `tests/fixtures/lrn_torch.json`.
    #[test]
    fn paper_lrn_matches_pytorch_local_response_norm() {
        let text = include_str!("../../tests/fixtures/lrn_torch.json");
        let fx: Fixture = serde_json::from_str(text).unwrap();
        assert_eq!(fx.script, "scripts/peer/lrn_reference.py");
        let device = Device::flex();
        for case in &fx.cases {
            // Convert PyTorch's alpha back to the paper's convention.
            let paper = LrnConfig {
                size: case.size,
                alpha: case.alpha / case.size as f64,
                beta: case.beta,
                k: case.k,
            };
            let x = Tensor::<4>::from_data(TensorData::new(fx.input.clone(), fx.shape), &device);
            let y = paper_lrn(&paper).forward(x);
            y.into_data().assert_approx_eq::<f32>(
                &TensorData::new(case.output.clone(), fx.shape),
                Tolerance::rel_abs(1e-5, 1e-6),
            );
        }
        // The paper's constants are the "krizhevsky" case.
        let k = fx.cases.iter().find(|c| c.name == "krizhevsky").unwrap();
        let paper = LrnConfig::default();
        assert_eq!((k.size, k.beta, k.k), (paper.size, paper.beta, paper.k));
        assert!((k.alpha - paper.alpha * 5.0).abs() < 1e-12);
    }
}
