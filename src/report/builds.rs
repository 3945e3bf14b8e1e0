//! The build check of Study II's plan (§5, secondary): does the binary a run was built from act
//! as more than a new seed? Per configuration, each run's deviation from its configuration's
//! mean; then Welch's test of the mean deviation of the runs of every other build minus that of
//! the runs of the main build (the build most runs share: the study's pinned binary), pooled
//! over configurations. With all runs from one build there is nothing to check.

use std::collections::BTreeMap;

use super::stats::{self, TTest};

/// The outcome of the build check on one table's configurations.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildCheck {
    /// The build most runs share (`results.csv`'s `build_commit`).
    pub main_build: String,
    /// Runs of the main build.
    pub main_runs: usize,
    /// Runs of every other build.
    pub other_runs: usize,
    /// How many other builds.
    pub other_builds: usize,
    /// Welch's test of mean deviation (other builds) − mean deviation (main build), in pp.
    pub test: TTest,
}

/// One configuration's runs: each run's test top-1 error and its build, in the same order.
pub type Runs<'a> = (&'a [f64], &'a [String]);

/// The build check over one table's configurations (those with two runs or more count);
/// `None` unless both sides have two runs or more.
pub fn build_check(configs: &[Runs<'_>]) -> Option<BuildCheck> {
    let usable: Vec<&Runs<'_>> = configs.iter().filter(|(top1, _)| top1.len() >= 2).collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, builds) in &usable {
        for b in builds.iter() {
            *counts.entry(b.as_str()).or_default() += 1;
        }
    }
    // The most runs; ties to the smaller name, so the choice never depends on the order.
    let (main_build, _) = counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))?;
    let (mut main, mut other) = (Vec::new(), Vec::new());
    for (top1, builds) in &usable {
        let mean = top1.iter().sum::<f64>() / top1.len() as f64;
        for (x, b) in top1.iter().zip(builds.iter()) {
            if b == main_build {
                main.push(x - mean);
            } else {
                other.push(x - mean);
            }
        }
    }
    Some(BuildCheck {
        main_build: main_build.to_string(),
        main_runs: main.len(),
        other_runs: other.len(),
        other_builds: counts.len() - 1,
        test: stats::welch(&main, &other)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_build_that_shifts_every_configuration_is_found_and_seeds_alone_are_not() {
        // Two configurations; the old build's runs are 1 pp worse in both.
        let a = [10.0, 10.2, 9.9, 9.0, 9.1, 8.9, 9.05];
        let a_builds = names(&["old", "old", "old", "new", "new", "new", "new"]);
        let d = [8.0, 8.1, 7.9, 7.0, 7.2, 6.9];
        let d_builds = names(&["old", "old", "old", "new", "new", "new"]);
        let check = build_check(&[(&a, &a_builds), (&d, &d_builds)]).unwrap();
        assert_eq!(check.main_build, "new");
        assert_eq!(
            (check.main_runs, check.other_runs, check.other_builds),
            (7, 6, 1)
        );
        assert!((check.test.diff - 1.0).abs() < 0.1, "{check:?}");
        assert!(check.test.p < 0.001, "{check:?}");
        // One build: nothing to compare.
        let one = [10.0, 10.5, 9.8];
        let builds = names(&["new", "new", "new"]);
        assert_eq!(build_check(&[(&one, &builds)]), None);
        // Shuffled builds with no effect: a difference well inside its interval.
        let x = [9.0, 9.4, 9.1, 9.3, 9.2, 9.25];
        let xb = names(&["old", "new", "old", "new", "new", "old"]);
        let t = build_check(&[(&x, &xb)]).unwrap().test;
        assert!(t.ci.0 < 0.0 && t.ci.1 > 0.0, "{t:?}");
    }
}
