//! Turning a segment's records into samples: Series records of an earlier process decoded
//! into a per-segment map, Samples records resolved against a ref lookup.

use super::live::RefMap;
use super::record::{SamplesIter, SeriesIter};
use crate::labels::Labels;
use crate::series::{Sample, Series, SeriesRef};

/// Adds a Series record's definitions (labels decoded from disk); false if the record is
/// malformed.
pub(crate) fn define(series: &mut RefMap<Series>, payload: &[u8]) -> bool {
    for def in SeriesIter::new(payload) {
        let Ok((id, wire)) = def else { return false };
        let Some(labels) = Labels::from_wire(wire) else {
            return false;
        };
        series.insert(id, Series::restored(SeriesRef(id), labels));
    }
    true
}

/// Decodes a Samples record into `out`: (samples consumed, unknown refs, newest timestamp,
/// well-formed).
pub(crate) fn resolve<'a>(
    series: impl Fn(u64) -> Option<&'a Series>,
    payload: &[u8],
    out: &mut Vec<Sample>,
) -> (u64, u64, i64, bool) {
    let Ok(iter) = SamplesIter::new(payload) else {
        return (0, 0, i64::MIN, false);
    };
    let (mut n, mut unknown, mut newest) = (0, 0, i64::MIN);
    for s in iter {
        let Ok((id, ts, bits)) = s else {
            return (n, unknown, newest, false);
        };
        n += 1;
        match series(id) {
            Some(series) => {
                newest = newest.max(ts);
                out.push(Sample {
                    series: series.clone(),
                    timestamp: ts,
                    value: f64::from_bits(bits),
                });
            }
            None => unknown += 1,
        }
    }
    (n, unknown, newest, true)
}
