//! ACL parsing and evaluation, table-driven. Each expectation follows Mosquitto 2.0's
//! `mosquitto_acl_check_default` and `aclfile__parse` (the module docs of `acl.rs` sum them up);
//! the differential test (`tests/it/acl_differential.rs`) checks the same against a real Mosquitto.

use super::parse::{Line, parse_line};
use super::*;

const FILE: &str = "\
# Anonymous clients: everything before the first `user` line.
topic read public/#
topic $SYS/broker/uptime

user alice
topic readwrite alice/#
topic deny alice/secret
topic write sensors/# qos 1
topic read   spaced topic/x

user bob
topic write bob/out
topic read alice/shared

# Patterns are global, even after a `user` line.
pattern readwrite clients/%c/#
pattern read users/%u/inbox
";

fn acl() -> Acl {
    Acl::parse(FILE).unwrap()
}

const Q0: QoS = QoS::AtMostOnce;
const Q1: QoS = QoS::AtLeastOnce;
const Q2: QoS = QoS::ExactlyOnce;

/// (user, client id, topic, read allowed, write allowed at QoS 0)
#[test]
fn topic_checks_follow_mosquitto() {
    let cases: &[(Option<&str>, &str, &str, bool, bool)] = &[
        // Anonymous section.
        (None, "anon", "public/news", true, false),
        (None, "anon", "alice/x", false, false),
        // No access word: readwrite.
        (None, "anon", "$SYS/broker/uptime", true, true),
        // `deny` wins over an earlier grant of the same section.
        (Some("alice"), "a1", "alice/notes", true, true),
        (Some("alice"), "a1", "alice/secret", false, false),
        // A topic may hold spaces: the rest of the line, trimmed.
        (Some("alice"), "a1", "spaced topic/x", true, false),
        // A user's own section replaces the anonymous one.
        (Some("alice"), "a1", "public/news", false, false),
        (Some("bob"), "b1", "bob/out", false, true),
        (Some("bob"), "b1", "alice/shared", true, false),
        // Patterns: %c and %u substituted; they apply to users and anonymous clients alike.
        (Some("bob"), "b1", "clients/b1/state", true, true),
        (Some("bob"), "b1", "clients/b2/state", false, false),
        (None, "anon", "clients/anon/x", true, true),
        (Some("carol"), "c1", "users/carol/inbox", true, false),
        (Some("carol"), "c1", "users/bob/inbox", false, false),
        // A `%u` pattern never applies without a user name.
        (None, "anon", "users//inbox", false, false),
        // A user without a section gets only the patterns.
        (Some("carol"), "c1", "public/news", false, false),
        // Deny by default, `$SYS` included.
        (Some("alice"), "a1", "$SYS/broker/uptime", false, false),
    ];
    let acl = acl();
    for &(user, id, topic, read, write) in cases {
        assert_eq!(
            acl.may_read(user, id, topic),
            read,
            "read {topic} as {user:?}/{id}"
        );
        assert_eq!(
            acl.may_write(user, id, topic, Q0),
            write,
            "write {topic} as {user:?}/{id}"
        );
    }
}

/// CVE-2017-7650: a `+` or `#` in the client id or user name would make `%c` / `%u` a
/// wildcard, so Mosquitto refuses every pattern to such a client (its own rules still apply).
#[test]
fn wildcards_in_ids_disable_patterns() {
    let acl = acl();
    assert!(!acl.may_read(Some("bob"), "#", "clients/#/x"));
    assert!(!acl.may_read(Some("bob"), "+", "clients/x/y"));
    assert!(!acl.may_read(Some("a+b"), "c", "clients/c/x"));
    assert!(
        acl.may_write(Some("bob"), "#", "bob/out", Q0),
        "own rules still apply"
    );
}

/// The mqlite extension: `qos N` at the end of a rule caps what it grants.
#[test]
fn qos_extension_caps_publish_and_subscribe() {
    let acl = acl();
    let alice = (Some("alice"), "a1");
    assert!(acl.may_write(alice.0, alice.1, "sensors/t", Q1));
    assert!(!acl.may_write(alice.0, alice.1, "sensors/t", Q2));
    let capped = Acl::parse("topic read a/# qos 0\ntopic read b/#\n").unwrap();
    assert_eq!(capped.subscribe_qos(None, "c", "a/x", Q2), Some(Q0));
    assert_eq!(capped.subscribe_qos(None, "c", "b/x", Q2), Some(Q2));
    // A filter over both gets the lower cap, so no delivery exceeds its rule.
    assert_eq!(capped.subscribe_qos(None, "c", "+/x", Q2), Some(Q0));
    // A capped grant does not decide: a later rule may allow more.
    let two = Acl::parse("topic write t qos 0\ntopic write t\n").unwrap();
    assert!(two.may_write(None, "c", "t", Q2));
}

#[test]
fn subscriptions_are_refused_only_when_nothing_could_be_delivered() {
    let acl = acl();
    let alice = |filter: &str| acl.subscribe_qos(Some("alice"), "a1", filter, Q2);
    assert_eq!(alice("alice/#"), Some(Q2));
    // `#` overlaps alice/#: granted; deliveries are filtered per message.
    assert_eq!(
        alice("#"),
        Some(Q2),
        "`sensors/# qos 1` is write-only: no read cap"
    );
    // Covered by a deny rule.
    assert_eq!(alice("alice/secret"), None);
    // No read rule overlaps (sensors/# is write-only).
    assert_eq!(alice("sensors/#"), None);
    assert_eq!(alice("bob/#"), None);
    // `#` never reaches `$SYS`; a `$SYS` filter needs a `$SYS` rule.
    assert_eq!(acl.subscribe_qos(None, "x", "$SYS/#", Q0), Some(Q0));
    assert_eq!(alice("$SYS/#"), None);
    // Shared subscriptions are checked by their filter.
    assert_eq!(alice("$share/g/alice/+"), Some(Q2));
    assert_eq!(alice("$share/g/bob/+"), None);
    // Patterns count too.
    assert_eq!(
        acl.subscribe_qos(Some("bob"), "b1", "clients/b1/#", Q1),
        Some(Q1)
    );
}

#[test]
fn an_empty_file_denies_everything() {
    let acl = Acl::parse("# nothing\n\n").unwrap();
    assert!(!acl.may_read(None, "c", "a"));
    assert!(!acl.may_write(Some("u"), "c", "a", Q0));
    assert_eq!(acl.subscribe_qos(None, "c", "#", Q0), None);
}

/// Lines Mosquitto 2.0.11 refuses (checked against `mosquitto -c`), and bad `qos` suffixes.
#[test]
fn bad_lines_are_errors_naming_the_line() {
    let cases = [
        ("  # indented comment", "expected `topic`"),
        ("topic\tread\tx", "`topic\tread\tx`"),
        ("topics read x", "`topics`"),
        ("topic", "empty topic"),
        ("topic readonly x", "access `readonly`"),
        ("topic read a/#/b", "`#` must be the last level"),
        ("pattern read a+/b", "must occupy a whole level"),
        ("user", "needs a user name"),
        ("user    ", "needs a user name"),
        ("topic read x qos 3", "`qos 3`"),
        ("topic deny x qos 1", "does not apply to a deny rule"),
    ];
    for (line, expected) in cases {
        let err = Acl::parse(&format!("# first\n{line}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{line:?}: {err}");
        assert!(err.contains(expected), "{line:?}: {err}");
    }
}

/// A Mosquitto file parses as Mosquitto reads it; `qos` is only taken as the extension when
/// it is the second-to-last word.
#[test]
fn lines_parse_like_mosquitto() {
    let rule = |line: &str| match parse_line(line).unwrap() {
        Line::Topic(rule) | Line::Pattern(rule) => (rule.filter, rule.access, rule.max_qos),
        other => panic!("{line}: {other:?}"),
    };
    assert_eq!(rule("topic a/b"), ("a/b".into(), READ | WRITE, Q2));
    // A lone word is the topic, even if it is an access word.
    assert_eq!(rule("topic read"), ("read".into(), READ | WRITE, Q2));
    assert_eq!(rule("  topic   write    a b  "), ("a b".into(), WRITE, Q2));
    assert_eq!(rule("topic read a/qos 1"), ("a/qos 1".into(), READ, Q2));
    assert_eq!(rule("topic read a/b  qos  1"), ("a/b".into(), READ, Q1));
    assert_eq!(rule("topic a/b qos 0"), ("a/b".into(), READ | WRITE, Q0));
    assert_eq!(rule("pattern deny x/%c"), ("x/%c".into(), 0, Q2));
    assert_eq!(parse_line("#topic read x").unwrap(), Line::Blank);
    assert_eq!(parse_line("   ").unwrap(), Line::Blank);
    assert_eq!(
        parse_line("user  bob smith ").unwrap(),
        Line::User("bob smith")
    );
}

#[test]
fn substitution_replaces_every_marker() {
    assert_eq!(substitute("a/%c/%u/%c", "id", Some("me")), "a/id/me/id");
    assert_eq!(substitute("100%/%x/%", "id", None), "100%/%x/%");
    assert_eq!(substitute("%u/%c", "id", None), "%u/id");
}

/// The ACL of docs/security.md's complete setup does what the page says.
#[test]
fn the_documented_setup_works() {
    let acl = Acl::parse(
        "user admin\ntopic readwrite #\ntopic read $SYS/#\n\n\
         user dashboard\ntopic read sensors/#\ntopic write commands/# qos 1\n\n\
         pattern write sensors/%c/# qos 1\npattern read commands/%c\n",
    )
    .unwrap();
    let sensor = (Some("sensor-17"), "sensor-17");
    assert!(acl.may_write(sensor.0, sensor.1, "sensors/sensor-17/temp", Q1));
    assert!(!acl.may_write(sensor.0, sensor.1, "sensors/sensor-17/temp", Q2));
    assert!(!acl.may_write(sensor.0, sensor.1, "sensors/sensor-9/temp", Q0));
    assert!(acl.may_read(sensor.0, sensor.1, "commands/sensor-17"));
    assert!(acl.may_read(Some("dashboard"), "d", "sensors/sensor-17/temp"));
    assert!(!acl.may_read(Some("dashboard"), "d", "$SYS/broker/uptime"));
    assert!(acl.may_read(Some("admin"), "a", "$SYS/broker/uptime"));
    assert!(acl.may_write(Some("admin"), "a", "anything", Q2));
    assert!(
        !acl.may_read(None, "anon", "sensors/x"),
        "anonymous clients get nothing"
    );
}

/// Rule topics Mosquitto's `mosquitto_sub_topic_check` accepts load (checked by core's
/// `check_filter`): wildcards filling whole levels, `%c` / `%u`, spaces, empty levels.
#[test]
fn valid_rule_topics_load() {
    for topic in [
        "#",
        "+",
        "a/+/b",
        "a/#",
        "/",
        "clients/%c/#",
        "%u/+",
        "with space/x",
    ] {
        let text = format!("topic read {topic}\npattern write {topic}\n");
        assert!(Acl::parse(&text).is_ok(), "{topic}");
    }
}
