//! The pieces of the `tenge` command line that other tools reuse: devnet layout and files, the
//! load generator, public keys given on the command line, peer addresses.

pub mod address;
pub mod bench;
pub mod devnet;
pub mod keys;
