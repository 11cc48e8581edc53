//! The local-folder backend of `Store`: each object is a file under the root folder at
//! the path its key names. Writes are atomic: the bytes go to a temporary file in the
//! target folder, which is synced, then renamed into place (or, for
//! `PutMode::CreateNew`, moved without replacing anything, so two processes can never
//! both create one key), and the folder is synced. Readers and `list` therefore never
//! see a partial object; temporary files are removed on failure and never listed.
//! Disk work runs on tokio's blocking pool.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::{ObjectMeta, PutMode, StoreError, Version, check_key};

/// Temporary files start with this; `list` never shows them. The S3 backend names its
/// temporary download files the same way.
pub(super) const TMP_PREFIX: &str = ".lifeboat-tmp-";

/// The files whose advisory locks make a local compare-and-swap atomic start with this
/// (they stay, empty, beside their key); `list` never shows them either.
const GUARD_PREFIX: &str = ".lifeboat-guard-";

/// A store in a local folder (created when missing).
#[derive(Clone, Debug)]
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    /// A store rooted at `root`; a relative root is resolved against the current folder
    /// now, so the store does not move if the process changes folder later.
    pub fn new(root: PathBuf) -> FsStore {
        let root = std::path::absolute(&root).unwrap_or(root);
        FsStore { root }
    }

    /// `file:///abs/path`.
    pub fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }

    pub async fn put(&self, key: &str, body: Vec<u8>, mode: PutMode) -> Result<(), StoreError> {
        let dest = self.path_for(key)?;
        let written = self
            .blocking("write", key, move || {
                let staged = Staged::write(&dest, |file| {
                    file.write_all(&body)?;
                    Ok(body.len() as u64)
                })?;
                staged.commit(mode)
            })
            .await?;
        match written {
            Some(_) => Ok(()),
            None => Err(self.exists(key)),
        }
    }

    pub async fn put_file(&self, key: &str, path: &Path, mode: PutMode) -> Result<u64, StoreError> {
        let dest = self.path_for(key)?;
        let source = path.to_path_buf();
        let written = self
            .blocking("upload", key, move || {
                let mut from = File::open(&source).map_err(|e| with_path(&source, e))?;
                let staged = Staged::write(&dest, |file| io::copy(&mut from, file))?;
                staged.commit(mode)
            })
            .await?;
        written.ok_or_else(|| self.exists(key))
    }

    pub async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path_for(key)?;
        match tokio::fs::read(&path).await {
            Ok(body) => Ok(body),
            Err(e) if is_missing(&e) => Err(self.not_found(key)),
            Err(e) => Err(self.io_error("read", key, e)),
        }
    }

    pub async fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, StoreError> {
        let source = self.path_for(key)?;
        let dest = path.to_path_buf();
        let copied = self
            .blocking("download", key, move || {
                let mut from = match open_object(&source) {
                    Ok(file) => file,
                    Err(e) if is_missing(&e) => return Ok(None),
                    Err(e) => return Err(e),
                };
                let staged = Staged::write(&dest, |file| io::copy(&mut from, file))
                    .map_err(|e| with_path(&dest, e))?;
                staged
                    .commit(PutMode::Overwrite)
                    .map_err(|e| with_path(&dest, e))
            })
            .await?;
        copied.ok_or_else(|| self.not_found(key))
    }

    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let path = self.path_for(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(Some(ObjectMeta {
                key: key.to_string(),
                size: meta.len(),
                modified: meta.modified().ok(),
            })),
            Ok(_) => Ok(None),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(self.io_error("inspect", key, e)),
        }
    }

    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        check_prefix(prefix)?;
        let root = self.root.clone();
        let owned = prefix.to_string();
        let what = if prefix.is_empty() { "objects" } else { prefix };
        let mut objects = self
            .blocking("list", what, move || {
                // Only the folder named by the prefix's complete segments can hold matches.
                let base = owned.rfind('/').map_or("", |i| &owned[..i]);
                let mut out = Vec::new();
                walk(&root.join(base), base, &owned, &mut out)?;
                Ok(out)
            })
            .await?;
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path_for(key)?;
        self.blocking("delete", key, move || match std::fs::remove_file(&path) {
            Ok(()) => sync_parent(&path),
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(e),
        })
        .await
    }

    pub async fn get_versioned(&self, key: &str) -> Result<(Vec<u8>, Version), StoreError> {
        let body = self.get(key).await?;
        let version = version_of(&body);
        Ok((body, version))
    }

    /// Replaces `key` if its content is still at `version`: the check and the rename
    /// happen under an exclusive lock of the key, which every `replace` and `delete_if`
    /// of it takes.
    pub async fn replace(&self, key: &str, body: Vec<u8>, at: &Version) -> Result<(), StoreError> {
        let dest = self.path_for(key)?;
        let expected = at.clone();
        let replaced = self
            .blocking("replace", key, move || {
                let _guard = KeyLock::take(&dest)?;
                if current_version(&dest)? != Some(expected) {
                    return Ok(false);
                }
                Staged::write(&dest, |file| {
                    file.write_all(&body)?;
                    Ok(body.len() as u64)
                })?
                .commit(PutMode::Overwrite)?;
                Ok(true)
            })
            .await?;
        if replaced {
            Ok(())
        } else {
            Err(StoreError::changed(self.describe(), key))
        }
    }

    /// Deletes `key` if its content is still at `version` (under the key's lock).
    pub async fn delete_if(&self, key: &str, version: &Version) -> Result<(), StoreError> {
        let path = self.path_for(key)?;
        let expected = version.clone();
        let deleted = self
            .blocking("delete", key, move || {
                let _guard = KeyLock::take(&path)?;
                if current_version(&path)? != Some(expected) {
                    return Ok(false);
                }
                std::fs::remove_file(&path)?;
                sync_parent(&path)?;
                Ok(true)
            })
            .await?;
        if deleted {
            Ok(())
        } else {
            Err(StoreError::changed(self.describe(), key))
        }
    }

    fn path_for(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    /// Runs disk work on the blocking pool; its `io::Error` becomes `StoreError::Io`.
    async fn blocking<T, F>(&self, op: &'static str, key: &str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce() -> io::Result<T> + Send + 'static,
    {
        match tokio::task::spawn_blocking(work).await {
            Ok(result) => result.map_err(|e| self.io_error(op, key, e)),
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => Err(self.io_error(
                op,
                key,
                io::Error::new(io::ErrorKind::Interrupted, "the runtime is shutting down"),
            )),
        }
    }

    fn io_error(&self, op: &'static str, key: &str, source: io::Error) -> StoreError {
        StoreError::Io {
            store: self.describe(),
            op,
            key: key.to_string(),
            source,
        }
    }

    fn not_found(&self, key: &str) -> StoreError {
        StoreError::NotFound {
            store: self.describe(),
            key: key.to_string(),
        }
    }

    fn exists(&self, key: &str) -> StoreError {
        StoreError::AlreadyExists {
            store: self.describe(),
            key: key.to_string(),
        }
    }
}

/// A listing prefix is empty or the start of some valid key, so it can never name a
/// folder outside the store's root. Both backends apply this rule.
pub(super) fn check_prefix(prefix: &str) -> Result<(), StoreError> {
    // Completing the last (partial) segment turns a valid prefix into a valid key.
    if prefix.is_empty() || check_key(&format!("{prefix}x")).is_ok() {
        return Ok(());
    }
    Err(StoreError::Config(format!(
        "invalid listing prefix `{prefix}`: a prefix is empty or the start of a relative, `/`-separated key without empty, `.` or `..` segments"
    )))
}

/// A fully written and synced temporary file next to its destination; dropping it
/// removes the temporary file.
struct Staged {
    tmp: NamedTempFile,
    dest: PathBuf,
    len: u64,
}

/// The version of a local object: a digest of its content.
fn version_of(body: &[u8]) -> Version {
    use sha2::{Digest, Sha256};
    Version(crate::archive::part::hex(&Sha256::digest(body)))
}

/// The version of the file at `path` now, `None` when there is none.
fn current_version(path: &Path) -> io::Result<Option<Version>> {
    match std::fs::read(path) {
        Ok(body) => Ok(Some(version_of(&body))),
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// An exclusive lock of one key (an advisory lock on a hidden file beside it, never
/// listed), held while it lives: what makes a local compare-and-swap atomic between
/// processes.
struct KeyLock {
    _held: File,
}

impl KeyLock {
    fn take(path: &Path) -> io::Result<KeyLock> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = folder_of(path);
        private_dir_all(dir)?;
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(dir.join(format!("{GUARD_PREFIX}{name}")))?;
        file.lock()?;
        Ok(KeyLock { _held: file })
    }
}

/// Creates `dir` and its missing parents readable by their owner only (0700): a store
/// or a state folder holds backups of Secrets, journals and locks.
pub fn private_dir_all(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

impl Staged {
    /// Creates the destination's folders and a temporary file there, fills it with
    /// `fill` (which returns the bytes written) and syncs it.
    fn write(dest: &Path, fill: impl FnOnce(&mut File) -> io::Result<u64>) -> io::Result<Staged> {
        let dir = folder_of(dest);
        private_dir_all(dir)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .tempfile_in(dir)?;
        let len = fill(tmp.as_file_mut())?;
        tmp.as_file().sync_all()?;
        Ok(Staged {
            tmp,
            dest: dest.to_path_buf(),
            len,
        })
    }

    /// Moves the file into place and syncs the folder. `None` when `CreateNew` found
    /// something already there (left untouched). The no-replace move is atomic
    /// (`renameat2(RENAME_NOREPLACE)`, or a hard link where that is unsupported).
    fn commit(self, mode: PutMode) -> io::Result<Option<u64>> {
        let Staged { tmp, dest, len } = self;
        let persisted = match mode {
            PutMode::Overwrite => tmp.persist(&dest),
            PutMode::CreateNew => tmp.persist_noclobber(&dest),
        };
        match persisted {
            Ok(_) => {}
            Err(e)
                if mode == PutMode::CreateNew && e.error.kind() == io::ErrorKind::AlreadyExists =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e.error),
        }
        sync_parent(&dest)?;
        Ok(Some(len))
    }
}

/// Collects the objects under `dir` (whose key is `rel`, empty for the root) whose keys
/// start with `prefix`. Folders that vanish while walking are skipped.
fn walk(dir: &Path, rel: &str, prefix: &str, out: &mut Vec<ObjectMeta>) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_missing(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        // A name that is not UTF-8 cannot be a key: it was not written by a store.
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(TMP_PREFIX) || name.starts_with(GUARD_PREFIX) {
            continue;
        }
        let key = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let kind = match entry.file_type() {
            Ok(kind) => kind,
            Err(e) if is_missing(&e) => continue,
            Err(e) => return Err(e),
        };
        if kind.is_dir() {
            let folder = format!("{key}/");
            if folder.starts_with(prefix) || prefix.starts_with(&folder) {
                walk(&entry.path(), &key, prefix, out)?;
            }
            continue;
        }
        if !key.starts_with(prefix) {
            continue;
        }
        // Follows a symbolic link to a file; anything else is not an object.
        let meta = match std::fs::metadata(entry.path()) {
            Ok(meta) => meta,
            Err(e) if is_missing(&e) => continue,
            Err(e) => return Err(e),
        };
        if meta.is_file() {
            out.push(ObjectMeta {
                key,
                size: meta.len(),
                modified: meta.modified().ok(),
            });
        }
    }
    Ok(())
}

/// Opens an object's file; a folder at that path is no object.
fn open_object(path: &Path) -> io::Result<File> {
    let file = File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "a folder is not an object",
        ));
    }
    Ok(file)
}

/// Nothing at the path (or a folder where an object would be, or a file where a
/// folder would be).
fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory
    )
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Makes a rename or removal in `path`'s folder durable.
fn sync_parent(path: &Path) -> io::Result<()> {
    File::open(folder_of(path))?.sync_all()
}

/// Names the local file in an error about it.
pub(super) fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
