//! Topic filter relations the ACL needs between two filters, on plain strings (ACL rules hold
//! `%c` / `%u` and are not router filters): can two filters match a common topic, does one
//! filter match every topic another does. Whether a topic matches a filter, and whether a
//! filter is valid, are core's [`mqlite::topic::filter_matches`] and
//! [`mqlite::topic::check_filter`].
//!
//! Both follow MQTT 4.7 as core's matcher does: `+` is one level, `#` is the rest including the
//! parent level (`a/#` matches `a`), and a filter whose first level is a wildcard never matches
//! a topic starting with `$` [MQTT-4.7.2-1]; Mosquitto's ACL matching
//! (`mosquitto_topic_matches_sub`) works the same way, so `topic read #` does not open `$SYS`.

/// Whether `filter`'s first level is `+` or `#`.
fn starts_with_wildcard(filter: &str) -> bool {
    matches!(filter.split('/').next(), Some("+" | "#"))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
