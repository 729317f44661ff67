// SPDX-License-Identifier: MPL-2.0
//! Locking that survives a panic elsewhere: a poisoned mutex still holds
//! consistent data here (every critical section leaves it whole), and a
//! streaming thread must not panic because another one did.

use std::sync::{Mutex, MutexGuard};

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
