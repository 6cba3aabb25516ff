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

/// A text of fewer than `most` pieces, each drawn from `pieces`.
pub fn text_of(next: &mut impl FnMut(usize) -> usize, pieces: &[&str], most: usize) -> String {
    let count = next(most);
    (0..count).map(|_| pieces[next(pieces.len())]).collect()
}
