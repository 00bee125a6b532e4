//! A bounded set of secrets that expire: IMDSv2 session tokens. Lookups are a hash probe; expired
//! entries leave through a min-heap of expiry instants, a few at a time on each insert, so no
//! insert scans the store (O(log n) amortised). At capacity the entry that would expire first
//! goes, as a client holding it would soon need a new one anyway.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use time::OffsetDateTime;

/// Live tokens and their expiry.
#[derive(Debug)]
pub struct ExpiringTokens {
    live: HashMap<Arc<str>, OffsetDateTime>,
    by_expiry: BinaryHeap<Reverse<(OffsetDateTime, Arc<str>)>>,
    capacity: usize,
}

impl Default for ExpiringTokens {
    fn default() -> Self {
        Self::with_capacity(ExpiringTokens::CAPACITY)
    }
}

impl ExpiringTokens {
    /// How many live tokens the store keeps by default.
    pub const CAPACITY: usize = 20_000;

    /// An empty store keeping at most `capacity` tokens.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { live: HashMap::new(), by_expiry: BinaryHeap::new(), capacity: capacity.max(1) }
    }

    /// Remembers `token` until `expires_at`; drops tokens expired by `now`, and the soonest to
    /// expire when full.
    pub fn insert(&mut self, token: String, expires_at: OffsetDateTime, now: OffsetDateTime) {
        while let Some(Reverse((at, _))) = self.by_expiry.peek() {
            if *at > now && self.live.len() < self.capacity {
                break;
            }
            if let Some(Reverse((_, old))) = self.by_expiry.pop() {
                self.live.remove(&*old);
            }
        }
        let token: Arc<str> = token.into();
        self.live.insert(token.clone(), expires_at);
        self.by_expiry.push(Reverse((expires_at, token)));
    }

    /// When `token` expires, if the store holds it.
    pub fn get(&self, token: &str) -> Option<OffsetDateTime> {
        self.live.get(token).copied()
    }

    /// How many tokens are held (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    #[test]
    fn expired_tokens_leave_on_later_inserts_and_live_ones_stay() {
        let t0 = datetime!(2026-11-30 00:00 UTC);
        let mut s = ExpiringTokens::default();
        s.insert("short".into(), t0 + Duration::seconds(1), t0);
        s.insert("long".into(), t0 + Duration::hours(6), t0);
        s.insert("new".into(), t0 + Duration::hours(1), t0 + Duration::seconds(2));
        assert_eq!(s.get("short"), None);
        assert_eq!(s.get("long"), Some(t0 + Duration::hours(6)));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn a_full_store_drops_the_token_that_expires_first() {
        let t0 = datetime!(2026-11-30 00:00 UTC);
        let mut s = ExpiringTokens::with_capacity(2);
        s.insert("a".into(), t0 + Duration::hours(3), t0);
        s.insert("b".into(), t0 + Duration::hours(1), t0);
        s.insert("c".into(), t0 + Duration::hours(2), t0);
        assert_eq!((s.get("a").is_some(), s.get("b").is_some(), s.get("c").is_some()), (true, false, true));
        assert_eq!(s.len(), 2);
    }
}
