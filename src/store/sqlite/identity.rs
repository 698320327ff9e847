//! The store file's identity (SPEC 7): an exclusive lock held by the one writer, and
//! a check before every batch that the file at the path is still the one opened —
//! not deleted, replaced, truncated or overwritten — so twilert never answers 200
//! for an event written to a file that is gone.
//!
//! The lock is `flock` on a descriptor of the store file itself, kept open for the
//! writer's life (closing another descriptor of the file would drop SQLite's own
//! POSIX locks, so this one is never closed early and the check reads through it).

use super::{Result, StoreError};
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

pub(super) struct Identity {
    path: PathBuf,
    file: File,
    dev: u64,
    ino: u64,
    /// Set once the file was seen truncated or overwritten: SQLite may write pages
    /// back into it later, so it never counts as healthy again in this process.
    damaged: Option<String>,
}

impl Identity {
    /// Takes the exclusive lock; refused while another process holds it.
    pub(super) fn lock(path: &Path) -> Result<Identity> {
        let unavailable = |cause: String| StoreError::Unavailable {
            path: path.display().to_string(),
            cause,
        };
        let file = File::open(path).map_err(|e| unavailable(format!("cannot open: {e}")))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(unavailable(
                    "in use by another twilert process (a running `twilert serve`?); \
                     one store has one writer: stop the other process, or give this one \
                     its own store.path"
                        .into(),
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(unavailable(format!("cannot lock: {e}")))
            }
        }
        let meta = file
            .metadata()
            .map_err(|e| unavailable(format!("cannot stat: {e}")))?;
        Ok(Identity {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
            file,
            damaged: None,
        })
    }

    /// The file at the path is the one locked, and still starts like a SQLite file.
    /// A failure leaves a `<path>.damaged` note, so that no later start treats what is
    /// left at the path as a good store.
    pub(super) fn check(&mut self) -> Result<()> {
        let result = self.check_file();
        if let Err(StoreError::Unavailable { cause, .. }) = &result {
            if !marker(&self.path).exists() {
                let _ = std::fs::write(marker(&self.path), format!("{cause}\n"));
            }
        }
        result
    }

    fn check_file(&mut self) -> Result<()> {
        if let Some(cause) = &self.damaged {
            return Err(StoreError::Unavailable {
                path: self.path.display().to_string(),
                cause: cause.clone(),
            });
        }
        let path = self.path.display().to_string();
        let unavailable = |cause: &str| StoreError::Unavailable {
            path: path.clone(),
            cause: cause.to_string(),
        };
        match std::fs::metadata(&self.path) {
            Ok(m) if m.dev() == self.dev && m.ino() == self.ino => {}
            Ok(_) => return Err(unavailable(
                "the file at this path was replaced while twilert had the store open; writes refused",
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(unavailable(
                "the store file was deleted while twilert had it open; writes refused",
            )),
            Err(e) => return Err(unavailable(&format!("cannot stat the store file: {e}"))),
        }
        let mut head = [0u8; 16];
        let damage = match self.file.read_at(&mut head, 0) {
            Ok(16) if &head == SQLITE_MAGIC => {
                // The file was ours and well-formed: a note left by a cause that went
                // away (a file moved back) goes too.
                let _ = std::fs::remove_file(marker(&self.path));
                return Ok(());
            }
            Ok(n) if n < 16 => "the store file was truncated while open; writes refused",
            Ok(_) => "the store file's header was overwritten (not a SQLite file any more); writes refused",
            Err(e) => return Err(unavailable(&format!("cannot read the store file: {e}"))),
        };
        self.damaged = Some(damage.to_string());
        Err(unavailable(damage))
    }
}

/// `<path>.damaged`: written when a running twilert found its store deleted,
/// replaced, truncated or overwritten.
fn marker(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.damaged", path.display()))
}

/// Refuses to start on a store that a previous run found damaged, or on an existing
/// but empty file (a truncated store, not a new one): either would silently begin
/// from nothing.
pub(super) fn refuse_damaged(path: &Path) -> Result<()> {
    if let Ok(cause) = std::fs::read_to_string(marker(path)) {
        return Err(StoreError::Unavailable {
            path: path.display().to_string(),
            cause: format!(
                "a previous twilert found this store damaged ({}). Check it (`sqlite3 {} 'PRAGMA integrity_check'`), \
                 or put back the `.recovered-*` copy saved beside it, then delete {} to start",
                cause.trim(),
                path.display(),
                marker(path).display()
            ),
        });
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() == 0 => Err(StoreError::Unavailable {
            path: path.display().to_string(),
            cause: "the file exists but is empty (truncated?); refusing to start on it as a new store. \
                    Restore it from a backup, or move it aside to start with an empty store"
                .into(),
        }),
        _ => Ok(()),
    }
}

/// Whether another process holds the store's writer lock (a running service).
pub fn held_by_another(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let held = matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock));
    // Closing this descriptor is harmless: this process has no SQLite connection open
    // on the file (the callers are CLI commands that decide which path to take).
    drop(file);
    held
}
