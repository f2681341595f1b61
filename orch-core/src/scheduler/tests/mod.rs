//! Unit tests of the pure parts: quantities, filters, scores, the
//! algorithm, the cache, the queue and the state machine.
mod algorithm;
mod build;
mod cache;
mod filter;
mod quantity;
mod queue;
mod reconcile;
mod score;
