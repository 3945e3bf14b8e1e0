//! Helpers every layer may use: the random streams of data selection and order, summary
//! statistics, text shaping for messages, and where the compute runs.

use rand::{Rng, SeedableRng};

/// The generator of every data-side random draw (subsets, validation split, epoch orders,
/// augmentation). ChaCha8's stream is fixed by its specification, and [`shuffle`] draws from
/// it with a fixed algorithm, so a committed run's subsets and orders stay the same after
/// dependency updates.
pub type DataRng = rand_chacha::ChaCha8Rng;

/// A [`DataRng`] seeded from `seed`.
pub fn data_rng(seed: u64) -> DataRng {
    DataRng::seed_from_u64(seed)
}

/// Mixes numbers into one well-spread seed (splitmix64 finaliser).
pub fn mix_seed(parts: &[u64]) -> u64 {
    let mut h: u64 = 0x9E37_79B9_7F4A_7C15;
    for p in parts {
        h ^= p
            .wrapping_add(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(h << 6)
            .wrapping_add(h >> 2);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h = z ^ (z >> 31);
    }
    h
}

/// A uniform integer in `0..bound` (bound > 0) from the generator's 64-bit words, by rejection
/// (no modulo bias), independent of any library's sampling code.
fn below(bound: u64, rng: &mut DataRng) -> u64 {
    let zone = u64::MAX - u64::MAX % bound;
    loop {
        let v = rng.next_u64();
        if v < zone {
            return v % bound;
        }
    }
}

/// Fisher–Yates shuffle drawing from `rng` with [`below`].
pub fn shuffle<T>(items: &mut [T], rng: &mut DataRng) {
    for i in (1..items.len()).rev() {
        let j = below(i as u64 + 1, rng) as usize;
        items.swap(i, j);
    }
}

/// Mean and sample standard deviation (`None` for fewer than two values).
pub fn mean_std(values: &[f64]) -> (f64, Option<f64>) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, None);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, Some(var.sqrt()))
}

/// Runs `f` on a worker thread of rayon's global pool and returns what it returns.
///
/// The own flex kernels split every operation over that pool. Called from a thread outside
/// it, each operation injects a job and puts the caller to sleep until a worker has done it: a
/// wake-up and a sleep per operation, thousands in a training step of the small networks.
/// Called from a worker, an operation forks and joins inside the pool and the calling thread
/// works on it too (the gain is measured in the README's Performance section). The CLI runs
/// its compute commands (train, eval, bench) through it.
pub fn on_compute_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    // From outside the pool, `join` runs both closures on its workers.
    rayon::join(f, || ()).0
}

/// The CPU threads this process may use (1 where unknown).
pub fn cpu_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The CPU's model name (`AMD EPYC 9R14 96-Core Processor`), from `/proc/cpuinfo`; `unknown
/// CPU` where it cannot be read.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// `text` on one line: newlines and runs of spaces become single spaces.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12);
        assert!((s.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(mean_std(&[4.0]), (4.0, None));
    }

    /// The stream is ChaCha8's and the shuffle is ours: these values may never change, or
    /// committed runs would no longer reproduce.
    #[test]
    fn shuffles_are_pinned_to_fixed_values() {
        let mut v: Vec<u32> = (0..10).collect();
        shuffle(&mut v, &mut data_rng(0));
        assert_eq!(v, PINNED);
        assert_eq!(data_rng(0).next_u64(), 13_080_132_717_333_068_652);
    }

    const PINNED: [u32; 10] = [7, 8, 9, 0, 1, 5, 4, 6, 3, 2];

    #[test]
    fn below_is_uniform_enough_and_in_range() {
        let mut rng = data_rng(1);
        let mut counts = [0usize; 6];
        for _ in 0..60_000 {
            counts[below(6, &mut rng) as usize] += 1;
        }
        assert!(
            counts.iter().all(|c| (9_000..11_000).contains(c)),
            "{counts:?}"
        );
    }

    #[test]
    fn one_line_joins_lines_and_spaces() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
    }
}
