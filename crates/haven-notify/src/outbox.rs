//! The outbox: one JSON file per message, `<message id>.json`, holding the message and the
//! status of each of its deliveries. Every write goes to a temporary file that is synced and
//! renamed over the old one, so a reader (or a restart after a crash) sees either the old or
//! the new record, never a torn one.
//!
//! One notifier writes an outbox directory at a time; other processes (the CLI) may read it.

use haven_fs::WithPath;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::message::{Message, MessageId, rfc3339_millis};

/// Format version of the files, for readers of older outboxes.
const VERSION: u32 = 1;

/// How a subscription receives messages (SNS's subscription protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    Email,
    Webhook,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryState {
    /// Not delivered yet; attempts may have failed and more will follow.
    Pending,
    Delivered,
    /// Given up: the last attempt failed, or the error cannot go away by retrying.
    Failed,
}

impl DeliveryState {
    pub fn is_final(self) -> bool {
        self != Self::Pending
    }
}

/// One message's delivery to one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub protocol: Protocol,
    /// The e-mail address or the webhook URL.
    pub endpoint: String,
    pub state: DeliveryState,
    /// Attempts made to reach the endpoint (0 when the configuration ruled it out).
    pub attempts: u32,
    pub last_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub last_error: Option<String>,
}

impl Delivery {
    pub(crate) fn pending(protocol: Protocol, endpoint: &str) -> Self {
        Self {
            protocol,
            endpoint: endpoint.to_owned(),
            state: DeliveryState::Pending,
            attempts: 0,
            last_attempt_at: None,
            delivered_at: None,
            last_error: None,
        }
    }
}

/// A message and its deliveries, as the outbox holds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub message: Message,
    pub deliveries: Vec<Delivery>,
}

impl OutboxEntry {
    /// Whether every delivery is delivered or failed.
    pub fn is_settled(&self) -> bool {
        self.deliveries.iter().all(|d| d.state.is_final())
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    #[serde(flatten)]
    entry: OutboxEntry,
}

/// An outbox directory.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    /// Serialises read-modify-write of records: deliveries of one message finish
    /// concurrently.
    write: Mutex<()>,
}

impl Outbox {
    /// An outbox to read: nothing is created or removed, and a directory that does not exist
    /// yet reads as empty. Safe while a notifier writes the same directory.
    pub fn open(dir: &Path) -> Result<Self> {
        match fs::metadata(dir) {
            Ok(m) if !m.is_dir() => Err(haven_fs::IoError::new(
                dir,
                std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
            )
            .into()),
            Ok(_) => Ok(Self::at(dir)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::at(dir)),
            Err(e) => Err(haven_fs::IoError::new(dir, e).into()),
        }
    }

    /// The writer's open: creates the directory and removes temporary files a crash left
    /// behind (which only the one writer may do: a reader could remove a file mid-write).
    pub(crate) fn create(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).with_path(dir)?;
        for entry in fs::read_dir(dir).with_path(dir)? {
            let entry = entry.with_path(dir)?;
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                let path = entry.path();
                fs::remove_file(&path).with_path(&path)?;
            }
        }
        Ok(Self::at(dir))
    }

    fn at(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            write: Mutex::new(()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &MessageId) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Records a new message with its deliveries.
    pub(crate) fn insert(&self, entry: &OutboxEntry) -> Result<()> {
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let path = self.path(&entry.message.id);
        match fs::symlink_metadata(&path) {
            Ok(_) => return Err(Error::AlreadyPublished(entry.message.id.clone())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(haven_fs::IoError::new(&path, e).into()),
        }
        self.write_entry(entry)
    }

    pub fn get(&self, id: &MessageId) -> Result<OutboxEntry> {
        let path = self.path(id);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.clone()));
            }
            Err(e) => return Err(haven_fs::IoError::new(&path, e).into()),
        };
        let stored: Stored =
            serde_json::from_slice(&bytes).map_err(|source| Error::Corrupt { path, source })?;
        Ok(stored.entry)
    }

    /// Every message's id, oldest first (ids sort by publish time).
    pub fn ids(&self) -> Result<Vec<MessageId>> {
        let mut ids = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(haven_fs::IoError::new(&self.dir, e).into()),
        };
        for entry in entries {
            let entry = entry.with_path(&self.dir)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name.strip_suffix(".json").and_then(|s| s.parse().ok()) {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The newest `limit` messages, newest first. Unreadable records are skipped with a
    /// warning, so that one damaged file does not hide the others.
    pub fn list(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        let mut out = Vec::new();
        for id in self.ids()?.into_iter().rev() {
            if out.len() == limit {
                break;
            }
            match self.get(&id) {
                Ok(e) => out.push(e),
                // Removed between listing and reading: not an error for a listing.
                Err(Error::NotFound(_)) => {}
                Err(e) => tracing::warn!("skipping outbox record: {e}"),
            }
        }
        Ok(out)
    }

    /// Changes delivery `index` of message `id` and returns the delivery as recorded.
    pub(crate) fn update(
        &self,
        id: &MessageId,
        index: usize,
        change: impl FnOnce(&mut Delivery),
    ) -> Result<Delivery> {
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let mut entry = self.get(id)?;
        let Some(d) = entry.deliveries.get_mut(index) else {
            return Err(Error::NotFound(id.clone()));
        };
        change(d);
        let d = d.clone();
        self.write_entry(&entry)?;
        Ok(d)
    }

    /// Caller holds `write`.
    fn write_entry(&self, entry: &OutboxEntry) -> Result<()> {
        let path = self.path(&entry.message.id);
        let stored = Stored {
            version: VERSION,
            entry: entry.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&stored).map_err(|source| Error::Corrupt {
            path: path.clone(),
            source,
        })?;
        bytes.push(b'\n');
        Ok(haven_fs::write_atomic(&path, &bytes)?)
    }
}

pub(crate) fn now_rfc3339() -> String {
    rfc3339_millis(haven_time::now())
}
