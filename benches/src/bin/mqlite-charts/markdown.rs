//! The "Network comparison" section of `benches/RESULTS.md`: how the runs were made, a
//! summary with the targets of issue #7, then one table per scenario.

use std::fmt::Write as _;

use serde_json::Value;

use crate::data::{Broker, Kind, Scenario, Stat};
use crate::targets::{self, Verdict};

/// The section, without its markers; `notes` (Markdown written by hand) follows the summary.
pub(crate) fn render(scenarios: &[Scenario], meta: &Value, charts: &str, notes: &str) -> String {
    let mut out = String::new();
    out.push_str(
        "<!-- Written by benches/compare.sh (mqlite-charts): rerun it rather than editing. -->\n\n",
    );
    header(&mut out, scenarios, meta);
    summary(&mut out, scenarios);
    if !notes.trim().is_empty() {
        let _ = write!(out, "\n{}\n", notes.trim_end());
    }
    let _ = writeln!(
        out,
        "\n![Delivered messages per second, per scenario and broker]({charts}/throughput.svg)\n\n\
         ![mqlite's throughput over each peer's, with the targets]({charts}/ratios.svg)\n\n\
         ![Latency percentiles]({charts}/latency.svg)\n\n\
         ![Idle connections: RSS per connection and connect time]({charts}/idle.svg)\n\n\
         ![Broker RSS over time with a subscriber that stopped reading]({charts}/slow.svg)\n"
    );
    for (kind, title) in [
        (Kind::Throughput, "Throughput"),
        (Kind::Latency, "Latency"),
        (Kind::Idle, "Idle connections"),
        (Kind::Slow, "Slow subscriber"),
    ] {
        let group: Vec<&Scenario> = scenarios.iter().filter(|s| s.kind == Some(kind)).collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {title}\n");
        for s in group {
            let _ = writeln!(out, "**{}**: `{}`\n", s.label, s.command());
            match kind {
                Kind::Throughput => throughput_table(&mut out, s),
                Kind::Latency => latency_table(&mut out, s),
                Kind::Idle => idle_table(&mut out, s),
                Kind::Slow => slow_table(&mut out, s),
            }
            failures(&mut out, s);
            out.push('\n');
        }
    }
    out
}

fn header(out: &mut String, scenarios: &[Scenario], meta: &Value) {
    let m = |k: &str| {
        meta.get(k)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    let n = |k: &str| meta.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    let loads: Vec<f64> = scenarios
        .iter()
        .flat_map(|s| s.runs.values().flatten().map(|r| r.load1))
        .collect();
    let load = Stat::of(loads).map_or("?".to_owned(), |l| {
        format!("{:.2} (min {:.2}, max {:.2})", l.median, l.min, l.max)
    });
    let dirty = match meta.get("dirty").and_then(Value::as_bool) {
        Some(true) => " with uncommitted changes",
        _ => "",
    };
    let elapsed = n("elapsed_s");
    let _ = writeln!(
        out,
        "Run on {date}: commit `{commit}`{dirty}, {runs} runs of every scenario per broker, each \
         on a freshly started broker, the brokers' order rotating each run; {min:.0} min \
         {sec:.0} s in all. Machine: {cpus} vCPUs ({cpu}), {mem} GiB, Linux {kernel}, \
         {rustc}; client and broker share the cores. 1-minute load average when each run \
         started: median {load}.\n",
        date = m("date"),
        commit = m("commit"),
        runs = n("runs"),
        min = (elapsed / 60.0).floor(),
        sec = elapsed % 60.0,
        cpus = n("cpus"),
        cpu = m("cpu"),
        mem = n("mem_gib"),
        kernel = m("kernel"),
        rustc = m("rustc"),
    );
    let _ = writeln!(
        out,
        "Brokers: {mqlite} ([`peers/mqlite.toml`](peers/mqlite.toml)), Mosquitto {mosq} \
         (Debian's package, [`peers/mosquitto.conf`](peers/mosquitto.conf)), {rumq} \
         ([`peers/rumqttd.toml`](peers/rumqttd.toml); `cargo install rumqttd --version =0.20.0 \
         --no-default-features`). Each config file says why each setting has its value: \
         100,000 queued messages per client (rumqttd: a 1 GiB commit log per filter), 100 QoS \
         1/2 messages in flight, connection limits above the 10,000 of the idle scenario, \
         TCP_NODELAY. Every scenario speaks MQTT 3.1.1 with 64-byte payloads unless stated; \
         throughput runs have a 1 s warm-up and 4 s measured, latency runs 1 s and 5 s. \
         Command: `bash benches/compare.sh 3`; raw results: \
         [`charts/compare.jsonl`](charts/compare.jsonl).\n",
        mqlite = m("mqlite"),
        mosq = m("mosquitto"),
        rumq = m("rumqttd"),
    );
}

fn summary(out: &mut String, scenarios: &[Scenario]) {
    out.push_str(
        "| scenario | figure | mqlite | Mosquitto | rumqttd | mqlite / Mosquitto | mqlite / rumqttd | target (issue #7) |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for s in scenarios {
        let Some(kind) = s.kind else { continue };
        let (figure, name) = targets::headline(kind);
        let stats = Broker::ALL.map(|b| s.stat(b, name));
        let cells = stats.map(|st| st.map_or("failed".to_owned(), |st| fmt_num(st.median)));
        let ratios = Broker::PEERS
            .map(|p| targets::ratio(s, p).map_or("–".to_owned(), |r| format!("{r:.2}")));
        let verdicts: Vec<String> = targets::verdicts(s)
            .into_iter()
            .map(|(what, v)| format!("{what}: {}", verdict_word(v)))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {figure} | {} | {} | {} | {} | {} | {} |",
            s.label,
            cells[0],
            cells[1],
            cells[2],
            ratios[0],
            ratios[1],
            verdicts.join("; ")
        );
    }
    out.push_str(
        "\nRatios are of medians. Throughput: higher is better, the target is ≥ 1.5 against \
         Mosquitto and ≥ 1.2 against rumqttd. Latency p99 and RSS per idle connection: lower is \
         better, the target is ≤ 1 (RSS: < 1) against both. Slow subscriber: \"flat\" means the \
         broker's RSS grew by less than 5% of its end value over the second half of the run.\n",
    );
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Met => "**met**",
        Verdict::Missed => "**missed**",
        Verdict::Unknown => "no data",
    }
}

fn cell(st: Option<Stat>) -> String {
    st.map_or("–".to_owned(), |st| {
        format!(
            "{} ({}–{})",
            fmt_num(st.median),
            fmt_num(st.min),
            fmt_num(st.max)
        )
    })
}

fn median(st: Option<Stat>) -> String {
    st.map_or("–".to_owned(), |st| fmt_num(st.median))
}

fn ratio_cell(s: &Scenario, b: Broker) -> String {
    match b {
        Broker::Mqlite => "–".to_owned(),
        peer => targets::ratio(s, peer).map_or("–".to_owned(), |r| format!("{r:.2}")),
    }
}

fn throughput_table(out: &mut String, s: &Scenario) {
    out.push_str(
        "| broker | delivered msgs/s, median (min–max) | delivered % | published msgs/s | mqlite / broker |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    for b in Broker::ALL {
        let _ = writeln!(
            out,
            "| {b} | {} | {} | {} | {} |",
            cell(s.stat(b, "delivered_msgs_per_sec")),
            median(s.stat(b, "delivered_pct")),
            median(s.stat(b, "published_msgs_per_sec")),
            ratio_cell(s, b),
        );
    }
}

fn latency_table(out: &mut String, s: &Scenario) {
    out.push_str(
        "| broker | p50 µs | p99 µs | p999 µs | max µs | received | mqlite / broker (p99) |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for b in Broker::ALL {
        let _ = writeln!(
            out,
            "| {b} | {} | {} | {} | {} | {} | {} |",
            cell(s.stat(b, "latency_p50_us")),
            cell(s.stat(b, "latency_p99_us")),
            cell(s.stat(b, "latency_p999_us")),
            median(s.stat(b, "latency_max_us")),
            median(s.stat(b, "received")),
            ratio_cell(s, b),
        );
    }
}

fn idle_table(out: &mut String, s: &Scenario) {
    out.push_str(
        "| broker | RSS per connection, KiB | RSS before → after, MiB | connecting all, ms | connect p50 / p99, µs | alive after hold | mqlite / broker (RSS) |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let mib = |b: Broker, k: &str| {
        s.stat(b, k)
            .map_or("–".to_owned(), |x| fmt_num(x.median / 1024.0))
    };
    for b in Broker::ALL {
        let _ = writeln!(
            out,
            "| {b} | {} | {} → {} | {} | {} / {} | {} | {} |",
            cell(s.stat(b, "rss_per_conn_kib")),
            mib(b, "rss_before_kib"),
            mib(b, "rss_after_kib"),
            cell(s.stat(b, "connect_total_ms")),
            median(s.stat(b, "connect_p50_us")),
            median(s.stat(b, "connect_p99_us")),
            median(s.stat(b, "alive_after_hold")),
            ratio_cell(s, b),
        );
    }
}

fn slow_table(out: &mut String, s: &Scenario) {
    out.push_str(
        "| broker | RSS at start, MiB | middle | end | peak | growth over the second half | flat | fast subscriber msgs/s | fast subscriber got % | slow subscriber closed by the broker |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let mib = |b: Broker, k: &str| {
        s.stat(b, k).map_or("–".to_owned(), |x| {
            format!(
                "{} ({}–{})",
                fmt_num(x.median / 1024.0),
                fmt_num(x.min / 1024.0),
                fmt_num(x.max / 1024.0)
            )
        })
    };
    for b in Broker::ALL {
        let closed = s
            .runs_of(b)
            .iter()
            .filter(|r| r.get("slow_sub_closed_by_broker") == Some(1.0))
            .count();
        let ok = s.runs_of(b).iter().filter(|r| r.results.is_some()).count();
        let _ = writeln!(
            out,
            "| {b} | {} | {} | {} | {} | {} | {} | {} | {} | {closed} of {ok} runs |",
            mib(b, "rss_start_kib"),
            mib(b, "rss_mid_kib"),
            mib(b, "rss_end_kib"),
            mib(b, "rss_peak_kib"),
            mib(b, "rss_growth_second_half_kib"),
            match targets::is_flat(s, b) {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "–",
            },
            median(s.stat(b, "fast_sub_msgs_per_sec")),
            median(s.stat(b, "fast_sub_delivered_pct")),
        );
    }
}

fn failures(out: &mut String, s: &Scenario) {
    for b in Broker::ALL {
        let (runs, failed) = s.counts(b);
        if failed > 0 {
            let _ = writeln!(
                out,
                "\n{failed} of {runs} runs against {b} failed (mqlite-bench's error is in \
                 target/compare/bench.log); the figures are of the others."
            );
        }
    }
}

/// A number for a table: thousands separated above 100, else 1 or 2 decimals.
pub(crate) fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_owned();
    }
    if v.abs() < 10.0 {
        return format!("{v:.2}");
    }
    if v.abs() < 100.0 {
        return format!("{v:.1}");
    }
    let digits = format!("{:.0}", v.abs());
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if v < 0.0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_group_thousands_and_keep_small_decimals() {
        assert_eq!(fmt_num(1_234_567.4), "1,234,567");
        assert_eq!(fmt_num(999.6), "1,000");
        assert_eq!(fmt_num(123.0), "123");
        assert_eq!(fmt_num(42.31), "42.3");
        assert_eq!(fmt_num(0.734), "0.73");
        assert_eq!(fmt_num(-12_500.0), "-12,500");
        assert_eq!(fmt_num(f64::NAN), "–");
    }
}
