//! End-to-end training runs of the real binary on real data (Fashion-MNIST from Debian's
//! `dataset-fashion-mnist`, which `.ci/run` installs) and on tiny CIFAR / image-folder sets
//! written in the official formats.

use crate::util::*;
use std::path::Path;

const FMNIST: &str = "/usr/share/datasets/fashion-mnist";

pub(super) fn tiny_a(out: &Path, extra: &[&str]) -> Vec<String> {
    quickstart_args(out, extra)
}

pub(super) fn run(args: &[String]) -> std::process::Output {
    vgg_train_owned(args)
}

/// The quickstart's data: the first 3,000 / 1,000 images of the real Fashion-MNIST, kept in
/// the repository (data/fashion-mnist-sample).
#[test]
fn bundled_fashion_mnist_sample_trains_a_narrow_vgg_a_far_below_chance() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&tiny_a(
        tmp.path(),
        &[
            "name=fmnist-e2e",
            "train.epochs=2",
            // BN and a constant rate make two short epochs learn reliably.
            "model.batch_norm=true",
            "model.dropout=0.0",
            "train.lr=0.05",
            "train.schedule=\"constant\"",
        ],
    ));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    // One plain line per epoch, never one per batch.
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("epoch ")).count(),
        2,
        "{stdout}"
    );
    let dir = tmp.path().join("fmnist-e2e");
    let (header, rows) = read_csv(&dir.join("results.csv"));
    assert_eq!(
        header[..17],
        [
            "name",
            "arch",
            "batch_norm",
            "width",
            "dataset",
            "image_size",
            "epochs",
            "seed",
            "params",
            "top1_err",
            "top5_err",
            "val_top1_err",
            "val_top5_err",
            "best_epoch",
            "wall_seconds",
            "device",
            "git_commit"
        ]
    );
    assert_eq!(rows.len(), 1);
    // 10 % of the 3,000 training images are held out to pick the epoch; the 1,000 test
    // images give the reported errors.
    assert_eq!(field(&header, &rows[0], "train_images"), "2700");
    assert_eq!(field(&header, &rows[0], "val_images"), "300");
    assert_eq!(field(&header, &rows[0], "test_images"), "1000");
    let top1: f64 = field(&header, &rows[0], "top1_err").parse().unwrap();
    let top5: f64 = field(&header, &rows[0], "top5_err").parse().unwrap();
    let val1: f64 = field(&header, &rows[0], "val_top1_err").parse().unwrap();
    // Chance is 90% top-1 and 50% top-5 error on 10 classes.
    assert!(top1 < 45.0, "top-1 error {top1}%");
    assert!(top5 < 8.0, "top-5 error {top5}%");
    assert!(val1 < 45.0, "validation top-1 error {val1}%");
    assert_eq!(field(&header, &rows[0], "dataset"), "fashion-mnist");
    assert_eq!(field(&header, &rows[0], "device"), "flex");
    // The commit the binary was built from, recorded whatever the working directory.
    assert_eq!(
        field(&header, &rows[0], "build_commit"),
        env!("VGG_TRAIN_BUILD_COMMIT")
    );
    assert_ne!(field(&header, &rows[0], "build_commit"), "");
    let (mheader, mrows) = read_csv(&dir.join("metrics.csv"));
    assert_eq!(
        mheader,
        [
            "epoch",
            "lr",
            "train_loss",
            "train_top1_err",
            "train_top5_err",
            "val_loss",
            "val_top1_err",
            "val_top5_err",
            "epoch_seconds",
            "train_img_s"
        ]
    );
    assert_eq!(mrows.len(), 2);
    assert!(dir.join("config.toml").is_file());
    assert!(dir.join("model.bpk").is_file());
    assert!(dir.join("checkpoint/model-2.bpk").is_file());
    // The saved config is the resolved one, overrides included.
    let saved = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(saved.contains("epochs = 2"), "{saved}");
    // Every default of the data set is written out: what ran, not `0` / `[]` / absent.
    for line in [
        "num_classes = 10",
        "in_channels = 1",
        "mean = [0.286]",
        "std = [0.353]",
        "hflip = false",
        "crop_padding = 0",
        "val_split = 0.1",
    ] {
        assert!(
            saved.lines().any(|l| l == line),
            "{line:?} missing from {saved}"
        );
    }
    assert!(stdout.contains("top-1 error"), "{stdout}");
}

/// Without `data.path`, Fashion-MNIST is read from Debian's `dataset-fashion-mnist` package
/// (which `.ci/run` installs); where it is absent the run must say how to install it.
#[test]
fn default_fashion_mnist_path_is_debians_package() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&tiny_a(
        tmp.path(),
        &[
            "name=default-path",
            "data.path=\"\"",
            "model.batch_norm=true",
            "model.dropout=0.0",
            "train.lr=0.05",
            "train.schedule=\"constant\"",
            "data.train_limit=2000",
            "data.val_limit=500",
            "train.epochs=1",
        ],
    ));
    let installed = Path::new(FMNIST)
        .join("train-images-idx3-ubyte.gz")
        .is_file();
    // CI installs the package: there, missing data is a failure, not a reason to skip.
    assert!(
        installed || std::env::var("CI").is_err(),
        "{FMNIST} is missing under CI; .ci/run installs dataset-fashion-mnist"
    );
    if !installed {
        eprintln!(
            "SKIPPED: the full Fashion-MNIST run (apt-get install dataset-fashion-mnist to run it); checking the error message instead"
        );
    }
    if installed {
        assert!(out.status.success(), "{:?}", text(&out));
        let (header, rows) = read_csv(&tmp.path().join("default-path/results.csv"));
        assert_eq!(field(&header, &rows[0], "train_images"), "2000");
        let top1: f64 = field(&header, &rows[0], "top1_err").parse().unwrap();
        assert!(
            top1 < 60.0,
            "top-1 error {top1}% after one epoch on 2,000 images"
        );
    } else {
        assert_clean_failure(&out, 2, &[FMNIST, "apt-get install dataset-fashion-mnist"]);
    }
}

#[test]
fn rerunning_a_finished_run_trains_nothing_and_resuming_continues_the_epochs() {
    let tmp = tempfile::tempdir().unwrap();
    let base = [
        "name=resume",
        "data.train_limit=256",
        "data.val_limit=128",
        "model.width=0.125",
        "model.hidden=32",
        // Extending a run needs a schedule that does not span train.epochs (cosine does).
        "train.schedule=\"step\"",
    ];
    let first = run(&tiny_a(
        tmp.path(),
        &[&base[..], &["train.epochs=1"]].concat(),
    ));
    assert!(first.status.success(), "{:?}", text(&first));
    let dir = tmp.path().join("resume");
    let results = std::fs::read(dir.join("results.csv")).unwrap();

    // Same command again: reported, not retrained, nothing rewritten.
    let again = run(&tiny_a(
        tmp.path(),
        &[&base[..], &["train.epochs=1"]].concat(),
    ));
    let (stdout, _) = text(&again);
    assert!(again.status.success());
    assert!(stdout.contains("already finished"), "{stdout}");
    assert!(!stdout.contains("epoch 1/"), "{stdout}");
    assert_eq!(std::fs::read(dir.join("results.csv")).unwrap(), results);

    // An interrupted longer run: without results.csv, the same run continues at epoch 2.
    std::fs::remove_file(dir.join("results.csv")).unwrap();
    let more = run(&tiny_a(
        tmp.path(),
        &[&base[..], &["train.epochs=2"]].concat(),
    ));
    let (stdout, stderr) = text(&more);
    assert!(more.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("resuming after epoch 1"), "{stdout}");
    assert!(
        stdout.contains("epoch 2/2") && !stdout.contains("epoch 1/2"),
        "{stdout}"
    );
    let (_, rows) = read_csv(&dir.join("metrics.csv"));
    let epochs: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(epochs, ["1", "2"]);

    // A different model in the same directory is refused, and --fresh moves the old run aside.
    let other = run(&tiny_a(
        tmp.path(),
        &[&base[..], &["model.arch=B"]].concat(),
    ));
    assert_clean_failure(
        &other,
        2,
        &["different experiment", "model.arch", "--fresh"],
    );
    // So is another precision: the checkpoints hold f32 tensors.
    let bf16 = run(&tiny_a(
        tmp.path(),
        &[&base[..], &["run.precision=\"bf16\""]].concat(),
    ));
    assert_clean_failure(&bf16, 2, &["different experiment", "run.precision"]);
    let mut args = tiny_a(
        tmp.path(),
        &[&base[..], &["model.arch=B", "train.epochs=1"]].concat(),
    );
    args.push("--fresh".into());
    let fresh = run(&args);
    assert!(fresh.status.success(), "{:?}", text(&fresh));
    let moved = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("resume.old-")
        })
        .count();
    assert_eq!(moved, 1);
}

#[test]
fn cifar10_binary_batches_train_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_cifar10(tmp.path(), 4);
    let cfg = tiny_config(
        tmp.path(),
        "cifar",
        &format!(
            "dataset = \"cifar10\"\npath = {:?}\nimage_size = 32",
            data.display().to_string()
        ),
        16,
    );
    let out = vgg_train(&["--config", cfg.to_str().unwrap(), "--plain"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let (header, rows) = read_csv(&tmp.path().join("out/cifar/results.csv"));
    assert_eq!(field(&header, &rows[0], "dataset"), "cifar10");
    // 10 % of the 200 training images held out for validation; the test batch reports.
    assert_eq!(field(&header, &rows[0], "train_images"), "180");
    assert_eq!(field(&header, &rows[0], "val_images"), "20");
    assert_eq!(field(&header, &rows[0], "test_images"), "40");
}

#[test]
fn cifar_as_torchvision_downloads_it_trains_end_to_end_from_the_archive() {
    // torchvision's root after `CIFAR100(root, download=True)`: the .tar.gz (python pickles).
    let tmp = tempfile::tempdir().unwrap();
    let tv_root = tmp.path().join("torchvision-root");
    std::fs::create_dir(&tv_root).unwrap();
    std::fs::copy(
        root().join("tests/fixtures/cifar/cifar-100-python.tar.gz"),
        tv_root.join("cifar-100-python.tar.gz"),
    )
    .unwrap();
    let cfg = tiny_config(
        tmp.path(),
        "cifar100",
        &format!(
            "dataset = \"cifar100\"\npath = {:?}\nimage_size = 32\nval_split = 1",
            tv_root.display().to_string()
        ),
        2,
    );
    let out = vgg_train(&["--config", cfg.to_str().unwrap(), "--plain"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let (header, rows) = read_csv(&tmp.path().join("out/cifar100/results.csv"));
    assert_eq!(field(&header, &rows[0], "dataset"), "cifar100");
    assert_eq!(field(&header, &rows[0], "train_images"), "3");
    assert_eq!(field(&header, &rows[0], "val_images"), "1");
    assert_eq!(field(&header, &rows[0], "test_images"), "2");
    // A truncated copy fails with one line naming the file, and writes no results.
    let cfg = tiny_config(
        tmp.path(),
        "truncated",
        &format!(
            "dataset = \"cifar10\"\npath = {:?}\nimage_size = 32",
            root()
                .join("tests/fixtures/cifar/truncated")
                .display()
                .to_string()
        ),
        2,
    );
    let out = vgg_train(&["--config", cfg.to_str().unwrap(), "--plain"]);
    assert_clean_failure(&out, 2, &["data_batch_1", "truncated"]);
    assert!(!tmp.path().join("out/truncated/results.csv").exists());
}

/// §3.1: deeper nets start from a trained A (its first four convs and three FC layers).
#[test]
fn init_from_copies_a_trained_a_into_d_and_refuses_a_mismatched_head() {
    let tmp = tempfile::tempdir().unwrap();
    let base = [
        "data.train_limit=256",
        "data.val_limit=64",
        "model.width=0.125",
        "model.hidden=32",
        "train.epochs=1",
    ];
    let a = run(&tiny_a(tmp.path(), &[&base[..], &["name=net-a"]].concat()));
    assert!(a.status.success(), "{:?}", text(&a));
    let a_dir = format!(
        "model.init_from={:?}",
        tmp.path().join("net-a").display().to_string()
    );
    let d = run(&tiny_a(
        tmp.path(),
        &[&base[..], &["name=net-d", "model.arch=D", &a_dir]].concat(),
    ));
    let (stdout, stderr) = text(&d);
    assert!(d.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("initialised 7 layers from") && stdout.contains("(A)"),
        "{stdout}"
    );
    let e = run(&tiny_a(
        tmp.path(),
        &[
            &base[..],
            &["name=net-e", "model.arch=E", "model.hidden=64", &a_dir],
        ]
        .concat(),
    ));
    assert_clean_failure(&e, 2, &["model.init_from", "FC layer 1"]);
}
