// SPDX-License-Identifier: MPL-2.0
//! Locking that survives a panic elsewhere: a poisoned mutex still holds
//! consistent data here (every critical section leaves it whole), and a
//! streaming thread must not panic because another one did. And
//! [`SharedCache`], which builds a value once per key for everyone who holds
//! it, and keeps the last few alive.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The last few values used, kept alive when nobody else holds them: for
/// caches of weak references whose values cost more to build again than to
/// keep (a model's session, a parameter set's tables), so that one stream
/// after another does not build them anew each time.
struct KeepRecent<T> {
    capacity: usize,
    /// Most recent last.
    items: Mutex<VecDeque<Arc<T>>>,
}

impl<T> KeepRecent<T> {
    const fn new(capacity: usize) -> Self {
        KeepRecent {
            capacity,
            items: Mutex::new(VecDeque::new()),
        }
    }

    /// Makes `item` the most recent; returns the value that no longer
    /// fits, for the caller to drop once it holds no other lock.
    fn touch(&self, item: &Arc<T>) -> Option<Arc<T>> {
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

/// Values built once per key and shared by everyone who holds one (a
/// thousand streams would otherwise build a thousand copies); the last
/// `keep` asked for with `keep_alive` stay built when nobody holds them.
pub struct SharedCache<K, V> {
    built: Mutex<HashMap<K, Weak<V>>>,
    recent: KeepRecent<V>,
}

impl<K: Eq + Hash, V> SharedCache<K, V> {
    pub fn new(keep: usize) -> Self {
        SharedCache {
            built: Mutex::new(HashMap::new()),
            recent: KeepRecent::new(keep),
        }
    }

    /// The value of `key`, built by `build` if nobody holds it and it is not
    /// among the last kept; made the most recent of those if `keep_alive`.
    /// The cache stays locked while building, so concurrent callers build
    /// once; a failed build is not remembered.
    pub fn get_or_build<E>(
        &self,
        key: K,
        keep_alive: bool,
        build: impl FnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        let mut built = lock(&self.built);
        let value = match built.get(&key).and_then(Weak::upgrade) {
            Some(value) => value,
            None => {
                built.retain(|_, w| w.strong_count() > 0);
                let value = Arc::new(build()?);
                built.insert(key, Arc::downgrade(&value));
                value
            }
        };
        let evicted = if keep_alive {
            self.recent.touch(&value)
        } else {
            None
        };
        // A value dropped here may take time to tear down (a model's
        // session): not while others wait for the cache.
        drop(built);
        drop(evicted);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_built_once_while_held_and_a_failed_build_is_not_kept() {
        let cache = SharedCache::new(0);
        let a = cache.get_or_build(1, true, || Ok::<_, ()>('a')).unwrap();
        let again = cache
            .get_or_build(1, true, || -> Result<char, ()> { panic!("built twice") })
            .unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        assert!(cache
            .get_or_build(2, true, || Err::<char, _>("no"))
            .is_err());
        assert_eq!(
            *cache.get_or_build(2, true, || Ok::<_, ()>('b')).unwrap(),
            'b'
        );
        let weak = Arc::downgrade(&a);
        drop((a, again));
        assert!(weak.upgrade().is_none(), "kept with none to keep");
    }

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
