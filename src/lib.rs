//! vgg-train: train and compare the VGG configurations of Simonyan & Zisserman,
//! *Very Deep Convolutional Networks for Large-Scale Image Recognition* (ICLR 2015), with burn.
//!
//! The flow of `vgg-train --config F`: [`config`] reads the experiment, [`data`] loads the data
//! set, [`model`] builds the network from the paper's table, [`train`] runs burn-train's
//! Learner and writes the [`results`].

pub mod arch;
pub mod augment;
pub mod bench;
pub mod cli;
pub mod config;
pub mod data;
pub mod device;
pub mod error;
pub mod eval;
pub mod model;
pub mod predict;
pub mod report;
pub mod results;
pub mod sweep;
pub mod train;
pub mod util;
