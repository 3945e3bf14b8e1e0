//! The module stack drawn in `src/lib.rs` holds: every `crate::<module>` path in `src/` points
//! to the same layer or below, and the top-level modules use each other without a loop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module → layer, read from the `layer N: a b c` lines of `src/lib.rs`'s doc.
fn layers() -> BTreeMap<String, usize> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let mut out = BTreeMap::new();
    for line in lib.lines() {
        let Some(rest) = line.strip_prefix("//! layer ") else {
            continue;
        };
        let (n, names) = rest.split_once(':').expect("`layer N: modules`");
        let layer: usize = n.trim().parse().expect("a layer number");
        let names = names.split('(').next().unwrap();
        for name in names.split_whitespace() {
            assert!(
                out.insert(name.to_string(), layer).is_none(),
                "{name} listed twice"
            );
        }
    }
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`train` for `src/train/fit.rs`).
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The top-level modules a file names as `crate::<module>`, outside comments, grouped
/// imports (`use crate::{data::Split, model};`, over several lines too) included.
fn uses(text: &str) -> BTreeSet<String> {
    uses_with(text, "crate::")
}

/// The modules a file names as `<prefix><module>` (`crate::` or, from a top-level module of a
/// crate, `super::`), as [`uses`] reads them.
fn uses_with(text: &str, prefix: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `vgg_crate::…`, not ours
        }
        if let Some(group) = rest.strip_prefix('{') {
            // The first name of each item at the group's own depth.
            let (mut depth, mut item_start) = (0usize, 0usize);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.insert(ident(&group[item_start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(&group[item_start..i]));
                        item_start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.remove("");
    out.remove("super");
    out
}

/// module → the other top-level modules it uses.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = module_of(&file);
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let deps = graph.entry(module.clone()).or_default();
        deps.extend(uses(&text).into_iter().filter(|m| *m != module));
    }
    graph
}

#[test]
fn every_module_is_in_the_drawn_stack() {
    let layers = layers();
    assert!(
        layers.len() >= 15,
        "the table in lib.rs was not found: {layers:?}"
    );
    for module in graph().keys() {
        assert!(
            layers.contains_key(module),
            "src/{module} is missing from lib.rs's layer table"
        );
    }
}

#[test]
fn no_module_uses_a_module_of_a_higher_layer() {
    let layers = layers();
    let mut wrong = Vec::new();
    for (module, deps) in graph() {
        for dep in deps {
            if layers[&dep] > layers[&module] {
                wrong.push(format!(
                    "{module} (layer {}) uses {dep} (layer {})",
                    layers[&module], layers[&dep]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn no_command_uses_another_command() {
    let layers = layers();
    let commands: BTreeSet<&String> = layers
        .iter()
        .filter(|(_, l)| **l == 2)
        .map(|(m, _)| m)
        .collect();
    assert!(
        commands.len() >= 6,
        "no commands in lib.rs's table: {layers:?}"
    );
    let mut wrong = Vec::new();
    for (module, deps) in graph() {
        if commands.contains(&module) {
            wrong.extend(
                deps.iter()
                    .filter(|d| commands.contains(d))
                    .map(|d| format!("the command {module} uses the command {d}")),
            );
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn only_the_binary_and_cli_name_the_command_line() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for file in files {
        let module = module_of(&file);
        if module != "cli" && module != "main" {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(
                !uses(&text).contains("cli"),
                "{} uses crate::cli",
                file.display()
            );
        }
    }
}

#[test]
fn only_the_cli_and_the_console_write_to_the_terminal() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let module = module_of(&file);
        if ["cli", "main", "console"].contains(&module.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            if ["println!", "eprintln!", "print!(", "eprint!("]
                .iter()
                .any(|m| code.contains(m))
            {
                wrong.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "library code writes to the terminal; use crate::console: {wrong:#?}"
    );
}

/// A loop in `graph` (`a -> b -> a`), if there is one: a depth-first search that meets a
/// module still on its path.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<String> {
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<&'a str>,
        path: &mut Vec<&'a str>,
    ) -> Option<String> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            return Some(format!("{} -> {node}", path[at..].join(" -> ")));
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for dep in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(dep, graph, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

/// The kernels crate's modules → the modules of the crate each uses outside its tests
/// (`super::x` from a top-level module is the crate's `x`); modules that exist only under
/// `#[cfg(test)]` are left out.
fn kernel_graph() -> BTreeMap<String, BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/vgg-kernels/src");
    let lib = std::fs::read_to_string(dir.join("lib.rs")).unwrap();
    let test_only: BTreeSet<String> = lib
        .split("#[cfg(test)]")
        .skip(1)
        .filter_map(|after| {
            let decl = after.trim_start().strip_prefix("mod ")?;
            Some(decl.split(';').next()?.trim().to_string())
        })
        .collect();
    let mut graph = BTreeMap::new();
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    // Top-level modules only: a `conv/tests.rs` is conv's test module.
    files.retain(|f| f.parent() == Some(dir.as_path()));
    for file in files {
        let module = file.file_stem().unwrap().to_string_lossy().into_owned();
        if module == "lib" || test_only.contains(&module) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let mut deps = uses_with(code, "super::");
        deps.extend(uses_with(code, "crate::"));
        deps.remove(&module);
        graph.insert(module, deps);
    }
    graph
}

#[test]
fn kernel_modules_have_no_import_cycle() {
    let graph = kernel_graph();
    assert!(
        graph.len() >= 10 && graph["conv"].contains("columns"),
        "the kernels crate was not read: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle in vgg-kernels: {cycle}");
    }
}

#[test]
fn top_level_modules_have_no_import_cycle() {
    if let Some(cycle) = find_cycle(&graph()) {
        panic!("import cycle: {cycle}");
    }
}

#[test]
fn the_scanner_sees_paths_skips_comments_and_finds_loops() {
    let text = "use crate::data::{Split};\n// crate::cli in a comment\nlet x = crate::util::f(); // crate::train\nvgg_crate::x";
    let found: Vec<String> = uses(text).into_iter().collect();
    assert_eq!(found, ["data", "util"]);
    let grouped =
        "use crate::{\n    data::{self, Split},\n    // crate::cli\n    model::Vgg,\n    util,\n};";
    let found: Vec<String> = uses(grouped).into_iter().collect();
    assert_eq!(found, ["data", "model", "util"]);
    let edge = |a: &str, b: &[&str]| (a.to_string(), b.iter().map(|s| s.to_string()).collect());
    let chain: BTreeMap<String, BTreeSet<String>> =
        [edge("a", &["b"]), edge("b", &["c"]), edge("c", &[])].into();
    assert_eq!(find_cycle(&chain), None);
    let looped: BTreeMap<String, BTreeSet<String>> =
        [edge("a", &["b"]), edge("b", &["c"]), edge("c", &["a"])].into();
    assert_eq!(find_cycle(&looped).as_deref(), Some("a -> b -> c -> a"));
}
