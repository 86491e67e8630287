//! Fixtures shared by tenge's benchmarks.

pub mod fixture;
