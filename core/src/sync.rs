// SPDX-License-Identifier: MPL-2.0
//! Locking that survives a panic elsewhere: a poisoned mutex still holds
//! consistent data here (every critical section leaves it whole), and a
//! streaming thread must not panic because another one did. And
//! [`KeepRecent`], which keeps the last few values of a cache alive.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The last few values used, kept alive when nobody else holds them: for
/// caches of weak references whose values cost more to build again than to
/// keep (a model's session, a parameter set's tables), so that one stream
/// after another does not build them anew each time.
pub struct KeepRecent<T> {
    capacity: usize,
    /// Most recent last.
    items: Mutex<VecDeque<Arc<T>>>,
}

impl<T> KeepRecent<T> {
    pub const fn new(capacity: usize) -> Self {
        KeepRecent {
            capacity,
            items: Mutex::new(VecDeque::new()),
        }
    }

    /// Makes `item` the most recent; returns the value that no longer
    /// fits, for the caller to drop once it holds no other lock.
    pub fn touch(&self, item: &Arc<T>) -> Option<Arc<T>> {
        let mut items = lock(&self.items);
        items.retain(|i| !Arc::ptr_eq(i, item));
        items.push_back(Arc::clone(item));
        if items.len() > self.capacity {
            items.pop_front()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_values_touched_stay_and_the_oldest_goes() {
        let recent = KeepRecent::new(2);
        let (a, b, c) = (Arc::new('a'), Arc::new('b'), Arc::new('c'));
        let weak_a = Arc::downgrade(&a);
        assert!(recent.touch(&a).is_none());
        assert!(recent.touch(&b).is_none());
        drop(a);
        assert!(weak_a.upgrade().is_some(), "kept while among the last two");
        // Touched again, `a` is the most recent: `b` is the oldest now.
        assert!(recent.touch(&weak_a.upgrade().unwrap()).is_none());
        let evicted = recent.touch(&c).expect("three do not fit in two");
        assert!(Arc::ptr_eq(&evicted, &b));
        drop(evicted);
        let evicted = recent.touch(&Arc::new('d')).expect("the oldest goes");
        assert_eq!(*evicted, 'a');
        drop(evicted);
        assert!(weak_a.upgrade().is_none(), "dropped with its last holder");
    }
}
