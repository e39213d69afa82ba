//! The identity every peer computes for a target.

use super::labels::{Labels, META_LABEL_PREFIX};

/// Stable identity of a target: xxh3-64 of its labels after relabeling (minus `__meta_*`,
/// including `__address__`, `__scheme__`, `__metrics_path__` and every `__param_*`).
///
/// Every peer must compute the same value: it places the target on the ring and fixes the
/// phase of its slot grid. The hash input is explicit bytes (sorted name, 0xff, value,
/// 0xff, ...) so it does not depend on the platform or the Rust version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetId(pub u64);

impl TargetId {
    /// The identity of a target whose labels after relabeling are `labels`.
    pub fn of(labels: &Labels) -> TargetId {
        let mut buf = Vec::with_capacity(labels.wire_bytes().len());
        // `Labels` iterates in name order, which makes the input canonical.
        for l in labels.iter() {
            if l.name.starts_with(META_LABEL_PREFIX) {
                continue;
            }
            buf.extend_from_slice(l.name.as_bytes());
            buf.push(0xff);
            buf.extend_from_slice(l.value.as_bytes());
            buf.push(0xff);
        }
        TargetId(xxhash_rust::xxh3::xxh3_64(&buf))
    }
}

impl std::fmt::Display for TargetId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
