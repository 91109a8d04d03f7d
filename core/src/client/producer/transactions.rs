//! The native producer's transactional calls, blocking as Kafka's are. Each starts its work in the sans-IO
//! [`TransactionManager`](super::transaction::TransactionManager) inside the sender, wakes the driver task, which
//! sends the requests the machine asks for, and waits until the driver hands back the call's outcome
//! ([`Action::Transaction`](super::sender::Action::Transaction)). The decisions (retries, coordinator moves,
//! abortable and fatal errors, when EndTxn may go) are all the machine's.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::native::{lock, Inner};
use super::sender::Sender;
use super::transaction::{ConsumerGroupMetadata, TxnCall};
use crate::client::error::{ClientError, Result};
use crate::client::{OffsetAndMetadata, TopicPartition};

pub(super) fn check_can_send(inner: &Inner) -> Result<()> {
    if inner.config.transactional_id.is_none() {
        return Ok(());
    }
    lock(&inner.sender).check_can_send()
}

pub(super) fn init(inner: &Inner, timeout: Duration) -> Result<()> {
    call(inner, TxnCall::InitTransactions, |sender, now_ms| {
        sender.set_transaction_timeout_ms(inner.config.transaction_timeout_ms);
        sender.init_transactions(now_ms, millis(timeout))
    })
}

pub(super) fn begin(inner: &Inner) -> Result<()> {
    lock(&inner.sender).begin_transaction()
}

pub(super) fn send_offsets(
    inner: &Inner,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    group: &ConsumerGroupMetadata,
    timeout: Duration,
) -> Result<()> {
    call(inner, TxnCall::SendOffsetsToTransaction, |sender, now_ms| {
        sender.send_offsets_to_transaction(offsets.clone(), group.clone(), now_ms, millis(timeout))
    })
}

pub(super) fn end(inner: &Inner, commit: bool, timeout: Duration) -> Result<()> {
    if commit {
        call(inner, TxnCall::CommitTransaction, |sender, now_ms| sender.commit_transaction(now_ms, millis(timeout)))
    } else {
        call(inner, TxnCall::AbortTransaction, |sender, now_ms| sender.abort_transaction(now_ms, millis(timeout)))
    }
}

fn millis(timeout: Duration) -> u64 {
    timeout.as_millis().min(u64::MAX as u128) as u64
}

/// Starts a call in the machine and waits for its outcome. The machine reports the call's timeout itself (the
/// driver polls it at its deadline), so the wait needs no clock of its own; it ends early only if the driver
/// stopped.
fn call(inner: &Inner, which: TxnCall, start: impl FnOnce(&mut Sender, u64) -> Result<()>) -> Result<()> {
    let mut sender = lock(&inner.sender);
    lock(&inner.txn_outcome).take();
    start(&mut sender, inner.now_ms())?;
    inner.wake.notify_one();
    loop {
        {
            let mut outcome = lock(&inner.txn_outcome);
            if outcome.as_ref().is_some_and(|(call, _)| *call == which) {
                if let Some((_, result)) = outcome.take() {
                    return result;
                }
            }
        }
        if inner.sender_done.load(Ordering::Acquire) {
            return Err(ClientError::Closed);
        }
        sender = inner
            .completed
            .wait_timeout(sender, Duration::from_millis(100))
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
    }
}
