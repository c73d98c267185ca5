//! Client-id rules: allowed prefixes (Mosquitto's `clientid_prefixes`), a maximum length,
//! and "the client id must be the user name". A refused client gets CONNACK 0x85 (5.0) /
//! 0x02 (3.1.1), "client identifier not valid".

/// Which client ids may connect. The default allows every id (the broker's own
/// `max_client_id_length` still applies).
///
/// ```
/// use mqlite_net::auth::ClientIdRules;
/// let mut rules = ClientIdRules::default();
/// rules.prefixes = vec!["sensor-".into(), "gw-".into()];
/// assert!(rules.check("sensor-12", None).is_ok());
/// assert!(rules.check("laptop", None).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientIdRules {
    /// When not empty, a client id must start with one of these (Mosquitto's
    /// `clientid_prefixes`, which takes one prefix; here a list). An empty client id (one the
    /// broker would assign) is then refused.
    pub prefixes: Vec<String>,
    /// The longest client id accepted, in bytes, on top of the broker's
    /// `max_client_id_length`.
    pub max_length: Option<usize>,
    /// The client id must equal the user name, so one user cannot take over another's
    /// session; a client without a user name is refused.
    pub equals_username: bool,
}

/// Why a client id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientIdError {
    /// No allowed prefix matches.
    #[error("client id `{client_id}` does not start with one of clientid_prefixes")]
    Prefix {
        /// The id (at most 64 characters of it).
        client_id: String,
    },
    /// Longer than `max_length`.
    #[error("client id of {len} bytes exceeds the {max}-byte limit")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not the client's user name.
    #[error("client id `{client_id}` is not the user name (clientid_equals_username)")]
    NotUsername {
        /// The id (at most 64 characters of it).
        client_id: String,
    },
}

impl ClientIdRules {
    /// Whether no rule is set.
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty() && self.max_length.is_none() && !self.equals_username
    }

    /// Checks `client_id` as sent in CONNECT (empty if the client asks for one to be assigned)
    /// of a client with `username`.
    ///
    /// # Errors
    ///
    /// The first rule it breaks.
    pub fn check(&self, client_id: &str, username: Option<&str>) -> Result<(), ClientIdError> {
        let shown = || client_id.chars().take(64).collect();
        if let Some(max) = self.max_length
            && client_id.len() > max
        {
            return Err(ClientIdError::TooLong {
                len: client_id.len(),
                max,
            });
        }
        if !self.prefixes.is_empty()
            && !self
                .prefixes
                .iter()
                .any(|p| client_id.starts_with(p.as_str()))
        {
            return Err(ClientIdError::Prefix { client_id: shown() });
        }
        if self.equals_username && username != Some(client_id) {
            return Err(ClientIdError::NotUsername { client_id: shown() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_refuses_what_it_names() {
        let mut rules = ClientIdRules::default();
        assert!(rules.is_empty());
        assert!(rules.check("", None).is_ok());
        rules.prefixes = vec!["secure-".into()];
        assert!(rules.check("secure-client", None).is_ok());
        // Mosquitto's example: "mqtt" cannot connect when the prefix is "secure-".
        assert!(matches!(
            rules.check("mqtt", None),
            Err(ClientIdError::Prefix { .. })
        ));
        assert!(
            rules.check("", None).is_err(),
            "an assigned id has no prefix"
        );

        let rules = ClientIdRules {
            max_length: Some(4),
            ..ClientIdRules::default()
        };
        assert!(rules.check("abcd", None).is_ok());
        assert_eq!(
            rules.check("abcde", None),
            Err(ClientIdError::TooLong { len: 5, max: 4 })
        );

        let rules = ClientIdRules {
            equals_username: true,
            ..ClientIdRules::default()
        };
        assert!(rules.check("alice", Some("alice")).is_ok());
        assert!(rules.check("alice", Some("bob")).is_err());
        assert!(rules.check("alice", None).is_err());
        assert!(rules.check("", Some("alice")).is_err());
    }
}
