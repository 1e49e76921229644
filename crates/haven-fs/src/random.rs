//! The OS's randomness (getrandom(2)), the workspace's one source of it.
//!
//! Secrets (tokens, keys, markers output must not forge) come from [`fill`] or [`token_hex`],
//! which fail rather than settle for less. Ids ([`id_hex`], [`id_bytes`], [`seed`]) only need
//! to be unique, so if the OS gives nothing they fall back to a per-process counter mixed with
//! the time and process id; no secret is ever made that way.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The OS could not give random bytes.
#[derive(Debug, thiserror::Error)]
#[error("the operating system gave no random bytes: {0}")]
pub struct RandomError(#[source] getrandom::Error);

/// Fills `buf` from the OS.
pub fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    getrandom::getrandom(buf).map_err(RandomError)
}

/// `bytes` random bytes from the OS as lower-case hex: a token or a key's text.
pub fn token_hex(bytes: usize) -> Result<String, RandomError> {
    let mut raw = vec![0u8; bytes];
    fill(&mut raw)?;
    Ok(hex(&raw))
}

/// `N` random bytes for an id.
pub fn id_bytes<const N: usize>() -> [u8; N] {
    let mut raw = [0u8; N];
    fill_id(&mut raw);
    raw
}

/// `bytes` random bytes as lower-case hex, for an id (task ids, release ids).
pub fn id_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    fill_id(&mut raw);
    hex(&raw)
}

fn fill_id(raw: &mut [u8]) {
    if fill(raw).is_err() {
        let mut state = fallback_seed();
        for chunk in raw.chunks_mut(8) {
            let word = splitmix64(&mut state).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// A seed for a fast non-cryptographic generator (request ids): from the OS, as [`id_bytes`].
pub fn seed() -> u64 {
    u64::from_le_bytes(id_bytes::<8>())
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        write!(s, "{b:02x}").ok();
    }
    s
}

/// Distinct on each call within this process, and between processes by pid and time: enough
/// for ids, never used for a secret.
fn fallback_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut state = haven_time::now_micros() ^ (u64::from(std::process::id()) << 40);
    splitmix64(&mut state) ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// SplitMix64's step: spreads a counter's bits over the whole word.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
