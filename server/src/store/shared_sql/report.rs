//! The programme report's reads: `ReportStore`.

macro_rules! report_sql {
    ($store:ident, $db:ty) => {
        mod shared_report {
            use super::$store;
            use crate::domain::report::{Event, EventKind, Held};
            use crate::store::report::ReportStore;
            use crate::store::sql_errors::store_error;
            use crate::store::{StoreError, StoreResult};
            use async_trait::async_trait;

            /// Counts one event in `report_events` (protocol §19), dated by the UTC day of `at`, in
            /// the transaction `tx` that makes the change it counts: the only write of the report.
            pub(super) async fn record_event(
                tx: &mut sqlx::Transaction<'_, $db>,
                at: i64,
                kind: EventKind,
                value: Option<i64>,
            ) -> StoreResult<()> {
                sqlx::query("INSERT INTO report_events (day, kind, value) VALUES ($1, $2, $3)")
                    .bind(crate::store::report::event_day(at))
                    .bind(kind.as_str())
                    .bind(value)
                    .execute(&mut **tx)
                    .await
                    .map_err(store_error)?;
                Ok(())
            }

            #[async_trait]
            impl ReportStore for $store {
                async fn report_events(&self, before_day: i64) -> StoreResult<Vec<Event>> {
                    let found: Vec<(i64, String, Option<i64>)> =
                        sqlx::query_as("SELECT day, kind, value FROM report_events WHERE day < $1")
                            .bind(before_day)
                            .fetch_all(self.reader())
                            .await
                            .map_err(store_error)?;
                    found
                        .into_iter()
                        .map(|(day, kind, value)| {
                            let kind = EventKind::parse(&kind).ok_or_else(|| StoreError::Other("unreadable report event kind".into()))?;
                            Ok(Event { day, kind, value })
                        })
                        .collect()
                }

                async fn held_debriefs(&self, before_day: i64) -> StoreResult<Vec<Held>> {
                    // As known when the session's day ended: made before then, not cancelled by then.
                    let found: Vec<(i64, String)> = sqlx::query_as(
                        "SELECT at, kind FROM debriefs WHERE kind IN ('defusing', 'debriefing') AND at < $1 \
                         AND created_at < (at / 86400000 + 1) * 86400000 \
                         AND (cancelled_at IS NULL OR cancelled_at >= (at / 86400000 + 1) * 86400000)",
                    )
                    .bind(before_day.saturating_mul(86_400_000))
                    .fetch_all(self.reader())
                    .await
                    .map_err(store_error)?;
                    Ok(found
                        .into_iter()
                        .map(|(at, kind)| Held { day: crate::store::report::event_day(at), debriefing: kind == "debriefing" })
                        .collect())
                }
            }
        }
    };
}

pub(crate) use report_sql;
