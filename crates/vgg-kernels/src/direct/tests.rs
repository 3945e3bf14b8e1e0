//! Unit tests of the parent module.

use super::super::columns::weight_matrix;
use super::super::conv::forward_gemm;
use super::*;

fn pseudo_random(len: usize, seed: f32) -> Vec<f32> {
    (0..len)
        .map(|i| ((i as f32 + seed) * 12.9898).sin())
        .collect()
}

#[test]
fn a_bias_shorter_than_the_output_channels_is_refused_before_any_read() {
    let Some(isa) = Isa::best() else {
        eprintln!("skipped: this CPU has neither AVX-512F nor AVX2");
        return;
    };
    let g = ConvGeometry {
        batch: 1,
        c_in: 3,
        c_out: 16,
        height: 4,
        width: 4,
        kernel: 3,
    };
    let x = pseudo_random(g.input_len(), 1.0);
    let wm = weight_matrix(&pseudo_random(g.weight_len(), 2.0), &g, false);
    let short = vec![0.0; 8];
    let caught = std::panic::catch_unwind(|| run(isa, &x, &wm, Some(&short), &g, false));
    let message = caught.unwrap_err();
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("direct conv bias"), "{message}");
}

#[test]
fn direct_path_gives_the_gemm_paths_output_with_bias_and_relu() {
    let isas = Isa::available();
    if isas.is_empty() {
        eprintln!(
            "skipped: this CPU has neither AVX-512F nor AVX2, the direct path is never taken"
        );
        return;
    }
    // Widths that use every block size (16, 8, 4, 2, 1 pixels), 1–4 channel blocks, an
    // image layer with 64 channels out, and a 5×5 kernel.
    for (c_in, c_out, side, kernel) in [
        (3, 64, 31, 3),
        (16, 16, 23, 3),
        (8, 32, 15, 3),
        (1, 48, 9, 5),
        (32, 32, 8, 3),
    ] {
        let g = ConvGeometry {
            batch: 2,
            c_in,
            c_out,
            height: side - 1,
            width: side,
            kernel,
        };
        assert!(covers(&g), "{g:?}");
        let x = pseudo_random(g.input_len(), 1.0);
        let wm = weight_matrix(&pseudo_random(g.weight_len(), 2.0), &g, false);
        let b = pseudo_random(c_out, 3.0);
        for relu in [false, true] {
            let want = forward_gemm(&x, &wm, Some(&b), &g, relu);
            let outputs: Vec<Vec<f32>> = isas
                .iter()
                .map(|isa| run(*isa, &x, &wm, Some(&b), &g, relu))
                .collect();
            for (isa, got) in isas.iter().zip(&outputs) {
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                        "{isa:?} {g:?} at {i}: {a} vs {b}"
                    );
                }
            }
            // Same order of operations on every instruction set: bit for bit the same.
            for (isa, got) in isas.iter().zip(&outputs).skip(1) {
                let same = got
                    .iter()
                    .zip(&outputs[0])
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{isa:?} differs from {:?} on {g:?}", isas[0]);
            }
            assert_eq!(
                forward(&x, &wm, Some(&b), &g, relu),
                outputs.first().cloned()
            );
        }
    }
}

#[test]
#[ignore = "timing, by hand: cargo test -p vgg-kernels direct -- --ignored --nocapture"]
fn time_direct_against_gemm() {
    let shapes = [
        (3, 16, 32),
        (16, 16, 32),
        (16, 32, 16),
        (32, 32, 16),
        (32, 64, 8),
        (64, 64, 8),
        (3, 64, 32),
        (64, 64, 32),
        (64, 128, 16),
        (128, 128, 8),
    ];
    for (c_in, c_out, side) in shapes {
        let g = ConvGeometry {
            batch: 64,
            c_in,
            c_out,
            height: side,
            width: side,
            kernel: 3,
        };
        let x = pseudo_random(g.input_len(), 1.0);
        let wm = weight_matrix(&pseudo_random(g.weight_len(), 2.0), &g, false);
        let time = |f: &dyn Fn() -> Vec<f32>| {
            f();
            let t = std::time::Instant::now();
            for _ in 0..10 {
                std::hint::black_box(f());
            }
            t.elapsed().as_secs_f64() / 10.0
        };
        let flops = 2.0 * (g.batch * g.plane() * g.c_out * g.c_in * 9) as f64;
        let gemm = time(&|| forward_gemm(&x, &wm, None, &g, true));
        for &isa in Isa::available() {
            // The direct kernel whatever `covers` decides.
            let direct = time(&|| run(isa, &x, &wm, None, &g, true));
            println!(
                "{c_in:3}->{c_out:3} @{side:2}: gemm {:6.1} GFLOP/s  direct {isa:?} {:6.1} GFLOP/s",
                flops / gemm / 1e9,
                flops / direct / 1e9
            );
        }
    }
}
