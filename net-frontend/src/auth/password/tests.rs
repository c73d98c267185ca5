//! The password file format: lines written by Mosquitto's own `mosquitto_passwd`, errors, hashing.

use super::*;

/// `mosquitto_passwd -c -b FILE alice secret` (Mosquitto 2.0.11).
const ALICE_7: &str = "alice:$7$101$1CeNDm+ix5GL1174$8npag1/liqW4BxrbmvicvPyjT1mRV6g/6+Bg9iSCoBX68vx2qWaRReaamRN00f9T8kSZUykeCihrMr+3t6ZbUg==";
/// `mosquitto_passwd -H sha512 -b FILE carol c6`.
const CAROL_6: &str = "carol:$6$J2FI2mEElTnm4kk+$knLZHj+N/QCv6/TM6ODjN1gPKfXuL0a1ZCXYYUV4SOM4ZavgRiQVhIf6sxKOsxM1xqUUknQo4CAuklvOS/J5yg==";
/// `mosquitto_passwd -I 1000 -b FILE dave d`.
const DAVE_7_1000: &str = "dave:$7$1000$zah+Gzi0QwcKFUgv$EAFJmHP5rJeT6Efc2kDJqnl+x8Z36aMqL25OzyKUIJV3kv8Q2uKYpoS2tTVZZJXjs1FRthwueuDlYfAGNxRkBA==";

#[test]
fn mosquitto_written_lines_verify() {
    let text = format!("# users\n\n{ALICE_7}\r\n{CAROL_6}\n{DAVE_7_1000}\n");
    let file = PasswordFile::parse(&text).unwrap();
    assert_eq!(file.len(), 3);
    assert!(file.verify("alice", b"secret"));
    assert!(file.verify("carol", b"c6"));
    assert!(file.verify("dave", b"d"));
    for (user, wrong) in [("alice", &b"secret "[..]), ("carol", b"C6"), ("dave", b"")] {
        assert!(!file.verify(user, wrong), "{user}");
    }
    assert!(!file.verify("mallory", b"secret"));
}

#[test]
fn bad_lines_name_the_line_and_the_problem() {
    let cases = [
        ("alice", "expected `user:hash`"),
        (":$7$1$a$b", "empty user name"),
        ("alice:", "no password hash"),
        ("alice:secret", "plain-text password"),
        ("alice:$5$abc$def", "unknown hash type `$5$`"),
        ("alice:$7$0$AAAAAAAAAAAAAAAA$AAAA", "iteration count `0`"),
        ("alice:$7$101$AAAA$AAAA", "salt is 3 bytes, expected 12"),
        (
            "alice:$7$101$AAAAAAAAAAAAAAAA$!!",
            "hash is not valid base64",
        ),
        (
            "alice:$6$AAAAAAAAAAAAAAAA$AAAA",
            "hash is 3 bytes, expected 64",
        ),
    ];
    for (line, expected) in cases {
        let text = format!("# header\n{line}\n");
        let err = PasswordFile::parse(&text).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{line}: {err}");
        assert!(err.contains(expected), "{line}: {err}");
    }
    let twice = format!("{ALICE_7}\n{ALICE_7}\n");
    let err = PasswordFile::parse(&twice).unwrap_err().to_string();
    assert!(
        err.contains("line 2") && err.contains("already on line 1"),
        "{err}"
    );
}

#[test]
fn debug_output_hides_hashes() {
    let file = PasswordFile::parse(ALICE_7).unwrap();
    let shown = format!("{file:?} {:?}", file.users["alice"]);
    assert!(!shown.contains("1CeNDm"), "{shown}");
}

#[test]
fn hashes_are_salted_and_use_the_iteration_count() {
    let a = hash_password(b"pw", 101).unwrap();
    let b = hash_password(b"pw", 101).unwrap();
    assert_ne!(a, b, "a fresh salt each time");
    let slow = hash_password(b"pw", 2000).unwrap();
    assert!(slow.starts_with("$7$2000$"), "{slow}");
    let file = PasswordFile::parse(&format!("u:{a}\nv:{slow}\n")).unwrap();
    assert!(file.verify("u", b"pw") && file.verify("v", b"pw"));
    assert!(matches!(
        hash_password(b"", 101),
        Err(PasswordError::EmptyPassword)
    ));
}
