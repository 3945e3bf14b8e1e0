//! Every report committed under `results/` is what the current code makes of its run files,
//! and the README's quoted tables are those reports' lines.

use crate::util::*;

#[test]
fn every_committed_report_is_what_the_current_code_makes_of_its_runs() {
    let mut reports = Vec::new();
    let mut stack = vec![root().join("results")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "report.md") {
                reports.push(dir.clone());
            }
        }
    }
    for dir in reports {
        let rel = dir.strip_prefix(root()).unwrap();
        let out = tempfile::tempdir().unwrap();
        // The command the report says made it (`Made by `vgg-train report DIR [--ablation ARM]``).
        let committed_md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        let made_by = committed_md
            .split("Made by `vgg-train report ")
            .nth(1)
            .and_then(|rest| rest.split('`').next())
            .unwrap_or_else(|| panic!("{}: no `Made by` line", rel.display()));
        let mut args: Vec<&str> = vec!["report"];
        args.extend(made_by.split_whitespace());
        args.extend(["--out", out.path().to_str().unwrap()]);
        assert_eq!(
            args[1],
            rel.to_str().unwrap(),
            "{}: made from another directory",
            rel.display()
        );
        let run = vgg_train(&args);
        assert!(run.status.success(), "{}: {:?}", rel.display(), text(&run));
        for file in ["report.md", "report.csv"] {
            let committed = std::fs::read_to_string(dir.join(file)).unwrap();
            let fresh = std::fs::read_to_string(out.path().join(file)).unwrap();
            assert_eq!(
                committed,
                fresh,
                "{}/{file} is not what `vgg-train report {}` makes now; regenerate it",
                rel.display(),
                rel.display()
            );
        }
    }
}

/// The README quotes report tables between `<!-- quoted from DIR/report.md -->` and
/// `<!-- end of quote -->`; every quoted line must be a line of that committed report, so that
/// the README's numbers are the report's and change with it.
#[test]
fn readme_tables_quote_the_committed_reports_line_for_line() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut quotes = 0;
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("<!-- quoted from ") {
        let after = &rest[start + "<!-- quoted from ".len()..];
        let (path, body) = after.split_once(" -->").expect("unterminated quote marker");
        let end = body
            .find("<!-- end of quote -->")
            .unwrap_or_else(|| panic!("README: quote of {path} has no `<!-- end of quote -->`"));
        let report = std::fs::read_to_string(root().join(path))
            .unwrap_or_else(|e| panic!("README quotes {path}, which cannot be read: {e}"));
        let report_lines: std::collections::HashSet<&str> = report.lines().collect();
        let quoted: Vec<&str> = body[..end]
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert!(!quoted.is_empty(), "README: empty quote of {path}");
        for line in quoted {
            assert!(
                report_lines.contains(line),
                "README quotes a line that {path} does not have (regenerate the report or re-copy its table):\n{line}"
            );
        }
        quotes += 1;
        rest = &body[end..];
    }
    assert!(
        quotes > 0,
        "README quotes no report table; the depth study's section should"
    );
}
