//! The relabel engine, shared by target, metric and write relabeling.
//!
//! Semantics follow Prometheus' `model/relabel` (main branch): the same actions, defaults,
//! anchored `^(?s:<regex>)$` matching, Go template expansion and validation messages.
//! Label names are validated with Prometheus' legacy scheme `[a-zA-Z_][a-zA-Z0-9_]*`
//! (what Prometheus does with `metric_name_validation_scheme: legacy`).

mod config;
mod error;
mod goregex;
mod matcher;
mod rule;
mod template;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::sync::Arc;

pub use config::{Action, DEFAULT_REGEX, DEFAULT_REPLACEMENT, DEFAULT_SEPARATOR, RelabelConfig};
pub use error::RelabelError;

use crate::labels::{Labels, LabelsBuilder};
use rule::{Rule, Scratch};

thread_local! {
    /// Per-thread buffers, so relabeling allocates no scratch strings in steady state.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Compiled rules (regexes compiled once); cheap to clone and share between threads.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    rules: Arc<[Rule]>,
}

impl Rules {
    /// Validates and compiles `cfgs`, in order.
    pub fn compile(cfgs: &[RelabelConfig]) -> Result<Rules, RelabelError> {
        let rules = cfgs
            .iter()
            .enumerate()
            .map(|(index, cfg)| {
                Rule::compile(cfg).map_err(|e| RelabelError::InRule {
                    index,
                    source: Box::new(e),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rules {
            rules: rules.into(),
        })
    }

    /// Applies rules in order; returns false when a rule dropped the set (keep/drop/...).
    ///
    /// On false, `labels` holds whatever the rules before the dropping one made of it.
    pub fn process(&self, labels: &mut LabelsBuilder) -> bool {
        if self.rules.is_empty() {
            return true;
        }
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.run(labels, &mut scratch),
            // Only reachable if relabeling re-entered itself on this thread.
            Err(_) => self.run(labels, &mut Scratch::default()),
        })
    }

    /// Relabels a finished set; `None` when a rule dropped it.
    pub fn process_labels(&self, labels: &Labels) -> Option<Labels> {
        let mut b = labels.to_builder();
        self.process(&mut b).then(|| b.build())
    }

    /// Whether the leading keep/drop rules drop every label set that shares the labels for
    /// which `shared` holds (read with `get`): `true` means each such set is dropped
    /// whatever its other labels, so a caller can skip relabeling them one by one (every
    /// target of a discovery group whose group labels a selector rule rejects). Rules
    /// that only write literal labels are stepped over while no judged rule reads what
    /// they wrote; the first other rule ends the judgement with `false`.
    pub fn drops_all_sharing<'a>(
        &self,
        get: &dyn Fn(&str) -> Option<&'a str>,
        shared: &dyn Fn(&str) -> bool,
    ) -> bool {
        let mut written = Vec::new();
        let mut value = String::new();
        for rule in self.rules.iter() {
            match rule.shared_verdict(get, shared, &mut written, &mut value) {
                Ok(Some(false)) => return true,
                Ok(Some(true) | None) => {}
                Err(()) => return false,
            }
        }
        false
    }

    /// True when there are no rules (processing changes nothing).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    fn run(&self, labels: &mut LabelsBuilder, scratch: &mut Scratch) -> bool {
        self.rules.iter().all(|r| r.apply(labels, scratch))
    }
}
