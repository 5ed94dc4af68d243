//! The group-commit round on PostgreSQL: row locks on the batch's groups, then batched
//! statements over arrays (`UNNEST`), a SEQUENCE for message numbers. Several nodes commit at
//! once; the group row locks make exactly one commit per epoch win across them.

use super::super::append_plan::{AppendPlan, GroupState, distinct_groups, distinct_ids, distinct_recipients};
use super::super::queue::{AppendOutcome, FastLookup, FastLookupRow, FastPathStore, NewMessage, QueueStore};
use super::super::rows::{epoch_from, hash32, id_from, members_bytes, members_from};
use super::super::sql_errors::store_error;
use super::super::{Hash32, StoreError, StoreResult};
use super::PostgresStore;
use async_trait::async_trait;
use sallyport_protocol::{MailboxId, MessageId};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

#[async_trait]
impl QueueStore for PostgresStore {
    fn fast_path(&self) -> Option<&dyn FastPathStore> {
        self.single_node.load(Relaxed).then_some(self as &dyn FastPathStore)
    }

    async fn commit_round(
        &self,
        acks: &[(MailboxId, u64)],
        batch: &[NewMessage],
        queue_quota: u64,
    ) -> StoreResult<Vec<AppendOutcome>> {
        if acks.is_empty() && batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await.map_err(store_error)?;

        // 0. The acknowledged copies, first: they free quota for this batch.
        if !acks.is_empty() {
            sqlx::query(
                "DELETE FROM queue q USING UNNEST($1::bytea[], $2::bigint[]) AS a(mailbox_id, seq) \
                 WHERE q.mailbox_id = a.mailbox_id AND q.seq = a.seq",
            )
            .bind(
                acks.iter()
                    .map(|a| a.0.as_bytes().as_slice())
                    .collect::<Vec<_>>(),
            )
            .bind(acks.iter().map(|a| a.1 as i64).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        if batch.is_empty() {
            tx.commit().await.map_err(store_error)?;
            return Ok(Vec::new());
        }

        // 1. Lock the rows of the batch's MLS groups and read their epochs and bound members, in
        // one statement (so the member binding is checked under the same lock as the epoch).
        // Missing rows are inserted as placeholders (epoch NULL), so a group the server has not
        // seen is locked too; ON CONFLICT DO UPDATE (a no-op update) locks an existing row and
        // returns its latest committed state, atomically even if `expire` deletes it meanwhile.
        // Rows go in id order, so two nodes' batches take the locks in the same order. Another
        // node's competing commit for the same group waits here until this transaction ends, then
        // sees the epoch it recorded: exactly one commit per epoch wins. Taken before the
        // duplicate check, so a message re-sent through another node meanwhile is seen as a
        // duplicate (each statement sees what committed before it started).
        let groups = distinct_groups(batch);
        let mut states = HashMap::with_capacity(groups.len());
        if !groups.is_empty() {
            let rows: Vec<(Vec<u8>, Option<i64>, Option<Vec<u8>>)> = sqlx::query_as(
                "INSERT INTO groups (id, epoch, updated_at) \
                 SELECT g, NULL, t FROM UNNEST($1::bytea[], $2::bigint[]) AS u(g, t) ORDER BY g \
                 ON CONFLICT (id) DO UPDATE SET epoch = groups.epoch RETURNING id, epoch, members",
            )
            .bind(groups.iter().map(|g| g.0.as_slice()).collect::<Vec<_>>())
            .bind(groups.iter().map(|g| g.1).collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?;
            for (group, epoch, members) in rows {
                let state = GroupState { epoch: epoch_from(epoch)?, members: members_from(members)? };
                states.insert(id_from(&group, hash32)?, state);
            }
        }

        // 2. Ids stored by earlier batches.
        let ids = distinct_ids(batch);
        let rows: Vec<(Vec<u8>, i64)> =
            sqlx::query_as("SELECT message_id, seq FROM sent WHERE message_id = ANY($1::bytea[])")
                .bind(
                    ids.iter()
                        .map(|id| id.as_bytes().as_slice())
                        .collect::<Vec<_>>(),
                )
                .fetch_all(&mut *tx)
                .await
                .map_err(store_error)?;
        let mut existing = HashMap::with_capacity(rows.len());
        for (id, seq) in rows {
            existing.insert(id_from(&id, MessageId::from_slice)?, seq as u64);
        }

        // 3. Which recipients exist, and how full their queues are. Across nodes the quota is
        // approximate: two nodes appending to one mailbox at once may both see room. A queue is
        // counted only up to the quota (all the check needs), and only where this node's bound
        // from a recent count (`queue_bounds`) cannot show that the round leaves it under half
        // the quota: counts walk the dead rows acked copies leave until autovacuum, and made
        // every round slower as they piled up (migrations/postgres/0015 says why there is no
        // counter column here).
        let recipients = distinct_recipients(batch, &existing);
        let mut adding: HashMap<MailboxId, u64> = HashMap::with_capacity(recipients.len());
        for message in batch.iter().filter(|m| !existing.contains_key(&m.id)) {
            for mailbox in &message.to {
                *adding.entry(*mailbox).or_default() += 1;
            }
        }
        let counted_at = Instant::now();
        let (bounds, to_count) = self.queue_bounds.plan(&adding, queue_quota, counted_at);
        let rows: Vec<(Vec<u8>, Option<i64>)> = sqlx::query_as(
            "SELECT m.id, CASE WHEN m.id = ANY($3::bytea[]) THEN \
             (SELECT COUNT(*) FROM (SELECT 1 FROM queue q WHERE q.mailbox_id = m.id LIMIT $2) c) END \
             FROM mailboxes m WHERE m.id = ANY($1::bytea[])",
        )
        .bind(
            recipients
                .iter()
                .map(|m| m.as_bytes().as_slice())
                .collect::<Vec<_>>(),
        )
        .bind(i64::try_from(queue_quota).unwrap_or(i64::MAX))
        .bind(to_count.iter().map(|m| m.as_bytes().as_slice()).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        let mut queued = HashMap::with_capacity(rows.len());
        let mut counts = HashMap::with_capacity(to_count.len());
        for (mailbox, count) in rows {
            let mailbox = id_from(&mailbox, MailboxId::from_slice)?;
            let n = match count {
                Some(count) => {
                    counts.insert(mailbox, count as u64);
                    count as u64
                }
                None => *bounds.get(&mailbox).ok_or_else(|| StoreError::Other("a queue was neither counted nor bounded".into()))?,
            };
            queued.insert(mailbox, n);
        }
        self.queue_bounds.counted(&counts, counted_at);

        let plan = loop {
            // 4. Decide, then allocate sequence numbers in batch order.
            let mut plan = AppendPlan::new(batch, &existing, &queued, queue_quota, &states);
            if plan.to_store.is_empty() {
                tx.commit().await.map_err(store_error)?;
                return Ok(plan.finish());
            }
            // (Unless this node delivers early and numbered them from a reserved block.)
            let unnumbered = plan.to_store.iter().filter(|&&(index, _)| batch[index].seq.is_none()).count();
            let mut fresh: Vec<i64> = if unnumbered == 0 {
                Vec::new()
            } else {
                let _drawing = self.seq_lock.lock().await;
                sqlx::query_scalar("SELECT nextval('message_seq') FROM generate_series(1, $1)")
                    .bind(unnumbered as i64)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?
            };
            fresh.sort_unstable();
            let mut fresh = fresh.into_iter();
            let seqs: Vec<i64> = plan
                .to_store
                .iter()
                .map(|&(index, _)| batch[index].seq.map(|s| s as i64).or_else(|| fresh.next()))
                .collect::<Option<_>>()
                .ok_or_else(|| StoreError::Other("the message sequence returned too few numbers".into()))?;
            plan.assign(&seqs);

            // 5. Idempotency records. Another node may be storing one of these ids right now: ON
            // CONFLICT waits for it and skips the row, and ours becomes a duplicate of its. Rows
            // go in id order so two nodes' batches always take the index locks in the same order.
            let mut sent: Vec<(&[u8], i64, i64)> = plan
                .to_store
                .iter()
                .map(|&(index, seq)| {
                    (
                        batch[index].id.as_bytes().as_slice(),
                        seq,
                        batch[index].expires_at,
                    )
                })
                .collect();
            sent.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let inserted: Vec<Vec<u8>> = sqlx::query_scalar(
                "INSERT INTO sent (message_id, seq, expires_at) \
                 SELECT * FROM UNNEST($1::bytea[], $2::bigint[], $3::bigint[]) \
                 ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
            )
            .bind(sent.iter().map(|r| r.0).collect::<Vec<_>>())
            .bind(sent.iter().map(|r| r.1).collect::<Vec<_>>())
            .bind(sent.iter().map(|r| r.2).collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?;
            if inserted.len() == sent.len() {
                break plan;
            }

            // Rare: some ids lost that race. Each is a duplicate of the winner's message, which
            // changes the decisions after it in the batch (quota it no longer takes, the epoch
            // it no longer advances): take back this attempt's records and decide again. Each
            // round turns at least one more id into a duplicate, so this ends.
            let inserted: HashSet<Vec<u8>> = inserted.into_iter().collect();
            let lost: Vec<&[u8]> = sent
                .iter()
                .map(|r| r.0)
                .filter(|id| !inserted.contains(*id))
                .collect();
            let rows: Vec<(Vec<u8>, i64)> = sqlx::query_as(
                "SELECT message_id, seq FROM sent WHERE message_id = ANY($1::bytea[])",
            )
            .bind(&lost)
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?;
            if rows.len() < lost.len() {
                return Err(StoreError::Other(
                    "a message id conflicted but its record vanished; retry".into(),
                ));
            }
            for (id, seq) in rows {
                existing.insert(id_from(&id, MessageId::from_slice)?, seq as u64);
            }
            sqlx::query("DELETE FROM sent WHERE message_id = ANY($1::bytea[])")
                .bind(inserted.iter().map(Vec::as_slice).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        };

        // 6. One queue row per recipient.
        let copies = plan.copies();
        if !copies.is_empty() {
            sqlx::query(
                "INSERT INTO queue (mailbox_id, seq, message_id, payload, created_at, expires_at) \
                 SELECT * FROM UNNEST($1::bytea[], $2::bigint[], $3::bytea[], $4::bytea[], $5::bigint[], $6::bigint[])",
            )
            .bind(copies.iter().map(|c| c.0.as_bytes().as_slice()).collect::<Vec<_>>())
            .bind(copies.iter().map(|c| c.2).collect::<Vec<_>>())
            .bind(copies.iter().map(|c| batch[c.1].id.as_bytes().as_slice()).collect::<Vec<_>>())
            .bind(copies.iter().map(|c| batch[c.1].payload.as_ref()).collect::<Vec<&[u8]>>())
            .bind(copies.iter().map(|c| batch[c.1].created_at).collect::<Vec<_>>())
            .bind(copies.iter().map(|c| batch[c.1].expires_at).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }

        // 7. The groups' new epochs and bindings (NULL members: keep the row's). Every row is
        // locked (step 1), so a plain UPDATE does.
        let group_writes = plan.group_writes();
        if !group_writes.is_empty() {
            sqlx::query(
                "UPDATE groups g SET epoch = u.epoch, updated_at = GREATEST(g.updated_at, u.at), \
                 members = COALESCE(u.members, g.members) \
                 FROM UNNEST($1::bytea[], $2::bigint[], $3::bigint[], $4::bytea[]) AS u(id, epoch, at, members) \
                 WHERE g.id = u.id",
            )
            .bind(
                group_writes
                    .iter()
                    .map(|w| w.0.as_slice())
                    .collect::<Vec<_>>(),
            )
            .bind(group_writes.iter().map(|w| w.1).collect::<Vec<_>>())
            .bind(group_writes.iter().map(|w| w.2).collect::<Vec<_>>())
            .bind(group_writes.iter().map(|w| w.3.as_deref().map(members_bytes)).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        self.queue_bounds.added(copies.iter().map(|c| c.0));
        Ok(plan.finish())
    }
}

#[async_trait]
impl FastPathStore for PostgresStore {
    /// Draws the block from `message_seq` in one autocommitted statement: `setval` moves the
    /// sequence past the block, and its commit (which waits for the WAL flush, as every commit
    /// here) makes the reservation survive a crash. Under `seq_lock`, so no round's `nextval`
    /// of this node lands inside the block; no other node draws (the node lock is exclusive).
    async fn reserve_seqs(&self, n: u64) -> StoreResult<u64> {
        let n = i64::try_from(n).map_err(|_| StoreError::Other("too many numbers asked for".into()))?;
        // The connection first, as a round has its own before it takes the lock: the lock's
        // holder never waits for the pool.
        let mut conn = self.pool.acquire().await.map_err(store_error)?;
        let _drawing = self.seq_lock.lock().await;
        let last: i64 = sqlx::query_scalar("SELECT setval('message_seq', nextval('message_seq') + $1 - 1)")
            .bind(n)
            .fetch_one(&mut *conn)
            .await
            .map_err(store_error)?;
        Ok((last - n + 1) as u64)
    }

    /// One statement: each kind of key is one array, each key one primary-key search. Planned
    /// afresh on every call (not kept prepared): a prepared statement's generic plan, made while
    /// `sent` was small, scanned the whole table on every call once it had grown (`sent` is
    /// analyzed only once autovacuum comes), and with half the recipients offline the node fell
    /// from 49k messages a second to 5k within 20 s.
    async fn fast_lookup(&self, ids: &[MessageId], groups: &[Hash32], mailboxes: &[MailboxId]) -> StoreResult<FastLookup> {
        let rows: Vec<FastLookupRow> = sqlx::query_as(
            "SELECT 0::bigint, message_id, seq, NULL::bytea, NULL::bigint FROM sent WHERE message_id = ANY($1::bytea[]) \
             UNION ALL SELECT 1, id, epoch, members, updated_at FROM groups WHERE id = ANY($2::bytea[]) \
             UNION ALL SELECT 2, id, NULL, NULL, NULL FROM mailboxes WHERE id = ANY($3::bytea[])",
        )
        .bind(ids.iter().map(|id| id.as_bytes().as_slice()).collect::<Vec<_>>())
        .bind(groups.iter().map(|g| g.as_slice()).collect::<Vec<_>>())
        .bind(mailboxes.iter().map(|m| m.as_bytes().as_slice()).collect::<Vec<_>>())
        .persistent(false)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        FastLookup::from_rows(rows)
    }
}
