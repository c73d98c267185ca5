//! One run's report: its parameters and results as named values, printed as an aligned
//! summary or as one JSON object (`{"scenario", "params", "results"}`). Result names carry
//! their unit (`_msgs_per_sec`, `_us`, `_kib`), so the JSON reads without a legend.

use serde_json::{Map, Value};

use crate::options::{Options, Scenario, Stamp};
use crate::rss::RssSummary;

/// The parameters and results of one run.
#[derive(Debug)]
pub(crate) struct Report {
    scenario: Scenario,
    params: Vec<(&'static str, Value)>,
    results: Vec<(&'static str, Value)>,
}

impl Report {
    /// A report with the parameters of `o` that `o.scenario` uses.
    pub(crate) fn new(o: &Options) -> Self {
        let mut r = Self {
            scenario: o.scenario,
            params: Vec::new(),
            results: Vec::new(),
        };
        r.param("host", o.host.as_str().into());
        r.param("port", o.port.into());
        r.param("version", o.version.level().into());
        if o.scenario != Scenario::Idle {
            r.param("qos", o.qos.as_u8().into());
            r.param("size_bytes", o.size_bytes.into());
            r.param("inflight", o.inflight.into());
            r.param("warmup_s", o.warmup.as_secs_f64().into());
        }
        r.param("duration_s", o.duration.as_secs_f64().into());
        r.param("keepalive_s", o.keep_alive.into());
        match o.scenario {
            Scenario::Throughput | Scenario::Fanout | Scenario::Fanin => {
                r.param("pubs", o.pubs.into());
                r.param("subs", o.subs.into());
                r.param("topics", o.topics.into());
                r.param("fanout", o.fanout.into());
                r.param("persistent_subscriber", o.persistent_subscriber.into());
                r.param("max_backlog", o.max_backlog.into());
            }
            Scenario::Slow => {
                r.param("pubs", o.pubs.into());
                r.param("rate", o.rate.into());
            }
            Scenario::Latency => {
                r.param("rate", o.rate.into());
                let stamp = match o.stamp {
                    Stamp::Sent => "sent",
                    Stamp::Scheduled => "scheduled",
                };
                r.param("stamp", stamp.into());
            }
            Scenario::Idle => {
                r.param("conns", o.conns.into());
                r.param("connectors", o.connectors.into());
            }
        }
        if let Some(pid) = o.broker_pid {
            r.param("broker_pid", pid.into());
        }
        r
    }

    fn param(&mut self, name: &'static str, value: Value) {
        self.params.push((name, value));
    }

    /// Adds a count or size.
    pub(crate) fn count(&mut self, name: &'static str, value: u64) {
        self.results.push((name, value.into()));
    }

    /// Adds a measurement, rounded to one decimal.
    pub(crate) fn figure(&mut self, name: &'static str, value: f64) {
        let rounded = (value * 10.0).round() / 10.0;
        self.results.push((name, rounded.into()));
    }

    /// Adds a series of counts (a JSON array).
    pub(crate) fn series(&mut self, name: &'static str, values: Vec<u64>) {
        self.results.push((name, values.into()));
    }

    /// Adds the broker's RSS figures, if it was sampled.
    pub(crate) fn rss(&mut self, rss: Option<RssSummary>) {
        if let Some(rss) = rss {
            self.count("rss_before_kib", rss.before_kib);
            self.count("rss_peak_kib", rss.peak_kib);
            self.count("rss_after_kib", rss.after_kib);
        }
    }

    /// The report as one line of JSON.
    pub(crate) fn to_json(&self) -> String {
        let object = |pairs: &[(&'static str, Value)]| {
            let map: Map<String, Value> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect();
            Value::Object(map)
        };
        let mut top = Map::new();
        top.insert("scenario".to_owned(), self.scenario.to_string().into());
        top.insert("params".to_owned(), object(&self.params));
        top.insert("results".to_owned(), object(&self.results));
        Value::Object(top).to_string()
    }

    /// The report as an aligned, human-readable summary.
    pub(crate) fn to_text(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={}", plain(v)))
            .collect();
        let mut out = format!("mqlite-bench {}: {}\n", self.scenario, params.join(" "));
        for (name, value) in &self.results {
            out.push_str(&format!("  {name:<28} {:>14}\n", plain(value)));
        }
        out
    }
}

/// A value without JSON quotes.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Command, parse};

    fn options(line: &str) -> Options {
        match parse(line.split_whitespace().map(str::to_owned)).expect("valid") {
            Command::Run(o) => *o,
            Command::Help => panic!("not help"),
        }
    }

    #[test]
    fn json_has_scenario_params_and_results() {
        let mut r = Report::new(&options("fanout --subs 3 --port 18831"));
        r.figure("delivered_msgs_per_sec", 1234.56);
        r.count("delivered_total", 42);
        let json: Value = serde_json::from_str(&r.to_json()).expect("valid JSON");
        assert_eq!(json["scenario"], "fanout");
        assert_eq!(json["params"]["subs"], 3);
        assert_eq!(json["params"]["port"], 18831);
        assert_eq!(json["results"]["delivered_msgs_per_sec"], 1234.6);
        assert_eq!(json["results"]["delivered_total"], 42);
    }

    #[test]
    fn idle_leaves_out_message_parameters() {
        let r = Report::new(&options("idle --conns 10"));
        let text = r.to_text();
        assert!(
            text.starts_with("mqlite-bench idle: host=127.0.0.1 "),
            "{text}"
        );
        assert!(text.contains("conns=10"), "{text}");
        assert!(!text.contains("qos="), "{text}");
    }
}
