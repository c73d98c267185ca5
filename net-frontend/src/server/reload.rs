//! Reloading under a running server: TLS certificates ([`ServerHandle::reload_tls`]) and
//! password and ACL files ([`ServerHandle::reload_auth`]), what the `mqlite` binary does on
//! SIGHUP. Each listener keeps what it has when its new files are bad.

use super::ServerHandle;
use crate::auth::{Auth, ReloadError};
use crate::tls::TlsError;

impl ServerHandle {
    /// Every distinct [`Auth`]: the server's and the listeners' own.
    pub(super) fn auths(&self) -> Vec<&Auth> {
        let mut auths = vec![&self.shared.config.auth];
        for listener in &self.listeners {
            if !auths.iter().any(|a| a.is_same(&listener.auth)) {
                auths.push(&listener.auth);
            }
        }
        auths
    }

    /// Reads the password and ACL files of the server and of every listener again (what
    /// the `mqlite` binary does on SIGHUP; see [`Auth::reload`]). New CONNECTs use the new
    /// password files; connected clients stay, and their next publish, subscribe and
    /// delivery is checked against the new ACL. Each bad file is logged once, as one line
    /// naming the file and line, and keeps its previous version.
    ///
    /// # Errors
    ///
    /// Every file that could not be read or parsed (once each, even when several
    /// listeners use it).
    pub fn reload_auth(&self) -> Result<(), Vec<ReloadError>> {
        let mut errors: Vec<ReloadError> = Vec::new();
        let mut changed = 0;
        for auth in self.auths() {
            match auth.reload() {
                Ok(reloaded) => {
                    changed += usize::from(reloaded.password_file) + usize::from(reloaded.acl_file);
                }
                Err(failed) => {
                    for e in failed {
                        let message = e.to_string();
                        if !errors.iter().any(|seen| seen.to_string() == message) {
                            tracing::error!("{message}; keeping its previous version");
                            errors.push(e);
                        }
                    }
                }
            }
        }
        if errors.is_empty() {
            tracing::info!(changed, "password and ACL files reloaded");
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Reads every TLS listener's certificate, key and CA files again (what the `mqlite`
    /// binary does on SIGHUP). New handshakes use the new files; open connections keep the
    /// session they have. Every listener is tried; one whose files are bad keeps its
    /// previous configuration.
    ///
    /// # Errors
    ///
    /// The first listener whose files could not be loaded; the error names the file.
    pub fn reload_tls(&self) -> Result<(), TlsError> {
        let mut first_error = None;
        let mut seen = 0;
        for tls in self.listeners.iter().filter_map(|l| l.tls.as_ref()) {
            seen += 1;
            if let Err(e) = tls.reload() {
                tracing::error!(error = %e, "TLS reload failed; keeping the previous files");
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => {
                tracing::info!(listeners = seen, "TLS certificates reloaded");
                Ok(())
            }
        }
    }
}
