//! Coordinators: the group coordinator (classic consumer-group protocol and committed offsets, persisted in
//! `__consumer_offsets` with Kafka's record schemas) and the transaction coordinator (transactional ids and
//! their transactions, persisted in `__transaction_state` with Kafka's record schemas).
//!
//! Coordinators are sans-IO state machines: they take requests and the time, answer at once or park the
//! request (a JoinGroup waits for the rebalance, a SyncGroup for the leader's assignment) and hand the parked
//! answers out later through `take_completions`; what they need stored comes back as records for the broker to
//! append to `__consumer_offsets`.

pub mod group;
pub mod offsets_schema;
pub mod transaction;
pub mod txn_log_schema;
