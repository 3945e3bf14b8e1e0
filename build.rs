//! Embeds the commit the binary is built from (`VGG_TRAIN_BUILD_COMMIT`), so that a results row
//! names the code that made it even when the binary runs outside the checkout.

fn main() {
    let commit = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=VGG_TRAIN_BUILD_COMMIT={commit}");
    // A new commit, a staged change, or any edit of the sources changes the answer.
    for path in [
        ".git/HEAD",
        ".git/index",
        ".git/refs",
        "src",
        "crates",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
}
