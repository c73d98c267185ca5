//! The index against the spec's matching examples and against [`TopicFilter::matches`].

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::types::qos::QoS;

/// (filter, topic, matches): every example of MQTT 3.1.1 §4.7 and 5.0 §4.7, then edge cases.
const MATCH_TABLE: &[(&str, &str, bool)] = &[
    // §4.7.1.2 multi-level wildcard [MQTT-4.7.1-2]
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
    ("#", "sport/tennis/player1", true),
    ("sport/tennis/#", "sport/tennis", true),
    ("sport/tennis/#", "sport/tennisx", false),
    // §4.7.1.3 single-level wildcard [MQTT-4.7.1-3]
    ("sport/tennis/+", "sport/tennis/player1", true),
    ("sport/tennis/+", "sport/tennis/player2", true),
    ("sport/tennis/+", "sport/tennis/player1/ranking", false),
    ("sport/+", "sport", false),
    ("sport/+", "sport/", true),
    ("+/+", "/finance", true),
    ("/+", "/finance", true),
    ("+", "/finance", false),
    ("+/tennis/#", "sport/tennis/player1", true),
    ("+/tennis/#", "sport/tennis", true),
    ("sport/+/player1", "sport/tennis/player1", true),
    // §4.7.2 topics beginning with $ [MQTT-4.7.2-1]
    ("#", "$SYS/monitor/Clients", false),
    ("+/monitor/Clients", "$SYS/monitor/Clients", false),
    ("$SYS/#", "$SYS/monitor/Clients", true),
    ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
    ("$SYS/#", "$SYS", true),
    ("$SYS", "$SYS", true),
    ("$SYS/+", "$SYS", false),
    ("+", "$SYS", false),
    ("+/#", "$SYS", false),
    ("$share/g/#", "$SYS/x", false),
    // `$` is special only in the first level
    ("a/+", "a/$x", true),
    ("#", "a/$x", true),
    // §4.7.3 case-sensitive, no normalisation, `/` significant [MQTT-4.7.3-4]
    ("ACCOUNTS", "Accounts", false),
    ("Accounts payable", "Accounts payable", true),
    ("/finance", "finance", false),
    ("finance", "/finance", false),
    ("ünïcödé/+", "ünïcödé/ß", true),
    // exact filters and empty levels
    ("sport/tennis/player1", "sport/tennis/player1", true),
    ("sport/tennis/player1", "sport/tennis/player1/", false),
    ("a//c", "a//c", true),
    ("a/+/c", "a//c", true),
    ("+/+", "//", false),
    ("+/+/+", "//", true),
    ("/#", "/", true),
    ("#", "/", true),
    ("+", "a", true),
    ("+/+", "a", false),
    ("+/+", "a/b", true),
    ("+/+", "a/b/c", false),
    ("sport/+/+", "sport/tennis", false),
    ("+/#", "a", true),
    ("a/#", "a/b/c/d", true),
    ("a/#", "b", false),
    ("a/#", "ab", false),
    // shared subscriptions match by their filter part (MQTT 5.0 §4.8.2)
    ("$share/g/sport/#", "sport/tennis", true),
    ("$share/g/sport/+", "sport", false),
    ("$share/g/a/b", "a/b", true),
];

fn name(s: &str) -> TopicName {
    TopicName::new(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn filter(s: &str) -> TopicFilter {
    TopicFilter::new(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn opts(id: u32) -> SubOptions {
    SubOptions::new(QoS::AtLeastOnce).subscription_id(Some(id))
}

/// One match, comparable: a direct (handle, subscription id) or a group (name, members).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Found {
    Direct(u32, Option<u32>),
    Shared(String, Vec<(u32, Option<u32>)>),
}

fn found(index: &TopicIndex<u32>, topic: &str) -> Vec<Found> {
    let mut out = Vec::new();
    index.for_each_match(&name(topic), |m| {
        out.push(match m {
            Match::Direct(h, o) => Found::Direct(h, o.subscription_id),
            Match::Shared(group) => {
                let members = group.members().iter().map(|&(h, o)| (h, o.subscription_id));
                Found::Shared(group.name().to_owned(), members.collect())
            }
        });
    });
    out.sort();
    out
}

/// Every table row, with the reference matcher and with an index holding only that filter
/// [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.2-1].
#[test]
fn spec_examples_match_in_reference_and_index() {
    for &(f, t, expected) in MATCH_TABLE {
        assert_eq!(
            filter(f).matches(&name(t)),
            expected,
            "reference: {f} vs {t}"
        );
        let mut index = TopicIndex::new();
        index.insert(&filter(f), 1, opts(1));
        assert_eq!(
            found(&index, t).len(),
            usize::from(expected),
            "index: {f} vs {t}"
        );
    }
}

/// With every table filter in one index (a handle per row), each topic finds exactly the rows
/// whose filter the reference matcher accepts.
#[test]
fn all_table_filters_in_one_index_match_like_the_reference() {
    let mut index = TopicIndex::new();
    let mut model: BTreeMap<String, Vec<(u32, SubOptions)>> = BTreeMap::new();
    for (i, &(f, _, _)) in (0u32..).zip(MATCH_TABLE) {
        index.insert(&filter(f), i, opts(i));
        model.entry(f.to_owned()).or_default().push((i, opts(i)));
    }
    for &(_, t, _) in MATCH_TABLE {
        assert_eq!(found(&index, t), model_matches(&model, t), "topic {t}");
    }
}

/// Subscribing again replaces the options and keeps one subscription; removal returns them.
#[test]
fn insert_replaces_and_remove_returns_options() {
    let mut index = TopicIndex::new();
    for f in ["a/b", "a/+", "$share/g/a/b"] {
        assert_eq!(index.insert(&filter(f), 7, opts(1)), None);
        assert_eq!(index.insert(&filter(f), 7, opts(2)), Some(opts(1)));
    }
    assert_eq!(index.len(), 3);
    assert_eq!(found(&index, "a/b").len(), 3);
    for f in ["a/b", "a/+", "$share/g/a/b"] {
        assert_eq!(index.remove(&filter(f), 8), None);
        assert_eq!(index.remove(&filter(f), 7), Some(opts(2)));
        assert_eq!(index.remove(&filter(f), 7), None);
    }
    assert!(index.is_empty());
    assert!(found(&index, "a/b").is_empty());
}

/// Once every subscription is gone, no entry, node or group is left behind.
#[test]
fn removing_everything_prunes_all_structures() {
    let mut index = TopicIndex::new();
    let filters = [
        "a/b",
        "a/+/c/#",
        "#",
        "+/x",
        "$share/g/a/#",
        "$share/h/a/b",
        "$share/g/q",
    ];
    for (h, f) in filters.iter().enumerate() {
        index.insert(&filter(f), h as u32, opts(0));
        index.insert(&filter(f), 100, opts(0));
    }
    assert_eq!(index.len(), 2 * filters.len());
    for (h, f) in filters.iter().enumerate() {
        assert_eq!(index.remove(&filter(f), h as u32), Some(opts(0)));
        assert_eq!(index.remove(&filter(f), 100), Some(opts(0)));
    }
    assert_empty(&index);
}

fn assert_empty(index: &TopicIndex<u32>) {
    assert!(index.is_empty());
    assert_eq!(index.direct.wildcard_len, 0);
    assert!(index.direct.wildcard.is_empty());
    assert!(index.direct.exact.get("a/b").is_empty());
    assert!(index.shared.is_pruned());
}

/// A shared group is reported once per publish with its members in join order; the same
/// group name with another filter is another group (MQTT 5.0 §4.8.2).
#[test]
fn shared_group_lists_members_in_join_order() {
    let mut index = TopicIndex::new();
    for h in [3, 1, 2] {
        index.insert(&filter("$share/g/a/+"), h, opts(h));
    }
    index.insert(&filter("$share/g/a/#"), 9, opts(9));
    index.insert(&filter("$share/h/a/+"), 4, opts(4));
    index.remove(&filter("$share/g/a/+"), 1);
    assert_eq!(index.len(), 4);
    assert_eq!(
        found(&index, "a/b"),
        vec![
            Found::Shared("g".into(), vec![(3, Some(3)), (2, Some(2))]),
            Found::Shared("g".into(), vec![(9, Some(9))]),
            Found::Shared("h".into(), vec![(4, Some(4))]),
        ]
    );
}

/// The round-robin cursor starts at 0 and advances once per call.
#[test]
fn shared_group_cursor_advances_round_robin() {
    let mut index = TopicIndex::new();
    index.insert(&filter("$share/g/t"), 1, opts(1));
    index.insert(&filter("$share/g/t"), 2, opts(2));
    let mut starts = Vec::new();
    for _ in 0..3 {
        index.for_each_match(&name("t"), |m| {
            if let Match::Shared(group) = m {
                starts.push(group.next_start() % group.members().len());
            }
        });
    }
    assert_eq!(starts, vec![0, 1, 0]);
}

/// Wildcard-first filters skip `$` topics in the index; `$` filters still match them
/// [MQTT-4.7.2-1].
#[test]
fn wildcard_first_filters_skip_dollar_topics() {
    let mut index = TopicIndex::new();
    for (h, f) in [
        "#",
        "+/monitor/Clients",
        "$SYS/#",
        "$SYS/monitor/+",
        "$share/g/#",
    ]
    .iter()
    .enumerate()
    {
        index.insert(&filter(f), h as u32, opts(0));
    }
    let handles: Vec<Found> = found(&index, "$SYS/monitor/Clients");
    assert_eq!(
        handles,
        vec![Found::Direct(2, Some(0)), Found::Direct(3, Some(0))]
    );
}

/// Levels that build filters and topics: few, so random cases collide often.
const LEVELS: &[&str] = &["a", "b", "", "$x"];

fn topic_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(LEVELS), 1..5)
        .prop_map(|levels| non_empty(levels.join("/")))
}

/// One empty level would make an empty string, which is not a topic [MQTT-4.7.3-1]: use two.
fn non_empty(s: String) -> String {
    if s.is_empty() { "/".to_owned() } else { s }
}

fn filter_strategy() -> impl Strategy<Value = String> {
    let level = prop_oneof![3 => prop::sample::select(LEVELS), 1 => Just("+")];
    let share = prop::option::of(prop::sample::select(&["g", "h"][..]));
    (prop::collection::vec(level, 1..5), any::<bool>(), share).prop_map(|(levels, hash, share)| {
        let mut f = non_empty(levels.join("/"));
        if hash {
            f.push_str("/#");
        }
        match share {
            Some(group) => format!("$share/{group}/{f}"),
            None => f,
        }
    })
}

/// (insert or remove, which filter, handle, subscription id).
fn op_strategy() -> impl Strategy<Value = (bool, prop::sample::Index, u32, u32)> {
    (
        any::<bool>(),
        any::<prop::sample::Index>(),
        0u32..4,
        0u32..3,
    )
}

/// Pieces of strings that stress validation: separators, wildcards, share prefixes, null.
const PIECES: &[&str] = &["a", "/", "+", "#", "$share", "$", "é", "\0"];

/// The model: for each filter, its subscribers in join order.
fn model_matches(model: &BTreeMap<String, Vec<(u32, SubOptions)>>, topic: &str) -> Vec<Found> {
    let mut out = Vec::new();
    for (f, members) in model.iter().filter(|(_, m)| !m.is_empty()) {
        let f = filter(f);
        if !f.matches(&name(topic)) {
            continue;
        }
        let entries = members.iter().map(|&(h, o)| (h, o.subscription_id));
        match f.share_group() {
            Some(group) => out.push(Found::Shared(group.to_owned(), entries.collect())),
            None => out.extend(entries.map(|(h, id)| Found::Direct(h, id))),
        }
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Across random inserts and removes by several handles, the index finds exactly what the
    /// reference matcher finds, keeps the right count, and prunes to nothing at the end.
    #[test]
    fn index_agrees_with_reference_matcher(
        filters in prop::collection::vec(filter_strategy(), 1..8),
        ops in prop::collection::vec(op_strategy(), 1..40),
        topics in prop::collection::vec(topic_strategy(), 1..8),
    ) {
        let mut index = TopicIndex::new();
        let mut model: BTreeMap<String, Vec<(u32, SubOptions)>> = BTreeMap::new();
        for (insert, which, handle, id) in ops {
            let f = which.get(&filters);
            let members = model.entry(f.clone()).or_default();
            let existing = members.iter().position(|&(h, _)| h == handle);
            let expected = existing.map(|i| members[i].1);
            if insert {
                prop_assert_eq!(index.insert(&filter(f), handle, opts(id)), expected);
                match existing {
                    Some(i) => members[i].1 = opts(id),
                    None => members.push((handle, opts(id))),
                }
            } else {
                prop_assert_eq!(index.remove(&filter(f), handle), expected);
                if let Some(i) = existing {
                    members.remove(i);
                }
            }
        }
        prop_assert_eq!(index.len(), model.values().map(Vec::len).sum::<usize>());
        for t in &topics {
            prop_assert_eq!(found(&index, t), model_matches(&model, t), "topic {}", t);
        }
        for (f, members) in &model {
            for &(h, o) in members {
                prop_assert_eq!(index.remove(&filter(f), h), Some(o));
            }
        }
        assert_empty(&index);
    }

    /// Validation never panics, on any string or byte sequence, and its verdicts agree: a valid
    /// name is a valid filter unless it parses as a malformed shared subscription.
    #[test]
    fn validation_never_panics(
        s in any::<String>(),
        bytes in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let as_name = TopicName::new(&s);
        let as_filter = TopicFilter::new(&s);
        if as_name.is_ok() && !s.starts_with("$share") {
            prop_assert!(as_filter.is_ok());
        }
        let _ = TopicName::from_bytes(&bytes);
        let _ = TopicFilter::from_bytes(&bytes);
    }

    /// Strings built from topic-like pieces validate without panicking, and accessors of
    /// valid filters stay consistent.
    #[test]
    fn validation_of_topic_like_strings_never_panics(
        pieces in prop::collection::vec(prop::sample::select(PIECES), 0..12),
    ) {
        let s = pieces.concat();
        let _ = TopicName::new(&s);
        if let Ok(f) = TopicFilter::new(&s) {
            prop_assert!(s.ends_with(f.filter()));
            prop_assert_eq!(f.is_shared(), f.share_group().is_some());
            prop_assert_eq!(f.has_wildcards(), f.filter().contains(['+', '#']));
        }
    }
}
