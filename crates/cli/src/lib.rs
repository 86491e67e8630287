//! The pieces of the `tenge` command line that other tools reuse: devnet layout and files.

pub mod bench;
pub mod devnet;
