//! Listeners with settings of their own: [`ListenerConfig`] (TLS, authentication, abuse
//! limits, each falling back to the server's), and `Listener`, what a running listener
//! shares between the acceptor, which admits connections, and the workers, which serve them.
//!
//! Each accepted connection carries an `Admission` from the acceptor to its worker: it names
//! the listener (so the connection gets the listener's TLS, [`Auth`] and input rates) and,
//! when dropped with the connection, gives back the listener's and the address's counts.
//!
//! Not here: accepting (`server/accept.rs`), the limits' arithmetic (`limits/`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use crate::auth::Auth;
use crate::limits::{IpKey, IpRefusal, IpTable, ListenerLimits};
use crate::tls::{TlsConfig, TlsListener};

/// The settings of one listener beyond its address (Mosquitto's `listener` block with
/// `per_listener_settings true`): its TLS, its authentication and its abuse limits. What it
/// leaves unset comes from the server's [`crate::ServerConfig`].
///
/// # Examples
///
/// ```
/// use mqlite_net::auth::{Auth, PasswordFile, hash_password};
/// use mqlite_net::{ListenerConfig, ListenerLimits, Server};
///
/// // Local clients need nothing; remote ones log in and are limited.
/// let passwords = PasswordFile::parse(&format!("alice:{}\n", hash_password(b"pw", 101)?))?;
/// let limits = ListenerLimits::default().max_connections_per_ip(20);
/// let remote = ListenerConfig::new()
///     .auth(Auth::builder().password_file(passwords).build())
///     .limits(limits);
/// let broker = mqlite::Broker::new(mqlite::Config::default());
/// let server = Server::builder(broker)
///     .listen("127.0.0.1:0")
///     .listen_with("127.0.0.1:0", remote)
///     .bind()?
///     .spawn()?;
/// assert_eq!(server.local_addrs().len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerConfig {
    /// TLS settings; `None` for plain TCP.
    pub tls: Option<TlsConfig>,
    /// Password file, ACL, anonymous clients and client-id rules of this listener; `None`
    /// for the server's [`crate::ServerConfig::auth`].
    pub auth: Option<Auth>,
    /// Abuse limits of this listener; `None` for the server's
    /// [`crate::ServerConfig::limits`].
    pub limits: Option<ListenerLimits>,
}

impl ListenerConfig {
    /// Plain TCP with the server's authentication and limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`ListenerConfig::tls`].
    #[must_use]
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets [`ListenerConfig::auth`].
    #[must_use]
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Sets [`ListenerConfig::limits`].
    #[must_use]
    pub fn limits(mut self, limits: ListenerLimits) -> Self {
        self.limits = Some(limits);
        self
    }
}

/// A running listener: one `listen*` call, whatever number of addresses it resolved to.
#[derive(Debug)]
pub(crate) struct Listener {
    /// Its TLS; `None` for plain TCP.
    pub(crate) tls: Option<Arc<TlsListener>>,
    /// Its authentication (its own or the server's).
    pub(crate) auth: Auth,
    /// Its limits (its own or the server's).
    pub(crate) limits: ListenerLimits,
    /// Connections open now.
    open: AtomicUsize,
    /// Per source address, when a per-address limit is set.
    ips: Option<Mutex<IpTable>>,
}

/// Why the listener refused a connection at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The listener's `max_connections` are open.
    ListenerFull,
    /// A per-address limit.
    Ip(IpRefusal),
}

impl Listener {
    /// A listener with these settings; `max_tracked_ips` bounds its per-address table.
    pub(crate) fn new(
        tls: Option<Arc<TlsListener>>,
        auth: Auth,
        limits: ListenerLimits,
        max_tracked_ips: usize,
    ) -> Self {
        let ips = IpTable::new(&limits, max_tracked_ips).map(Mutex::new);
        Self {
            tls,
            auth,
            limits,
            open: AtomicUsize::new(0),
            ips,
        }
    }

    /// Admits a connection from `peer` accepted at `now`, or says why not. Called by the
    /// acceptor thread only, so the check and the count of `open` cannot race with another
    /// admission (workers only decrease it).
    pub(crate) fn admit(
        self: &Arc<Self>,
        peer: SocketAddr,
        now: Instant,
    ) -> Result<Admission, Refused> {
        if let Some(max) = self.limits.max_connections
            && self.open.load(Ordering::Relaxed) >= max
        {
            return Err(Refused::ListenerFull);
        }
        let ip = match &self.ips {
            Some(table) => {
                let key = IpKey::of(peer.ip());
                table.lock().admit(key, now).map_err(Refused::Ip)?;
                Some(key)
            }
            None => None,
        };
        // Relaxed: a plain count; a close racing with this check errs by one either way.
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(Admission {
            listener: self.clone(),
            ip,
        })
    }

    /// Forgets the addresses that hold no information any more (the acceptor calls this
    /// about once a second).
    pub(crate) fn sweep(&self, now: Instant) {
        if let Some(table) = &self.ips {
            table.lock().sweep(now);
        }
    }

    /// The source addresses tracked now.
    pub(crate) fn tracked_ips(&self) -> usize {
        self.ips.as_ref().map_or(0, |table| table.lock().len())
    }
}

/// One admitted connection of a listener; dropping it gives back its counts.
#[derive(Debug)]
pub(crate) struct Admission {
    listener: Arc<Listener>,
    ip: Option<IpKey>,
}

impl Admission {
    /// The listener that accepted the connection.
    pub(crate) fn listener(&self) -> &Arc<Listener> {
        &self.listener
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.listener.open.fetch_sub(1, Ordering::Relaxed);
        if let (Some(key), Some(table)) = (self.ip, &self.listener.ips) {
            table.lock().release(key, Instant::now());
        }
    }
}
