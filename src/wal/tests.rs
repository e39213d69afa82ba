use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::labels::Labels;
use crate::series::{Sample, SampleSink, Series, SeriesRef};

fn opts(dir: &Path, segment_size: u64, max_bytes: u64) -> WalOptions {
    WalOptions {
        dir: dir.join("wal"),
        segment_size,
        max_bytes,
        fsync_interval: Duration::from_millis(50),
    }
}

fn open(o: &WalOptions) -> (Wal, RepairReport, WalMetrics) {
    let m = WalMetrics::unregistered();
    let (w, r) = Wal::open(o.clone(), m.clone()).unwrap();
    (w, r, m)
}

fn series(n: usize, tag: &str) -> Vec<Series> {
    (0..n)
        .map(|i| {
            let i = i.to_string();
            Series::new(Labels::from_pairs([
                ("__name__", "m"),
                ("i", i.as_str()),
                ("run", tag),
            ]))
        })
        .collect()
}

fn scrape(series: &[Series], ts: i64) -> Vec<Sample> {
    series
        .iter()
        .enumerate()
        .map(|(i, s)| Sample {
            series: s.clone(),
            timestamp: ts,
            value: ts as f64 + i as f64 / 8.0,
        })
        .collect()
}

/// (labels, timestamp, value bits): comparable across processes' refs.
type Flat = (String, i64, u64);

fn flat(samples: &[Sample]) -> Vec<Flat> {
    samples
        .iter()
        .map(|s| {
            (
                s.series.labels().to_string(),
                s.timestamp,
                s.value.to_bits(),
            )
        })
        .collect()
}

fn read_all(r: &mut WalReader) -> (Vec<Sample>, Position) {
    let mut out = Vec::new();
    loop {
        let before = out.len();
        let pos = r.read(&mut out, 1000).unwrap();
        if out.len() == before {
            return (out, pos);
        }
    }
}

#[test]
fn round_trip_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, report, m) = open(&WalOptions::new(dir.path()));
    assert_eq!(report, RepairReport::default());
    let s = series(3, "a");
    let mut written = Vec::new();
    for ts in [1000, 2000, 3000] {
        let batch = scrape(&s, ts);
        wal.append(&batch).unwrap();
        written.extend(batch);
    }
    wal.append(&[]).unwrap();
    let mut r = wal.reader("ep", StartAt::Oldest).unwrap();
    let (got, pos) = read_all(&mut r);
    assert_eq!(flat(&got), flat(&written));
    assert_eq!(pos, wal.head());
    assert_eq!(m.samples_appended.get(), 9);
    assert!(matches!(
        wal.reader("ep", StartAt::Oldest),
        Err(ReaderError::InUse { .. })
    ));
    for bad in ["", "../x", "a/b", ".."] {
        assert!(matches!(
            wal.reader(bad, StartAt::Oldest),
            Err(ReaderError::InvalidId { .. })
        ));
    }
}

#[test]
fn rotation_makes_self_contained_segments() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path(), 512, 1 << 30);
    let (wal, _, _) = open(&o);
    let s = series(10, "a");
    let mut written = Vec::new();
    for ts in 0..40 {
        let batch = scrape(&s, ts);
        wal.append(&batch).unwrap();
        written.extend(batch);
    }
    let segs = wal.segments();
    assert!(segs.len() > 5, "{segs:?}");
    let mut r = wal.reader("all", StartAt::Oldest).unwrap();
    assert_eq!(flat(&read_all(&mut r).0), flat(&written));

    // A reader starting at a later segment resolves every ref it meets there.
    let later = Position {
        segment: segs[3],
        offset: 0,
    };
    std::fs::write(
        o.dir.join("readers/late"),
        format!("v1 {} 0\n", later.segment),
    )
    .unwrap();
    let mut late = wal.reader("late", StartAt::Oldest).unwrap();
    let (got, _) = read_all(&mut late);
    assert!(!got.is_empty());
    assert_eq!(flat(&got), flat(&written[written.len() - got.len()..]));
}

#[test]
fn reader_resumes_after_restart_without_duplicates_or_ref_collisions() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path(), 1024, 1 << 30);
    let old = series(5, "old");
    let mut written = Vec::new();
    let resumed_from;
    {
        let (wal, _, _) = open(&o);
        for ts in 0..20 {
            let batch = scrape(&old, ts);
            wal.append(&batch).unwrap();
            written.extend(batch);
        }
        let mut r = wal.reader("ep", StartAt::Oldest).unwrap();
        let mut out = Vec::new();
        let pos = r.read(&mut out, 37).unwrap();
        assert!(pos.offset > 0, "a mid-segment position: {pos:?}");
        r.commit(pos).unwrap();
        resumed_from = out.len();
        assert_eq!(flat(&out), flat(&written[..out.len()]));
    }
    // The next process allocates refs that collide with the old ones on purpose.
    let (wal, report, _) = open(&o);
    assert!(report.torn_tail.is_none() && report.corruptions.is_empty());
    assert_eq!(report.samples, 100);
    let new: Vec<Series> = old
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let i = i.to_string();
            Series::restored(
                SeriesRef(s.id().0),
                Labels::from_pairs([("__name__", "m"), ("i", i.as_str()), ("run", "new")]),
            )
        })
        .collect();
    for ts in 100..103 {
        let batch = scrape(&new, ts);
        wal.append(&batch).unwrap();
        written.extend(batch);
    }
    let mut r = wal.reader("ep", StartAt::Head).unwrap();
    assert_eq!(flat(&read_all(&mut r).0), flat(&written[resumed_from..]));
}

#[test]
fn torn_tail_is_cut_at_the_last_good_record() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path(), 1 << 20, 1 << 30);
    let s = series(4, "a");
    let seg;
    {
        let (wal, _, _) = open(&o);
        wal.append(&scrape(&s, 1)).unwrap();
        wal.append(&scrape(&s, 2)).unwrap();
        seg = wal.head().segment;
    }
    let path = o.dir.join(format!("{seg:020}"));
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len - 5).unwrap();
    drop(f);
    let (wal, report, m) = open(&o);
    let torn = report.torn_tail.unwrap();
    assert_eq!(torn.at.segment, seg);
    assert!(torn.bytes_lost > 0);
    assert_eq!(m.corruptions(), 1);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), torn.at.offset);
    let mut r = wal.reader("ep", StartAt::Oldest).unwrap();
    let (got, _) = read_all(&mut r);
    assert_eq!(flat(&got), flat(&scrape(&s, 1)));
}

#[test]
fn corrupted_middle_record_skips_to_next_segment() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path(), 300, 1 << 30);
    let s = series(3, "a");
    let mut batches = Vec::new();
    let first;
    {
        let (wal, _, _) = open(&o);
        first = wal.head().segment;
        for ts in 0..30 {
            let b = scrape(&s, ts);
            wal.append(&b).unwrap();
            batches.push((wal.head().segment, b));
        }
    }
    // Flip a byte in the last record of the first segment.
    let path = o.dir.join(format!("{first:020}"));
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    let (wal, report, m) = open(&o);
    assert_eq!(report.corruptions.len(), 1, "{report:?}");
    assert_eq!(report.corruptions[0].at.segment, first);
    assert!(report.torn_tail.is_none());
    let mut r = wal.reader("ep", StartAt::Oldest).unwrap();
    let (got, _) = read_all(&mut r);
    let in_first: Vec<Sample> = batches
        .iter()
        .filter(|(seg, _)| *seg == first)
        .flat_map(|(_, b)| b.clone())
        .collect();
    let rest: Vec<Sample> = batches
        .iter()
        .filter(|(seg, _)| *seg != first)
        .flat_map(|(_, b)| b.clone())
        .collect();
    let mut want = in_first[..in_first.len() - 3].to_vec();
    want.extend(rest);
    assert_eq!(flat(&got), flat(&want));
    assert_eq!(m.corruptions(), 2, "found at open and by the reader");
}

#[test]
fn truncation_waits_for_the_slowest_reader() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path(), 400, 1 << 30);
    let (wal, _, _) = open(&o);
    let mut fast = wal.reader("fast", StartAt::Oldest).unwrap();
    let mut slow = wal.reader("slow", StartAt::Oldest).unwrap();
    let s = series(4, "a");
    let mut written = Vec::new();
    for ts in 0..40 {
        let b = scrape(&s, ts);
        wal.append(&b).unwrap();
        written.extend(b);
    }
    let segs = wal.segments();
    assert!(segs.len() >= 6, "{segs:?}");
    let (all, end) = read_all(&mut fast);
    assert_eq!(all.len(), written.len());
    fast.commit(end).unwrap();
    assert_eq!(wal.truncate(), 0, "slow is still at the start");

    let mut part = Vec::new();
    let mut pos = slow.position();
    while pos.segment < segs[3] {
        pos = slow.read(&mut part, 1).unwrap();
    }
    slow.commit(pos).unwrap();
    assert_eq!(wal.truncate(), 3);
    assert_eq!(wal.segments()[0], segs[3]);
    let (rest, end) = read_all(&mut slow);
    part.extend(rest);
    assert_eq!(flat(&part), flat(&written));
    slow.commit(end).unwrap();
    wal.truncate();
    assert_eq!(wal.segments(), vec![wal.head().segment]);

    // A removed endpoint stops holding truncation back.
    assert_eq!(
        wal.reader_ids(),
        vec!["fast".to_string(), "slow".to_string()]
    );
    drop(slow);
    wal.remove_reader("slow").unwrap();
    assert!(!o.dir.join("readers/slow").exists());
    assert_eq!(wal.reader_ids(), vec!["fast".to_string()]);
}

#[test]
fn endpoints_not_yet_opened_hold_truncation_back() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path(), 300, 1 << 30);
    let s = series(4, "a");
    let mut written = Vec::new();
    {
        let (wal, _, _) = open(&o);
        drop(wal.reader("late", StartAt::Oldest).unwrap());
        for ts in 0..20 {
            let b = scrape(&s, ts);
            wal.append(&b).unwrap();
            written.extend(b);
        }
    }
    let (wal, _, _) = open(&o);
    let mut early = wal.reader("early", StartAt::Head).unwrap();
    let (_, end) = read_all(&mut early);
    early.commit(end).unwrap();
    assert_eq!(wal.truncate(), 0);
    let mut late = wal.reader("late", StartAt::Head).unwrap();
    assert_eq!(flat(&read_all(&mut late).0), flat(&written));
}

#[test]
fn disk_bound_drops_oldest_and_the_reader_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path(), 512, 2048);
    let (wal, _, m) = open(&o);
    let mut r = wal.reader("ep", StartAt::Oldest).unwrap();
    let s = series(8, "a");
    let mut written = Vec::new();
    for ts in 0..200 {
        let b = scrape(&s, ts);
        wal.append(&b).unwrap();
        written.extend(b);
    }
    let on_disk: u64 = std::fs::read_dir(&o.dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap())
        .filter(|md| md.is_file())
        .map(|md| md.len())
        .sum();
    assert!(on_disk <= o.max_bytes + o.segment_size + 200, "{on_disk}");
    let (got, _) = read_all(&mut r);
    let dropped = m.dropped("ep", WalDropReason::disk_bound);
    assert!(dropped > 0);
    assert_eq!(got.len() as u64 + dropped, written.len() as u64);
    // What arrives is the newest data, in order.
    assert_eq!(flat(&got), flat(&written[written.len() - got.len()..]));
}

#[tokio::test]
async fn tail_mode_wakes_on_append() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path(), 256, 1 << 30);
    let (wal, _, _) = open(&o);
    let wal = Arc::new(wal);
    let mut r = wal.reader("ep", StartAt::Head).unwrap();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < 30 {
            r.next_batch(&mut got, 100).await.unwrap();
        }
        got
    });
    let s = series(3, "a");
    let mut written = Vec::new();
    for ts in 0..10 {
        tokio::task::yield_now().await;
        let b = scrape(&s, ts);
        wal.append(&b).unwrap();
        written.extend(b);
    }
    let got = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(flat(&got), flat(&written));
}

#[test]
fn unwritable_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root ignores mode bits: fall back to a read-only system directory.
    let target = if std::fs::create_dir(ro.join("probe")).is_ok() {
        Path::new("/sys/shoal-wal-test").to_path_buf()
    } else {
        ro.clone()
    };
    let err = Wal::open(WalOptions::new(&target), WalMetrics::unregistered()).unwrap_err();
    assert!(matches!(err, OpenError::NotWritable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("not writable") && msg.contains(&*target.to_string_lossy()),
        "{msg}"
    );
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();

    let bad = WalOptions {
        segment_size: 10,
        ..WalOptions::new(dir.path())
    };
    assert!(matches!(
        Wal::open(bad, WalMetrics::unregistered()),
        Err(OpenError::Invalid { .. })
    ));
}

#[test]
fn sink_counts_write_failures_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path(), 256, 1 << 30);
    let (wal, _, m) = open(&o);
    let wal = Arc::new(wal);
    let sink = WalSink::new(wal.clone(), m.clone());
    let s = series(20, "a");
    sink.append(&scrape(&s, 1));
    // The directory vanishes: the next rotation cannot create a segment.
    std::fs::rename(&o.dir, dir.path().join("gone")).unwrap();
    sink.append(&scrape(&s, 2));
    assert_eq!(m.dropped("", WalDropReason::write_error), 20);
    std::fs::rename(dir.path().join("gone"), &o.dir).unwrap();
    sink.append(&scrape(&s, 3));
    assert_eq!(m.dropped("", WalDropReason::write_error), 20);
    let mut r = wal.reader("ep", StartAt::Oldest).unwrap();
    let mut want = scrape(&s, 1);
    want.extend(scrape(&s, 3));
    assert_eq!(flat(&read_all(&mut r).0), flat(&want));
}

#[test]
fn lag_metrics_follow_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, m) = open(&opts(dir.path(), 1 << 20, 1 << 30));
    let mut r = wal.reader("ep", StartAt::Oldest).unwrap();
    let s = series(10, "a");
    wal.append(&scrape(&s, 1_000)).unwrap();
    wal.append(&scrape(&s, 31_000)).unwrap();
    let mut out = Vec::new();
    let p = r.read(&mut out, 10).unwrap();
    r.commit(p).unwrap();
    let labels = metrics::ReaderLabels {
        endpoint: "ep".into(),
    };
    assert_eq!(m.reader_lag_samples.get_or_create(&labels).get(), 10);
    assert_eq!(m.reader_lag_seconds.get_or_create(&labels).get(), 30.0);
    let (_, end) = read_all(&mut r);
    r.commit(end).unwrap();
    assert_eq!(m.reader_lag_samples.get_or_create(&labels).get(), 0);
    assert_eq!(m.reader_lag_seconds.get_or_create(&labels).get(), 0.0);
}

#[test]
fn delivered_counts_survive_a_reopen_and_a_plain_commit_clears_them() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path(), 1 << 20, 1 << 30);
    let s = series(2, "a");
    let (end, first) = {
        let (wal, _, _) = open(&o);
        wal.append(&scrape(&s, 1)).unwrap();
        let mut r = wal.reader("rw", StartAt::Oldest).unwrap();
        let first = r.read(&mut Vec::new(), 1).unwrap();
        wal.append(&scrape(&s, 2)).unwrap();
        let (_, end) = read_all(&mut r);
        let d = Delivered {
            committed: first,
            extra: vec![1, 0],
            until: end,
        };
        // Not fsynced: a killed process keeps it (the page cache does).
        r.store(&d, false).unwrap();
        (end, first)
    };
    let (wal, _, _) = open(&o);
    let mut r = wal.reader("rw", StartAt::Oldest).unwrap();
    assert_eq!(r.committed(), first);
    assert_eq!(r.delivered().extra, [1, 0]);
    assert_eq!(r.delivered().until, end);
    r.commit(end).unwrap();
    assert!(!r.delivered().has_extra());
}

#[test]
fn a_torn_ack_file_falls_back_to_the_durable_position() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path(), 1 << 20, 1 << 30);
    let s = series(2, "a");
    let (first, end) = {
        let (wal, _, _) = open(&o);
        wal.append(&scrape(&s, 1)).unwrap();
        wal.append(&scrape(&s, 2)).unwrap();
        let mut r = wal.reader("rw", StartAt::Oldest).unwrap();
        let first = r.read(&mut Vec::new(), 1).unwrap();
        r.commit(first).unwrap();
        let (_, end) = read_all(&mut r);
        r.store(&Delivered::at(end), false).unwrap();
        (first, end)
    };
    let ack = o.dir.join("readers/rw.ack");
    let kept = std::fs::read(&ack).unwrap();
    // Acknowledged without fsync, the process killed: the ack file has the newest.
    {
        let (wal, _, _) = open(&o);
        assert_eq!(wal.reader("rw", StartAt::Oldest).unwrap().committed(), end);
    }
    // A power loss tore it: the durable file (one second older at most) is used.
    std::fs::write(
        o.dir.join("readers/rw"),
        format!("v1 {} {}\n", first.segment, first.offset),
    )
    .unwrap();
    std::fs::write(&ack, &kept[..kept.len() / 2]).unwrap();
    let (wal, _, _) = open(&o);
    assert_eq!(
        wal.reader("rw", StartAt::Oldest).unwrap().committed(),
        first
    );
    assert_eq!(
        wal.reader_ids(),
        ["rw"],
        "the ack file is no reader of its own"
    );
}
