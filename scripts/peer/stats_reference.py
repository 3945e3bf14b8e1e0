"""Reference values for `src/report/stats.rs`, computed with scipy: Student's t quantiles and
two-sided p-values, 95 % t-intervals of means, Welch's, the paired and the pooled-variance
t-tests, and Holm's adjusted p-values (Holm by its definition, written out here, since scipy has
none; statsmodels' `multipletests(method="holm")` agrees when it is installed). Writes
tests/fixtures/stats_scipy.json, which `cargo test` compares with the Rust code (scipy is not
needed there).

    python3 -m pip install scipy            # any recent scipy; 1.17.1 wrote the committed file
    python3 scripts/peer/stats_reference.py
"""

import json
import os

import numpy as np
import scipy
from scipy import stats

# Study I's test top-1 errors (results/depth-fashion-mnist, trained seeds), and a few
# unequal-sized and constructed samples.
STUDY_I = {
    "A": [7.84, 7.93, 8.17],
    "A-LRN": [7.47, 7.53, 7.74],
    "B": [7.67, 7.30, 7.18],
    "B-5x5": [7.95, 8.91, 9.08],
    "C": [8.13, 7.62, 7.41],
    "D": [7.35, 7.27, 7.33],
    "E": [8.21, 7.37, 7.67],
}
PAIRS = [("A", "A-LRN"), ("C", "D"), ("B", "C"), ("B", "B-5x5"), ("A", "B"), ("B", "D"),
         ("A", "D"), ("D", "E")]
EXTRA_SAMPLES = [
    ([1.0, 2.0, 4.0, 8.0, 16.0], [3.0, 3.5, 2.5]),
    ([7.1, 7.4, 7.2, 7.9, 7.3, 7.6, 7.0, 7.5], [6.8, 7.3, 7.1, 6.9, 7.2, 7.0, 6.7, 7.4]),
    ([10.0, 10.1], [9.0, 12.0, 15.0, 11.0]),
]


def welch(a, b):
    r = stats.ttest_ind(b, a, equal_var=False)
    ci = r.confidence_interval(0.95)
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return {"a": a, "b": b, "diff": float(np.mean(b) - np.mean(a)), "t": float(r.statistic),
            "df": float(df), "p": float(r.pvalue), "ci": [float(ci.low), float(ci.high)]}


def paired(a, b):
    r = stats.ttest_rel(b, a)
    ci = r.confidence_interval(0.95)
    return {"a": a, "b": b, "diff": float(np.mean(np.subtract(b, a))), "t": float(r.statistic),
            "df": float(len(a) - 1), "p": float(r.pvalue), "ci": [float(ci.low), float(ci.high)]}


def holm(p):
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def main():
    out = {"scipy": scipy.__version__}
    out["t_quantile"] = [{"p": p, "df": df, "q": float(stats.t.ppf(p, df))}
                         for p in (0.975, 0.995, 0.9, 0.5 + 0.95 / 2)
                         for df in (1.0, 2.0, 2.2, 3.5, 4.0, 7.0, 13.7, 14.0, 49.0)]
    out["two_sided_p"] = [{"t": t, "df": df, "p": float(2 * stats.t.sf(abs(t), df))}
                          for t in (0.0, 0.5, -1.96, 2.7, 4.3, -9.0)
                          for df in (2.0, 2.1, 5.0, 14.0, 30.0)]
    means = []
    for name, v in STUDY_I.items():
        ci = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
        means.append({"values": v, "mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)),
                      "ci": [float(ci[0]), float(ci[1])]})
    out["mean_ci"] = means
    cases = [welch(STUDY_I[a], STUDY_I[b]) for a, b in PAIRS]
    cases += [welch(a, b) for a, b in EXTRA_SAMPLES]
    out["welch"] = cases
    out["paired"] = [paired(STUDY_I[a], STUDY_I[b]) for a, b in PAIRS] + [
        paired(*EXTRA_SAMPLES[1])]
    # Pooled variance over Study I's seven configurations, and Student's t on it.
    groups = list(STUDY_I.values())
    dof = sum(len(g) - 1 for g in groups)
    var = sum((len(g) - 1) * np.var(g, ddof=1) for g in groups) / dof
    pooled = []
    for a, b in PAIRS:
        x, y = STUDY_I[a], STUDY_I[b]
        se = np.sqrt(var * (1 / len(x) + 1 / len(y)))
        d = np.mean(y) - np.mean(x)
        half = stats.t.ppf(0.975, dof) * se
        pooled.append({"a": x, "b": y, "diff": float(d), "t": float(d / se), "df": float(dof),
                       "p": float(2 * stats.t.sf(abs(d / se), dof)),
                       "ci": [float(d - half), float(d + half)]})
    out["pooled"] = {"variance": float(var), "df": float(dof), "tests": pooled}
    welch_p = [c["p"] for c in cases[:len(PAIRS)]]
    out["holm"] = [{"p": welch_p, "adjusted": holm(welch_p)},
                   {"p": [0.01, 0.04, 0.03, 0.005], "adjusted": holm([0.01, 0.04, 0.03, 0.005])},
                   {"p": [0.2, 0.001, 0.2, 0.04], "adjusted": holm([0.2, 0.001, 0.2, 0.04])}]
    try:
        from statsmodels.stats.multitest import multipletests
        for case in out["holm"]:
            assert np.allclose(multipletests(case["p"], method="holm")[1], case["adjusted"])
        print("statsmodels' Holm agrees")
    except ImportError:
        pass
    path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "stats_scipy.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.normpath(path)} (scipy {scipy.__version__})")


if __name__ == "__main__":
    main()
