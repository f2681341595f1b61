//! The queue: order, exponential backoff, cluster events, stale entries.
use std::time::{Duration, Instant};

use crate::scheduler::queue::Queue;

fn q() -> Queue {
    Queue::new(Duration::from_secs(1), Duration::from_secs(10))
}

#[test]
fn first_in_first_out_without_duplicates() {
    let mut q = q();
    q.add("a");
    q.add("b");
    q.add("a");
    assert_eq!(q.pop().as_deref(), Some("a"));
    assert_eq!(q.pop().as_deref(), Some("b"));
    assert_eq!(q.pop(), None);
    assert_eq!(q.len(), 2, "in flight until done");
    q.done("a");
    q.done("b");
    assert!(q.is_empty());
}

#[test]
fn backoff_doubles_up_to_the_maximum() {
    let q = q();
    let secs: Vec<u64> = (1..=6).map(|a| q.backoff_for(a).as_secs()).collect();
    assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
    let mut q = Queue::new(Duration::from_millis(100), Duration::from_secs(10));
    let now = Instant::now();
    q.add("a");
    q.pop();
    assert_eq!(q.backoff("a", now), Duration::from_millis(100));
    assert_eq!(q.next_deadline(), Some(now + Duration::from_millis(100)));
    q.flush(now + Duration::from_millis(50));
    assert_eq!(q.pop(), None);
    q.flush(now + Duration::from_millis(100));
    assert_eq!(q.pop().as_deref(), Some("a"));
    assert_eq!(q.backoff("a", now), Duration::from_millis(200));
    assert_eq!(q.attempts("a"), 2);
}

#[test]
fn cluster_events_skip_the_backoff() {
    let mut q = q();
    let now = Instant::now();
    for k in ["a", "b", "c"] {
        q.add(k);
        q.pop();
        q.backoff(k, now);
    }
    q.add("d");
    assert_eq!(q.move_all_to_active(), 3);
    assert_eq!(q.next_deadline(), None);
    let order: Vec<String> = std::iter::from_fn(|| q.pop()).collect();
    assert_eq!(order.len(), 4);
    assert_eq!(order[0], "d");
    // A pod in flight is not touched by a cluster event or an update.
    assert_eq!(q.move_all_to_active(), 0);
    q.activate("a");
    assert_eq!(q.pop(), None);
    q.retry_now("a");
    assert_eq!(q.pop().as_deref(), Some("a"));
}

#[test]
fn forgotten_pods_leave_no_stale_entries() {
    let mut q = q();
    let now = Instant::now();
    q.add("a");
    q.add("b");
    q.done("a");
    assert_eq!(q.pop().as_deref(), Some("b"));
    q.backoff("b", now);
    q.done("b");
    assert_eq!(q.next_deadline(), None);
    q.flush(now + Duration::from_secs(60));
    assert_eq!(q.pop(), None);
}
