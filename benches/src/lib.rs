//! Fixtures shared by tenge's benchmarks.

pub mod fixture;
pub mod plot;
