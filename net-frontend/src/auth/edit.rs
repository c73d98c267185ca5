//! Editing a password file for `mqlite passwd`: set or delete one user's line, keep every
//! other line, replace the file atomically.

use std::io::{self, Write};
use std::path::Path;

use super::password::PasswordError;

/// The user name of a line, if it is an entry (for rewriting a file line by line).
fn line_user(line: &str) -> Option<&str> {
    if line.starts_with('#') {
        return None;
    }
    line.split_once(':').map(|(user, _)| user.trim())
}

/// Checks that `username` can be written to a password file (and sent by a client).
///
/// # Errors
///
/// [`PasswordError::InvalidUsername`]: empty, contains `:` (the field separator), a control
/// character, or leading or trailing blanks (which the file format trims).
pub fn check_username(username: &str) -> Result<(), PasswordError> {
    let reason = if username.is_empty() {
        "must not be empty"
    } else if username.contains(':') {
        "must not contain `:`"
    } else if username.chars().any(char::is_control) {
        "must not contain control characters"
    } else if username.trim() != username {
        "must not start or end with blanks"
    } else if username.len() > usize::from(u16::MAX) {
        "is longer than 65535 bytes [MQTT-1.5.4]"
    } else {
        return Ok(());
    };
    Err(PasswordError::InvalidUsername {
        username: username.chars().take(64).collect(),
        reason,
    })
}

/// What [`update_file`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Updated {
    /// The user was added (the file was created if it did not exist).
    Added,
    /// The user's hash was replaced.
    Replaced,
    /// The user was removed.
    Deleted,
}

/// Sets (`Some(hash)`, from [`hash_password`](super::hash_password)) or deletes (`None`)
/// `username`'s entry in the password file at `path`, keeping every other line as it was.
/// The new file is written beside the old one and renamed over it, so a reader never sees
/// half a file; a new file is created readable by its owner only (on Unix, mode 0600).
///
/// # Errors
///
/// An invalid user name, deleting a user that is not there, or an I/O error.
pub fn update_file(
    path: impl AsRef<Path>,
    username: &str,
    hash: Option<&str>,
) -> Result<Updated, PasswordError> {
    let path = path.as_ref();
    check_username(username)?;
    let io_error = |source| PasswordError::Io {
        path: path.to_owned(),
        source,
    };
    let old = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound && hash.is_some() => None,
        Err(e) => return Err(io_error(e)),
    };
    let (text, updated) = rewrite(old.as_deref().unwrap_or(""), username, hash);
    let Some(updated) = updated else {
        return Err(PasswordError::UnknownUser {
            username: username.to_owned(),
            path: path.to_owned(),
        });
    };
    write_atomically(path, text.as_bytes(), old.is_some()).map_err(io_error)?;
    Ok(updated)
}

/// The new text of a password file; `None` when deleting a user that is not there.
fn rewrite(old: &str, username: &str, hash: Option<&str>) -> (String, Option<Updated>) {
    let mut out = String::with_capacity(old.len() + 128);
    let mut updated = None;
    for line in old.lines() {
        if line_user(line) == Some(username) {
            match hash {
                Some(hash) if updated.is_none() => {
                    out.push_str(&format!("{username}:{hash}\n"));
                    updated = Some(Updated::Replaced);
                }
                // A second entry of the user (which `load` refuses) or a deletion.
                _ => updated = updated.or(Some(Updated::Deleted)),
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if updated.is_none()
        && let Some(hash) = hash
    {
        out.push_str(&format!("{username}:{hash}\n"));
        updated = Some(Updated::Added);
    }
    (out, updated)
}

/// Writes `bytes` to a temporary file in `path`'s directory, then renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8], existed: bool) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "passwd".into(), |n| n.to_string_lossy().into_owned());
    let temp = dir.join(format!(".{name}.mqlite-{}.tmp", std::process::id()));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temp)?;
        if existed {
            // Keep the permissions the administrator gave the file.
            file.set_permissions(std::fs::metadata(path)?.permissions())?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{PasswordFile, hash_password};

    /// `mosquitto_passwd -c -b FILE alice secret` (Mosquitto 2.0.11).
    const ALICE_7: &str = "alice:$7$101$1CeNDm+ix5GL1174$8npag1/liqW4BxrbmvicvPyjT1mRV6g/6+Bg9iSCoBX68vx2qWaRReaamRN00f9T8kSZUykeCihrMr+3t6ZbUg==";
    /// `mosquitto_passwd -H sha512 -b FILE carol c6`.
    const CAROL_6: &str = "carol:$6$J2FI2mEElTnm4kk+$knLZHj+N/QCv6/TM6ODjN1gPKfXuL0a1ZCXYYUV4SOM4ZavgRiQVhIf6sxKOsxM1xqUUknQo4CAuklvOS/J5yg==";

    #[test]
    fn rewrite_keeps_other_lines() {
        let old = format!("# comment\n{ALICE_7}\nnot an entry\n{CAROL_6}\n");
        let (text, updated) = rewrite(&old, "carol", Some("$7$1$x$y"));
        assert_eq!(updated, Some(Updated::Replaced));
        assert_eq!(
            text,
            format!("# comment\n{ALICE_7}\nnot an entry\ncarol:$7$1$x$y\n")
        );
        let (text, updated) = rewrite(&old, "bob", Some("$7$1$x$y"));
        assert_eq!(updated, Some(Updated::Added));
        assert!(
            text.ends_with(&format!("{CAROL_6}\nbob:$7$1$x$y\n")),
            "{text}"
        );
        let (text, updated) = rewrite(&old, "alice", None);
        assert_eq!(updated, Some(Updated::Deleted));
        assert_eq!(text, format!("# comment\nnot an entry\n{CAROL_6}\n"));
        assert_eq!(rewrite(&old, "bob", None).1, None);
    }

    #[test]
    fn usernames_the_format_cannot_hold_are_refused() {
        for bad in ["", "a:b", "tab\tbed", " alice", "bob "] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
        assert!(check_username("alice@example.com").is_ok());
    }

    #[test]
    fn update_file_creates_replaces_and_deletes_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwd");
        let hash = hash_password(b"one", 101).unwrap();
        assert_eq!(
            update_file(&path, "alice", Some(&hash)).unwrap(),
            Updated::Added
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let hash = hash_password(b"two", 101).unwrap();
        assert_eq!(
            update_file(&path, "alice", Some(&hash)).unwrap(),
            Updated::Replaced
        );
        let file = PasswordFile::load(&path).unwrap();
        assert!(file.verify("alice", b"two") && !file.verify("alice", b"one"));
        assert_eq!(update_file(&path, "alice", None).unwrap(), Updated::Deleted);
        assert!(PasswordFile::load(&path).unwrap().is_empty());
        assert!(matches!(
            update_file(&path, "alice", None),
            Err(PasswordError::UnknownUser { .. })
        ));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }
}
