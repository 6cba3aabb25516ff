//! Stable sorting for the core, in one small merge sort that every caller
//! shares. The standard library's sort is instantiated once per element type
//! and comparison, each copy about 3–4 KB of wasm (ten of them were ~35 KB of
//! the bundle); here only a closure and a reordering are per caller. The
//! result is the standard library's, element for element: a stable sort has
//! one answer.

/// Sorts `v` by `key`, keeping the order of elements with equal keys (as
/// `sort_by_key`).
pub fn sort_by_key<T, K: Ord>(v: &mut Vec<T>, key: impl Fn(&T) -> K) {
    sort_by(v, |a, b| key(a) < key(b));
}

/// Sorts `v` into ascending order, keeping the order of equal elements (as
/// `sort`).
pub fn sort<T: Ord>(v: &mut Vec<T>) {
    sort_by(v, |a, b| a < b);
}

/// Sorts `v` by `less` (a strict weak order), keeping the order of elements
/// neither of which is less than the other.
pub fn sort_by<T>(v: &mut Vec<T>, less: impl Fn(&T, &T) -> bool) {
    if v.len() < 2 {
        return;
    }
    let order = {
        let items: &[T] = v;
        stable_order(items.len(), &|a, b| less(&items[a], &items[b]))
    };
    let mut slots: Vec<Option<T>> = v.drain(..).map(Some).collect();
    v.extend(
        order
            .into_iter()
            .filter_map(|i| slots.get_mut(i).and_then(Option::take)),
    );
}

/// The indices `0..n` in stable sorted order under `less`: a bottom-up merge
/// sort, which takes from the right run only when its element is strictly
/// less, so equal elements keep their order.
fn stable_order(n: usize, less: &dyn Fn(usize, usize) -> bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut merged = order.clone();
    let mut width = 1;
    while width < n {
        let mut start = 0;
        while start < n {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut i, mut j) = (start, mid);
            for slot in &mut merged[start..end] {
                if j < end && (i >= mid || less(order[j], order[i])) {
                    *slot = order[j];
                    j += 1;
                } else {
                    *slot = order[i];
                    i += 1;
                }
            }
            start = end;
        }
        std::mem::swap(&mut order, &mut merged);
        width *= 2;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator, so the test needs no crate.
    fn numbers(seed: u64, n: usize, modulo: u64) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (x >> 33) % modulo
            })
            .collect()
    }

    #[test]
    fn the_same_order_as_the_standard_librarys_stable_sort() {
        for n in [0, 1, 2, 3, 7, 8, 9, 31, 64, 100, 1_000, 5_001] {
            for modulo in [1, 3, 50, u64::MAX] {
                // (key, position): equal keys must keep their positions' order.
                let items: Vec<(u64, usize)> = numbers((n as u64).wrapping_add(modulo), n, modulo)
                    .into_iter()
                    .zip(0..)
                    .collect();
                let mut ours = items.clone();
                sort_by_key(&mut ours, |(k, _)| *k);
                let mut std = items.clone();
                std.sort_by_key(|(k, _)| *k);
                assert_eq!(ours, std, "n={n} modulo={modulo}");
                let mut ours = items.clone();
                sort_by_key(&mut ours, |(k, _)| std::cmp::Reverse(*k));
                let mut std = items;
                std.sort_by_key(|(k, _)| std::cmp::Reverse(*k));
                assert_eq!(ours, std, "n={n} modulo={modulo} reversed");
            }
        }
    }

    #[test]
    fn sort_orders_strings_as_sort_does() {
        let mut ours: Vec<String> = ["b", "a", "c", "a", "B", ""].map(String::from).to_vec();
        let mut std = ours.clone();
        sort(&mut ours);
        std.sort();
        assert_eq!(ours, std);
    }
}
