mod common;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
struct Counting;
static ALLOC: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let n = ALLOC.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(n, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        ALLOC.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}
#[global_allocator]
static A: Counting = Counting;
fn mb(n: usize) -> f64 {
    n as f64 / 1048576.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe() {
    let api = common::kube_api::KubeApi::start().await;
    for i in 0..10000 {
        api.apply("pods", include_pod(i));
    }
    let base = ALLOC.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    println!("server objects: {:.1} MiB", mb(base));
    let text = format!(
        "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n      - api_server: {}\n        role: pod\n",
        api.url()
    );
    let cfg = shoal::config::load_str(&text, std::path::Path::new("t.yml")).unwrap();
    let k = cfg.scrape_configs[0].kubernetes_sd_configs[0].clone();
    let reg = shoal::discovery::kubernetes::Registry::default();
    let p = shoal::discovery::kubernetes::KubernetesProvider::new(&k, &reg, &Default::default())
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let (_h, c) = shoal::discovery::cancel_pair();
    tokio::spawn(shoal::discovery::Provider::run(Box::new(p), tx, c));
    let g = rx.recv().await.unwrap();
    let now = ALLOC.load(Ordering::Relaxed);
    println!(
        "groups {} ; live after first send: +{:.1} MiB, peak +{:.1} MiB",
        g.len(),
        mb(now - base),
        mb(PEAK.load(Ordering::Relaxed) - base)
    );
    let before = ALLOC.load(Ordering::Relaxed);
    drop(g);
    println!(
        "one copy of groups: {:.1} MiB",
        mb(before - ALLOC.load(Ordering::Relaxed))
    );
}
fn include_pod(i: usize) -> serde_json::Value {
    let s = std::fs::read_to_string("/tmp/pod.json")
        .unwrap()
        .replace("NAME", &format!("web-{i:05}"));
    serde_json::from_str(&s).unwrap()
}
