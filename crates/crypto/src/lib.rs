//! Keys and signatures of tenge: ed25519 signing, the verification rule (cofactored equation,
//! strict encodings: `verify_strict`), a batch fast path that gives the same verdict for every
//! input, key files, and k-of-m authorisation.

mod keyfile;
mod keys;
mod verify;

pub use keyfile::{KeyFileError, read_key_file, write_key_file};
pub use keys::{KeyError, Keypair, check_public_key, sign_transaction};
pub use verify::{
    AuthorizationError, SignatureItem, check_authorization, verify_batch, verify_parallel,
    verify_strict,
};
