//! Validation of topic names and filters against the examples of MQTT 3.1.1 §4.7 and 5.0 §4.7.
//! Matching is checked in `crate::index::tests`, against the index too.

use super::*;

fn filter(s: &str) -> TopicFilter {
    TopicFilter::new(s).unwrap_or_else(|e| panic!("{s:?} should be a valid filter: {e}"))
}

fn filter_err(s: &str) -> TopicError {
    TopicFilter::new(s).expect_err(s)
}

fn name_err(s: &str) -> TopicError {
    TopicName::new(s).expect_err(s)
}

/// `#` on its own or after a separator, as the last level, is valid [MQTT-4.7.1-2].
#[test]
fn multi_level_wildcard_alone_or_last_is_valid() {
    for s in ["#", "sport/tennis/#", "sport/#", "/#", "+/#", "$SYS/#"] {
        assert!(filter(s).has_wildcards(), "{s}");
    }
}

/// `#` must follow a separator: "sport/tennis#" is invalid [MQTT-4.7.1-2].
#[test]
fn multi_level_wildcard_must_follow_a_separator() {
    for s in ["sport/tennis#", "#sport", "a/#b", "##"] {
        let err = filter_err(s);
        assert!(
            matches!(err, TopicError::MisplacedWildcard { wildcard: '#', .. }),
            "{s}: {err}"
        );
    }
}

/// `#` must be the last level: "sport/tennis/#/ranking" is invalid [MQTT-4.7.1-2].
#[test]
fn multi_level_wildcard_must_be_the_last_level() {
    for s in ["sport/tennis/#/ranking", "#/a", "#/", "a/#/+"] {
        assert!(
            matches!(filter_err(s), TopicError::HashNotLast { .. }),
            "{s}"
        );
    }
}

/// `+` may be any level, first and last included: "+", "+/tennis/#", "sport/+/player1", "/+"
/// are valid [MQTT-4.7.1-3].
#[test]
fn single_level_wildcard_can_be_any_whole_level() {
    for s in [
        "+",
        "+/tennis/#",
        "sport/+/player1",
        "/+",
        "+/+",
        "sport/+",
        "+/",
        "+//+",
    ] {
        assert!(filter(s).has_wildcards(), "{s}");
    }
}

/// `+` must occupy a whole level: "sport+" is invalid [MQTT-4.7.1-3].
#[test]
fn single_level_wildcard_must_occupy_a_whole_level() {
    for s in ["sport+", "+sport", "sport/+tennis", "a/++", "+a/#"] {
        let err = filter_err(s);
        assert!(
            matches!(err, TopicError::MisplacedWildcard { wildcard: '+', .. }),
            "{s}: {err}"
        );
    }
}

/// Wildcards are not allowed in topic names [MQTT-4.7.1-1] [MQTT-3.3.2-2].
#[test]
fn topic_names_reject_wildcards() {
    for s in ["#", "+", "sport/+", "sport/tennis/#", "a+b", "a#b"] {
        assert!(
            matches!(name_err(s), TopicError::WildcardInTopicName { .. }),
            "{s}"
        );
    }
}

/// Filters without wildcards are valid names too; empty levels are allowed everywhere (§4.7.1.1).
#[test]
fn empty_levels_are_allowed() {
    for s in ["a//b", "/", "//", "a/", "/finance", "sport/tennis/player1"] {
        assert!(TopicName::new(s).is_ok(), "{s}");
        assert!(!filter(s).has_wildcards(), "{s}");
    }
}

/// Names and filters must be at least one character long [MQTT-4.7.3-1].
#[test]
fn empty_strings_are_rejected() {
    assert_eq!(
        name_err(""),
        TopicError::Empty {
            kind: TopicKind::Name
        }
    );
    assert_eq!(
        filter_err(""),
        TopicError::Empty {
            kind: TopicKind::Filter
        }
    );
}

/// Names and filters must not contain U+0000 [MQTT-4.7.3-2].
#[test]
fn null_character_is_rejected() {
    assert!(matches!(name_err("a\0b"), TopicError::NullCharacter { .. }));
    assert!(matches!(
        filter_err("a/\0/#"),
        TopicError::NullCharacter { .. }
    ));
}

/// Names and filters encode to at most 65,535 bytes, counted in UTF-8 bytes [MQTT-4.7.3-3].
#[test]
fn length_limit_is_65535_bytes() {
    let max = "a".repeat(65_535);
    assert!(TopicName::new(&max).is_ok());
    assert!(TopicFilter::new(&max).is_ok());
    let over = "a".repeat(65_536);
    assert!(matches!(
        name_err(&over),
        TopicError::TooLong { len: 65_536, .. }
    ));
    // 32,768 two-byte characters: few characters, too many bytes.
    let wide = "é".repeat(32_768);
    assert!(matches!(
        filter_err(&wide),
        TopicError::TooLong { len: 65_536, .. }
    ));
}

/// Ill-formed UTF-8 is rejected [MQTT-1.5.3-1] (5.0: [MQTT-1.5.4-1]).
#[test]
fn invalid_utf8_is_rejected() {
    let bytes = b"sport/\xff\xfe";
    let err = TopicName::from_bytes(bytes).expect_err("invalid utf-8");
    assert!(matches!(
        err,
        TopicError::InvalidUtf8 {
            kind: TopicKind::Name,
            ..
        }
    ));
    let err = TopicFilter::from_bytes(bytes).expect_err("invalid utf-8");
    assert!(matches!(
        err,
        TopicError::InvalidUtf8 {
            kind: TopicKind::Filter,
            ..
        }
    ));
    assert_eq!(
        TopicName::from_bytes(b"a/b").map(|t| t.level_count()),
        Ok(2)
    );
}

/// Topics starting with `$` are valid names and filters; the `$` rule only affects matching
/// [MQTT-4.7.2-1].
#[test]
fn dollar_topics_are_valid() {
    let name = TopicName::new("$SYS/monitor/Clients").expect("valid");
    assert!(name.is_system());
    assert!(!TopicName::new("sport").expect("valid").is_system());
    for s in ["$SYS/#", "$SYS/monitor/+", "$SYS"] {
        assert!(!filter(s).is_shared(), "{s}");
    }
}

/// Spaces and any non-null Unicode are ordinary characters, and case is kept (§4.7.3).
#[test]
fn spaces_and_unicode_are_ordinary_characters() {
    for s in ["Accounts payable", "ünïcödé/ß", "ACCOUNTS", "a b/ c"] {
        assert_eq!(TopicName::new(s).map(|t| t.to_string()), Ok(s.to_owned()));
    }
}

/// `$share/{group}/{filter}` is a shared subscription with its group and filter parts
/// (MQTT 5.0 §4.8.2).
#[test]
fn shared_filter_exposes_group_and_filter() {
    let f = filter("$share/consumers/sport/tennis/+");
    assert!(f.is_shared());
    assert_eq!(f.share_group(), Some("consumers"));
    assert_eq!(f.filter(), "sport/tennis/+");
    assert_eq!(f.as_str(), "$share/consumers/sport/tennis/+");
    assert_eq!(f.level_count(), 3);
    assert!(f.has_wildcards());
    let exact = filter("$share/g/a/b");
    assert!(!exact.has_wildcards());
    assert_eq!(filter("$share/g/#").filter(), "#");
    assert_eq!(filter("$share/g//").filter(), "/");
}

/// The share name is at least one character with no `/`, `+` or `#`; "$share" and "$share/"
/// are not valid shared filters [MQTT-4.8.2-1] [MQTT-4.8.2-2].
#[test]
fn share_name_must_be_non_empty_without_wildcards() {
    for s in [
        "$share",
        "$share/",
        "$share//a",
        "$share/g+/a",
        "$share/#/a",
        "$share/+/a",
        "$share/+",
    ] {
        assert!(
            matches!(filter_err(s), TopicError::InvalidShareGroup { .. }),
            "{s}"
        );
    }
}

/// The share name must be followed by `/` and a non-empty filter [MQTT-4.8.2-2].
#[test]
fn shared_filter_needs_a_filter_after_the_group() {
    for s in ["$share/g", "$share/g/"] {
        assert!(
            matches!(filter_err(s), TopicError::EmptySharedFilter { .. }),
            "{s}"
        );
    }
}

/// The filter part of a shared filter follows the wildcard rules [MQTT-4.7.1-2] [MQTT-4.7.1-3].
#[test]
fn shared_filter_part_is_validated() {
    assert!(matches!(
        filter_err("$share/g/a/#/b"),
        TopicError::HashNotLast { .. }
    ));
    assert!(matches!(
        filter_err("$share/g/sport+"),
        TopicError::MisplacedWildcard { .. }
    ));
}

/// Only the exact, case-sensitive prefix `$share/` makes a shared subscription.
#[test]
fn look_alike_share_prefixes_are_ordinary_filters() {
    for s in ["$sharex/g/a", "$SHARE/g/a", "$shar/g/a", "a/$share/g/b"] {
        let f = filter(s);
        assert!(!f.is_shared() && f.share_group().is_none(), "{s}");
        assert_eq!(f.filter(), s);
    }
    // A name may look like a shared filter: only filters are parsed for groups.
    assert!(TopicName::new("$share/g/a").is_ok());
}

/// Levels are counted between separators, empty ones included.
#[test]
fn level_count_includes_empty_levels() {
    let count = |s: &str| TopicName::new(s).map(|t| t.level_count());
    assert_eq!(count("a"), Ok(1));
    assert_eq!(count("a/b"), Ok(2));
    assert_eq!(count("/"), Ok(2));
    assert_eq!(count("a//b/"), Ok(4));
    assert_eq!(filter("sport/tennis/#").level_count(), 3);
}

/// Messages are lower-case, name the value and cite the statement; long values are cut.
#[test]
fn error_messages_name_the_value_and_cite_the_rule() {
    assert_eq!(
        filter_err("a/#/b").to_string(),
        "topic filter `a/#/b`: `#` must be the last level [MQTT-4.7.1-2] (5.0: [MQTT-4.7.1-1])"
    );
    assert_eq!(
        filter_err("sport+").to_string(),
        "topic filter `sport+`: `+` must occupy a whole level [MQTT-4.7.1-3] (5.0: [MQTT-4.7.1-2])"
    );
    let null = name_err("a\0").to_string();
    assert!(
        null.starts_with("topic name `a\\u{0}` contains the null"),
        "{null}"
    );
    let long = format!("{}+", "x".repeat(100));
    let message = name_err(&long).to_string();
    assert!(
        message.contains(&format!("`{}…`", "x".repeat(64))),
        "{message}"
    );
    for err in [
        filter_err(""),
        filter_err("$share//a"),
        filter_err("$share/g"),
        name_err("+"),
    ] {
        let message = err.to_string();
        assert!(message.starts_with(|c: char| c.is_lowercase()), "{message}");
        assert!(message.contains("[MQTT-"), "{message}");
    }
}

/// Conversions agree with `new`; Display is the string, Debug names the type.
#[test]
fn conversions_and_formatting() {
    let f: TopicFilter = "$share/g/a/+".parse().expect("valid");
    assert_eq!(TopicFilter::try_from("$share/g/a/+"), Ok(f.clone()));
    assert_eq!(
        TopicFilter::try_from(String::from("$share/g/a/+")),
        Ok(f.clone())
    );
    assert_eq!(f.to_string(), "$share/g/a/+");
    assert_eq!(format!("{f:?}"), r#"TopicFilter("$share/g/a/+")"#);
    let t: TopicName = "a/b".parse().expect("valid");
    assert_eq!(TopicName::try_from(String::from("a/b")), Ok(t.clone()));
    assert_eq!(format!("{t:?}"), r#"TopicName("a/b")"#);
    assert!("a/+".parse::<TopicName>().is_err());
}

/// Maps keyed by names or filters can be queried with `&str`.
#[test]
fn maps_are_queried_by_str() {
    let mut map = std::collections::HashMap::new();
    map.insert(filter("$share/g/a"), 1);
    map.insert(filter("a/+"), 2);
    assert_eq!(map.get("$share/g/a"), Some(&1));
    assert_eq!(map.get("a/+"), Some(&2));
    let names: std::collections::BTreeSet<TopicName> = ["b", "a"]
        .into_iter()
        .filter_map(|s| TopicName::new(s).ok())
        .collect();
    assert!(names.contains("a"));
}

/// `check_filter` applies `TopicFilter::new`'s rules to filters without a share prefix, and
/// `filter_matches` is `TopicFilter::matches` on strings.
#[test]
fn string_checks_agree_with_the_newtypes() {
    for s in [
        "#", "+", "a/+/b", "a/#", "/", "a//b", "a/#/b", "a#", "a/b+", "#/a", "", "a\0",
    ] {
        assert_eq!(check_filter(s), TopicFilter::new(s).map(|_| ()), "{s:?}");
    }
    // Only TopicFilter::new reads `$share/{group}/`: the plain check takes it as levels.
    assert!(TopicFilter::new("$share/+/x").is_err());
    assert_eq!(check_filter("$share/+/x"), Ok(()));
    let topic = TopicName::new("a/b").unwrap();
    for f in ["a/b", "a/+", "#", "a/#", "+/+/+", "a"] {
        assert_eq!(filter_matches(f, "a/b"), filter(f).matches(&topic), "{f}");
    }
}
