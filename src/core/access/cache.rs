//! A small in-memory cache with an age limit and a size limit, for what an
//! isolate may remember between requests (token records): a hit saves a KV
//! read, and no entry outlives its age limit.

/// Entries older than `ttl_ms` are never returned; past `capacity` the
/// oldest entry goes.
#[derive(Debug)]
pub struct TtlCache<V> {
    ttl_ms: u64,
    capacity: usize,
    /// (key, stored at, value), oldest first.
    entries: Vec<(String, u64, V)>,
}

impl<V: Clone> TtlCache<V> {
    pub const fn new(ttl_ms: u64, capacity: usize) -> TtlCache<V> {
        TtlCache {
            ttl_ms,
            capacity,
            entries: Vec::new(),
        }
    }

    /// The value stored under `key`, if it is younger than the age limit at `now_ms`.
    pub fn get(&mut self, key: &str, now_ms: u64) -> Option<V> {
        let ttl = self.ttl_ms;
        self.entries.retain(|(_, at, _)| now_ms.saturating_sub(*at) < ttl);
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, v)| v.clone())
    }

    pub fn remove(&mut self, key: &str) {
        self.entries.retain(|(k, _, _)| k != key);
    }

    pub fn put(&mut self, key: String, value: V, now_ms: u64) {
        self.entries.retain(|(k, _, _)| *k != key);
        if self.entries.len() >= self.capacity && !self.entries.is_empty() {
            self.entries.remove(0);
        }
        if self.capacity > 0 {
            self.entries.push((key, now_ms, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_oldest_goes_first() {
        let mut c = TtlCache::new(60_000, 2);
        c.put("a".into(), 1, 0);
        assert_eq!(c.get("a", 59_999), Some(1));
        assert_eq!(c.get("a", 60_000), None, "not a millisecond past its age");
        c.put("a".into(), 1, 100_000);
        c.put("b".into(), 2, 100_001);
        c.put("c".into(), 3, 100_002);
        assert_eq!(
            (c.get("a", 100_003), c.get("b", 100_003), c.get("c", 100_003)),
            (None, Some(2), Some(3))
        );
        c.put("b".into(), 20, 100_004);
        assert_eq!(c.get("b", 100_005), Some(20), "a new value replaces the old");
        c.remove("b");
        assert_eq!(c.get("b", 100_005), None);
        let mut none: TtlCache<u8> = TtlCache::new(1, 0);
        none.put("x".into(), 1, 0);
        assert_eq!(none.get("x", 0), None);
    }
}
