//! Blob upload sessions between requests: each is a registry upload (a temp file) with the
//! repository it belongs to and when it was last used. Sessions idle past the timeout are
//! dropped by the server's reaper, and dropping an upload removes its temp file.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use haven_registry::BlobUpload;

/// One upload in progress. `upload` is `None` while a request streams into it on a blocking
/// thread, and stays `None` if that request was abandoned midway (the session is then gone).
pub struct Session {
    pub repo: String,
    pub upload: Option<BlobUpload>,
    pub touched: Instant,
}

pub type Shared = Arc<tokio::sync::Mutex<Session>>;

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Shared>>,
}

impl Sessions {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Shared>> {
        // A panic while holding this lock leaves the map itself consistent.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers an upload; returns its id (random, so not guessable across repositories).
    pub fn insert(&self, repo: &str, upload: BlobUpload) -> String {
        let id = haven_fs::random::id_hex(16);
        let session = Session {
            repo: repo.to_owned(),
            upload: Some(upload),
            touched: Instant::now(),
        };
        self.map()
            .insert(id.clone(), Arc::new(tokio::sync::Mutex::new(session)));
        id
    }

    pub fn get(&self, id: &str) -> Option<Shared> {
        self.map().get(id).cloned()
    }

    pub fn remove(&self, id: &str) {
        self.map().remove(id);
    }

    /// Drops sessions idle for longer than `timeout` (not those a request is using now);
    /// returns how many.
    pub fn expire(&self, timeout: Duration) -> usize {
        let mut map = self.map();
        let before = map.len();
        map.retain(|_, s| match s.try_lock() {
            Ok(session) => session.touched.elapsed() <= timeout,
            Err(_) => true,
        });
        before - map.len()
    }

    /// Drops every session: the server is stopping, uploads in progress are abandoned.
    pub fn clear(&self) {
        self.map().clear();
    }
}
