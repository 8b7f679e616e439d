//! The benchmarks `cargo xtask bench` runs, and their report.
//!
//! Every figure is measured next to a baseline in the same run and reported as a ratio, so
//! the numbers compare across machines; none of this is a timed test.

pub mod report;
pub mod response;
pub mod store;
pub mod veth_pps;
pub mod xdp;
