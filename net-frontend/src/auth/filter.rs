//! Topic filter relations the ACL needs, on plain strings (ACL rules hold `%c` / `%u` and are
//! not router filters): does a topic match a filter, can two filters match a common topic,
//! does one filter match every topic another does.
//!
//! All three follow MQTT 4.7: `+` is one level, `#` is the rest including the parent level
//! (`a/#` matches `a`), and a filter whose first level is a wildcard never matches a topic
//! starting with `$` [MQTT-4.7.2-1]; Mosquitto's ACL matching (`mosquitto_topic_matches_sub`)
//! works the same way, so `topic read #` does not open `$SYS`.

/// Whether `filter`'s first level is `+` or `#`.
fn starts_with_wildcard(filter: &str) -> bool {
    matches!(filter.split('/').next(), Some("+" | "#"))
}

/// Whether `topic` matches `filter`.
pub(crate) fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && starts_with_wildcard(filter) {
        return false;
    }
    let (mut f, mut t) = (filter.split('/'), topic.split('/'));
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether some topic matches both `a` and `b`.
pub(crate) fn overlaps(a: &str, b: &str) -> bool {
    // A `$` topic matches only filters that start with a `$` literal.
    if (a.starts_with('$') && starts_with_wildcard(b))
        || (b.starts_with('$') && starts_with_wildcard(a))
    {
        return false;
    }
    let (mut x, mut y) = (a.split('/'), b.split('/'));
    loop {
        match (x.next(), y.next()) {
            (Some("#"), _) | (_, Some("#")) => return true,
            (Some("+"), Some(_)) | (Some(_), Some("+")) => {}
            (Some(p), Some(q)) if p == q => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether every topic that matches `inner` also matches `outer`.
pub(crate) fn covers(outer: &str, inner: &str) -> bool {
    if inner.starts_with('$') && starts_with_wildcard(outer) {
        return false;
    }
    let (mut o, mut i) = (outer.split('/'), inner.split('/'));
    loop {
        match (o.next(), i.next()) {
            (Some("#"), _) => return true,
            // `+` stands for any one level, not for `#` (which also means "no level").
            (Some("+"), Some(level)) if level != "#" => {}
            (Some(p), Some(q)) if p == q && p != "+" && p != "#" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Checks a filter as Mosquitto does for ACL topics (`mosquitto_sub_topic_check`): `+` and
/// `#` fill a whole level, `#` only the last [MQTT-4.7.1-1, MQTT-4.7.1-2].
pub(crate) fn validate(filter: &str) -> Result<(), &'static str> {
    if filter.is_empty() {
        return Err("the topic is empty");
    }
    if filter.len() > usize::from(u16::MAX) {
        return Err("the topic is longer than 65535 bytes");
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.len() > 1 && (level.contains('+') || level.contains('#')) {
            return Err("`+` and `#` must fill a whole level [MQTT-4.7.1-2]");
        }
        if level == "#" && levels.peek().is_some() {
            return Err("`#` must be the last level [MQTT-4.7.1-1]");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MQTT 3.1.1 §4.7.1 and Mosquitto's `mosquitto_topic_matches_sub` test table.
    #[test]
    fn topic_matching_follows_mqtt_4_7() {
        let cases = [
            ("sport/tennis/player1/#", "sport/tennis/player1", true),
            (
                "sport/tennis/player1/#",
                "sport/tennis/player1/ranking",
                true,
            ),
            (
                "sport/tennis/player1/#",
                "sport/tennis/player1/score/wimbledon",
                true,
            ),
            ("sport/#", "sport", true),
            ("#", "anything/at/all", true),
            ("sport/tennis/+", "sport/tennis/player1", true),
            ("sport/tennis/+", "sport/tennis/player1/ranking", false),
            ("sport/+", "sport", false),
            ("sport/+", "sport/", true),
            ("+/+", "/finance", true),
            ("/+", "/finance", true),
            ("+", "/finance", false),
            ("a/b", "a/b", true),
            ("a/b", "a/B", false),
            ("a/b", "a/b/c", false),
            // [MQTT-4.7.2-1]: wildcards at the first level skip `$` topics.
            ("#", "$SYS/broker/uptime", false),
            ("+/monitor/Clients", "$SYS/monitor/Clients", false),
            ("$SYS/#", "$SYS/broker/uptime", true),
            ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
        ];
        for (filter, topic, expected) in cases {
            assert_eq!(matches(filter, topic), expected, "{filter} vs {topic}");
        }
    }

    #[test]
    fn overlap_means_a_common_topic_exists() {
        let cases = [
            ("#", "a/b", true),
            ("a/#", "a", true),
            ("a/+", "+/b", true),
            ("a/+", "b/+", false),
            ("a/+/c", "a/b", false),
            ("a/+/c", "a/#", true),
            ("+/+", "a/b/c", false),
            ("#", "$SYS/#", false),
            ("+/x", "$SYS/x", false),
            ("$SYS/#", "$SYS/broker/+", true),
        ];
        for (a, b, expected) in cases {
            assert_eq!(overlaps(a, b), expected, "{a} vs {b}");
            assert_eq!(overlaps(b, a), expected, "{b} vs {a}");
        }
    }

    #[test]
    fn cover_means_every_topic_of_inner_matches_outer() {
        let cases = [
            ("#", "a/b/#", true),
            ("a/#", "a", true),
            ("a/#", "a/+/c", true),
            ("a/+", "a/b", true),
            ("a/+", "a/+", true),
            ("a/+", "a/#", false),
            ("a/+/#", "a/#", false),
            ("a/b", "a/+", false),
            ("a/b", "a/b", true),
            ("#", "$SYS/#", false),
            ("$SYS/#", "$SYS/broker", true),
        ];
        for (outer, inner, expected) in cases {
            assert_eq!(covers(outer, inner), expected, "{outer} ⊇ {inner}");
        }
    }

    #[test]
    fn validation_matches_mosquitto_sub_topic_check() {
        for good in [
            "#",
            "+",
            "a/+/b",
            "a/#",
            "/",
            "clients/%c/#",
            "with space/x",
        ] {
            assert_eq!(validate(good), Ok(()), "{good}");
        }
        for bad in ["", "a/#/b", "a#", "a/b+", "#/a"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
