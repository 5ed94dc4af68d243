//! Persistence for the MLS layer: one small in-memory key-value store, [`KvState`], that implements
//! mls-rs's three storage traits (group state with its prior epochs, KeyPackage secrets,
//! pre-shared keys) and remembers which entries changed since the last flush; and the
//! [`StateStore`] trait those changes are flushed to.
//!
//! The whole MLS state of one [`crate::mls::MlsClient`] is a flat map from ASCII keys to byte
//! values. Keys (binary ids in lowercase hex, epochs as 16 hex digits so they sort numerically):
//!
//! | key | value |
//! |---|---|
//! | `self` | the client's own credential and public key (checked on reload) |
//! | `g.<group>.s` | the group's state (mls-rs snapshot; 1.3 KB for 2 members, ~35 KB for 100) |
//! | `g.<group>.e.<epoch>` | secrets of a prior epoch (late messages), the last [`EPOCH_RETENTION`] kept |
//! | `g.<group>.r.<epoch>` | the roster of a prior epoch, to name the sender of a late message |
//! | `kp.<ref>` | a KeyPackage's private keys, deleted when it is used to join |
//! | `lr.<ref>` | marks a last-resort KeyPackage: its keys survive joins |
//! | `psk.<id>` | an external pre-shared key (none are used today) |
//!
//! Values contain secret keys: whatever stores them must be treated like the device keys.
//!
//! Two ways to persist: give the client a [`StateStore`] (it flushes synchronously before
//! anything is sent and after anything is processed), or take the changes yourself with
//! `MlsClient::take_changes()` and write them (the browser's IndexedDB), keeping the same rule.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};

use mls_rs::mls_rs_codec::{MlsDecode, MlsEncode};
use mls_rs_core::group::{EpochRecord, GroupState, GroupStateStorage};
use mls_rs_core::key_package::{KeyPackageData, KeyPackageStorage};
use mls_rs_core::psk::{ExternalPskId, PreSharedKey, PreSharedKeyStorage};
use zeroize::Zeroizing;

/// How many prior epochs' secrets are kept per group, so that messages sent just before a commit
/// still decrypt after it (mls-rs's default).
pub const EPOCH_RETENTION: usize = 3;

/// A change to flush: `(key, Some(value))` writes, `(key, None)` deletes.
pub type Change = (String, Option<Vec<u8>>);

/// Why persisting failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("state store is corrupt: {0}")]
    Corrupt(String),
}

/// Where the MLS state is persisted. `apply` must be atomic (all the changes or none survive a
/// crash) and durable when it returns: the client sends nothing it has not persisted.
pub trait StateStore {
    /// Every stored entry, to rebuild the client's state on start.
    fn load_all(&mut self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Writes (`Some`) and deletes (`None`) in one atomic, durable step.
    fn apply(&mut self, changes: Vec<Change>) -> Result<(), StoreError>;
}

/// A [`StateStore`] in memory (tests; state that may be lost). Clones share the same map.
#[derive(Clone, Default)]
pub struct MemoryStateStore(Arc<Mutex<BTreeMap<String, Vec<u8>>>>);

impl MemoryStateStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The stored entries (for tests and debugging; they contain secrets).
    pub fn entries(&self) -> BTreeMap<String, Vec<u8>> {
        self.0.lock().unwrap().clone()
    }
}

impl StateStore for MemoryStateStore {
    fn load_all(&mut self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self.0.lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    fn apply(&mut self, changes: Vec<Change>) -> Result<(), StoreError> {
        let mut map = self.0.lock().unwrap();
        for (key, value) in changes {
            match value {
                Some(value) => map.insert(key, value),
                None => map.remove(&key),
            };
        }
        Ok(())
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use file::FileStateStore;

#[cfg(not(target_arch = "wasm32"))]
mod file {
    //! An append-only log: each `apply` appends one record `u32 LE length · SHA-256(body) · body`
    //! (body: the changes) and fsyncs, so a batch is atomic (a torn or corrupt tail is dropped on
    //! load) and durable. When the log grows past four times the live data (and 256 KiB), it is
    //! rewritten as one record to `state.log.tmp`, fsynced and renamed over the log.

    use super::{Change, StateStore, StoreError};
    use sha2::{Digest, Sha256};
    use std::collections::BTreeMap;
    use std::fs::{self, File, OpenOptions};
    use std::io::{Read, Write};
    use std::path::{Path, PathBuf};

    const LOG: &str = "state.log";
    const TMP: &str = "state.log.tmp";
    const COMPACT_MIN: u64 = 256 * 1024;

    /// A [`StateStore`] in a directory (one append-only log file, written with fsync; files are
    /// created mode 0600). One directory per `MlsClient`.
    pub struct FileStateStore {
        dir: PathBuf,
        log: Option<File>,
        live: BTreeMap<String, Vec<u8>>,
        log_len: u64,
    }

    impl FileStateStore {
        /// Opens (creating if needed) the store in `dir`. Nothing is read until `load_all`.
        pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
            let dir = dir.as_ref().to_path_buf();
            fs::create_dir_all(&dir)?;
            let mut store = FileStateStore { dir, log: None, live: BTreeMap::new(), log_len: 0 };
            store.read_log()?;
            Ok(store)
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.join(name)
        }

        /// Replays the log into `live` and truncates a torn tail.
        fn read_log(&mut self) -> Result<(), StoreError> {
            let path = self.path(LOG);
            let mut bytes = Vec::new();
            match File::open(&path) {
                Ok(mut f) => {
                    f.read_to_end(&mut bytes)?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            let mut live = BTreeMap::new();
            let mut pos = 0usize;
            while let Some((body, next)) = record_at(&bytes, pos) {
                for (key, value) in decode_body(body).ok_or_else(|| StoreError::Corrupt("bad record body".into()))? {
                    match value {
                        Some(v) => live.insert(key, v),
                        None => live.remove(&key),
                    };
                }
                pos = next;
            }
            let log = open_append(&path)?;
            if (pos as u64) < bytes.len() as u64 {
                // A crash during an append: the incomplete record was never acknowledged.
                log.set_len(pos as u64)?;
                log.sync_all()?;
            }
            self.log = Some(log);
            self.log_len = pos as u64;
            self.live = live;
            sync_dir(&self.dir);
            Ok(())
        }

        fn compact(&mut self) -> Result<(), StoreError> {
            let changes: Vec<Change> = self.live.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
            let record = encode_record(&changes);
            let tmp = self.path(TMP);
            {
                let mut f = create_private(&tmp)?;
                f.write_all(&record)?;
                f.sync_all()?;
            }
            fs::rename(&tmp, self.path(LOG))?;
            sync_dir(&self.dir);
            self.log = Some(open_append(&self.path(LOG))?);
            self.log_len = record.len() as u64;
            Ok(())
        }
    }

    impl StateStore for FileStateStore {
        fn load_all(&mut self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
            Ok(self.live.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        }

        fn apply(&mut self, changes: Vec<Change>) -> Result<(), StoreError> {
            if changes.is_empty() {
                return Ok(());
            }
            let record = encode_record(&changes);
            let log = self.log.as_mut().expect("log is open");
            log.write_all(&record)?;
            log.sync_data()?;
            self.log_len += record.len() as u64;
            for (key, value) in changes {
                match value {
                    Some(v) => self.live.insert(key, v),
                    None => self.live.remove(&key),
                };
            }
            let live_bytes: u64 = self.live.iter().map(|(k, v)| (k.len() + v.len() + 9) as u64).sum();
            if self.log_len > COMPACT_MIN && self.log_len > 4 * live_bytes {
                self.compact()?;
            }
            Ok(())
        }
    }

    fn open_append(path: &Path) -> std::io::Result<File> {
        let mut opts = OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        opts.open(path)
    }

    fn create_private(path: &Path) -> std::io::Result<File> {
        let mut opts = OpenOptions::new();
        opts.create(true).write(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        opts.open(path)
    }

    fn sync_dir(dir: &Path) {
        // Makes a create or rename durable; not supported everywhere, and harmless to skip there.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }

    fn encode_record(changes: &[Change]) -> Vec<u8> {
        let mut body = Vec::new();
        for (key, value) in changes {
            body.extend_from_slice(&(key.len() as u32).to_le_bytes());
            body.extend_from_slice(key.as_bytes());
            match value {
                Some(v) => {
                    body.push(1);
                    body.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    body.extend_from_slice(v);
                }
                None => body.push(0),
            }
        }
        let mut out = Vec::with_capacity(36 + body.len());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&Sha256::digest(&body));
        out.extend_from_slice(&body);
        out
    }

    /// The body of the record at `pos` and the position after it, if complete and intact.
    fn record_at(bytes: &[u8], pos: usize) -> Option<(&[u8], usize)> {
        let len = u32::from_le_bytes(bytes.get(pos..pos + 4)?.try_into().ok()?) as usize;
        let hash = bytes.get(pos + 4..pos + 36)?;
        let body = bytes.get(pos + 36..(pos + 36).checked_add(len)?)?;
        (Sha256::digest(body)[..] == *hash).then_some((body, pos + 36 + len))
    }

    fn decode_body(mut body: &[u8]) -> Option<Vec<Change>> {
        fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            let (head, rest) = b.split_at_checked(n)?;
            *b = rest;
            Some(head)
        }
        fn len(b: &mut &[u8]) -> Option<usize> {
            Some(u32::from_le_bytes(take(b, 4)?.try_into().ok()?) as usize)
        }
        let mut out = Vec::new();
        while !body.is_empty() {
            let n = len(&mut body)?;
            let key = String::from_utf8(take(&mut body, n)?.to_vec()).ok()?;
            let value = match take(&mut body, 1)?[0] {
                0 => None,
                1 => {
                    let n = len(&mut body)?;
                    Some(take(&mut body, n)?.to_vec())
                }
                _ => return None,
            };
            out.push((key, value));
        }
        Some(out)
    }
}

/// The client's MLS state in memory, shared (clones are handles to the same map) by the mls-rs
/// client and its groups, with the list of entries changed since the last [`KvState::take_changes`].
#[derive(Clone, Default)]
pub struct KvState(Arc<Mutex<KvInner>>);

#[derive(Default)]
struct KvInner {
    map: BTreeMap<String, Zeroizing<Vec<u8>>>,
    dirty: BTreeMap<String, bool>,
}

impl KvState {
    /// A state rebuilt from stored entries (nothing dirty).
    pub fn from_entries(entries: impl IntoIterator<Item = (String, Vec<u8>)>) -> Self {
        let map = entries.into_iter().map(|(k, v)| (k, Zeroizing::new(v))).collect();
        KvState(Arc::new(Mutex::new(KvInner { map, dirty: BTreeMap::new() })))
    }

    fn lock(&self) -> MutexGuard<'_, KvInner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The changes since the last call (each key once, with its latest value or `None` if deleted).
    pub fn take_changes(&self) -> Vec<Change> {
        let mut inner = self.lock();
        let dirty = std::mem::take(&mut inner.dirty);
        dirty
            .into_keys()
            .map(|k| {
                let v = inner.map.get(&k).map(|v| v.to_vec());
                (k, v)
            })
            .collect()
    }

    /// Puts changes taken with [`KvState::take_changes`] back (their flush failed), unless a newer
    /// change to the same key is already pending.
    pub(crate) fn restore_changes(&self, changes: &[Change]) {
        let mut inner = self.lock();
        for (k, _) in changes {
            inner.dirty.entry(k.clone()).or_insert(true);
        }
    }

    pub fn has_changes(&self) -> bool {
        !self.lock().dirty.is_empty()
    }

    /// Every entry (contains secrets).
    pub fn entries(&self) -> Vec<(String, Vec<u8>)> {
        self.lock().map.iter().map(|(k, v)| (k.clone(), v.to_vec())).collect()
    }

    pub(crate) fn value(&self, key: &str) -> Option<Zeroizing<Vec<u8>>> {
        self.lock().map.get(key).cloned()
    }

    pub(crate) fn set(&self, key: String, value: Vec<u8>) {
        let mut inner = self.lock();
        inner.dirty.insert(key.clone(), true);
        inner.map.insert(key, Zeroizing::new(value));
    }

    pub(crate) fn unset(&self, key: &str) {
        let mut inner = self.lock();
        if inner.map.remove(key).is_some() {
            inner.dirty.insert(key.to_owned(), true);
        }
    }

    pub(crate) fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.lock()
            .map
            .range(prefix.to_owned()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    pub(crate) fn unset_prefix(&self, prefix: &str) {
        for key in self.keys_with_prefix(prefix) {
            self.unset(&key);
        }
    }
}

pub(crate) fn group_prefix(group_id: &[u8]) -> String {
    format!("g.{}.", hex::encode(group_id))
}

pub(crate) fn group_state_key(group_id: &[u8]) -> String {
    format!("{}s", group_prefix(group_id))
}

fn epoch_prefix(group_id: &[u8]) -> String {
    format!("{}e.", group_prefix(group_id))
}

fn epoch_key(group_id: &[u8], epoch: u64) -> String {
    format!("{}{epoch:016x}", epoch_prefix(group_id))
}

pub(crate) fn roster_prefix(group_id: &[u8]) -> String {
    format!("{}r.", group_prefix(group_id))
}

pub(crate) fn roster_key(group_id: &[u8], epoch: u64) -> String {
    format!("{}{epoch:016x}", roster_prefix(group_id))
}

pub(crate) fn key_package_key(id: &[u8]) -> String {
    format!("kp.{}", hex::encode(id))
}

pub(crate) fn last_resort_key(id: &[u8]) -> String {
    format!("lr.{}", hex::encode(id))
}

/// The group ids with a stored state.
pub(crate) fn stored_groups(kv: &KvState) -> Vec<Vec<u8>> {
    kv.keys_with_prefix("g.")
        .into_iter()
        .filter_map(|k| k.strip_prefix("g.")?.strip_suffix(".s").and_then(|h| hex::decode(h).ok()))
        .collect()
}

impl GroupStateStorage for KvState {
    type Error = Infallible;

    fn state(&self, group_id: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, Infallible> {
        Ok(self.value(&group_state_key(group_id)))
    }

    fn epoch(&self, group_id: &[u8], epoch_id: u64) -> Result<Option<Zeroizing<Vec<u8>>>, Infallible> {
        Ok(self.value(&epoch_key(group_id, epoch_id)))
    }

    fn write(
        &mut self,
        state: GroupState,
        inserts: Vec<EpochRecord>,
        updates: Vec<EpochRecord>,
    ) -> Result<(), Infallible> {
        let id = state.id.clone();
        self.set(group_state_key(&id), state.data.to_vec());
        for record in inserts {
            self.set(epoch_key(&id, record.id), record.data.to_vec());
        }
        for record in updates {
            let key = epoch_key(&id, record.id);
            if self.value(&key).is_some() {
                self.set(key, record.data.to_vec());
            }
        }
        let epochs = self.keys_with_prefix(&epoch_prefix(&id));
        for key in epochs.iter().take(epochs.len().saturating_sub(EPOCH_RETENTION)) {
            self.unset(key);
        }
        Ok(())
    }

    fn max_epoch_id(&self, group_id: &[u8]) -> Result<Option<u64>, Infallible> {
        Ok(self
            .keys_with_prefix(&epoch_prefix(group_id))
            .last()
            .and_then(|k| u64::from_str_radix(k.rsplit('.').next()?, 16).ok()))
    }
}

/// Why a stored KeyPackage could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("stored KeyPackage data is corrupt")]
pub struct CorruptEntry;

impl mls_rs::error::IntoAnyError for CorruptEntry {
    fn into_dyn_error(self) -> Result<Box<dyn std::error::Error + Send + Sync>, Self> {
        Ok(Box::new(self))
    }
}

impl KeyPackageStorage for KvState {
    type Error = CorruptEntry;

    fn delete(&mut self, id: &[u8]) -> Result<(), CorruptEntry> {
        // A last-resort KeyPackage may be handed out to several joiners: keep its keys until it is
        // replaced (see `MlsClient::last_resort_key_package`).
        if self.value(&last_resort_key(id)).is_none() {
            self.unset(&key_package_key(id));
        }
        Ok(())
    }

    fn insert(&mut self, id: Vec<u8>, pkg: KeyPackageData) -> Result<(), CorruptEntry> {
        let bytes = pkg.mls_encode_to_vec().map_err(|_| CorruptEntry)?;
        self.set(key_package_key(&id), bytes);
        Ok(())
    }

    fn get(&self, id: &[u8]) -> Result<Option<KeyPackageData>, CorruptEntry> {
        self.value(&key_package_key(id))
            .map(|bytes| KeyPackageData::mls_decode(&mut bytes.as_slice()).map_err(|_| CorruptEntry))
            .transpose()
    }
}

impl PreSharedKeyStorage for KvState {
    type Error = CorruptEntry;

    fn get(&self, id: &ExternalPskId) -> Result<Option<PreSharedKey>, CorruptEntry> {
        let key = format!("psk.{}", hex::encode(id.as_ref()));
        self.value(&key)
            .map(|bytes| PreSharedKey::mls_decode(&mut bytes.as_slice()).map_err(|_| CorruptEntry))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirty_list_collapses_per_key_and_reports_deletes() {
        let kv = KvState::default();
        kv.set("a".into(), vec![1]);
        kv.set("a".into(), vec![2]);
        kv.set("b".into(), vec![3]);
        kv.unset("b");
        kv.unset("never");
        assert_eq!(kv.take_changes(), vec![("a".into(), Some(vec![2])), ("b".into(), None)]);
        assert!(!kv.has_changes());
    }

    #[test]
    fn epochs_are_trimmed_to_the_retention() {
        let mut kv = KvState::default();
        for epoch in 0..6u64 {
            let state = GroupState { id: vec![7], data: Zeroizing::new(vec![epoch as u8]) };
            kv.write(state, vec![EpochRecord::new(epoch, Zeroizing::new(vec![0]))], vec![]).unwrap();
        }
        assert_eq!(kv.max_epoch_id(&[7]).unwrap(), Some(5));
        assert!(kv.epoch(&[7], 2).unwrap().is_none());
        assert!(kv.epoch(&[7], 3).unwrap().is_some());
        assert_eq!(stored_groups(&kv), vec![vec![7]]);
    }

    #[test]
    fn file_store_survives_reopen_torn_tail_and_compaction() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = FileStateStore::open(dir.path()).unwrap();
            store.apply(vec![("k1".into(), Some(vec![1; 10])), ("k2".into(), Some(vec![2; 10]))]).unwrap();
            store.apply(vec![("k1".into(), None)]).unwrap();
        }
        // A torn append: garbage after the last complete record is dropped.
        let log = dir.path().join("state.log");
        let mut bytes = std::fs::read(&log).unwrap();
        bytes.extend_from_slice(&[50, 0, 0, 0, 1, 2, 3]);
        std::fs::write(&log, &bytes).unwrap();
        let mut store = FileStateStore::open(dir.path()).unwrap();
        assert_eq!(store.load_all().unwrap(), vec![("k2".to_owned(), vec![2; 10])]);
        // Many overwrites trigger a compaction; the content stays.
        for i in 0..200u32 {
            store.apply(vec![("big".into(), Some(vec![i as u8; 4000]))]).unwrap();
        }
        assert!(std::fs::metadata(&log).unwrap().len() < 300 * 1024);
        let mut store = FileStateStore::open(dir.path()).unwrap();
        let all: BTreeMap<_, _> = store.load_all().unwrap().into_iter().collect();
        assert_eq!(all.get("big"), Some(&vec![199u8; 4000]));
        assert_eq!(all.get("k2"), Some(&vec![2u8; 10]));
    }
}
