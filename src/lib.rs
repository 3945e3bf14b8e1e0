//! vgg-train: train and compare the VGG configurations of Simonyan & Zisserman,
//! *Very Deep Convolutional Networks for Large-Scale Image Recognition* (ICLR 2015), with burn.
//!
//! The flow of `vgg-train --config F`: [`config`] reads the experiment, [`data`] loads the data
//! set, [`model`] builds the network from the paper's table, [`train`] runs burn-train's
//! Learner and writes the [`results`].
//!
//! # Architecture
//!
//! The modules form a stack. A module uses modules of its own layer or below, never above, and
//! no two modules use each other, directly or round a loop (`tests/it/architecture.rs` reads this
//! table and checks every `crate::` path in `src/` against it on each `cargo test`):
//!
//! ```text
//! layer 3: cli                                          (arguments, one-line errors, exit codes)
//! layer 2: train evaluate report bench predict sweep export device_check (the commands)
//! layer 1: data augment model eval results device tensorboard (images, network, test protocols, run dirs, devices, events)
//! layer 0: config arch console error util                      (the experiment, the paper's tables, errors)
//! ```
//!
//! The convolution kernels of the flex backend are a crate of their own below [`model`]
//! (`crates/vgg-kernels`, knowing nothing of this one); `main.rs` only calls [`cli`].

pub mod arch;
pub mod augment;
pub mod bench;
pub mod cli;
pub mod config;
pub mod console;
pub mod data;
pub mod device;
pub mod device_check;
pub mod error;
pub mod eval;
pub mod evaluate;
pub mod export;
pub mod model;
pub mod predict;
pub mod report;
pub mod results;
pub mod sweep;
pub mod tensorboard;
pub mod train;
pub mod util;
