//! Prometheus Operator objects (ServiceMonitor, PodMonitor, Probe, ScrapeConfig) turned into
//! jobs, as the operator generates them for a PrometheusAgent (v0.9x, Prometheus 3.x),
//! without its sharding rules: the cluster shards the targets.
//!
//! [`Watches`] follows the objects, namespaces, Secrets and ConfigMaps; [`generate`] is a
//! pure function of a [`Snapshot`], the `prometheus_operator` block and the file's jobs;
//! the agent applies the result like a reload, so unchanged jobs keep their loops.

mod generate;
pub mod objects;
mod watch;

pub use generate::{
    Generation, Inputs, Kind, ObjectStatus, RawObject, Reject, SecretSource, generate,
    parse_scrape_class,
};
pub use watch::{KindState, Snapshot, Watches, default_namespace};

use crate::config::{HttpClientConfig, ScrapeConfig};

/// Whether `job` is a job name the generator makes.
pub fn is_generated_name(job: &str) -> bool {
    ["serviceMonitor/", "podMonitor/", "probe/", "scrapeConfig/"]
        .iter()
        .any(|p| job.starts_with(p))
}

/// Whether `job` holds a basic-auth user name (which may come from a Secret).
pub fn shows_secret_user(job: &ScrapeConfig) -> bool {
    let has = |h: &HttpClientConfig| {
        h.basic_auth
            .as_ref()
            .is_some_and(|b| !b.username.is_empty())
    };
    has(&job.http)
        || job.http_sd_configs.iter().any(|h| has(&h.http))
        || job.kubernetes_sd_configs.iter().any(|k| has(&k.http))
}

/// Hides what came from Secrets but is not typed as secret (a basic-auth user name), for
/// every place a generated job is shown or hashed for gossip.
pub fn redact_for_display(job: &mut ScrapeConfig) {
    let hide = |h: &mut HttpClientConfig| {
        if let Some(b) = &mut h.basic_auth
            && !b.username.is_empty()
        {
            b.username = "<secret>".into();
        }
    };
    hide(&mut job.http);
    for h in &mut job.http_sd_configs {
        hide(&mut h.http);
    }
    for k in &mut job.kubernetes_sd_configs {
        hide(&mut k.http);
    }
}
