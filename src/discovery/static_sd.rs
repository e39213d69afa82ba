//! `static_configs`: fixed groups, sources `"0"`, `"1"`, ... in config order.

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::{Cancel, Provider, SharedGroups, TargetGroup, share};
use crate::config::StaticConfig;

/// The static groups of one job.
#[derive(Debug)]
pub struct StaticProvider {
    groups: SharedGroups,
}

impl StaticProvider {
    /// One group per `static_configs` entry.
    pub fn new(configs: &[StaticConfig]) -> Self {
        let groups: Vec<TargetGroup> = configs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                TargetGroup::from_addresses(i.to_string(), c.targets.iter().cloned(), &c.labels)
            })
            .collect();
        StaticProvider {
            groups: share(groups),
        }
    }
}

impl Provider for StaticProvider {
    fn mechanism(&self) -> &'static str {
        "static"
    }

    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<SharedGroups>,
        cancel: Cancel,
    ) -> BoxFuture<'static, ()> {
        async move {
            tokio::select! {
                _ = cancel.cancelled() => return,
                sent = tx.send(self.groups) => if sent.is_err() { return },
            }
            cancel.cancelled().await;
        }
        .boxed()
    }
}
