//! The pieces of the `tenge` command line that other tools reuse: devnet layout and files, the
//! load generator, public keys given on the command line.

pub mod bench;
pub mod devnet;
pub mod keys;
