//! Pools of scrape bodies and sample batches.
//!
//! Both are large (a body is often hundreds of KiB) and only live for one scrape, so loops
//! borrow them from a shared pool: a peer holds buffers for the scrapes in flight, not one
//! set per target. Buffers are cleared on return; oversized ones are freed instead of kept.

use std::sync::{Mutex, PoisonError};

use crate::series::Sample;

/// At most this many idle buffers are kept per pool.
const MAX_IDLE: usize = 8;
/// Bodies above this capacity are freed on return rather than pinned in the pool.
const MAX_KEPT_BODY: usize = 8 << 20;
/// Sample batches above this capacity are freed on return.
const MAX_KEPT_SAMPLES: usize = 200_000;

/// A bounded free list.
pub struct Pool<T> {
    free: Mutex<Vec<T>>,
}

impl<T> Pool<T> {
    const fn new() -> Self {
        Pool {
            free: Mutex::new(Vec::new()),
        }
    }

    fn take_or(&self, make: impl FnOnce() -> T) -> T {
        let popped = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        popped.unwrap_or_else(make)
    }

    fn give_back(&self, item: T) {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        if free.len() < MAX_IDLE {
            free.push(item);
        }
    }
}

static BODIES: Pool<Vec<u8>> = Pool::new();
static SAMPLES: Pool<Vec<Sample>> = Pool::new();

/// An empty body buffer.
pub fn take_body() -> Vec<u8> {
    BODIES.take_or(Vec::new)
}

/// Returns a body buffer to the pool.
pub fn give_body(body: Vec<u8>) {
    give_body_to(&BODIES, body);
}

/// Returns a body buffer to `pool`: cleared, or freed when oversized.
fn give_body_to(pool: &Pool<Vec<u8>>, mut body: Vec<u8>) {
    if body.capacity() <= MAX_KEPT_BODY {
        body.clear();
        pool.give_back(body);
    }
}

/// An empty sample batch.
pub fn take_samples() -> Vec<Sample> {
    SAMPLES.take_or(Vec::new)
}

/// Returns a sample batch to the pool (its series references are released first).
pub fn give_samples(mut samples: Vec<Sample>) {
    samples.clear();
    if samples.capacity() <= MAX_KEPT_SAMPLES {
        SAMPLES.give_back(samples);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_empty_and_keep_capacity() {
        // A pool of its own: scrape tests running beside this one use the global one.
        let pool = Pool::new();
        let mut b = Vec::new();
        b.extend_from_slice(&[1; 4096]);
        let cap = b.capacity();
        give_body_to(&pool, b);
        let back = pool.take_or(Vec::new);
        assert!(back.is_empty());
        assert_eq!(back.capacity(), cap);
    }

    #[test]
    fn oversized_bodies_are_not_kept() {
        let pool = Pool::new();
        give_body_to(&pool, Vec::with_capacity(MAX_KEPT_BODY + 1));
        assert_eq!(pool.take_or(Vec::new).capacity(), 0);
    }
}
