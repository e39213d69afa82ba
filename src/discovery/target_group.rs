//! Target groups and the Prometheus JSON/YAML list format used by file_sd and http_sd.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::labels::Labels;

/// The label holding a target's `host:port`.
pub const ADDRESS_LABEL: &str = "__address__";

/// A provider's full list of groups. Each group is shared, not copied, from the provider
/// through the discovery manager to the scrape pools: a large list (10,000 pods) then
/// exists once, and a rebuild can reuse the groups that did not change.
pub type SharedGroups = Arc<[Arc<TargetGroup>]>;

/// Wraps each group for sharing.
pub fn share(groups: Vec<TargetGroup>) -> SharedGroups {
    groups.into_iter().map(Arc::new).collect()
}

/// A set of targets sharing labels, identified by `source` within its provider.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetGroup {
    /// Identifies the group within its provider (`"0"`, `"path:1"`, `"url:0"`).
    pub source: String,
    /// One label set per target; each has at least `__address__`. Kept in the compact
    /// wire form: a large discovery (10,000 pods of ~40 labels) is about half the size of
    /// string maps. Empty values are absent, as after Prometheus' `PopulateLabels`.
    pub targets: Vec<Labels>,
    /// Labels common to every target of the group.
    pub labels: Labels,
}

/// The compact form of a label map (empty values dropped).
pub fn labels_of(map: &BTreeMap<String, String>) -> Labels {
    Labels::from_pairs(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

impl TargetGroup {
    /// A group whose targets are given by address only.
    pub fn from_addresses<I, S>(
        source: String,
        addresses: I,
        labels: &BTreeMap<String, String>,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let targets = addresses
            .into_iter()
            .map(|a| {
                let a: String = a.into();
                Labels::from_pairs([(ADDRESS_LABEL, a.as_str())])
            })
            .collect();
        TargetGroup {
            source,
            targets,
            labels: labels_of(labels),
        }
    }
}

/// Why a JSON or YAML list of target groups was refused.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not valid JSON of the expected shape.
    #[error("invalid json: {0}")]
    Json(#[from] serde_json::Error),
    /// Not valid YAML of the expected shape.
    #[error("invalid yaml: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// A list item is `null` (Prometheus: "nil target group item found").
    #[error("nil target group item found at index {0}")]
    NullGroup(usize),
    /// A label name is empty.
    #[error("empty label name in target group {0}")]
    EmptyLabelName(usize),
    /// A YAML label value is a list or a map, not a scalar.
    #[error("label {name:?} in target group {index} is not a scalar")]
    NonScalarLabel {
        /// Index of the group in the list.
        index: usize,
        /// The label's name.
        name: String,
    },
}

/// The on-disk and on-the-wire shape of one group.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup<L> {
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, L>>,
}

/// Parses a JSON array of `{targets, labels}`; each group gets `source` `"{prefix}:{i}"`
/// and the extra label `meta` (e.g. `__meta_url`).
pub(crate) fn parse_json(
    bytes: &[u8],
    prefix: &str,
    meta: (&str, &str),
) -> Result<Vec<TargetGroup>, ParseError> {
    let raw: Option<Vec<Option<RawGroup<String>>>> = serde_json::from_slice(bytes)?;
    finish(raw.unwrap_or_default(), prefix, meta, |_, _, v| Ok(v))
}

/// Parses a YAML list of `{targets, labels}`, like [`parse_json`]. An empty document is an
/// empty list. Scalar label values that are not strings (`port: 80`) become their text,
/// as Go's YAML decoder does.
pub(crate) fn parse_yaml(
    bytes: &[u8],
    prefix: &str,
    meta: (&str, &str),
) -> Result<Vec<TargetGroup>, ParseError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let raw: Option<Vec<Option<RawGroup<serde_yaml_ng::Value>>>> =
        serde_yaml_ng::from_slice(bytes)?;
    finish(raw.unwrap_or_default(), prefix, meta, |index, name, v| {
        use serde_yaml_ng::Value;
        match v {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Null => Ok(String::new()),
            _ => Err(ParseError::NonScalarLabel {
                index,
                name: name.to_string(),
            }),
        }
    })
}

fn finish<L>(
    raw: Vec<Option<RawGroup<L>>>,
    prefix: &str,
    (meta_name, meta_value): (&str, &str),
    value: impl Fn(usize, &str, L) -> Result<String, ParseError>,
) -> Result<Vec<TargetGroup>, ParseError> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, g) in raw.into_iter().enumerate() {
        let g = g.ok_or(ParseError::NullGroup(i))?;
        let mut labels = BTreeMap::new();
        for (name, v) in g.labels.unwrap_or_default() {
            if name.is_empty() {
                return Err(ParseError::EmptyLabelName(i));
            }
            let v = value(i, &name, v)?;
            labels.insert(name, v);
        }
        labels.insert(meta_name.to_string(), meta_value.to_string());
        out.push(TargetGroup::from_addresses(
            format!("{prefix}:{i}"),
            g.targets.unwrap_or_default(),
            &labels,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: (&str, &str) = ("__meta_x", "src");

    #[test]
    fn json_and_yaml_agree() {
        let json = br#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}, {"targets": []}]"#;
        let yaml = b"- targets: ['a:1', 'b:2']\n  labels:\n    env: prod\n- targets: []\n";
        let j = parse_json(json, "p", META).unwrap();
        let y = parse_yaml(yaml, "p", META).unwrap();
        assert_eq!(j, y);
        assert_eq!(j.len(), 2);
        assert_eq!(j[0].source, "p:0");
        assert_eq!(j[1].source, "p:1");
        assert_eq!(j[0].targets[1].get(ADDRESS_LABEL).unwrap(), "b:2");
        assert_eq!(j[0].labels.get("env").unwrap(), "prod");
        assert_eq!(j[1].labels.get("__meta_x").unwrap(), "src");
    }

    #[test]
    fn parse_cases() {
        type Case = (
            &'static str,
            &'static [u8],
            bool,
            Result<usize, &'static str>,
        );
        let cases: &[Case] = &[
            ("yaml empty file", b"", false, Ok(0)),
            ("yaml null", b"null\n", false, Ok(0)),
            (
                "yaml numeric label",
                b"- targets: [a]\n  labels: {port: 80}\n",
                false,
                Ok(1),
            ),
            (
                "yaml unknown field",
                b"- targets: [a]\n  extra: 1\n",
                false,
                Err("unknown field"),
            ),
            (
                "yaml null item",
                b"- targets: [a]\n-\n",
                false,
                Err("nil target group"),
            ),
            (
                "yaml nested label",
                b"- labels: {a: [1]}\n",
                false,
                Err("not a scalar"),
            ),
            ("json null item", b"[null]", true, Err("nil target group")),
            (
                "json unknown field",
                br#"[{"targets":[],"x":1}]"#,
                true,
                Err("unknown field"),
            ),
            (
                "json numeric label",
                br#"[{"labels":{"a":1}}]"#,
                true,
                Err("invalid json"),
            ),
            (
                "json empty label name",
                br#"[{"labels":{"":"v"}}]"#,
                true,
                Err("empty label"),
            ),
            (
                "json not a list",
                br#"{"targets":[]}"#,
                true,
                Err("invalid json"),
            ),
            (
                "json truncated",
                br#"[{"targets":["#,
                true,
                Err("invalid json"),
            ),
        ];
        for (name, input, json, want) in cases {
            let got = if *json {
                parse_json(input, "p", META)
            } else {
                parse_yaml(input, "p", META)
            };
            match (got, want) {
                (Ok(g), Ok(n)) => assert_eq!(g.len(), *n, "case {name}"),
                (Err(e), Err(msg)) => assert!(e.to_string().contains(msg), "case {name}: {e}"),
                (got, want) => panic!("case {name}: got {got:?}, want {want:?}"),
            }
        }
        let g = parse_yaml(
            b"- targets: [a]\n  labels: {port: 80, on: true}\n",
            "p",
            META,
        )
        .unwrap();
        assert_eq!(g[0].labels.get("port").unwrap(), "80");
    }
}
