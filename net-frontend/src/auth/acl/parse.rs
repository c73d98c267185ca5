//! Lines of an ACL file, read as Mosquitto 2.0's `aclfile__parse` reads them, plus the `qos`
//! suffix.

use mqlite::QoS;

use super::{READ, Rule, WRITE};

/// One line of the file.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line<'a> {
    Blank,
    User(&'a str),
    Topic(Rule),
    Pattern(Rule),
}

/// Parses a line as Mosquitto 2.0's `aclfile__parse` does: a `#` comment only in the first
/// column, words split on spaces (not tabs), the topic is the rest of the line with its
/// blanks trimmed (so it may hold spaces).
pub(super) fn parse_line(raw: &str) -> Result<Line<'_>, String> {
    let line = raw.trim_end();
    if line.starts_with('#') {
        return Ok(Line::Blank);
    }
    let line = line.trim_start_matches(' ');
    if line.is_empty() {
        return Ok(Line::Blank);
    }
    let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
    match keyword {
        "user" => {
            let name = rest.trim();
            if name.is_empty() {
                return Err("`user` needs a user name".to_owned());
            }
            Ok(Line::User(name))
        }
        "topic" | "pattern" => {
            let rule = parse_rule(rest)?;
            Ok(if keyword == "topic" {
                Line::Topic(rule)
            } else {
                Line::Pattern(rule)
            })
        }
        other => Err(format!(
            "`{other}`: expected `topic`, `pattern`, `user` or a `#` comment in the first column"
        )),
    }
}

/// `[read|write|readwrite|deny] FILTER [qos 0|1|2]` (the access defaults to readwrite).
fn parse_rule(rest: &str) -> Result<Rule, String> {
    let (rest, max_qos) = strip_qos(rest)?;
    let rest = rest.trim_start_matches(' ');
    if rest.is_empty() {
        return Err("empty topic".to_owned());
    }
    let (access, topic) = match rest.split_once(' ') {
        Some((access, topic)) if !topic.trim().is_empty() => (Some(access), topic.trim()),
        _ => (None, rest.trim()),
    };
    let access = match access {
        None | Some("readwrite") => READ | WRITE,
        Some("read") => READ,
        Some("write") => WRITE,
        Some("deny") => 0,
        Some(other) => {
            return Err(format!(
                "access `{other}`: expected read, write, readwrite or deny"
            ));
        }
    };
    mqlite::topic::check_filter(topic).map_err(|e| e.to_string())?;
    if access == 0 && max_qos.is_some() {
        return Err("`qos` does not apply to a deny rule".to_owned());
    }
    Ok(Rule {
        filter: topic.to_owned(),
        access,
        max_qos: max_qos.unwrap_or(QoS::ExactlyOnce),
    })
}

/// Splits off mqlite's ` qos N` suffix. A topic that itself ends in the words `qos 0`, `qos 1`
/// or `qos 2` cannot be written in an mqlite ACL file.
fn strip_qos(rest: &str) -> Result<(&str, Option<QoS>), String> {
    let Some((head, last)) = rest.rsplit_once(' ') else {
        return Ok((rest, None));
    };
    let head = head.trim_end_matches(' ');
    let Some(before) = head.strip_suffix("qos") else {
        return Ok((rest, None));
    };
    if !(before.is_empty() || before.ends_with(' ')) {
        return Ok((rest, None));
    }
    let qos = match last {
        "0" => QoS::AtMostOnce,
        "1" => QoS::AtLeastOnce,
        "2" => QoS::ExactlyOnce,
        other => return Err(format!("`qos {other}`: the maximum QoS is 0, 1 or 2")),
    };
    Ok((before, Some(qos)))
}
