//! Reloading the password and ACL files under a running server ([`Auth::reload`], what the
//! `mqlite` binary does on SIGHUP): each file sits in a [`Slot`] that a reload swaps whole,
//! so a check sees the old file or the new one, never a mix.
//!
//! - New CONNECTs check the password file of the moment.
//! - Connected clients keep their login, and their next ACL check (publish, subscribe, each
//!   delivery) uses the new ACL: a client's resolved rules carry the slot's generation and
//!   are resolved again when it changed (`client.rs`). One atomic load per check; nothing is
//!   locked while the ACL is unchanged.
//! - A file that cannot be read or parsed leaves the previous version in force; the error
//!   names the file and line.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use super::{Acl, AclError, Auth, PasswordError, PasswordFile};

/// One file's current version, swapped whole by a reload.
#[derive(Debug)]
pub(super) struct Slot<T> {
    current: RwLock<Arc<T>>,
    /// Bumped (under the write lock) by every swap; read without the lock to tell whether
    /// a cached view is still current.
    generation: AtomicU64,
}

impl<T: PartialEq> Slot<T> {
    pub(super) fn new(value: T) -> Self {
        Self {
            current: RwLock::new(Arc::new(value)),
            generation: AtomicU64::new(0),
        }
    }

    /// The current version.
    pub(super) fn get(&self) -> Arc<T> {
        self.current.read().clone()
    }

    /// The current version and its generation, read together.
    pub(super) fn get_with_generation(&self) -> (Arc<T>, u64) {
        let current = self.current.read();
        (current.clone(), self.generation.load(Ordering::Relaxed))
    }

    /// The generation now: a cached view of an older one must be rebuilt.
    pub(super) fn generation(&self) -> u64 {
        // Acquire: pairs with the Release in `replace`. The value itself is then read under
        // the lock, so this only decides whether to look.
        self.generation.load(Ordering::Acquire)
    }

    /// Makes `fresh` the current version; `false` (and nothing changes) if it equals it.
    pub(super) fn replace(&self, fresh: T) -> bool {
        let mut current = self.current.write();
        if **current == fresh {
            return false;
        }
        *current = Arc::new(fresh);
        // Release: pairs with the Acquire in `generation`.
        self.generation.fetch_add(1, Ordering::Release);
        true
    }
}

/// A file that [`Auth::reload`] could not read; the previous version stays in force.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The password file (the error names the file and line).
    #[error(transparent)]
    PasswordFile(#[from] PasswordError),
    /// The ACL file (the error names the file and line).
    #[error(transparent)]
    AclFile(#[from] AclError),
}

/// What a successful [`Auth::reload`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Reloaded {
    /// The password file was read again and differs from the previous version.
    pub password_file: bool,
    /// The ACL file was read again and differs from the previous version.
    pub acl_file: bool,
}

impl Auth {
    /// Reads the password file and the ACL file again, from the paths they were loaded from
    /// ([`PasswordFile::load`], [`Acl::load`]; files parsed from memory stay as they are),
    /// and makes each one that reads cleanly and changed the current one. Every clone of
    /// this `Auth` sees the change.
    ///
    /// New CONNECTs use the new password file; clients already connected stay. Their next
    /// publish, subscribe and delivery is checked against the new ACL (subscriptions granted
    /// before stay, and their messages are filtered by the new rules).
    ///
    /// # Errors
    ///
    /// Each file that could not be read or parsed, naming the file and line. That file keeps
    /// its previous version; the other is still reloaded.
    pub fn reload(&self) -> Result<Reloaded, Vec<ReloadError>> {
        let mut reloaded = Reloaded::default();
        let mut errors = Vec::new();
        if let Some(slot) = &self.inner.passwords
            && let Some(path) = slot.get().path()
        {
            match PasswordFile::load(path) {
                Ok(fresh) => reloaded.password_file = slot.replace(fresh),
                Err(e) => errors.push(e.into()),
            }
        }
        if let Some(slot) = &self.inner.acl
            && let Some(path) = slot.get().path()
        {
            match Acl::load(path) {
                Ok(fresh) => reloaded.acl_file = slot.replace(fresh),
                Err(e) => errors.push(e.into()),
            }
        }
        if errors.is_empty() {
            Ok(reloaded)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use mqlite::QoS;

    use super::*;
    use crate::auth::hash_password;

    fn write(path: &std::path::Path, text: &str) {
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn slot_swaps_only_on_change_and_bumps_the_generation() {
        let slot = Slot::new(1);
        assert!(!slot.replace(1));
        assert_eq!(slot.generation(), 0);
        assert!(slot.replace(2));
        assert_eq!(slot.get_with_generation(), (Arc::new(2), 1));
    }

    #[test]
    fn reload_reads_both_files_again_and_keeps_a_bad_one() {
        let dir = tempfile::tempdir().unwrap();
        let (passwd, acl) = (dir.path().join("passwd"), dir.path().join("acl"));
        let line = |pw: &str| format!("alice:{}\n", hash_password(pw.as_bytes(), 101).unwrap());
        write(&passwd, &line("old"));
        write(&acl, "user alice\ntopic a/#\n");
        let auth = Auth::builder()
            .password_file(PasswordFile::load(&passwd).unwrap())
            .acl(Acl::load(&acl).unwrap())
            .build();
        assert_eq!(
            auth.reload().unwrap(),
            Reloaded::default(),
            "nothing changed"
        );

        write(&passwd, &line("new"));
        write(&acl, "user alice\ntopic b/#\n");
        let reloaded = auth.reload().unwrap();
        assert!(reloaded.password_file && reloaded.acl_file);
        let passwords = auth.inner.passwords.as_ref().unwrap().get();
        assert!(passwords.verify("alice", b"new") && !passwords.verify("alice", b"old"));
        let rules = auth.acl().unwrap();
        assert!(rules.may_write(Some("alice"), "c", "b/1", QoS::AtMostOnce));
        assert!(!rules.may_write(Some("alice"), "c", "a/1", QoS::AtMostOnce));

        // A bad ACL stays out, the good password file still comes in.
        write(&passwd, &line("newer"));
        write(&acl, "user alice\ntopic b/#\ntpoic c/#\n");
        let errors = auth.reload().unwrap_err();
        assert_eq!(errors.len(), 1);
        let message = errors[0].to_string();
        assert!(
            message.contains("acl") && message.contains("line 3"),
            "{message}"
        );
        assert!(message.contains(&acl.display().to_string()), "{message}");
        let passwords = auth.inner.passwords.as_ref().unwrap().get();
        assert!(passwords.verify("alice", b"newer"));
        assert!(
            auth.acl()
                .unwrap()
                .may_write(Some("alice"), "c", "b/1", QoS::AtMostOnce)
        );

        std::fs::remove_file(&passwd).unwrap();
        let errors = auth.reload().unwrap_err();
        assert!(errors[0].to_string().contains("passwd"), "{}", errors[0]);
    }

    #[test]
    fn files_parsed_from_memory_are_not_reloaded() {
        let auth = Auth::builder()
            .acl(Acl::parse("topic a\n").unwrap())
            .build();
        assert_eq!(auth.reload().unwrap(), Reloaded::default());
    }
}
