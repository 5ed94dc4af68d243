//! The group-commit round on SQLite: the acks' deletes, every lookup the plan needs and every
//! write of one round, in two calls to the writer connection.

use super::super::queue::{AppendOutcome, FastLookup, FastLookupRow, FastPathStore, NewMessage, QueueStore};
use super::super::sql_errors::store_error;
use super::super::{Hash32, StoreResult};
use super::{MAX_VARS, SqliteStore};
use async_trait::async_trait;
use sallyport_protocol::{MailboxId, MessageId};
use sqlx::Sqlite;

#[async_trait]
impl QueueStore for SqliteStore {
    fn fast_path(&self) -> Option<&dyn FastPathStore> {
        Some(self)
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
        let mut conn = self.writer.acquire().await.map_err(store_error)?;
        // The transaction is opened and committed inside the batched statements below (each sqlx
        // call is one hand-off to the connection's worker thread: a round makes two). If the
        // round fails or is cancelled mid-way, the transaction must not reach the next user of
        // the connection: roll back, or close the connection.
        let mut guard = RoundGuard { conn: &mut conn, done: false };
        let result = round::commit(guard.conn, acks, batch, queue_quota).await;
        guard.done = true;
        if result.is_err()
            && let Err(err) = sqlx::query("ROLLBACK").execute(&mut **guard.conn).await
            && !err.to_string().contains("no transaction is active")
        {
            guard.conn.close_on_drop();
        }
        result
    }
}

#[async_trait]
impl FastPathStore for SqliteStore {
    async fn reserve_seqs(&self, n: u64) -> StoreResult<u64> {
        // On the writer: it serialises with the rounds, which raise the counter too.
        let top: i64 = sqlx::query_scalar("UPDATE counters SET value = value + $1 WHERE name = 'message_seq' RETURNING value")
            .bind(n as i64)
            .fetch_one(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(top as u64 - n + 1)
    }

    /// One statement with one fixed text, whatever the counts: each kind of key travels as one
    /// BLOB of fixed-width keys, split by a recursive CTE, and each key is one primary-key
    /// search. Its text never changes, so it is prepared once per connection; with an `IN` list
    /// of one variable a key, every batch size was a new statement to parse (most of the
    /// committer's wait for this lookup, which holds up every early delivery).
    async fn fast_lookup(&self, ids: &[MessageId], groups: &[Hash32], mailboxes: &[MailboxId]) -> StoreResult<FastLookup> {
        let ids: Vec<u8> = ids.iter().flat_map(|id| *id.as_bytes()).collect();
        let groups: Vec<u8> = groups.iter().flatten().copied().collect();
        let mailboxes: Vec<u8> = mailboxes.iter().flat_map(|mailbox| *mailbox.as_bytes()).collect();
        let rows: Vec<FastLookupRow> = sqlx::query_as(FAST_LOOKUP)
            .bind(ids)
            .bind(groups)
            .bind(mailboxes)
            .fetch_all(&self.reader)
            .await
            .map_err(store_error)?;
        FastLookup::from_rows(rows)
    }
}

/// `fast_lookup`'s statement: ?1 the message ids (16 bytes each), ?2 the groups (32), ?3 the
/// mailboxes (16). `CROSS JOIN` keeps the keys as the outer loop.
const FAST_LOOKUP: &str = "WITH RECURSIVE \
    ids(n, id) AS (SELECT 0, substr(?1, 1, 16) WHERE length(?1) > 0 \
        UNION ALL SELECT n + 16, substr(?1, n + 17, 16) FROM ids WHERE n + 16 < length(?1)), \
    gids(n, id) AS (SELECT 0, substr(?2, 1, 32) WHERE length(?2) > 0 \
        UNION ALL SELECT n + 32, substr(?2, n + 33, 32) FROM gids WHERE n + 32 < length(?2)), \
    mids(n, id) AS (SELECT 0, substr(?3, 1, 16) WHERE length(?3) > 0 \
        UNION ALL SELECT n + 16, substr(?3, n + 17, 16) FROM mids WHERE n + 16 < length(?3)) \
    SELECT 0, s.message_id, s.seq, NULL, NULL FROM ids CROSS JOIN sent s ON s.message_id = ids.id \
    UNION ALL SELECT 1, g.id, g.epoch, g.members, g.updated_at FROM gids CROSS JOIN groups g ON g.id = gids.id \
    UNION ALL SELECT 2, m.id, NULL, NULL, NULL FROM mids CROSS JOIN mailboxes m ON m.id = mids.id";

/// Returns the writer connection to the pool only when a round ended cleanly (or was rolled
/// back): a round dropped mid-way (cancelled) may have left its transaction open.
struct RoundGuard<'c> {
    conn: &'c mut sqlx::pool::PoolConnection<Sqlite>,
    done: bool,
}

impl Drop for RoundGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.conn.close_on_drop();
        }
    }
}

/// One group-commit round on the writer connection in two sqlx calls (each a hand-off to the
/// connection's worker thread, ~80–100 µs here whatever the statement): `BEGIN IMMEDIATE`, the
/// acks' deletes and every lookup `append` needs; then, after deciding in memory, every write
/// and `COMMIT`. sqlx runs a multi-statement string statement by statement and hands the bound
/// arguments out in order, so each statement keeps its own 32,766-variable limit.
mod round {
    use super::super::super::append_plan::{self, AppendPlan, GroupState};
    use super::super::super::rows::{self, hash32, id_from};
    use super::super::super::sql_errors::store_error;
    use super::super::super::{StoreError, StoreResult};
    use super::{AppendOutcome, MAX_VARS, NewMessage};
    use sallyport_protocol::{MailboxId, MessageId};
    use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
    use std::collections::HashMap;

    /// (tag, key, value, a group's members) of one lookup row.
    type LookupRow = (i64, Option<Vec<u8>>, Option<i64>, Option<Vec<u8>>);

    const SENT: i64 = 0;
    const GROUP: i64 = 1;
    const MAILBOX: i64 = 2;
    const COUNTER: i64 = 3;

    pub(super) async fn commit(
        conn: &mut SqliteConnection,
        acks: &[(MailboxId, u64)],
        batch: &[NewMessage],
        queue_quota: u64,
    ) -> StoreResult<Vec<AppendOutcome>> {
        // ---- call 1: begin, acks (first: they free quota for this round's sends), lookups
        let mut qb = QueryBuilder::<Sqlite>::new("BEGIN IMMEDIATE; ");
        for chunk in acks.chunks(MAX_VARS / 2) {
            // Through rowid: a row-value `IN (VALUES …)` makes SQLite scan the whole table.
            qb.push("DELETE FROM queue WHERE rowid IN (SELECT q.rowid FROM (");
            qb.push_values(chunk, |mut row, (mailbox, seq)| {
                row.push_bind(mailbox.as_bytes().as_slice())
                    .push_bind(*seq as i64);
            });
            qb.push(") AS a JOIN queue q ON q.mailbox_id = a.column1 AND q.seq = a.column2); ");
        }
        if batch.is_empty() {
            qb.push("COMMIT");
            qb.build()
                .persistent(false)
                .execute(&mut *conn)
                .await
                .map_err(store_error)?;
            return Ok(Vec::new());
        }
        // Ids stored by earlier rounds; the recorded epochs and members of the batch's MLS groups
        // (this is the only writer: no lock); which recipients exist and how full their queues are (kept
        // by triggers, migration 0015: counting rows made rounds slower as queues grew) (all
        // recipients, duplicates' too: one statement rather than two, and harmless); the counter.
        let ids = append_plan::distinct_ids(batch);
        let groups = append_plan::distinct_groups(batch);
        let recipients = all_recipients(batch);
        for chunk in ids.chunks(MAX_VARS) {
            qb.push("SELECT 0, message_id, seq, NULL FROM sent WHERE message_id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id.as_bytes().as_slice());
            }
            qb.push("); ");
        }
        for chunk in groups.chunks(MAX_VARS) {
            qb.push("SELECT 1, id, epoch, members FROM groups WHERE id IN (");
            let mut list = qb.separated(", ");
            for (group, _) in chunk {
                list.push_bind(group.as_slice());
            }
            qb.push("); ");
        }
        for chunk in recipients.chunks(MAX_VARS) {
            qb.push(
                "SELECT 2, m.id, m.queued, NULL FROM mailboxes m WHERE m.id IN (",
            );
            let mut list = qb.separated(", ");
            for mailbox in chunk {
                list.push_bind(mailbox.as_bytes().as_slice());
            }
            qb.push("); ");
        }
        qb.push("SELECT 3, NULL, value, NULL FROM counters WHERE name = 'message_seq'");
        let rows: Vec<LookupRow> = qb
            .build_query_as()
            .persistent(false)
            .fetch_all(&mut *conn)
            .await
            .map_err(store_error)?;
        let mut existing = HashMap::with_capacity(ids.len());
        let mut states = HashMap::with_capacity(groups.len());
        let mut queued = HashMap::with_capacity(recipients.len());
        let mut counter = None;
        let corrupt = || StoreError::Other("unexpected lookup row".into());
        for (tag, key, value, members) in rows {
            match (tag, key) {
                (SENT, Some(id)) => {
                    existing.insert(
                        id_from(&id, MessageId::from_slice)?,
                        value.ok_or_else(corrupt)? as u64,
                    );
                }
                (GROUP, Some(group)) => {
                    let state = GroupState { epoch: rows::epoch_from(value)?, members: rows::members_from(members)? };
                    states.insert(id_from(&group, hash32)?, state);
                }
                (MAILBOX, Some(mailbox)) => {
                    queued.insert(
                        id_from(&mailbox, MailboxId::from_slice)?,
                        value.ok_or_else(corrupt)? as u64,
                    );
                }
                (COUNTER, None) => counter = value,
                _ => return Err(corrupt()),
            }
        }
        let counter = counter.ok_or_else(|| StoreError::Other("the message counter is missing".into()))?;

        // ---- decide, then allocate sequence numbers in batch order
        let mut plan = AppendPlan::new(batch, &existing, &queued, queue_quota, &states);

        // ---- call 2: the counter, idempotency records, queue rows, the groups' epochs, commit.
        // `OR ROLLBACK`: a conflict cannot happen (ids were looked up under the write lock,
        // sequence numbers are new) and would fail the round anyway; it spares SQLite the
        // statement journal it otherwise keeps to undo one failed multi-row INSERT (a copy of
        // every page the statement touches).
        let mut qb = QueryBuilder::<Sqlite>::new("");
        if !plan.to_store.is_empty() {
            // A message numbered by the committer (from a block reserved below `counter`) keeps
            // its number; the others are numbered above the counter.
            let mut next = counter;
            let seqs: Vec<i64> = plan
                .to_store
                .iter()
                .map(|&(index, _)| match batch[index].seq {
                    Some(seq) => seq as i64,
                    None => {
                        next += 1;
                        next
                    }
                })
                .collect();
            plan.assign(&seqs);
            let top = seqs.iter().copied().max().unwrap_or(counter).max(counter);
            qb.push("UPDATE counters SET value = ");
            qb.push_bind(top);
            qb.push(" WHERE name = 'message_seq'; ");
            for chunk in plan.to_store.chunks(MAX_VARS / 3) {
                qb.push("INSERT OR ROLLBACK INTO sent (message_id, seq, expires_at) ");
                qb.push_values(chunk, |mut row, &(index, seq)| {
                    let m = &batch[index];
                    row.push_bind(m.id.as_bytes().as_slice())
                        .push_bind(seq)
                        .push_bind(m.expires_at);
                });
                qb.push("; ");
            }
            let copies = plan.copies();
            for chunk in copies.chunks(MAX_VARS / 6) {
                qb.push(
                    "INSERT OR ROLLBACK INTO queue \
                     (mailbox_id, seq, message_id, payload, created_at, expires_at) ",
                );
                qb.push_values(chunk, |mut row, &(mailbox, index, seq)| {
                    let m = &batch[index];
                    row.push_bind(mailbox.as_bytes().as_slice())
                        .push_bind(seq)
                        .push_bind(m.id.as_bytes().as_slice())
                        .push_bind(m.payload.as_ref())
                        .push_bind(m.created_at)
                        .push_bind(m.expires_at);
                });
                qb.push("; ");
            }
            let group_writes = plan.group_writes();
            for chunk in group_writes.chunks(MAX_VARS / 4) {
                qb.push("INSERT INTO groups (id, epoch, updated_at, members) ");
                qb.push_values(chunk, |mut row, (group, epoch, at, members)| {
                    row.push_bind(group.as_slice())
                        .push_bind(*epoch)
                        .push_bind(*at)
                        .push_bind(members.as_deref().map(rows::members_bytes));
                });
                qb.push(
                    " ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch, \
                     updated_at = MAX(groups.updated_at, excluded.updated_at), \
                     members = COALESCE(excluded.members, groups.members); ",
                );
            }
        }
        qb.push("COMMIT");
        qb.build()
            .persistent(false)
            .execute(&mut *conn)
            .await
            .map_err(store_error)?;
        Ok(plan.finish())
    }

    /// Every recipient in the batch, each once.
    fn all_recipients(batch: &[NewMessage]) -> Vec<MailboxId> {
        append_plan::distinct_recipients(batch, &HashMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::Store as _;
    use super::super::super::rows::members_bytes;
    use super::*;

    /// A group row with neither epoch nor members (rows the SQL writes only; the contract test
    /// `contract_fast_lookup_reports_…` covers the rest on both databases) comes back as such.
    #[tokio::test]
    async fn fast_lookup_reports_a_group_row_without_epoch_or_members() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::connect(&format!("sqlite://{}", dir.path().join("s.db").display())).await.unwrap();
        let (mailbox, member) = (MailboxId::random(), MailboxId::random());
        let (group, bare) = ([7u8; 32], [8u8; 32]);
        sqlx::query("INSERT INTO groups (id, epoch, updated_at, members) VALUES ($1, 3, 42, $2), ($3, NULL, 43, NULL)")
            .bind(group.as_slice())
            .bind(members_bytes(&[mailbox, member]))
            .bind(bare.as_slice())
            .execute(&store.writer)
            .await
            .unwrap();
        let found = store.fast_lookup(&[], &[[9u8; 32], group, bare], &[]).await.unwrap();
        assert_eq!(found.groups.len(), 2);
        let known = &found.groups[&group];
        assert_eq!((known.epoch, known.members.clone(), known.updated_at), (Some(3), Some(vec![mailbox, member]), 42));
        let known = &found.groups[&bare];
        assert_eq!((known.epoch, known.members.clone(), known.updated_at), (None, None, 43));
        store.close().await;
    }
}
