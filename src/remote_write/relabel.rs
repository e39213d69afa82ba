//! `write_relabel_configs` per endpoint, with a per-shard cache so each series is
//! relabeled once.
//!
//! Only used when the endpoint has rules: endpoints without them send the scraped labels.

use std::collections::HashMap;
use std::sync::Arc;

use crate::labels::Labels;
use crate::relabel::{RelabelConfig, RelabelError, Rules};
use crate::series::{Series, SeriesRef};

/// `write_relabel_configs` that do not compile.
#[derive(Debug, thiserror::Error)]
#[error("write_relabel_configs: {0}")]
pub struct WriteRelabelError(#[from] pub RelabelError);

/// Compiled `write_relabel_configs` of one endpoint.
#[derive(Debug)]
pub(crate) struct WriteRules {
    rules: Rules,
}

impl WriteRules {
    /// Compiles the rules; `None` when there are none (the endpoint skips relabeling).
    pub fn compile(cfgs: &[RelabelConfig]) -> Result<Option<Self>, WriteRelabelError> {
        if cfgs.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self {
            rules: Rules::compile(cfgs)?,
        }))
    }
}

/// The labels to send for `labels`, or `None` when the rules drop the series or leave
/// no label at all (Prometheus' queue manager drops those too).
fn relabel_series(rules: &WriteRules, labels: &Labels) -> Option<Labels> {
    rules.rules.process_labels(labels).filter(|l| !l.is_empty())
}

/// Relabeled labels per series, owned by one shard (series are sharded by id, so no
/// locking). Entries of series that no longer exist are purged as the map grows.
#[derive(Debug)]
pub(crate) struct RelabelCache {
    rules: Arc<WriteRules>,
    entries: HashMap<SeriesRef, (Series, Option<Labels>)>,
    purge_at: usize,
}

const MIN_PURGE_AT: usize = 1024;

impl RelabelCache {
    /// An empty cache for `rules`.
    pub fn new(rules: Arc<WriteRules>) -> Self {
        Self {
            rules,
            entries: HashMap::new(),
            purge_at: MIN_PURGE_AT,
        }
    }

    /// The labels to send for `series`, or `None` if it is dropped.
    pub fn get(&mut self, series: &Series) -> Option<&Labels> {
        if self.entries.len() >= self.purge_at && !self.entries.contains_key(&series.id()) {
            // A series only this cache still holds is gone everywhere else.
            self.entries.retain(|_, (s, _)| !s.is_unique());
            // Doubling keeps purging amortised O(1) per lookup.
            self.purge_at = (self.entries.len() * 2).max(MIN_PURGE_AT);
        }
        let rules = &self.rules;
        self.entries
            .entry(series.id())
            .or_insert_with(|| {
                (
                    series.clone(),
                    relabel_series(rules, &series.labels().to_labels()),
                )
            })
            .1
            .as_ref()
    }

    /// Number of cached series.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Pairs<'a> = &'a [(&'a str, &'a str)];

    fn rule(action: &str, src: &[&str], regex: &str) -> RelabelConfig {
        RelabelConfig {
            action: Some(action.into()),
            source_labels: src.iter().map(|s| s.to_string()).collect(),
            regex: Some(regex.into()),
            ..Default::default()
        }
    }

    #[test]
    fn keep_and_drop() {
        let rules = WriteRules::compile(&[
            rule("keep", &["__name__"], "up|http_.*"),
            rule("drop", &["code"], "5.."),
        ])
        .unwrap()
        .unwrap();
        let cases: &[(&str, Pairs, bool)] = &[
            ("kept", &[("__name__", "up")], true),
            ("not kept", &[("__name__", "other")], false),
            ("dropped", &[("__name__", "http_x"), ("code", "500")], false),
            ("anchored", &[("__name__", "xup")], false),
        ];
        for (name, labels, kept) in cases {
            let l = Labels::from_pairs(labels.iter().copied());
            assert_eq!(relabel_series(&rules, &l).is_some(), *kept, "{name}");
        }
        assert!(WriteRules::compile(&[]).unwrap().is_none());
        assert!(WriteRules::compile(&[rule("hashmod", &[], "x")]).is_err());
        assert!(WriteRules::compile(&[rule("keep", &[], "(")]).is_err());
    }

    #[test]
    fn cache_purges_dead_series() {
        let rules = WriteRules::compile(&[rule("keep", &["__name__"], "a.*")])
            .unwrap()
            .unwrap();
        let mut cache = RelabelCache::new(Arc::new(rules));
        let keep = Series::new(Labels::from_pairs([("__name__", "alive")]));
        assert!(cache.get(&keep).is_some());
        for i in 0..MIN_PURGE_AT - 1 {
            let name = format!("b{i}");
            let s = Series::new(Labels::from_pairs([("__name__", name.as_str())]));
            assert!(cache.get(&s).is_none());
        }
        assert_eq!(cache.len(), MIN_PURGE_AT);
        let next = Series::new(Labels::from_pairs([("__name__", "another")]));
        assert!(cache.get(&next).is_some());
        // Only the live series remain.
        assert_eq!(cache.len(), 2);
    }
}
