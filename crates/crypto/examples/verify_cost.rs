//! Per-signature cost of the verification paths, for decisions D11 and D24:
//! `cargo run --release -p tenge-crypto --example verify_cost`. Prints the median of 5 timings.

use std::hint::black_box;
use std::time::Instant;

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use tenge_crypto::{Keypair, SignatureItem, verify_batch, verify_strict};
use tenge_types::{HashValue, PublicKey, Signature};

/// Median over 5 runs of the time per item, in microseconds, of `f` run `rounds` times on
/// `items` items.
fn per_item(items: usize, rounds: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up (fills the key cache)
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..rounds {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / (rounds * items) as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[2]
}

fn main() {
    let signed: Vec<(HashValue, PublicKey, Signature)> = (0..256u32)
        .map(|i| {
            let key = Keypair::from_secret([(i % 250) as u8 + 1; 32]);
            let message = tenge_types::Domain::Transaction.hash(&i.to_le_bytes());
            (message, key.public_key(), key.sign(&message))
        })
        .collect();
    let items: Vec<SignatureItem<'_>> = signed
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
    let (message, key, signature) = &signed[0];
    let us = per_item(1, 400, || {
        assert!(verify_strict(black_box(message), key, signature))
    });
    println!("verify_strict: {us:.2} us");
    let r = CompressedEdwardsY(signature.0[..32].try_into().expect("32 bytes"));
    let point: EdwardsPoint = r.decompress().expect("R decodes");
    let us = per_item(1, 2000, || {
        black_box(black_box(&r).decompress());
    });
    println!("R decompression: {us:.2} us");
    let us = per_item(1, 2000, || assert!(black_box(&point).is_torsion_free()));
    println!("R torsion check (is_torsion_free): {us:.2} us");
    let minus_one = -curve25519_dalek::Scalar::ONE;
    let us = per_item(1, 2000, || {
        let p = black_box(&point);
        let q = EdwardsPoint::vartime_double_scalar_mul_basepoint(
            &minus_one,
            p,
            &curve25519_dalek::Scalar::ZERO,
        );
        assert!(q == -p)
    });
    println!("R torsion check (vartime [l-1]R == -R): {us:.2} us");
}
