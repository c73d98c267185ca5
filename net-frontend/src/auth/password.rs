//! Mosquitto 2 password files: one `user:hash` line per user, as `mosquitto_passwd` writes
//! them, so an existing file works unchanged.
//!
//! - `$7$<iterations>$<salt>$<hash>`: PBKDF2-HMAC-SHA512 (Mosquitto 2's default, 101
//!   iterations), a 12-byte salt and a 64-byte hash, both standard base64.
//! - `$6$<salt>$<hash>`: SHA-512 of the password followed by the salt (Mosquitto 1.6 and
//!   earlier), read for compatibility and never written.
//!
//! Editing a file (`mqlite passwd`) is in `edit.rs`.
//!
//! Lines starting with `#` and blank lines are skipped. Unlike Mosquitto, which logs and
//! drops a line it cannot use, a bad line is an error naming the file and line: a user who
//! silently cannot log in is harder to debug than a broker that refuses to start.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

/// PBKDF2 iterations `mqlite passwd` uses unless told otherwise: Mosquitto's default. Every
/// CONNECT with a password costs one hash of this many iterations on a worker thread, so a
/// much higher count slows every other client of that worker while it runs.
pub const DEFAULT_ITERATIONS: u32 = 101;

const SALT_BYTES: usize = 12;
const HASH_BYTES: usize = 64;

/// Standard base64, with or without `=` padding (mosquitto_passwd pads; hand-made files may not).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a password file could not be read or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The file could not be read or written.
    #[error("password file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// A line is not `user:$7$...` or `user:$6$...`.
    #[error("password file {path} line {line}: {reason}")]
    Parse {
        /// The file (or `<input>` for text parsed from memory).
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A user name that a password file cannot hold.
    #[error("user name `{username}`: {reason}")]
    InvalidUsername {
        /// The name given.
        username: String,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// The password is empty.
    #[error("the password is empty")]
    EmptyPassword,
    /// `mqlite passwd -D` for a user that is not in the file.
    #[error("user `{username}` is not in password file {path}")]
    UnknownUser {
        /// The user.
        username: String,
        /// The file.
        path: PathBuf,
    },
    /// The operating system's random source failed (needed for a salt).
    #[error("cannot generate a random salt: {reason}")]
    Random {
        /// What failed.
        reason: String,
    },
}

/// A stored password hash.
#[derive(Clone, PartialEq, Eq)]
enum StoredHash {
    /// `$6$`: SHA-512(password ‖ salt).
    Sha512 {
        salt: [u8; SALT_BYTES],
        hash: [u8; HASH_BYTES],
    },
    /// `$7$`: PBKDF2-HMAC-SHA512(password, salt, iterations).
    Pbkdf2 {
        iterations: u32,
        salt: [u8; SALT_BYTES],
        hash: [u8; HASH_BYTES],
    },
}

impl StoredHash {
    /// Parses the part after `user:`.
    fn parse(text: &str) -> Result<Self, String> {
        let mut fields = text.split('$');
        if fields.next() != Some("") {
            return Err(
                "the hash must start with `$6$` or `$7$` (a plain-text password? \
                        hash it with `mqlite passwd` or `mosquitto_passwd -U`)"
                    .to_owned(),
            );
        }
        let kind = fields.next().unwrap_or_default();
        let iterations = match kind {
            "6" => None,
            "7" => {
                let field = fields.next().unwrap_or_default();
                match field.parse::<u32>() {
                    Ok(n) if n >= 1 => Some(n),
                    _ => return Err(format!("iteration count `{field}` is not a number ≥ 1")),
                }
            }
            other => {
                return Err(format!(
                    "unknown hash type `${other}$` (expected `$7$` or `$6$`, as mosquitto_passwd writes)"
                ));
            }
        };
        let salt = decode_fixed::<SALT_BYTES>(fields.next().unwrap_or_default(), "salt")?;
        let hash = decode_fixed::<HASH_BYTES>(fields.next().unwrap_or_default(), "hash")?;
        if fields.next().is_some() {
            return Err("too many `$` fields".to_owned());
        }
        Ok(match iterations {
            None => Self::Sha512 { salt, hash },
            Some(iterations) => Self::Pbkdf2 {
                iterations,
                salt,
                hash,
            },
        })
    }

    /// Whether `password` hashes to this, comparing in constant time.
    fn verify(&self, password: &[u8]) -> bool {
        let (expected, computed) = match self {
            Self::Sha512 { salt, hash } => (hash, sha512_salted(password, salt)),
            Self::Pbkdf2 {
                iterations,
                salt,
                hash,
            } => (hash, pbkdf2_sha512(password, salt, *iterations)),
        };
        bool::from(expected.as_slice().ct_eq(computed.as_slice()))
    }
}

impl fmt::Debug for StoredHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a hash or salt, not even in a debug log.
        match self {
            Self::Sha512 { .. } => f.write_str("$6$…"),
            Self::Pbkdf2 { iterations, .. } => write!(f, "$7${iterations}$…"),
        }
    }
}

fn decode_fixed<const N: usize>(field: &str, what: &str) -> Result<[u8; N], String> {
    let bytes = BASE64
        .decode(field)
        .map_err(|e| format!("{what} is not valid base64 ({e})"))?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| format!("{what} is {} bytes, expected {N}", bytes.len()))
}

fn sha512_salted(password: &[u8], salt: &[u8]) -> [u8; HASH_BYTES] {
    let mut digest = Sha512::new();
    digest.update(password);
    digest.update(salt);
    digest.finalize().into()
}

fn pbkdf2_sha512(password: &[u8], salt: &[u8], iterations: u32) -> [u8; HASH_BYTES] {
    let mut out = [0u8; HASH_BYTES];
    pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
    out
}

/// The users and password hashes of a Mosquitto 2 password file.
///
/// # Examples
///
/// ```
/// use mqlite_net::auth::PasswordFile;
/// // A line written by `mosquitto_passwd -c -b FILE alice secret`.
/// let text = "alice:$7$101$1CeNDm+ix5GL1174$8npag1/liqW4BxrbmvicvPyjT1mRV6g/6+Bg9iSCoBX68vx2qWaRReaamRN00f9T8kSZUykeCihrMr+3t6ZbUg==\n";
/// let file = PasswordFile::parse(text)?;
/// assert!(file.verify("alice", b"secret"));
/// assert!(!file.verify("alice", b"Secret"));
/// assert!(!file.verify("bob", b"secret"));
/// # Ok::<(), mqlite_net::auth::PasswordError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordFile {
    users: HashMap<String, StoredHash>,
    /// The iterations of the decoy hash for an unknown user: the file's highest, so an
    /// unknown user costs at least as much as a known one.
    decoy_iterations: u32,
    /// The file it was read from ([`PasswordFile::load`]), which a reload reads again.
    path: Option<PathBuf>,
}

impl fmt::Debug for PasswordFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordFile")
            .field("users", &self.users.len())
            .finish()
    }
}

impl PasswordFile {
    /// Reads and parses the file at `path`.
    ///
    /// # Errors
    ///
    /// [`PasswordError::Io`] if it cannot be read, [`PasswordError::Parse`] (with the line
    /// number) for a line that is not a user and a `$7$` or `$6$` hash, or a user listed twice.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PasswordError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PasswordError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut file = Self::parse_named(&text, path)?;
        file.path = Some(path.to_owned());
        Ok(file)
    }

    /// Parses the text of a password file.
    ///
    /// # Errors
    ///
    /// As [`PasswordFile::load`], naming the file `<input>`.
    pub fn parse(text: &str) -> Result<Self, PasswordError> {
        Self::parse_named(text, Path::new("<input>"))
    }

    fn parse_named(text: &str, path: &Path) -> Result<Self, PasswordError> {
        let mut users = HashMap::new();
        let mut first_line = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let error = |reason: String| PasswordError::Parse {
                path: path.to_owned(),
                line: number,
                reason,
            };
            let Some((username, hash)) = parse_line(line).map_err(error)? else {
                continue;
            };
            if let Some(first) = first_line.insert(username.to_owned(), number) {
                return Err(error(format!(
                    "user `{username}` is already on line {first}"
                )));
            }
            let hash =
                StoredHash::parse(hash).map_err(|e| error(format!("user `{username}`: {e}")))?;
            users.insert(username.to_owned(), hash);
        }
        let decoy_iterations = users
            .values()
            .map(|hash| match hash {
                StoredHash::Pbkdf2 { iterations, .. } => *iterations,
                StoredHash::Sha512 { .. } => 1,
            })
            .fold(DEFAULT_ITERATIONS, u32::max);
        Ok(Self {
            users,
            decoy_iterations,
            path: None,
        })
    }

    /// Whether `username` is in the file and `password` is its password. An unknown user
    /// costs a hash too (with the file's highest iteration count), so response times do not
    /// tell which users exist; the comparison is constant-time.
    pub fn verify(&self, username: &str, password: &[u8]) -> bool {
        match self.users.get(username) {
            Some(stored) => stored.verify(password),
            None => {
                let decoy = pbkdf2_sha512(password, &[0; SALT_BYTES], self.decoy_iterations);
                std::hint::black_box(decoy);
                false
            }
        }
    }

    /// The file this was read from, if it came from [`PasswordFile::load`]: the one
    /// [`crate::auth::Auth::reload`] reads again.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Whether `username` has an entry.
    pub fn contains(&self, username: &str) -> bool {
        self.users.contains_key(username)
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file has no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// Splits one line into user and hash; `None` for a comment or a blank line.
fn parse_line(line: &str) -> Result<Option<(&str, &str)>, String> {
    if line.starts_with('#') || line.trim().is_empty() {
        return Ok(None);
    }
    let Some((username, hash)) = line.split_once(':') else {
        return Err("expected `user:hash`".to_owned());
    };
    let (username, hash) = (username.trim(), hash.trim());
    if username.is_empty() {
        return Err("empty user name".to_owned());
    }
    if hash.is_empty() {
        return Err(format!("user `{username}` has no password hash"));
    }
    Ok(Some((username, hash)))
}

/// Hashes `password` the way `mosquitto_passwd` does by default: `$7$`, PBKDF2-HMAC-SHA512
/// with `iterations` rounds and a fresh random 12-byte salt.
///
/// # Errors
///
/// [`PasswordError::EmptyPassword`], or [`PasswordError::Random`] if the operating system
/// gives no random bytes.
///
/// # Examples
///
/// ```
/// use mqlite_net::auth::{PasswordFile, hash_password, DEFAULT_ITERATIONS};
/// let line = format!("alice:{}\n", hash_password(b"secret", DEFAULT_ITERATIONS)?);
/// assert!(line.starts_with("alice:$7$101$"));
/// assert!(PasswordFile::parse(&line)?.verify("alice", b"secret"));
/// # Ok::<(), mqlite_net::auth::PasswordError>(())
/// ```
pub fn hash_password(password: &[u8], iterations: u32) -> Result<String, PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::EmptyPassword);
    }
    let iterations = iterations.max(1);
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::Random {
        reason: e.to_string(),
    })?;
    let hash = pbkdf2_sha512(password, &salt, iterations);
    Ok(format!(
        "$7${iterations}${}${}",
        BASE64.encode(salt),
        BASE64.encode(hash)
    ))
}

#[cfg(test)]
mod tests;
