//! Why a topic name or filter is invalid: [`TopicError`], with messages that cite the rule.

use std::fmt;

/// How many characters of an offending topic an error message shows.
const EXCERPT_CHARS: usize = 64;

/// Whether a topic is a name or a filter, as named in [`TopicError`] messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TopicKind {
    /// A topic name (a publication's topic).
    Name,
    /// A topic filter (a subscription's topic).
    Filter,
}

impl fmt::Display for TopicKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Name => "topic name",
            Self::Filter => "topic filter",
        })
    }
}

/// Why a string is not a valid topic name or filter.
///
/// `value` fields hold the offending string cut to its first 64 characters (`…` marks the cut),
/// with control characters escaped, ready to show in a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// The string is empty [MQTT-4.7.3-1].
    #[error("{kind} is empty: it must be at least one character long [MQTT-4.7.3-1]")]
    Empty {
        /// Name or filter.
        kind: TopicKind,
    },
    /// The string is longer than 65,535 bytes [MQTT-4.7.3-3].
    #[error("{kind} `{value}` is {len} bytes, over the 65535-byte limit [MQTT-4.7.3-3]")]
    TooLong {
        /// Name or filter.
        kind: TopicKind,
        /// The start of the string.
        value: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The string contains U+0000 [MQTT-4.7.3-2].
    #[error("{kind} `{value}` contains the null character U+0000 [MQTT-4.7.3-2]")]
    NullCharacter {
        /// Name or filter.
        kind: TopicKind,
        /// The string.
        value: String,
    },
    /// The bytes are not well-formed UTF-8 [MQTT-1.5.3-1].
    #[error("{kind} `{value}` is not well-formed utf-8 [MQTT-1.5.3-1] (5.0: [MQTT-1.5.4-1])")]
    InvalidUtf8 {
        /// Name or filter.
        kind: TopicKind,
        /// The bytes, with invalid sequences shown as U+FFFD.
        value: String,
    },
    /// A topic name contains `+` or `#` [MQTT-4.7.1-1].
    #[error("topic name `{value}` contains a wildcard (`+` or `#`) [MQTT-4.7.1-1] [MQTT-3.3.2-2]")]
    WildcardInTopicName {
        /// The name.
        value: String,
    },
    /// `+` or `#` shares a level with other characters [MQTT-4.7.1-2] [MQTT-4.7.1-3].
    #[error(
        "topic filter `{value}`: `{wildcard}` must occupy a whole level {}",
        whole_level_rule(*.wildcard)
    )]
    MisplacedWildcard {
        /// The filter.
        value: String,
        /// The misplaced wildcard, `+` or `#`.
        wildcard: char,
    },
    /// `#` is followed by more levels [MQTT-4.7.1-2].
    #[error(
        "topic filter `{value}`: `#` must be the last level [MQTT-4.7.1-2] (5.0: [MQTT-4.7.1-1])"
    )]
    HashNotLast {
        /// The filter.
        value: String,
    },
    /// `$share/` is not followed by a share name of at least one character without `/`, `+`
    /// or `#` [MQTT-4.8.2-1] [MQTT-4.8.2-2].
    #[error(
        "shared subscription `{value}`: the share name must be at least one character long \
         and contain no `/`, `+` or `#` [MQTT-4.8.2-1] [MQTT-4.8.2-2]"
    )]
    InvalidShareGroup {
        /// The filter.
        value: String,
    },
    /// The share name is not followed by `/` and a topic filter [MQTT-4.8.2-2].
    #[error(
        "shared subscription `{value}`: the share name must be followed by `/` and a topic \
         filter [MQTT-4.8.2-2]"
    )]
    EmptySharedFilter {
        /// The filter.
        value: String,
    },
}

fn whole_level_rule(wildcard: char) -> &'static str {
    if wildcard == '#' {
        "[MQTT-4.7.1-2] (5.0: [MQTT-4.7.1-1])"
    } else {
        "[MQTT-4.7.1-3] (5.0: [MQTT-4.7.1-2])"
    }
}

/// The first [`EXCERPT_CHARS`] characters of `s`, control characters escaped, for messages.
pub(crate) fn excerpt(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == EXCERPT_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
