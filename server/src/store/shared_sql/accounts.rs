//! Accounts, devices, invitations, revocations and settings: `DeviceStore` and `SettingsStore`.

macro_rules! accounts_sql {
    ($store:ident, $db:ty, $for_update:literal, $for_share:literal, $skip_locked:literal) => {
        mod shared_accounts {
            use super::$store;
            use crate::store::devices::{DeviceRecord, DeviceStore, Enrolled, NewDevice, NewInvitation};
            use crate::store::rows::{self, DEVICE_SELECT, day_of, id_from};
            use crate::store::settings::SettingsStore;
            use crate::store::sql_errors::{conflict, store_error};
            use crate::store::{Conflict, Hash32, StoreError, StoreResult};
            use async_trait::async_trait;
            use sallyport_protocol::{AccountId, DeviceId, Signature};

            // ---- devices

            #[async_trait]
            impl DeviceStore for $store {
                async fn create_invitation(&self, inv: NewInvitation) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO invitations (code_hash, display_name, roles, account_id, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(inv.code_hash.as_slice())
                    .bind(&inv.display_name)
                    .bind(rows::encode_roles(&inv.roles))
                    .bind(inv.account.as_ref().map(|a| a.as_bytes().as_slice()))
                    .bind(inv.created_at)
                    .bind(inv.expires_at)
                    .execute(self.writer())
                    .await
                    .map_err(conflict(Conflict::InvitationExists))?;
                    Ok(())
                }

                async fn redeem_invitation(&self, code_hash: &Hash32, device: NewDevice) -> StoreResult<Enrolled> {
                    let mut tx = self.begin_write().await?;
                    // Two nodes redeeming the same code at once: the second waits, then sees it used.
                    let invitation: Option<(String, String, Option<Vec<u8>>, i64, Option<i64>)> = sqlx::query_as(concat!(
                        "SELECT display_name, roles, account_id, expires_at, used_at FROM invitations WHERE code_hash = $1",
                        $for_update
                    ))
                    .bind(code_hash.as_slice())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let Some((display_name, roles, account, expires_at, used_at)) = invitation else {
                        return Err(StoreError::NotFound);
                    };
                    if used_at.is_some() || expires_at <= device.now {
                        return Err(StoreError::NotFound);
                    }
                    sqlx::query("UPDATE invitations SET used_at = $1 WHERE code_hash = $2")
                        .bind(device.now)
                        .bind(code_hash.as_slice())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let mut approved = true;
                    let (account, display_name, roles) = match account {
                        Some(account) => {
                            // Another active approved device of the account must approve this one.
                            let trusted: i64 = sqlx::query_scalar(
                                "SELECT COUNT(*) FROM devices WHERE account_id = $1 AND revoked_at IS NULL AND approved_at IS NOT NULL",
                            )
                            .bind(&account)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(store_error)?;
                            approved = trusted == 0;
                            let row: Option<(String, String)> = sqlx::query_as("SELECT display_name, roles FROM accounts WHERE id = $1")
                                .bind(&account)
                                .fetch_optional(&mut *tx)
                                .await
                                .map_err(store_error)?;
                            let (name, roles) = row.ok_or(StoreError::NotFound)?;
                            (id_from(&account, AccountId::from_slice)?, name, roles)
                        }
                        None => {
                            // The person may choose their own display name for a new account.
                            sqlx::query("INSERT INTO accounts (id, display_name, roles, created_at) VALUES ($1, $2, $3, $4)")
                                .bind(device.new_account.as_bytes().as_slice())
                                .bind(&display_name)
                                .bind(&roles)
                                .bind(device.now)
                                .execute(&mut *tx)
                                .await
                                .map_err(conflict(Conflict::AccountExists))?;
                            (device.new_account, display_name, roles)
                        }
                    };
                    sqlx::query("INSERT INTO mailboxes (id, secret_hash, created_day) VALUES ($1, NULL, $2)")
                        .bind(device.mailbox.as_bytes().as_slice())
                        .bind(day_of(device.now))
                        .execute(&mut *tx)
                        .await
                        .map_err(conflict(Conflict::MailboxExists))?;
                    sqlx::query(
                        "INSERT INTO devices (id, account_id, signing_key, notification_key, mailbox_id, created_at, approved_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(device.device.as_bytes().as_slice())
                    .bind(account.as_bytes().as_slice())
                    .bind(device.signing_key.as_bytes().as_slice())
                    .bind(device.notification_key.as_bytes().as_slice())
                    .bind(device.mailbox.as_bytes().as_slice())
                    .bind(device.now)
                    .bind(approved.then_some(device.now))
                    .execute(&mut *tx)
                    .await
                    .map_err(conflict(Conflict::DeviceExists))?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(Enrolled {
                        account,
                        device: device.device,
                        mailbox: device.mailbox,
                        display_name,
                        roles: rows::decode_roles(&roles)?,
                        approved,
                    })
                }

                async fn approve_device(&self, device: &DeviceId, approver: &DeviceId, signature: &Signature, now: i64) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "UPDATE devices SET approved_at = $1, approval = $2, \
                           approved_by = (SELECT a.signing_key FROM devices a WHERE a.id = $3) \
                         WHERE id = $4 AND approved_at IS NULL AND revoked_at IS NULL \
                           AND EXISTS (SELECT 1 FROM devices a WHERE a.id = $3 AND a.account_id = devices.account_id \
                                       AND a.revoked_at IS NULL AND a.approved_at IS NOT NULL)",
                    )
                    .bind(now)
                    .bind(signature.as_bytes().as_slice())
                    .bind(approver.as_bytes().as_slice())
                    .bind(device.as_bytes().as_slice())
                    .execute(self.writer())
                    .await
                    .map_err(store_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn account_count(&self) -> StoreResult<u64> {
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
                        .fetch_one(self.reader())
                        .await
                        .map_err(store_error)?;
                    Ok(n as u64)
                }

                async fn device(&self, device: &DeviceId) -> StoreResult<Option<DeviceRecord>> {
                    let row: Option<rows::DeviceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{DEVICE_SELECT} WHERE d.id = $1")))
                        .bind(device.as_bytes().as_slice())
                        .fetch_optional(self.reader())
                        .await
                        .map_err(store_error)?;
                    row.map(rows::device_record).transpose()
                }

                async fn list_devices(&self) -> StoreResult<Vec<DeviceRecord>> {
                    let found: Vec<rows::DeviceRow> =
                        sqlx::query_as(sqlx::AssertSqlSafe(format!("{DEVICE_SELECT} ORDER BY d.created_at DESC, d.id DESC")))
                            .fetch_all(self.reader())
                            .await
                            .map_err(store_error)?;
                    found.into_iter().map(rows::device_record).collect()
                }

                async fn revoke_device(&self, device: &DeviceId, now: i64) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query("UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                        .bind(now)
                        .bind(device.as_bytes().as_slice())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    if done.rows_affected() == 0 {
                        let exists: Option<Vec<u8>> = sqlx::query_scalar("SELECT id FROM devices WHERE id = $1")
                            .bind(device.as_bytes().as_slice())
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(store_error)?;
                        return if exists.is_some() { Ok(false) } else { Err(StoreError::NotFound) };
                    }
                    self.announce_revocation(&mut tx).await?;
                    sqlx::query("INSERT INTO revocations (device_id, revoked_at) VALUES ($1, $2)")
                        .bind(device.as_bytes().as_slice())
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    // A revoked device is woken no more.
                    sqlx::query("DELETE FROM push_subscriptions WHERE device_id = $1")
                        .bind(device.as_bytes().as_slice())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(true)
                }

                async fn revocations_since(&self, after: i64) -> StoreResult<Vec<(i64, DeviceId)>> {
                    let found: Vec<(i64, Vec<u8>)> =
                        sqlx::query_as("SELECT cursor, device_id FROM revocations WHERE cursor > $1 ORDER BY cursor")
                            .bind(after)
                            .fetch_all(self.reader())
                            .await
                            .map_err(store_error)?;
                    found.into_iter().map(|(cursor, device)| Ok((cursor, id_from(&device, DeviceId::from_slice)?))).collect()
                }

                async fn revocation_cursor(&self) -> StoreResult<i64> {
                    sqlx::query_scalar("SELECT CAST(COALESCE(MAX(cursor), 0) AS BIGINT) FROM revocations")
                        .fetch_one(self.reader())
                        .await
                        .map_err(store_error)
                }
            }

            // ---- settings

            #[async_trait]
            impl SettingsStore for $store {
                async fn setting(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
                    sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                        .bind(key)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(store_error)
                }

                async fn init_setting(&self, key: &str, value: &[u8]) -> StoreResult<Vec<u8>> {
                    // ON CONFLICT waits for a concurrent insert of the same key; the SELECT (a new
                    // snapshot, on the writer) then sees whichever value won.
                    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                        .bind(key)
                        .bind(value)
                        .execute(self.writer())
                        .await
                        .map_err(store_error)?;
                    sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                        .bind(key)
                        .fetch_one(self.writer())
                        .await
                        .map_err(store_error)
                }

                async fn set_setting(&self, key: &str, value: &[u8]) -> StoreResult<()> {
                    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                        .bind(key)
                        .bind(value)
                        .execute(self.writer())
                        .await
                        .map_err(store_error)?;
                    Ok(())
                }

                async fn claim_signature(&self, hash: &[u8; 32], expires_at: i64, now: i64) -> StoreResult<bool> {
                    // Inserted, or an expired row taken over: one row affected. A live row: none.
                    let done = sqlx::query(
                        "INSERT INTO used_signatures (hash, expires_at) VALUES ($1, $2) \
                         ON CONFLICT (hash) DO UPDATE SET expires_at = excluded.expires_at WHERE used_signatures.expires_at <= $3",
                    )
                    .bind(hash.as_slice())
                    .bind(expires_at)
                    .bind(now)
                    .execute(self.writer())
                    .await
                    .map_err(store_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn forget_signatures(&self, now: i64) -> StoreResult<u64> {
                    let done = sqlx::query("DELETE FROM used_signatures WHERE expires_at <= $1")
                        .bind(now)
                        .execute(self.writer())
                        .await
                        .map_err(store_error)?;
                    Ok(done.rows_affected())
                }
            }

        }
    };
}

pub(crate) use accounts_sql;
