//! The JSON lines of `benches/compare.sh`, one per run, grouped by scenario and broker, and
//! the statistics the report takes of them (median, min and max over the runs).

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Context as _, Result, bail};
use serde_json::{Map, Value};

/// The brokers compared, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Broker {
    /// This project.
    Mqlite,
    /// Eclipse Mosquitto (Debian's package).
    Mosquitto,
    /// rumqttd (cargo install).
    Rumqttd,
}

impl Broker {
    /// Every broker, mqlite first.
    pub(crate) const ALL: [Broker; 3] = [Broker::Mqlite, Broker::Mosquitto, Broker::Rumqttd];
    /// The peers mqlite is compared with.
    pub(crate) const PEERS: [Broker; 2] = [Broker::Mosquitto, Broker::Rumqttd];

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "mqlite" => Self::Mqlite,
            "mosquitto" => Self::Mosquitto,
            "rumqttd" => Self::Rumqttd,
            _ => return None,
        })
    }
}

impl fmt::Display for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mqlite => "mqlite",
            Self::Mosquitto => "Mosquitto",
            Self::Rumqttd => "rumqttd",
        })
    }
}

/// What a scenario measures, from mqlite-bench's `scenario` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `throughput`, `fanout`, `fanin`: delivered messages per second.
    Throughput,
    /// `latency`: percentiles.
    Latency,
    /// `idle`: connect time and RSS per connection.
    Idle,
    /// `slow`: RSS over time with a stuck subscriber.
    Slow,
}

impl Kind {
    fn from_scenario(name: &str) -> Option<Self> {
        Some(match name {
            "throughput" | "fanout" | "fanin" => Self::Throughput,
            "latency" => Self::Latency,
            "idle" => Self::Idle,
            "slow" => Self::Slow,
            _ => return None,
        })
    }
}

/// One run of one scenario against one broker.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// The command, as compare.sh ran it.
    pub(crate) cmd: String,
    /// 1-minute load average when the run started.
    pub(crate) load1: f64,
    /// mqlite-bench's `results`, or `None` if the run failed.
    pub(crate) results: Option<Map<String, Value>>,
}

impl Run {
    /// The number `name`, if the run succeeded and reported it.
    pub(crate) fn get(&self, name: &str) -> Option<f64> {
        self.results.as_ref()?.get(name)?.as_f64()
    }

    /// The array of numbers `name`.
    pub(crate) fn series(&self, name: &str) -> Option<Vec<f64>> {
        let values = self.results.as_ref()?.get(name)?.as_array()?;
        values.iter().map(Value::as_f64).collect()
    }
}

/// One scenario and its runs per broker.
#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    /// Short id (`qos0-1to1`).
    pub(crate) id: String,
    /// What a reader sees.
    pub(crate) label: String,
    /// What it measures; `None` until a run succeeded.
    pub(crate) kind: Option<Kind>,
    /// Runs per broker, in run order.
    pub(crate) runs: BTreeMap<Broker, Vec<Run>>,
}

/// Median, min and max of one figure over a broker's successful runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Stat {
    /// The median (the mean of the middle two for an even count).
    pub(crate) median: f64,
    /// The smallest run.
    pub(crate) min: f64,
    /// The largest run.
    pub(crate) max: f64,
    /// Runs that reported the figure.
    pub(crate) n: usize,
}

impl Stat {
    /// The statistics of `values`; `None` if there are none.
    pub(crate) fn of(mut values: Vec<f64>) -> Option<Self> {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = match n % 2 {
            1 => values[n / 2],
            _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        };
        Some(Self {
            median,
            min: values[0],
            max: values[n - 1],
            n,
        })
    }
}

impl Scenario {
    /// The runs of `broker`.
    pub(crate) fn runs_of(&self, broker: Broker) -> &[Run] {
        self.runs.get(&broker).map_or(&[], Vec::as_slice)
    }

    /// `name` over the successful runs of `broker`.
    pub(crate) fn stat(&self, broker: Broker, name: &str) -> Option<Stat> {
        Stat::of(
            self.runs_of(broker)
                .iter()
                .filter_map(|r| r.get(name))
                .collect(),
        )
    }

    /// Runs of `broker`, and how many of them failed.
    pub(crate) fn counts(&self, broker: Broker) -> (usize, usize) {
        let runs = self.runs_of(broker);
        let failed = runs.iter().filter(|r| r.results.is_none()).count();
        (runs.len(), failed)
    }

    /// The command of the scenario with the port and broker pid left as placeholders.
    pub(crate) fn command(&self) -> String {
        let Some(run) = self.runs.values().flatten().next() else {
            return String::new();
        };
        let mut words: Vec<&str> = run.cmd.split_whitespace().collect();
        for i in 1..words.len() {
            match words[i - 1] {
                "--port" => words[i] = "PORT",
                "--broker-pid" => words[i] = "PID",
                _ => {}
            }
        }
        words.join(" ")
    }
}

/// Every scenario of a results file, in the order of their first run.
///
/// # Errors
///
/// A line is not JSON or lacks a field compare.sh writes.
pub(crate) fn parse(text: &str) -> Result<Vec<Scenario>> {
    let mut scenarios: Vec<Scenario> = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Value =
            serde_json::from_str(line).with_context(|| format!("line {}: not JSON", n + 1))?;
        let field = |name: &str| {
            v.get(name)
                .with_context(|| format!("line {}: no `{name}`", n + 1))
        };
        let broker_name = field("broker")?.as_str().unwrap_or_default();
        let Some(broker) = Broker::from_name(broker_name) else {
            bail!("line {}: unknown broker `{broker_name}`", n + 1);
        };
        let id = field("id")?.as_str().unwrap_or_default().to_owned();
        let data = field("data")?;
        let run = Run {
            cmd: field("cmd")?.as_str().unwrap_or_default().to_owned(),
            load1: v.get("load1").and_then(Value::as_f64).unwrap_or(f64::NAN),
            results: data.get("results").and_then(Value::as_object).cloned(),
        };
        let kind = data
            .get("scenario")
            .and_then(Value::as_str)
            .and_then(Kind::from_scenario);
        let i = match scenarios.iter().position(|s| s.id == id) {
            Some(i) => i,
            None => {
                let label = field("label")?.as_str().unwrap_or(&id).to_owned();
                scenarios.push(Scenario {
                    id,
                    label,
                    kind: None,
                    runs: BTreeMap::new(),
                });
                scenarios.len() - 1
            }
        };
        let s = &mut scenarios[i];
        s.kind = s.kind.or(kind);
        s.runs.entry(broker).or_default().push(run);
    }
    Ok(scenarios)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINES: &str = r#"
{"broker":"mqlite","id":"a","label":"A","run":1,"status":"ok","load1":0.5,"cmd":"mqlite-bench throughput --port 18902 --broker-pid 77 --json","data":{"scenario":"throughput","results":{"delivered_msgs_per_sec":10.0}}}
{"broker":"mosquitto","id":"a","label":"A","run":1,"status":"failed","load1":0.6,"cmd":"x","data":null}
{"broker":"mqlite","id":"a","label":"A","run":2,"status":"ok","load1":0.5,"cmd":"x","data":{"scenario":"throughput","results":{"delivered_msgs_per_sec":30.0}}}
{"broker":"mqlite","id":"b","label":"B","run":1,"status":"ok","load1":0.5,"cmd":"x","data":{"scenario":"slow","results":{"rss_series_kib":[1,2,3]}}}
"#;

    #[test]
    fn groups_by_scenario_and_broker_in_first_seen_order() {
        let s = parse(LINES).expect("valid");
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].id.as_str(), s[0].kind), ("a", Some(Kind::Throughput)));
        assert_eq!(s[0].counts(Broker::Mqlite), (2, 0));
        assert_eq!(s[0].counts(Broker::Mosquitto), (1, 1));
        assert_eq!(s[0].counts(Broker::Rumqttd), (0, 0));
        let stat = s[0]
            .stat(Broker::Mqlite, "delivered_msgs_per_sec")
            .expect("two runs");
        assert_eq!(
            (stat.median, stat.min, stat.max, stat.n),
            (20.0, 10.0, 30.0, 2)
        );
        assert_eq!(s[0].stat(Broker::Mosquitto, "delivered_msgs_per_sec"), None);
        assert_eq!(
            s[0].command(),
            "mqlite-bench throughput --port PORT --broker-pid PID --json"
        );
        let series = s[1].runs_of(Broker::Mqlite)[0].series("rss_series_kib");
        assert_eq!(series, Some(vec![1.0, 2.0, 3.0]));
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        let odd = Stat::of(vec![3.0, 1.0, 2.0]).expect("values");
        assert_eq!((odd.median, odd.min, odd.max), (2.0, 1.0, 3.0));
        assert_eq!(Stat::of(vec![4.0, 1.0]).map(|s| s.median), Some(2.5));
        assert_eq!(Stat::of(vec![]), None);
    }

    #[test]
    fn bad_lines_are_errors() {
        assert!(parse("{").is_err());
        assert!(parse(r#"{"broker":"emqx","id":"a","run":1,"cmd":"","data":null}"#).is_err());
    }
}
