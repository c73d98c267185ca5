//! Topic names and topic filters: validated newtypes, checked once at the boundary.
//!
//! Rules come from MQTT 3.1.1 §4.7 and MQTT 5.0 §4.7 (topics), §4.8.2 (shared subscriptions) and
//! §1.5.3 / §1.5.4 (UTF-8 strings). Error messages cite the 3.1.1 statement number first; where
//! 5.0 numbers the same rule differently, its number follows as `(5.0: [MQTT-…])`.
//!
//! Errors live in `error.rs`. Not here: the subscription index (`crate::index`), which matches
//! many filters at once.
//! [`TopicFilter::matches`] is the plain level-by-level matcher: the reference for the index and
//! the matcher used to scan retained messages. [`filter_matches`] and [`check_filter`] are the
//! same matcher and checks on plain strings, for filters kept in another form (ACL rules).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::sync::ValueArc;

mod error;

use error::excerpt;
pub use error::{TopicError, TopicKind};

/// The longest topic name or filter, in bytes [MQTT-4.7.3-3].
const MAX_TOPIC_BYTES: usize = 65_535;
/// A shared subscription filter is `$share/{ShareName}/{filter}` (MQTT 5.0 §4.8.2).
const SHARE_PREFIX: &str = "$share";

/// A validated topic name: the topic of a publication, without wildcards.
///
/// Cheap to clone: the string is shared.
///
/// # Examples
///
/// ```
/// use mqlite::topic::TopicName;
/// let topic = TopicName::new("sport/tennis/player1")?;
/// assert_eq!(topic.level_count(), 3);
/// assert!(TopicName::new("sport/+").is_err());
/// # Ok::<(), mqlite::topic::TopicError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(ValueArc<str>);

impl TopicName {
    /// Validates `name` as a topic name.
    ///
    /// # Errors
    ///
    /// [`TopicError`] if `name` is empty, longer than 65,535 bytes, contains U+0000 or contains
    /// a wildcard character (`+` or `#`).
    pub fn new(name: &str) -> Result<Self, TopicError> {
        validate_name(name)?;
        Ok(Self(ValueArc::from(name)))
    }

    /// Validates raw bytes (as read from the wire) as a topic name.
    ///
    /// # Errors
    ///
    /// [`TopicError::InvalidUtf8`] if `bytes` is not well-formed UTF-8 [MQTT-1.5.3-1], otherwise
    /// as [`TopicName::new`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TopicError> {
        Self::new(utf8(bytes, TopicKind::Name)?)
    }

    /// The topic as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the topic starts with `$` (server topics such as `$SYS/…` [MQTT-4.7.2-1]).
    pub fn is_system(&self) -> bool {
        self.0.starts_with('$')
    }

    /// The number of levels: `"a/b"` has 2, `"/"` has 2 (both empty), `"a"` has 1.
    pub fn level_count(&self) -> usize {
        level_count(&self.0)
    }
}

/// A validated topic filter, possibly a shared subscription `$share/{group}/{filter}`.
///
/// Cheap to clone: the string is shared. Equality, ordering and hashing follow the whole string
/// ([`TopicFilter::as_str`]).
///
/// # Examples
///
/// ```
/// use mqlite::topic::{TopicFilter, TopicName};
/// let filter = TopicFilter::new("$share/workers/sport/+")?;
/// assert_eq!(filter.share_group(), Some("workers"));
/// assert_eq!(filter.filter(), "sport/+");
/// assert!(filter.matches(&TopicName::new("sport/tennis")?));
/// assert!(!filter.matches(&TopicName::new("sport/tennis/player1")?));
/// # Ok::<(), mqlite::topic::TopicError>(())
/// ```
#[derive(Clone)]
pub struct TopicFilter {
    full: ValueArc<str>,
    /// Byte offset of the matched part in `full`: 0 unless shared. For a shared filter the group
    /// is `full[SHARE_PREFIX.len() + 1..filter_start - 1]`.
    filter_start: usize,
    has_wildcards: bool,
}

impl TopicFilter {
    /// Validates `filter` as a topic filter; `$share/{group}/{filter}` makes a shared one.
    ///
    /// # Errors
    ///
    /// [`TopicError`] if `filter` is empty, longer than 65,535 bytes or contains U+0000; if a
    /// wildcard does not occupy a whole level or `#` is not the last level; or if a shared
    /// filter has a bad share name or no filter after it.
    pub fn new(filter: &str) -> Result<Self, TopicError> {
        let (filter_start, has_wildcards) = parse_filter(filter)?;
        Ok(Self {
            full: ValueArc::from(filter),
            filter_start,
            has_wildcards,
        })
    }

    /// Validates raw bytes (as read from the wire) as a topic filter.
    ///
    /// # Errors
    ///
    /// [`TopicError::InvalidUtf8`] if `bytes` is not well-formed UTF-8 [MQTT-1.5.3-1], otherwise
    /// as [`TopicFilter::new`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TopicError> {
        Self::new(utf8(bytes, TopicKind::Filter)?)
    }

    /// The whole filter as given, including any `$share/{group}/` prefix.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The part that is matched against topics: `"a/+"` for `"$share/g/a/+"`.
    pub fn filter(&self) -> &str {
        // `filter_start` is a char boundary: `parse_filter` found it just after a `/`.
        &self.full[self.filter_start..]
    }

    /// The share name of a shared subscription, `None` for an ordinary filter.
    pub fn share_group(&self) -> Option<&str> {
        let group_start = SHARE_PREFIX.len() + 1;
        let group_end = self.filter_start.checked_sub(1)?;
        self.full.get(group_start..group_end)
    }

    /// Whether this is a shared subscription (`$share/{group}/{filter}`, MQTT 5.0 §4.8.2).
    pub fn is_shared(&self) -> bool {
        self.filter_start > 0
    }

    /// Whether the matched part contains `+` or `#`.
    pub fn has_wildcards(&self) -> bool {
        self.has_wildcards
    }

    /// The number of levels of the matched part: `"sport/+"` has 2, `"#"` has 1.
    pub fn level_count(&self) -> usize {
        level_count(self.filter())
    }

    /// Whether `topic` matches this filter, compared level by level.
    ///
    /// `+` matches exactly one level, possibly empty; `#` matches its parent level and any
    /// number of child levels, so `"sport/#"` matches `"sport"`. A filter starting with a
    /// wildcard does not match a topic starting with `$` [MQTT-4.7.2-1]. No normalisation is
    /// applied [MQTT-4.7.3-4].
    pub fn matches(&self, topic: &TopicName) -> bool {
        filter_matches(self.filter(), topic.as_str())
    }
}

/// Whether `topic` matches `filter`: the rule of [`TopicFilter::matches`], on plain strings.
///
/// For filters a caller keeps in a form of its own rather than as a [`TopicFilter`], such as
/// the rules of an ACL file, which are matched against topics but never subscribed. Neither
/// string is validated (check a filter once with [`check_filter`]), and `filter` is taken
/// whole: a `$share/{group}/` prefix is not skipped.
///
/// # Examples
///
/// ```
/// use mqlite::topic::filter_matches;
///
/// assert!(filter_matches("sport/tennis/+", "sport/tennis/player1"));
/// assert!(filter_matches("sport/#", "sport"), "`#` includes the parent level");
/// assert!(!filter_matches("sport/+", "sport"));
/// assert!(!filter_matches("#", "$SYS/broker/uptime"), "[MQTT-4.7.2-1]");
/// assert!(filter_matches("$SYS/#", "$SYS/broker/uptime"));
/// ```
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(f), Some(t)) if f == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Checks `filter` as a plain topic filter: the rules [`TopicFilter::new`] applies, except
/// that `$share/{group}/{filter}` has no meaning of its own and is checked as any other
/// filter.
///
/// For filters a caller keeps in a form of its own, such as the topics of an ACL file, which
/// are never subscribed (Mosquitto's `mosquitto_sub_topic_check`); match them with
/// [`filter_matches`].
///
/// # Errors
///
/// [`TopicError`] if `filter` is empty, longer than 65,535 bytes or contains U+0000, if `+`
/// or `#` shares a level with other characters, or if `#` is not the last level.
///
/// # Examples
///
/// ```
/// use mqlite::topic::{TopicError, check_filter};
///
/// assert_eq!(check_filter("clients/%c/#"), Ok(()));
/// assert_eq!(check_filter("$share"), Ok(()), "no share group needed");
/// assert!(matches!(check_filter("a/#/b"), Err(TopicError::HashNotLast { .. })));
/// assert!(matches!(check_filter("a+/b"), Err(TopicError::MisplacedWildcard { .. })));
/// ```
pub fn check_filter(filter: &str) -> Result<(), TopicError> {
    validate_common(filter, TopicKind::Filter)?;
    validate_levels(filter, filter).map(|_has_wildcards| ())
}

fn utf8(bytes: &[u8], kind: TopicKind) -> Result<&str, TopicError> {
    std::str::from_utf8(bytes).map_err(|_| TopicError::InvalidUtf8 {
        kind,
        value: excerpt(&String::from_utf8_lossy(bytes)),
    })
}

fn level_count(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'/').count() + 1
}

/// The rules names and filters share: length [MQTT-4.7.3-1] [MQTT-4.7.3-3], no U+0000
/// [MQTT-4.7.3-2].
fn validate_common(s: &str, kind: TopicKind) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty { kind });
    }
    if s.len() > MAX_TOPIC_BYTES {
        let value = excerpt(s);
        return Err(TopicError::TooLong {
            kind,
            value,
            len: s.len(),
        });
    }
    if s.contains('\0') {
        return Err(TopicError::NullCharacter {
            kind,
            value: excerpt(s),
        });
    }
    Ok(())
}

fn validate_name(name: &str) -> Result<(), TopicError> {
    validate_common(name, TopicKind::Name)?;
    if name.contains(['+', '#']) {
        return Err(TopicError::WildcardInTopicName {
            value: excerpt(name),
        });
    }
    Ok(())
}

/// Validates a filter; returns where its matched part starts and whether that part has wildcards.
fn parse_filter(full: &str) -> Result<(usize, bool), TopicError> {
    validate_common(full, TopicKind::Filter)?;
    let filter_start = match full.strip_prefix(SHARE_PREFIX) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => share_filter_start(full, rest)?,
        // `$sharex/…` or `$SHARE/…` is an ordinary filter.
        _ => 0,
    };
    let has_wildcards = validate_levels(full, &full[filter_start..])?;
    Ok((filter_start, has_wildcards))
}

/// Where the filter of `$share/{group}/{filter}` starts; `rest` follows `$share`.
fn share_filter_start(full: &str, rest: &str) -> Result<usize, TopicError> {
    let invalid_group = || TopicError::InvalidShareGroup {
        value: excerpt(full),
    };
    let no_filter = || TopicError::EmptySharedFilter {
        value: excerpt(full),
    };
    let after_prefix = rest.strip_prefix('/').ok_or_else(invalid_group)?;
    let (group, filter) = match after_prefix.split_once('/') {
        Some((group, filter)) => (group, Some(filter)),
        None => (after_prefix, None),
    };
    // [MQTT-4.8.2-1] [MQTT-4.8.2-2]: a share name of at least one character, no `/`, `+`, `#`.
    if group.is_empty() || group.contains(['+', '#']) {
        return Err(invalid_group());
    }
    match filter {
        // [MQTT-4.8.2-2]: the share name is followed by `/` and a topic filter.
        None | Some("") => Err(no_filter()),
        Some(filter) => Ok(full.len() - filter.len()),
    }
}

/// Checks that wildcards occupy whole levels and `#` comes last; returns whether there are any.
fn validate_levels(full: &str, filter: &str) -> Result<bool, TopicError> {
    let mut has_wildcards = false;
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        match level {
            "#" if levels.peek().is_some() => {
                return Err(TopicError::HashNotLast {
                    value: excerpt(full),
                });
            }
            "#" | "+" => has_wildcards = true,
            _ => {
                if let Some(wildcard) = level.chars().find(|&c| c == '+' || c == '#') {
                    let value = excerpt(full);
                    return Err(TopicError::MisplacedWildcard { value, wildcard });
                }
            }
        }
    }
    Ok(has_wildcards)
}

macro_rules! impl_conversions {
    ($ty:ident) => {
        impl TryFrom<&str> for $ty {
            type Error = TopicError;
            fn try_from(s: &str) -> Result<Self, TopicError> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = TopicError;
            fn try_from(s: String) -> Result<Self, TopicError> {
                Self::new(&s)
            }
        }

        impl FromStr for $ty {
            type Err = TopicError;
            fn from_str(s: &str) -> Result<Self, TopicError> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        /// Hashing and equality follow the string, so maps keyed by this type take `&str` keys.
        impl Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                self.as_str()
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($ty))
                    .field(&self.as_str())
                    .finish()
            }
        }
    };
}

impl_conversions!(TopicName);
impl_conversions!(TopicFilter);

// The other fields of `TopicFilter` are derived from `full`, so the string alone decides.
impl PartialEq for TopicFilter {
    fn eq(&self, other: &Self) -> bool {
        self.full == other.full
    }
}

impl Eq for TopicFilter {}

impl Hash for TopicFilter {
    fn hash<S: Hasher>(&self, state: &mut S) {
        self.full.hash(state);
    }
}

impl PartialOrd for TopicFilter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TopicFilter {
    fn cmp(&self, other: &Self) -> Ordering {
        self.full.cmp(&other.full)
    }
}

#[cfg(test)]
mod tests;
