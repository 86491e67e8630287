//! Per-signature cost of the verification paths, for decisions D11, D12 and D24:
//! `cargo run --release -p tenge-crypto --example verify_cost`. Prints the median of 5 timings.
//! Uses only the public API, so the same file measures earlier versions of the crate.

use std::hint::black_box;
use std::time::Instant;

use curve25519_dalek::edwards::CompressedEdwardsY;
use tenge_crypto::{Keypair, SignatureItem, verify_batch, verify_strict};
use tenge_types::{HashValue, PublicKey, Signature};

/// The median of 5 timings of `run`, each returning microseconds per item.
fn median(mut run: impl FnMut() -> f64) -> f64 {
    let mut times: Vec<f64> = (0..5).map(|_| run()).collect();
    times.sort_by(f64::total_cmp);
    times[2]
}

/// Median over 5 runs of the time per item, in microseconds, of `f` run `rounds` times on
/// `items` items.
fn per_item(items: usize, rounds: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up (fills the key cache)
    median(|| {
        let start = Instant::now();
        for _ in 0..rounds {
            f();
        }
        start.elapsed().as_secs_f64() * 1e6 / (rounds * items) as f64
    })
}

fn signed(count: u32, first_secret: u32) -> Vec<(HashValue, PublicKey, Signature)> {
    (0..count)
        .map(|i| {
            let mut secret = [0u8; 32];
            secret[..4].copy_from_slice(&(first_secret + i).to_le_bytes());
            secret[4] = 1;
            let key = Keypair::from_secret(secret);
            let message = tenge_types::Domain::Transaction.hash(&i.to_le_bytes());
            (message, key.public_key(), key.sign(&message))
        })
        .collect()
}

fn main() {
    let signed_256 = signed(256, 0);
    let items: Vec<SignatureItem<'_>> = signed_256
        .iter()
        .map(|(message, public_key, signature)| SignatureItem {
            message,
            public_key,
            signature,
        })
        .collect();
    for size in [256, 64] {
        let batch = &items[..size];
        let us = per_item(size, 4096 / size, || {
            assert!(verify_batch(black_box(batch)).iter().all(|ok| *ok))
        });
        println!("verify_batch of {size}, keys cached: {us:.2} us per signature");
    }
    let (message, key, signature) = &signed_256[0];
    let us = per_item(1, 400, || {
        assert!(verify_strict(black_box(message), key, signature))
    });
    println!("verify_strict, same key: {us:.2} us");
    // A key never seen before each time (the key cache, if any, misses).
    const FRESH: u32 = 400;
    let fresh = signed(5 * FRESH, 1 << 20);
    let mut runs = fresh.chunks(FRESH as usize);
    let us = median(|| {
        let run = runs.next().expect("5 runs");
        let start = Instant::now();
        for (message, key, signature) in run {
            assert!(verify_strict(black_box(message), key, signature));
        }
        start.elapsed().as_secs_f64() * 1e6 / f64::from(FRESH)
    });
    println!("verify_strict, new key each time: {us:.2} us");
    let r = CompressedEdwardsY(signature.0[..32].try_into().expect("32 bytes"));
    let us = per_item(1, 2000, || {
        black_box(black_box(&r).decompress());
    });
    println!("R decompression: {us:.2} us");
}
