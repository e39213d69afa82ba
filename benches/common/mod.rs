//! Shared by the benches: series shaped like `../shared/bench/gen_targets.py` output.

use shoal::labels::Labels;
use shoal::series::Series;

/// Series like gen_targets.py: 50% counters, 35% histogram, 15% gauges, over 4 targets.
pub fn series(count: usize) -> Vec<Series> {
    let methods = ["GET", "POST", "PUT", "DELETE"];
    let codes = ["200", "201", "400", "404", "500"];
    let buckets = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
    ];
    let mut out = Vec::with_capacity(count);
    let mut target = 0;
    while out.len() < count {
        let instance = format!("10.0.{}.{}:8080", target / 250, target % 250);
        let job = "api-server";
        let per_target = 500;
        let mut n = 0;
        let mut i = 0;
        while n < per_target / 2 {
            let handler = format!("/api/v1/item{}", i % 40);
            let shard = (i / 800).to_string();
            out.push(Series::new(Labels::from_pairs([
                ("__name__", "http_requests_total"),
                ("code", codes[(i / 160) % 5]),
                ("handler", handler.as_str()),
                ("instance", instance.as_str()),
                ("job", job),
                ("method", methods[(i / 40) % 4]),
                ("shard", shard.as_str()),
            ])));
            n += 1;
            i += 1;
        }
        let mut j = 0;
        while n < per_target * 85 / 100 {
            let handler = format!("/api/v1/item{}", j % 40);
            let shard = (j / 40).to_string();
            for le in buckets {
                out.push(Series::new(Labels::from_pairs([
                    ("__name__", "http_request_duration_seconds_bucket"),
                    ("handler", handler.as_str()),
                    ("instance", instance.as_str()),
                    ("job", job),
                    ("le", le),
                    ("method", "GET"),
                    ("shard", shard.as_str()),
                ])));
                n += 1;
            }
            j += 1;
        }
        let mut k = 0;
        while n < per_target {
            let queue = format!("q{k}");
            let prio = (k % 3).to_string();
            out.push(Series::new(Labels::from_pairs([
                ("__name__", "app_queue_depth"),
                ("instance", instance.as_str()),
                ("job", job),
                ("priority", prio.as_str()),
                ("queue", queue.as_str()),
            ])));
            n += 1;
            k += 1;
        }
        target += 1;
    }
    out.truncate(count);
    out
}
