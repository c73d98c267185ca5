//! Mosquitto ACL files (`acl_file`), read and evaluated the way Mosquitto 2 does, plus one
//! mqlite extension: a maximum QoS per rule.
//!
//! ```text
//! # Rules before the first `user` line apply to anonymous clients.
//! topic read public/#
//!
//! user alice
//! topic readwrite alice/#          # access: read, write, readwrite (the default) or deny
//! topic deny alice/secret
//! topic write sensors/# qos 1      # mqlite: publishes above QoS 1 are refused
//!
//! # Patterns apply to every client: %c is the client id, %u the user name.
//! pattern readwrite devices/%c/#
//! ```
//!
//! Evaluation (Mosquitto 2.0's `mosquitto_acl_check_default`), for one topic and one access:
//! 1. The client's own rules (its `user` section, or the anonymous section): a matching `deny`
//!    refuses; otherwise the first matching rule that grants the access allows.
//! 2. If patterns exist and the user name or client id contains `+` or `#`, refuse (such an
//!    id would turn `%c` into a wildcard).
//! 3. The patterns, with `%c` and `%u` substituted (a `%u` pattern never applies to a client
//!    without a user name): `deny` first, then the first grant.
//! 4. Nothing matched: refuse. Once an ACL file is set, everything not granted is denied.
//!
//! Subscriptions: Mosquitto 2.0 grants every subscription and checks read access per message
//! on delivery. mqlite checks each message on delivery the same way, and also refuses a
//! filter that can never deliver anything: no read rule overlaps it, or a `deny` rule covers
//! it. See [`Acl::subscribe_qos`].

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mqlite::QoS;

use super::filter;
use parse::{Line, parse_line};

mod parse;

/// Why an ACL file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AclError {
    /// The file could not be read.
    #[error("acl file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// A line Mosquitto would refuse too, or a bad `qos` extension.
    #[error("acl file {path} line {line}: {reason}")]
    Parse {
        /// The file (or `<input>` for text parsed from memory).
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// Access bits of a rule; a `deny` rule has none.
const READ: u8 = 1;
const WRITE: u8 = 2;

/// One `topic` or `pattern` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    filter: String,
    /// `READ | WRITE` bits; 0 for `deny`.
    access: u8,
    /// mqlite's extension: the highest QoS this rule grants (QoS 2 when not written).
    max_qos: QoS,
}

impl Rule {
    fn is_deny(&self) -> bool {
        self.access == 0
    }

    fn has_pattern(&self, marker: &str) -> bool {
        self.filter.contains(marker)
    }
}

/// The rules of one section, in the order Mosquitto checks them: every `deny` first, then
/// the grants in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Rules {
    deny: Vec<Rule>,
    grant: Vec<Rule>,
}

impl Rules {
    fn push(&mut self, rule: Rule) {
        if rule.is_deny() {
            self.deny.push(rule);
        } else {
            self.grant.push(rule);
        }
    }

    fn is_empty(&self) -> bool {
        self.deny.is_empty() && self.grant.is_empty()
    }

    /// `Some(allowed)` when a rule decides `access` to `topic` at `qos`; `None` to go on.
    fn decide(&self, topic: &str, access: u8, qos: QoS) -> Option<bool> {
        if self
            .deny
            .iter()
            .any(|r| mqlite::topic::filter_matches(&r.filter, topic))
        {
            return Some(false);
        }
        // A grant whose `qos` is too low does not decide: a later rule may allow more.
        self.grant
            .iter()
            .any(|r| {
                r.access & access != 0
                    && qos <= r.max_qos
                    && mqlite::topic::filter_matches(&r.filter, topic)
            })
            .then_some(true)
    }
}

/// A parsed ACL file.
///
/// # Examples
///
/// ```
/// use mqlite::QoS;
/// use mqlite_net::auth::Acl;
/// let acl = Acl::parse("user alice\ntopic readwrite alice/#\ntopic deny alice/secret\n\
///                       pattern read devices/%c/#\n")?;
/// assert!(acl.may_write(Some("alice"), "phone", "alice/notes", QoS::AtLeastOnce));
/// assert!(!acl.may_read(Some("alice"), "phone", "alice/secret"));
/// assert!(acl.may_read(Some("bob"), "lamp", "devices/lamp/state"));
/// assert!(!acl.may_read(Some("bob"), "lamp", "devices/door/state"));
/// assert!(!acl.may_read(None, "x", "alice/notes"), "deny by default");
/// # Ok::<(), mqlite_net::auth::AclError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Acl {
    /// Rules before any `user` line: for clients without a user name.
    anonymous: Arc<Rules>,
    users: HashMap<String, Arc<Rules>>,
    patterns: Arc<Rules>,
    /// The file it was read from ([`Acl::load`]), which a reload reads again.
    path: Option<PathBuf>,
}

impl fmt::Debug for Acl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acl")
            .field("users", &self.users.len())
            .field(
                "patterns",
                &(self.patterns.deny.len() + self.patterns.grant.len()),
            )
            .finish_non_exhaustive()
    }
}

impl Acl {
    /// Reads and parses the file at `path`.
    ///
    /// # Errors
    ///
    /// [`AclError::Io`] if it cannot be read; [`AclError::Parse`] naming the line for
    /// anything Mosquitto 2.0 refuses too (an unknown keyword, including an indented `#`
    /// comment; an access other than read, write, readwrite or deny; an invalid filter; a
    /// `user` line without a name) and for a bad `qos` extension.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, AclError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| AclError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut acl = Self::parse_named(&text, path)?;
        acl.path = Some(path.to_owned());
        Ok(acl)
    }

    /// The file this was read from, if it came from [`Acl::load`]: the one
    /// [`crate::auth::Auth::reload`] reads again.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Parses the text of an ACL file.
    ///
    /// # Errors
    ///
    /// As [`Acl::load`], naming the file `<input>`.
    pub fn parse(text: &str) -> Result<Self, AclError> {
        Self::parse_named(text, Path::new("<input>"))
    }

    fn parse_named(text: &str, path: &Path) -> Result<Self, AclError> {
        let mut anonymous = Rules::default();
        let mut users: HashMap<String, Rules> = HashMap::new();
        let mut patterns = Rules::default();
        let mut user: Option<String> = None;
        for (index, raw) in text.lines().enumerate() {
            let error = |reason: String| AclError::Parse {
                path: path.to_owned(),
                line: index + 1,
                reason,
            };
            match parse_line(raw).map_err(error)? {
                Line::Blank => {}
                Line::User(name) => user = Some(name.to_owned()),
                Line::Topic(rule) => match &user {
                    Some(name) => users.entry(name.clone()).or_default().push(rule),
                    None => anonymous.push(rule),
                },
                Line::Pattern(rule) => patterns.push(rule),
            }
        }
        Ok(Self {
            anonymous: Arc::new(anonymous),
            users: users.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
            patterns: Arc::new(patterns),
            path: None,
        })
    }

    /// The rules that apply to one client, with its patterns substituted; built once per
    /// connection so each check allocates nothing.
    pub(crate) fn for_client(&self, username: Option<&str>, client_id: &str) -> ClientAcl {
        let own = match username {
            Some(name) => self.users.get(name).cloned(),
            None => Some(self.anonymous.clone()).filter(|rules| !rules.is_empty()),
        };
        let dangerous = |s: &str| s.contains(['+', '#']);
        let patterns = if self.patterns.is_empty() {
            Patterns::Rules(Rules::default())
        } else if username.is_some_and(dangerous) || dangerous(client_id) {
            Patterns::Refused
        } else {
            let mut rules = Rules::default();
            let all = self.patterns.deny.iter().chain(&self.patterns.grant);
            for rule in all {
                if username.is_none() && rule.has_pattern("%u") {
                    continue;
                }
                rules.push(Rule {
                    filter: substitute(&rule.filter, client_id, username),
                    ..rule.clone()
                });
            }
            Patterns::Rules(rules)
        };
        ClientAcl { own, patterns }
    }

    /// Whether a client may receive a message on `topic` (read access). The network
    /// frontend checks every delivery, retained messages included.
    pub fn may_read(&self, username: Option<&str>, client_id: &str, topic: &str) -> bool {
        self.for_client(username, client_id)
            .allows(topic, READ, QoS::AtMostOnce)
    }

    /// Whether a client may publish on `topic` at `qos` (write access; the will too).
    pub fn may_write(
        &self,
        username: Option<&str>,
        client_id: &str,
        topic: &str,
        qos: QoS,
    ) -> bool {
        self.for_client(username, client_id)
            .allows(topic, WRITE, qos)
    }

    /// The QoS to grant a subscription to `filter` requested at `qos`, or `None` to refuse it.
    ///
    /// Refused when no rule could let a message through: no read rule overlaps the filter
    /// (a topic exists that both match), or a `deny` rule covers it (matches every topic it
    /// does). A filter allowed here may still overlap denied topics; those messages are
    /// dropped on delivery ([`Acl::may_read`]). The QoS is capped at the lowest `qos` of the
    /// read rules that overlap the filter, so no delivery exceeds the cap of its topic's rule.
    /// A shared subscription (`$share/{group}/{filter}`) is checked by its filter.
    pub fn subscribe_qos(
        &self,
        username: Option<&str>,
        client_id: &str,
        filter: &str,
        qos: QoS,
    ) -> Option<QoS> {
        self.for_client(username, client_id)
            .subscribe_qos(filter, qos)
    }
}

/// Replaces `%c` with the client id and `%u` with the user name, as Mosquitto does.
fn substitute(pattern: &str, client_id: &str, username: Option<&str>) -> String {
    let mut out = String::with_capacity(pattern.len() + client_id.len());
    let mut rest = pattern;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("%c") {
            out.push_str(client_id);
            rest = after;
        } else if let (Some(after), Some(name)) = (tail.strip_prefix("%u"), username) {
            out.push_str(name);
            rest = after;
        } else {
            out.push('%');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The pattern rules of one client.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Patterns {
    Rules(Rules),
    /// The user name or client id holds `+` or `#`: patterns refuse everything.
    Refused,
}

/// The ACL of one connected client (see [`Acl::for_client`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientAcl {
    own: Option<Arc<Rules>>,
    patterns: Patterns,
}

impl ClientAcl {
    /// Whether `access` (`READ` or `WRITE`) to `topic` at `qos` is granted.
    fn allows(&self, topic: &str, access: u8, qos: QoS) -> bool {
        if let Some(decided) = self.own.as_ref().and_then(|r| r.decide(topic, access, qos)) {
            return decided;
        }
        match &self.patterns {
            Patterns::Rules(rules) => rules.decide(topic, access, qos).unwrap_or(false),
            Patterns::Refused => false,
        }
    }

    /// See [`Acl::may_read`].
    pub(crate) fn may_read(&self, topic: &str) -> bool {
        self.allows(topic, READ, QoS::AtMostOnce)
    }

    /// See [`Acl::may_write`].
    pub(crate) fn may_write(&self, topic: &str, qos: QoS) -> bool {
        self.allows(topic, WRITE, qos)
    }

    /// See [`Acl::subscribe_qos`].
    pub(crate) fn subscribe_qos(&self, filter: &str, qos: QoS) -> Option<QoS> {
        let filter = shared_filter(filter);
        let mut sections = vec![];
        if let Some(own) = &self.own {
            sections.push(&**own);
        }
        if let Patterns::Rules(rules) = &self.patterns {
            sections.push(rules);
        }
        let mut cap: Option<QoS> = None;
        for rules in sections {
            if rules.deny.iter().any(|r| filter::covers(&r.filter, filter)) {
                return None;
            }
            for rule in &rules.grant {
                if rule.access & READ != 0 && filter::overlaps(&rule.filter, filter) {
                    cap = Some(cap.map_or(rule.max_qos, |c| c.min(rule.max_qos)));
                }
            }
        }
        cap.map(|cap| qos.min(cap))
    }
}

/// The filter of a shared subscription `$share/{group}/{filter}`; any other filter as is.
fn shared_filter(filter: &str) -> &str {
    filter
        .strip_prefix("$share/")
        .and_then(|rest| rest.split_once('/'))
        .map_or(filter, |(_, inner)| inner)
}

#[cfg(test)]
mod tests;
