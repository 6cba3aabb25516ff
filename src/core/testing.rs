//! What the core's unit tests share.

/// A seeded stream of draws below `n` (xorshift64): the same cases every run.
pub fn draws(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}
