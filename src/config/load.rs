//! Loading: read, parse (with positions), check, locate failures, fill defaults, resolve paths.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::ConfigError;
use super::glob::expand_glob;
use super::locate::locate;
use super::resolve::{self, expand_env};
use super::types::{Config, ScrapeConfig};
use super::validate::{self, Issue, Seg};

/// Reads and loads the configuration file at `path`. See [`load_str`].
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = read(path)?;
    load_str(&text, path)
}

/// Loads a configuration from `text`; `origin` is the file it came from, used in error
/// messages and to resolve relative paths (against its directory, as Prometheus does).
///
/// The result has every defaulted field filled (see the invariant in [`super::types`]), the
/// jobs of `scrape_config_files` appended to `scrape_configs`, and `warnings` listing what
/// was accepted but is not acted upon.
pub fn load_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
    load_str_with_env(text, origin, &|name| std::env::var(name).ok())
}

/// [`load_str`] with the environment (for `external_labels` expansion) given explicitly.
pub(crate) fn load_str_with_env(
    text: &str,
    origin: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let main = Source { file: origin, text };
    let mut cfg: Config = parse(&main)?;

    validate::check_top_level(&cfg).map_err(|i| main.error(i))?;
    validate::check_global(&cfg.global).map_err(|i| main.error(i))?;
    let dir = origin.parent().unwrap_or(Path::new(""));

    // Checks need the job's own file: every job remembers where it came from until then.
    let mut jobs: Vec<(ScrapeConfig, Source<'_>, usize)> = std::mem::take(&mut cfg.scrape_configs)
        .into_iter()
        .enumerate()
        .map(|(i, sc)| (Arc::unwrap_or_clone(sc), main.clone(), i))
        .collect();
    let extra = read_scrape_config_files(&mut cfg, dir)?;
    for (file, text) in &extra {
        let src = Source { file, text };
        let parsed: ScrapeConfigsFile = parse(&src)?;
        jobs.extend(
            parsed
                .scrape_configs
                .into_iter()
                .enumerate()
                .map(|(i, sc)| (sc, src.clone(), i)),
        );
    }

    let mut first_seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for (sc, src, i) in &mut jobs {
        let at = [Seg::Key("scrape_configs".into()), Seg::Index(*i)];
        for (j, k) in sc.kubernetes_sd_configs.iter_mut().enumerate() {
            let prefix = [
                at.to_vec(),
                vec![Seg::Key("kubernetes_sd_configs".into()), Seg::Index(j)],
            ]
            .concat();
            super::kubernetes::expand_selectors(k, env).map_err(|e| src.error(e.under(&prefix)))?;
        }
    }
    for (sc, src, i) in &jobs {
        let at = [Seg::Key("scrape_configs".into()), Seg::Index(*i)];
        validate::check_scrape(sc, &cfg.global).map_err(|e| src.error(e.under(&at)))?;
        if let Some(first) = first_seen.get(sc.job_name.as_str()) {
            let mut message = format!(
                "found multiple scrape configs with job name {:?}",
                sc.job_name
            );
            if *first != src.file {
                message.push_str(&format!(", first found in {}", first.display()));
            }
            let issue = Issue {
                path: at.to_vec(),
                message,
            };
            return Err(src.error(issue.with_key("job_name")));
        }
        first_seen.insert(&sc.job_name, src.file);
    }

    if let Some(op) = &cfg.prometheus_operator {
        let at = [Seg::Key("prometheus_operator".into())];
        super::operator::check_operator(op).map_err(|e| main.error(e.under(&at)))?;
        validate::check_http(&op.http).map_err(|e| main.error(e.under(&at)))?;
    }

    let mut names = BTreeMap::new();
    for (i, rw) in cfg.remote_write.iter().enumerate() {
        let at = [Seg::Key("remote_write".into()), Seg::Index(i)];
        validate::check_remote_write(rw).map_err(|e| main.error(e.under(&at)))?;
        if let Some(name) = rw.name.as_deref().filter(|n| !n.is_empty())
            && names.insert(name, i).is_some()
        {
            let issue = Issue {
                path: at.to_vec(),
                message: format!("found multiple remote write configs with name {name:?}"),
            };
            return Err(main.error(issue.with_key("name")));
        }
    }

    let mut warnings = Vec::new();
    for (k, v) in cfg.global.external_labels.iter_mut() {
        *v = expand_env(v, env, &mut |var| {
            warnings.push(format!(
                "external label {k:?}: environment variable {var:?} is empty or unset"
            ));
        });
    }
    cfg.scrape_configs = jobs
        .into_iter()
        .map(|(mut sc, src, _)| {
            resolve::set_job_directory(&mut sc, src.file.parent().unwrap_or(Path::new("")));
            Arc::new(sc)
        })
        .collect();
    resolve::apply_defaults(&mut cfg, dir, &mut warnings);
    cfg.warnings = warnings;
    Ok(cfg)
}

/// One YAML text and the file it came from.
#[derive(Clone)]
struct Source<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    /// The error for a failed check, positioned at the offending key.
    fn error(&self, issue: Issue) -> ConfigError {
        ConfigError::invalid(self.file, locate(self.text, &issue.path), issue.message)
    }
}

impl Issue {
    fn with_key(mut self, k: &str) -> Issue {
        self.path.push(Seg::Key(k.to_string()));
        self
    }
}

/// A file named by `scrape_config_files`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScrapeConfigsFile {
    #[serde(default)]
    scrape_configs: Vec<ScrapeConfig>,
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Resolves the globs (in place, against `dir`) and reads every matching file.
fn read_scrape_config_files(
    cfg: &mut Config,
    dir: &Path,
) -> Result<Vec<(PathBuf, String)>, ConfigError> {
    let mut out = Vec::new();
    for pattern in cfg.scrape_config_files.iter_mut() {
        resolve::join_dir(dir, pattern);
        for file in expand_glob(Path::new(pattern.as_str())) {
            let text = read(&file)?;
            out.push((file, text));
        }
    }
    Ok(out)
}

/// Deserializes a whole document with positions in errors. An empty document (or one with
/// only comments) is the default value, as in Prometheus.
fn parse<T: DeserializeOwned + Default>(src: &Source<'_>) -> Result<T, ConfigError> {
    match serde_yaml_ng::from_str::<Option<T>>(src.text) {
        Ok(v) => Ok(v.unwrap_or_default()),
        Err(e) => {
            // serde_yaml_ng applies `<<` merge keys only through `Value`, which has no
            // positions: use that path only for documents that need it.
            if src.text.contains("<<")
                && let Ok(v) = parse_merged::<T>(src.text)
            {
                return Ok(v);
            }
            Err(ConfigError::from_yaml(src.file, &e))
        }
    }
}

fn parse_merged<T: DeserializeOwned + Default>(text: &str) -> Result<T, serde_yaml_ng::Error> {
    let mut v: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)?;
    v.apply_merge()?;
    Option::<T>::deserialize(v).map(Option::unwrap_or_default)
}

/// A job generated outside the file (from Prometheus Operator objects): parsed, checked
/// and defaulted as a `scrape_configs` entry under `global` would be. The error names the
/// offending key's path inside the job.
pub fn generated_job(
    value: serde_yaml_ng::Value,
    global: &super::GlobalConfig,
) -> Result<ScrapeConfig, String> {
    let sc: ScrapeConfig = serde_yaml_ng::from_value(value).map_err(|e| e.to_string())?;
    validate::check_scrape(&sc, global).map_err(|issue| {
        let path: Vec<String> = issue
            .path
            .iter()
            .map(|s| match s {
                Seg::Key(k) => k.clone(),
                Seg::Index(i) => i.to_string(),
            })
            .collect();
        if path.is_empty() {
            issue.message
        } else {
            format!("{}: {}", path.join("."), issue.message)
        }
    })?;
    let mut sc = sc;
    resolve::resolve_scrape(&mut sc, global);
    Ok(sc)
}
