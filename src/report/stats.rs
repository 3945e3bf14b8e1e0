//! The statistics of a study: the 95 % t-interval of a mean, Welch's two-sample t-test, the
//! paired and the pooled-variance t-tests, and Holm's step-down correction. Student's t comes
//! from `statrs`; `tests/fixtures/stats_scipy.json` (written by `scripts/peer/stats_reference.py`
//! with scipy) pins every function here.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// The confidence level of every interval in the report.
pub const CONFIDENCE: f64 = 0.95;

/// The quantile `p` of Student's t with `df` degrees of freedom (`df` > 0).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    match StudentsT::new(0.0, 1.0, df) {
        Ok(t) => t.inverse_cdf(p),
        Err(_) => f64::NAN,
    }
}

/// The two-sided p-value of `t` under Student's t with `df` degrees of freedom.
pub fn two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_infinite() {
        return 0.0;
    }
    match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) => (2.0 * dist.cdf(-t.abs())).min(1.0),
        Err(_) => f64::NAN,
    }
}

/// Mean, spread and 95 % t-interval of one configuration's seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1), `None` for one value.
    pub std: Option<f64>,
    /// 95 % t-interval of the mean, `None` for one value.
    pub ci: Option<(f64, f64)>,
}

/// [`Summary`] of `values` (at least one).
pub fn summarize(values: &[f64]) -> Summary {
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return Summary {
            n,
            mean,
            std: None,
            ci: None,
        };
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let std = var.sqrt();
    let half = t_quantile(0.5 + CONFIDENCE / 2.0, (n - 1) as f64) * std / (n as f64).sqrt();
    Summary {
        n,
        mean,
        std: Some(std),
        ci: Some((mean - half, mean + half)),
    }
}

/// A t-test of a difference: second minus first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TTest {
    /// The difference of means (or the mean difference, paired), second minus first.
    pub diff: f64,
    /// Its standard error.
    pub se: f64,
    /// Degrees of freedom.
    pub df: f64,
    /// The t statistic, `diff / se`.
    pub t: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// 95 % t-interval of the difference.
    pub ci: (f64, f64),
}

fn t_test(diff: f64, se: f64, df: f64) -> TTest {
    let t = if se > 0.0 {
        diff / se
    } else if diff == 0.0 {
        0.0
    } else {
        diff.signum() * f64::INFINITY
    };
    let half = t_quantile(0.5 + CONFIDENCE / 2.0, df) * se;
    TTest {
        diff,
        se,
        df,
        t,
        p: two_sided_p(t, df),
        ci: (diff - half, diff + half),
    }
}

fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    (
        mean,
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0),
    )
}

/// Welch's two-sample t-test of `mean(b) − mean(a)` (unequal variances, Welch–Satterthwaite
/// degrees of freedom); `None` unless both have two values or more.
pub fn welch(a: &[f64], b: &[f64]) -> Option<TTest> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let (qa, qb) = (va / a.len() as f64, vb / b.len() as f64);
    let se2 = qa + qb;
    let df = if se2 > 0.0 {
        se2 * se2 / (qa * qa / (a.len() - 1) as f64 + qb * qb / (b.len() - 1) as f64)
    } else {
        (a.len() + b.len() - 2) as f64
    };
    Some(t_test(mb - ma, se2.sqrt(), df))
}

/// The t-test of `mean(b) − mean(a)` with a variance pooled over a whole study:
/// `pooled_var` with `df` degrees of freedom (Σ (n_i − 1) s_i² / Σ (n_i − 1) over every
/// configuration).
pub fn pooled(a: &[f64], b: &[f64], pooled_var: f64, df: f64) -> Option<TTest> {
    if a.is_empty() || b.is_empty() || df <= 0.0 {
        return None;
    }
    let ma = a.iter().sum::<f64>() / a.len() as f64;
    let mb = b.iter().sum::<f64>() / b.len() as f64;
    let se = (pooled_var * (1.0 / a.len() as f64 + 1.0 / b.len() as f64)).sqrt();
    Some(t_test(mb - ma, se, df))
}

/// The paired t-test of `b − a` over the keys (seeds) both have; `None` with fewer than two
/// shared keys. Returns the test and the number of pairs.
pub fn paired(a: &[(u64, f64)], b: &[(u64, f64)]) -> Option<(TTest, usize)> {
    let diffs: Vec<f64> = a
        .iter()
        .filter_map(|(k, x)| b.iter().find(|(kb, _)| kb == k).map(|(_, y)| y - x))
        .collect();
    if diffs.len() < 2 {
        return None;
    }
    let (m, v) = mean_var(&diffs);
    let n = diffs.len();
    Some((t_test(m, (v / n as f64).sqrt(), (n - 1) as f64), n))
}

/// Holm's step-down adjusted p-values, in the order of `p`: the i-th smallest raw p times
/// (m − i + 1), made non-decreasing in that order, at most 1. A comparison is rejected at
/// family-wise level α when its adjusted p is below α.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut adjusted = vec![0.0; m];
    let mut running = 0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// Pooled variance of several groups, `Σ (n_i − 1) s_i² / Σ (n_i − 1)`, and its degrees of
/// freedom; groups of one value contribute nothing. `None` when no group has two values.
pub fn pooled_variance<'a>(groups: impl IntoIterator<Item = &'a [f64]>) -> Option<(f64, f64)> {
    let (mut sum, mut df) = (0f64, 0usize);
    for g in groups {
        if g.len() >= 2 {
            let (_, v) = mean_var(g);
            sum += (g.len() - 1) as f64 * v;
            df += g.len() - 1;
        }
    }
    (df > 0).then(|| (sum / df as f64, df as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn t_quantiles_match_the_tables() {
        // Student's tables: t(0.975; 2) = 4.303, t(0.975; 4) = 2.776, t(0.975; 14) = 2.145.
        assert!(close(t_quantile(0.975, 2.0), 4.302653, 1e-6));
        assert!(close(t_quantile(0.975, 4.0), 2.776445, 1e-6));
        assert!(close(t_quantile(0.975, 14.0), 2.144787, 1e-6));
        assert!(close(two_sided_p(2.144787, 14.0), 0.05, 1e-5));
    }

    #[test]
    fn holm_multiplies_by_rank_and_keeps_the_order() {
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        // Sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → max so far 0.06.
        assert_eq!(adj.len(), 4);
        let want = [0.03, 0.06, 0.06, 0.02];
        for (a, w) in adj.iter().zip(want) {
            assert!(close(*a, w, 1e-12), "{adj:?}");
        }
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
    }

    #[test]
    fn identical_groups_differ_by_nothing_and_constant_groups_by_certainty() {
        let t = welch(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((t.diff, t.p), (0.0, 1.0));
        let t = welch(&[1.0, 1.0], &[2.0, 2.0]).unwrap();
        assert_eq!(t.p, 0.0);
        assert!(welch(&[1.0], &[1.0, 2.0]).is_none());
    }

    /// Every function against scipy's values (`scripts/peer/stats_reference.py`).
    #[test]
    fn every_function_matches_scipy() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/stats_scipy.json")).unwrap();
        let f = |v: &serde_json::Value| v.as_f64().unwrap();
        let list = |v: &serde_json::Value| -> Vec<f64> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        for c in fixture["t_quantile"].as_array().unwrap() {
            let got = t_quantile(f(&c["p"]), f(&c["df"]));
            assert!(close(got, f(&c["q"]), 1e-8), "{c}: {got}");
        }
        for c in fixture["two_sided_p"].as_array().unwrap() {
            let got = two_sided_p(f(&c["t"]), f(&c["df"]));
            assert!((got - f(&c["p"])).abs() < 1e-10, "{c}: {got}");
        }
        for c in fixture["mean_ci"].as_array().unwrap() {
            let s = summarize(&list(&c["values"]));
            assert!(close(s.mean, f(&c["mean"]), 1e-12), "{c}");
            assert!(close(s.std.unwrap(), f(&c["std"]), 1e-10), "{c}");
            let ci = list(&c["ci"]);
            assert!(close(s.ci.unwrap().0, ci[0], 1e-8) && close(s.ci.unwrap().1, ci[1], 1e-8));
        }
        let check = |t: TTest, c: &serde_json::Value| {
            assert!(close(t.diff, f(&c["diff"]), 1e-10), "{c}: {t:?}");
            assert!(close(t.t, f(&c["t"]), 1e-8), "{c}: {t:?}");
            assert!(close(t.df, f(&c["df"]), 1e-8), "{c}: {t:?}");
            assert!((t.p - f(&c["p"])).abs() < 1e-9, "{c}: {t:?}");
            let ci = list(&c["ci"]);
            assert!(
                close(t.ci.0, ci[0], 1e-8) && close(t.ci.1, ci[1], 1e-8),
                "{c}: {t:?}"
            );
        };
        for c in fixture["welch"].as_array().unwrap() {
            check(welch(&list(&c["a"]), &list(&c["b"])).unwrap(), c);
        }
        for c in fixture["paired"].as_array().unwrap() {
            let key = |v: Vec<f64>| -> Vec<(u64, f64)> {
                v.into_iter()
                    .enumerate()
                    .map(|(i, x)| (i as u64, x))
                    .collect()
            };
            let (t, n) = paired(&key(list(&c["a"])), &key(list(&c["b"]))).unwrap();
            assert_eq!(n, list(&c["a"]).len());
            check(t, c);
        }
        let pooled_fixture = &fixture["pooled"];
        let groups: Vec<Vec<f64>> = fixture["mean_ci"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| list(&c["values"]))
            .collect();
        let (var, df) = pooled_variance(groups.iter().map(Vec::as_slice)).unwrap();
        assert!(close(var, f(&pooled_fixture["variance"]), 1e-10));
        assert_eq!(df, f(&pooled_fixture["df"]));
        for c in pooled_fixture["tests"].as_array().unwrap() {
            check(pooled(&list(&c["a"]), &list(&c["b"]), var, df).unwrap(), c);
        }
        for c in fixture["holm"].as_array().unwrap() {
            let got = holm(&list(&c["p"]));
            for (g, w) in got.iter().zip(list(&c["adjusted"])) {
                assert!((g - w).abs() < 1e-12, "{c}: {got:?}");
            }
        }
    }

    #[test]
    fn paired_test_uses_only_shared_seeds() {
        let a = [(0, 7.0), (1, 8.0), (2, 9.0)];
        let b = [(0, 6.5), (1, 7.6), (3, 1.0)];
        let (t, n) = paired(&a, &b).unwrap();
        assert_eq!(n, 2);
        assert!(close(t.diff, -0.45, 1e-12));
    }
}
