//! Command-line parsing, by hand so the tool needs no parser crate:
//! `mqlite-bench <scenario> [--option value | --option=value | --flag]...`.
//! Each scenario accepts only the options that change what it does, so a typo or a
//! misplaced option is an error rather than silently ignored.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use mqlite::QoS;
use mqlite_net::codec::ProtocolVersion;

use crate::options::{Options, STAMP_BYTES, Scenario, Stamp};

/// The usage text printed by `--help` and after a parse error.
pub(crate) const USAGE: &str = "\
usage: mqlite-bench <scenario> [options]

scenarios:
  throughput  P publishers -> S subscribers, as fast as flow control allows
              (--pubs --subs --topics --fanout --inflight)
  fanout      1 publisher -> N subscribers of one topic (--subs, default 100)
  fanin       N publishers -> 1 wildcard subscriber (--pubs, default 100)
  latency     1 publisher at a fixed rate -> 1 subscriber; percentiles (--rate)
  idle        C idle connections: connect time and broker RSS per connection
              (--conns --connectors; --keepalive N pings every N/2 s)
  slow        P paced publishers -> a fast subscriber and one that stops reading;
              broker RSS over time (--pubs --rate, per publisher)

options (defaults in brackets):
  --host H            broker address [127.0.0.1]
  --port N            broker port [1883]
  --version 3|4|5     MQTT 3.1, 3.1.1 or 5.0 [4]
  --qos 0|1|2         publish and subscription QoS [0]
  --size BYTES        payload size [64]
  --duration SECS     measured time (idle: how long the connections are held) [5]
  --warmup SECS       unmeasured time before it (not idle) [1]
  --inflight N        QoS 1/2 messages in flight per publisher [100]
  --pubs P            publishers; publisher i publishes to <prefix>/i mod T [1]
  --subs S            subscribers; subscriber j subscribes to <prefix>/j mod T [1]
  --topics T          topics [= --pubs]
  --fanout            every subscriber subscribes to <prefix>/+ (gets every message)
  --persistent-subscriber
                      subscribers keep their session (clean session 0; 5.0: clean
                      start false, session expiry 3600 s) under a client id unique to
                      the run; it is removed (clean reconnect) at the end
  --max-backlog N     throughput: publishers together keep at most N deliveries
                      outstanding (sent, not yet received); keep N below the broker's
                      queue limit and nothing is dropped [0 = no bound]
  --rate R            latency, slow: messages per second (per publisher) [10000]
  --stamp sent|scheduled
                      latency: time 0 of a message is its write [sent], or its
                      slot in the schedule (counts publisher stalls; spins to pace)
  --conns C           idle: connections [1000]
  --connectors K      idle: threads opening them [4]
  --keepalive SECS    CONNECT keep alive [0 = off]; only idle sends PINGREQ (every
                      half of it), so elsewhere make it longer than the run
  --timeout SECS      connect, SUBACK and drain timeout [10]
  --broker-pid PID    sample the broker's VmRSS (peak over the run)
  --json              print one JSON object per run instead of the summary
";

/// Options every scenario accepts.
const COMMON: &[&str] = &[
    "host",
    "port",
    "version",
    "duration",
    "timeout",
    "broker-pid",
    "keepalive",
    "json",
];

/// Options that take no value.
const FLAGS: &[&str] = &["json", "fanout", "persistent-subscriber"];

/// The outcome of parsing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Command {
    /// Run a scenario.
    Run(Box<Options>),
    /// Print [`USAGE`].
    Help,
}

/// Parses the arguments after the program name.
///
/// # Errors
///
/// An unknown scenario or option, an option the scenario does not use, a missing or
/// malformed value, or a value out of range.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command> {
    let mut args = args.into_iter();
    let Some(first) = args.next() else {
        bail!("no scenario given");
    };
    if first == "-h" || first == "--help" {
        return Ok(Command::Help);
    }
    let Some(scenario) = Scenario::from_name(&first) else {
        bail!("unknown scenario `{first}`");
    };
    let mut o = Options::defaults(scenario);
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        }
        let Some(body) = arg.strip_prefix("--") else {
            bail!("unexpected argument `{arg}`");
        };
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (body, None),
        };
        if !COMMON.contains(&name) && !scenario.own_options().contains(&name) {
            bail!("option --{name} does not apply to `{scenario}` (see --help)");
        }
        if FLAGS.contains(&name) {
            if inline.is_some() {
                bail!("--{name} takes no value");
            }
            match name {
                "json" => o.json = true,
                "fanout" => o.fanout = true,
                _ => o.persistent_subscriber = true,
            }
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => args
                .next()
                .with_context(|| format!("--{name} needs a value"))?,
        };
        set(&mut o, name, &value).with_context(|| format!("--{name} {value}"))?;
    }
    validate(&mut o)?;
    Ok(Command::Run(Box::new(o)))
}

/// Stores one `--name value`.
fn set(o: &mut Options, name: &str, value: &str) -> Result<()> {
    match name {
        "host" => o.host = value.to_owned(),
        "port" => o.port = value.parse()?,
        "version" => {
            o.version = match value {
                "3" | "3.1" => ProtocolVersion::V31,
                "4" | "3.1.1" => ProtocolVersion::V311,
                "5" | "5.0" => ProtocolVersion::V5,
                _ => bail!("the version is 3, 4 or 5"),
            }
        }
        "qos" => o.qos = QoS::from_u8(value.parse()?).context("the QoS is 0, 1 or 2")?,
        "size" => o.size_bytes = value.parse()?,
        "pubs" => o.pubs = value.parse()?,
        "subs" => o.subs = value.parse()?,
        "topics" => o.topics = value.parse()?,
        "inflight" => o.inflight = value.parse()?,
        "max-backlog" => o.max_backlog = value.parse()?,
        "rate" => o.rate = value.parse()?,
        "stamp" => {
            o.stamp = match value {
                "sent" => Stamp::Sent,
                "scheduled" => Stamp::Scheduled,
                _ => bail!("the stamp is `sent` or `scheduled`"),
            }
        }
        "conns" => o.conns = value.parse()?,
        "connectors" => o.connectors = value.parse()?,
        "keepalive" => o.keep_alive = value.parse()?,
        "broker-pid" => o.broker_pid = Some(value.parse()?),
        "duration" => o.duration = seconds(value)?,
        "warmup" => o.warmup = seconds(value)?,
        "timeout" => o.timeout = seconds(value)?,
        _ => unreachable!("option names are checked against the scenario's list first"),
    }
    Ok(())
}

/// Seconds as a decimal number (`2`, `0.5`).
fn seconds(value: &str) -> Result<Duration> {
    let secs: f64 = value.parse()?;
    Duration::try_from_secs_f64(secs).context("seconds must be a finite number ≥ 0")
}

/// Checks ranges and fills the defaults that depend on other options.
fn validate(o: &mut Options) -> Result<()> {
    if o.topics == 0 {
        o.topics = o.pubs.max(1);
    }
    if o.pubs == 0 {
        bail!("--pubs must be at least 1");
    }
    if o.inflight == 0 {
        bail!("--inflight must be at least 1");
    }
    if o.duration.is_zero() {
        bail!("--duration must be more than 0");
    }
    if o.timeout.is_zero() {
        bail!("--timeout must be more than 0");
    }
    match o.scenario {
        Scenario::Latency if o.size_bytes < STAMP_BYTES => {
            bail!(
                "--size {} is below the {STAMP_BYTES} bytes latency stamps into each payload",
                o.size_bytes
            )
        }
        Scenario::Latency | Scenario::Slow if o.rate == 0 => bail!("--rate must be at least 1"),
        Scenario::Idle if o.conns == 0 || o.connectors == 0 => {
            bail!("--conns and --connectors must be at least 1")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &str) -> Result<Options> {
        match parse(line.split_whitespace().map(str::to_owned))? {
            Command::Run(o) => Ok(*o),
            Command::Help => bail!("help"),
        }
    }

    #[test]
    fn throughput_defaults_one_topic_per_publisher() {
        let o = run("throughput --pubs 8 --subs 8").expect("valid");
        assert_eq!((o.pubs, o.subs, o.topics, o.fanout), (8, 8, 8, false));
        assert_eq!(
            (o.port, o.version, o.qos, o.size_bytes),
            (1883, ProtocolVersion::V311, QoS::AtMostOnce, 64)
        );
        assert_eq!(o.duration, Duration::from_secs(5));
    }

    #[test]
    fn values_inline_or_separate() {
        let o = run("latency --port=18831 --version 5 --qos=2 --rate 500 --duration 0.5 --json --stamp scheduled")
            .expect("valid");
        assert_eq!(o.port, 18831);
        assert_eq!(o.version, ProtocolVersion::V5);
        assert_eq!(o.qos, QoS::ExactlyOnce);
        assert_eq!(o.rate, 500);
        assert_eq!(o.stamp, Stamp::Scheduled);
        assert_eq!(o.duration, Duration::from_millis(500));
        assert!(o.json);
    }

    #[test]
    fn presets_set_their_shape() {
        let fanout = run("fanout --subs 10").expect("valid");
        assert_eq!(
            (fanout.pubs, fanout.subs, fanout.topics, fanout.fanout),
            (1, 10, 1, false)
        );
        let fanin = run("fanin").expect("valid");
        assert_eq!((fanin.pubs, fanin.subs, fanin.fanout), (100, 1, true));
    }

    #[test]
    fn persistent_subscriber_and_backlog() {
        let o = run("fanin --pubs 100 --qos 1 --persistent-subscriber --max-backlog 5000")
            .expect("valid");
        assert!(o.persistent_subscriber);
        assert_eq!(o.max_backlog, 5000);
        let o = run("throughput").expect("valid");
        assert!(!o.persistent_subscriber);
        assert_eq!(o.max_backlog, 0);
        assert!(run("throughput --persistent-subscriber=yes").is_err());
        assert!(run("latency --persistent-subscriber").is_err());
        assert!(run("slow --max-backlog 10").is_err());
    }

    #[test]
    fn slow_takes_publishers_and_a_rate() {
        let o = run("slow --pubs 2 --rate 5000 --qos 1 --size 1024").expect("valid");
        assert_eq!(
            (o.pubs, o.rate, o.qos, o.size_bytes),
            (2, 5000, QoS::AtLeastOnce, 1024)
        );
        assert!(run("slow --subs 3").is_err());
        assert!(run("slow --rate 0").is_err());
    }

    #[test]
    fn option_of_another_scenario_is_refused() {
        let err = run("fanout --pubs 3").expect_err("fanout has one publisher");
        assert!(
            err.to_string().contains("does not apply to `fanout`"),
            "{err}"
        );
        assert!(run("idle --qos 1").is_err());
    }

    #[test]
    fn bad_values_are_refused() {
        for line in [
            "throughput --qos 3",
            "throughput --version 6",
            "throughput --port 70000",
            "throughput --inflight 0",
            "throughput --duration -1",
            "throughput --size",
            "throughput --json=yes",
            "latency --size 8",
            "latency --stamp now",
            "idle --conns 0",
            "idle --warmup 1",
            "nosuch",
            "",
        ] {
            assert!(run(line).is_err(), "`{line}` should fail");
        }
    }

    #[test]
    fn help_anywhere() {
        assert_eq!(parse(["--help".to_owned()]).expect("help"), Command::Help);
        let args = ["idle", "--conns", "5", "-h"].map(str::to_owned);
        assert_eq!(parse(args).expect("help"), Command::Help);
    }
}
