//! The scheduling queue: pods waiting for a scheduling attempt (active,
//! first in first out), pods that failed and wait out their backoff
//! (exponential from the initial to the maximum backoff), and pods being
//! placed right now. A cluster event that may make room (a node added or
//! changed, a bound pod deleted) moves every waiting pod back to active at
//! once. Entries are keyed by `namespace/name`; stale heap and deque items
//! are skipped lazily by a sequence number.
use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap, VecDeque},
    time::{Duration, Instant},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    Backoff(Instant),
    InFlight,
}

#[derive(Debug, Clone)]
struct Entry {
    state: State,
    attempts: u32,
    seq: u64,
}

/// Pods waiting to be scheduled.
#[derive(Debug)]
pub struct Queue {
    entries: HashMap<String, Entry>,
    active: VecDeque<(String, u64)>,
    backoff: BinaryHeap<Reverse<(Instant, u64, String)>>,
    initial: Duration,
    max: Duration,
    seq: u64,
    /// Entries in the Backoff state (so that cluster events cost nothing
    /// when no pod waits).
    waiting: usize,
}

impl Queue {
    /// An empty queue with this backoff range.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            active: VecDeque::new(),
            backoff: BinaryHeap::new(),
            initial,
            max: max.max(initial),
            seq: 0,
            waiting: 0,
        }
    }

    fn set(&mut self, key: &str, state: State) {
        self.seq += 1;
        let seq = self.seq;
        let e = self.entries.entry(key.to_string()).or_insert(Entry {
            state: State::InFlight,
            attempts: 0,
            seq,
        });
        if matches!(e.state, State::Backoff(_)) {
            self.waiting -= 1;
        }
        e.state = state;
        e.seq = seq;
        match state {
            State::Active => self.active.push_back((key.to_string(), seq)),
            State::Backoff(at) => {
                self.waiting += 1;
                self.backoff.push(Reverse((at, seq, key.to_string())));
            }
            State::InFlight => {}
        }
    }

    /// Adds a new pod as active; a pod already queued is left as it is.
    pub fn add(&mut self, key: &str) {
        if !self.entries.contains_key(key) {
            self.set(key, State::Active);
        }
    }

    /// Makes a waiting pod active now (its spec changed, or a retry is
    /// due at once). A pod being placed is left alone.
    pub fn activate(&mut self, key: &str) {
        match self.entries.get(key).map(|e| e.state) {
            Some(State::InFlight | State::Active) => {}
            _ => self.set(key, State::Active),
        }
    }

    /// Makes a pod active now whatever its state (a binding that must be
    /// tried again at once).
    pub fn retry_now(&mut self, key: &str) {
        self.set(key, State::Active);
    }

    /// Takes the next active pod; it is in flight until [`Queue::done`],
    /// [`Queue::backoff`] or [`Queue::activate`].
    pub fn pop(&mut self) -> Option<String> {
        while let Some((key, seq)) = self.active.pop_front() {
            if let Some(e) = self.entries.get_mut(&key) {
                if e.seq == seq && e.state == State::Active {
                    e.state = State::InFlight;
                    return Some(key);
                }
            }
        }
        None
    }

    /// The backoff after `attempts` failed attempts.
    pub fn backoff_for(&self, attempts: u32) -> Duration {
        let shift = attempts.saturating_sub(1).min(30);
        self.initial.saturating_mul(1 << shift).min(self.max)
    }

    /// The pod failed an attempt: it waits out its backoff, which doubles
    /// with each failure. Returns the backoff.
    pub fn backoff(&mut self, key: &str, now: Instant) -> Duration {
        let attempts = self.entries.get(key).map_or(0, |e| e.attempts) + 1;
        let d = self.backoff_for(attempts);
        self.set(key, State::Backoff(now + d));
        if let Some(e) = self.entries.get_mut(key) {
            e.attempts = attempts;
        }
        d
    }

    /// The pod fits no node: it waits for a cluster event that may make room
    /// ([`Queue::move_all_to_active`]) or, at the latest, until `until`.
    pub fn park(&mut self, key: &str, until: Instant) {
        let attempts = self.entries.get(key).map_or(0, |e| e.attempts) + 1;
        self.set(key, State::Backoff(until));
        if let Some(e) = self.entries.get_mut(key) {
            e.attempts = attempts;
        }
    }

    /// Forgets a pod (bound or deleted).
    pub fn done(&mut self, key: &str) {
        if let Some(e) = self.entries.remove(key) {
            if matches!(e.state, State::Backoff(_)) {
                self.waiting -= 1;
            }
        }
    }

    /// Moves pods whose backoff has passed to active.
    pub fn flush(&mut self, now: Instant) {
        while let Some(Reverse((at, _, _))) = self.backoff.peek() {
            if *at > now {
                break;
            }
            let Reverse((at, seq, key)) = self.backoff.pop().expect("peeked");
            if self
                .entries
                .get(&key)
                .is_some_and(|e| e.seq == seq && e.state == State::Backoff(at))
            {
                self.set(&key, State::Active);
            }
        }
    }

    /// A cluster event: every pod waiting out a backoff becomes active.
    /// Returns how many moved.
    pub fn move_all_to_active(&mut self) -> usize {
        if self.waiting == 0 {
            return 0;
        }
        let waiting: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.state, State::Backoff(_)))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &waiting {
            self.set(k, State::Active);
        }
        self.backoff.clear();
        waiting.len()
    }

    /// When the earliest backoff ends, if any pod waits.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, seq, key))) = self.backoff.peek() {
            let live = self
                .entries
                .get(key)
                .is_some_and(|e| e.seq == *seq && e.state == State::Backoff(*at));
            if live {
                return Some(*at);
            }
            self.backoff.pop();
        }
        None
    }

    /// Whether an active pod is waiting.
    pub fn has_active(&self) -> bool {
        // Stale items may remain; `pop` skips them.
        !self.active.is_empty()
    }

    /// Pods known to the queue (active, waiting or in flight).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the queue knows no pod.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Failed attempts of a pod so far.
    pub fn attempts(&self, key: &str) -> u32 {
        self.entries.get(key).map_or(0, |e| e.attempts)
    }

    /// Whether a pod waits out a backoff.
    pub fn is_backing_off(&self, key: &str) -> bool {
        self.entries
            .get(key)
            .is_some_and(|e| matches!(e.state, State::Backoff(_)))
    }
}
