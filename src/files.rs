//! Files and folders the library creates: private to the owner (0600 / 0700) whatever the
//! host's umask, since they hold mail, attachments and sealed secrets.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Mode of every file the library creates.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every folder the library creates.
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` and any missing parents, each 0700 (existing folders are left as they are).
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Creates (or truncates) a 0600 file for writing.
pub fn create(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Opens a file for appending, creating it 0600.
pub fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Creates `path` empty with mode 0600 unless it exists (SQLite then gives its `-wal` and
/// `-shm` files the same mode as the database file).
pub fn touch_private(path: &Path) -> io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
