//! The five SVG charts of the comparison: throughput per scenario, mqlite's ratio to each
//! peer against the targets, latency percentiles, idle connections, and RSS over time with a
//! stuck subscriber.

use std::path::{Path, PathBuf};

use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use crate::chart::{self, FONT, bar_panel, brokers, colour, header, short, text, whisker};
use crate::data::{Broker, Kind, Scenario, Stat};
use crate::targets;

/// Writes every chart into `dir`; returns the files written.
///
/// # Errors
///
/// A file cannot be written.
pub(crate) fn write_all(scenarios: &[Scenario], dir: &Path) -> Result<Vec<PathBuf>> {
    let of =
        |k: Kind| -> Vec<&Scenario> { scenarios.iter().filter(|s| s.kind == Some(k)).collect() };
    let mut written = Vec::new();
    let mut out = |name: &str| {
        let path = dir.join(name);
        written.push(path.clone());
        path
    };
    let tp = of(Kind::Throughput);
    if !tp.is_empty() {
        throughput(&out("throughput.svg"), &tp)?;
        ratios(&out("ratios.svg"), &tp)?;
    }
    let lat = of(Kind::Latency);
    if !lat.is_empty() {
        latency(&out("latency.svg"), &lat)?;
    }
    let idle = of(Kind::Idle);
    if let Some(s) = idle.first() {
        idle_chart(&out("idle.svg"), s)?;
    }
    if let Some(s) = of(Kind::Slow).first() {
        slow(&out("slow.svg"), s)?;
    }
    Ok(written)
}

/// One panel per throughput scenario, 4 to a row.
fn throughput(path: &Path, scenarios: &[&Scenario]) -> Result<()> {
    const COLS: usize = 4;
    let rows = scenarios.len().div_ceil(COLS);
    let height = chart::HEADER_PX + 270 * u32::try_from(rows).unwrap_or(1);
    let root = SVGBackend::new(path, (1400, height)).into_drawing_area();
    let body = header(
        &root,
        "Delivered messages per second (higher is better)",
        "Bars: median of the runs; whiskers: slowest and fastest run. MQTT 3.1.1, 64-byte payloads unless stated, loopback.",
        &brokers(),
    )?;
    for (panel, s) in body.split_evenly((rows, COLS)).iter().zip(scenarios) {
        let stats = Broker::ALL.map(|b| s.stat(b, "delivered_msgs_per_sec"));
        bar_panel(panel, &s.label, "msgs/s", stats)?;
    }
    root.present()?;
    Ok(())
}

/// mqlite's median throughput over each peer's, one row per scenario, on a log scale, with
/// the targets (1.5× Mosquitto, 1.2× rumqttd) as dashed lines.
fn ratios(path: &Path, scenarios: &[&Scenario]) -> Result<()> {
    let n = scenarios.len();
    let height = chart::HEADER_PX + 70 + 46 * u32::try_from(n).unwrap_or(1);
    let root = SVGBackend::new(path, (1200, height)).into_drawing_area();
    let legend = Broker::PEERS.map(|p| (format!("vs {p}"), colour(p)));
    let body = header(
        &root,
        "mqlite's throughput ÷ each peer's (log scale; right of 1× = mqlite faster)",
        "Medians of the runs. Dashed: the targets of issue #7, 1.5× Mosquitto and 1.2× rumqttd.",
        &legend,
    )?;
    let rs: Vec<[Option<f64>; 2]> = scenarios
        .iter()
        .map(|s| Broker::PEERS.map(|p| targets::ratio(s, p)))
        .collect();
    let all = rs.iter().flatten().flatten().copied();
    let lo = all.clone().fold(0.8, f64::min) / 1.5;
    let hi = all.fold(2.0, f64::max) * 2.0;
    let top = n as f64;
    let mut chart = ChartBuilder::on(&body)
        .margin(14)
        .margin_left(400)
        .x_label_area_size(30)
        .build_cartesian_2d((lo..hi).log_scale(), 0.0..top)?;
    // plotters' own log-scale ticks crowd; these are the round ratios in range.
    chart
        .configure_mesh()
        .disable_mesh()
        .x_label_formatter(&|_| String::new())
        .draw()?;
    let ticks = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0];
    for x in ticks.into_iter().filter(|x| (lo..hi).contains(x)) {
        let grid = RGBColor(225, 225, 225).stroke_width(1);
        chart.draw_series(LineSeries::new([(x, 0.0), (x, top)], grid))?;
        chart.draw_series([EmptyElement::at((x, 0.0))
            + Text::new(
                format!("{}×", short(x)),
                (0, 6),
                text(12, HPos::Center, VPos::Top),
            )])?;
    }
    chart.draw_series(LineSeries::new(
        [(1.0, 0.0), (1.0, top)],
        BLACK.stroke_width(2),
    ))?;
    for (x, peer) in [(1.2, Broker::Rumqttd), (1.5, Broker::Mosquitto)] {
        let style = colour(peer).stroke_width(2);
        chart.draw_series(DashedLineSeries::new([(x, 0.0), (x, top)], 6, 4, style))?;
    }
    for (i, (s, pair)) in scenarios.iter().zip(&rs).enumerate() {
        let centre = top - i as f64 - 0.5;
        let label_at = chart.backend_coord(&(lo, centre));
        root.draw(&Text::new(
            s.label.clone(),
            (label_at.0 - 10, label_at.1),
            text(13, HPos::Right, VPos::Center),
        ))?;
        for (j, (peer, r)) in Broker::PEERS.iter().zip(pair).enumerate() {
            let Some(r) = *r else { continue };
            let y = centre + 0.2 - 0.4 * j as f64;
            let bar = Rectangle::new([(1.0, y + 0.17), (r, y - 0.17)], colour(*peer).filled());
            chart.draw_series([bar])?;
            let (h, dx) = if r >= 1.0 {
                (HPos::Left, 4)
            } else {
                (HPos::Right, -4)
            };
            chart.draw_series([EmptyElement::at((r, y))
                + Text::new(format!("{r:.2}×"), (dx, 0), text(11, h, VPos::Center))])?;
        }
    }
    root.present()?;
    Ok(())
}

/// One panel per latency scenario: p50, p99 and p999 per broker on a log scale.
fn latency(path: &Path, scenarios: &[&Scenario]) -> Result<()> {
    const COLS: usize = 2;
    const PCTS: [(&str, &str); 3] = [
        ("p50", "latency_p50_us"),
        ("p99", "latency_p99_us"),
        ("p999", "latency_p999_us"),
    ];
    let rows = scenarios.len().div_ceil(COLS);
    let height = chart::HEADER_PX + 300 * u32::try_from(rows).unwrap_or(1);
    let root = SVGBackend::new(path, (1200, height)).into_drawing_area();
    let body = header(
        &root,
        "Latency, publish to delivery (µs, log scale; lower is better)",
        "One publisher at a fixed rate, one subscriber. Bars: median of the runs; whiskers: best and worst run.",
        &brokers(),
    )?;
    for (panel, s) in body.split_evenly((rows, COLS)).iter().zip(scenarios) {
        let stats: Vec<[Option<Stat>; 3]> = PCTS
            .iter()
            .map(|(_, k)| Broker::ALL.map(|b| s.stat(b, k)))
            .collect();
        let values = stats.iter().flatten().flatten();
        let lo = values
            .clone()
            .map(|s| s.min)
            .fold(f64::INFINITY, f64::min)
            .max(1.0)
            / 2.0;
        let hi = values.map(|s| s.max).fold(10.0, f64::max) * 3.0;
        let lo = lo.min(hi / 10.0);
        let mut chart = ChartBuilder::on(panel)
            .caption(&s.label, (FONT, 14))
            .margin(10)
            .x_label_area_size(22)
            .y_label_area_size(56)
            // Three groups of three bars with a gap between groups: segments 0..=10.
            .build_cartesian_2d((0..10i32).into_segmented(), (lo..hi).log_scale())?;
        let names = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(1) => "p50".to_owned(),
            SegmentValue::CenterOf(5) => "p99".to_owned(),
            SegmentValue::CenterOf(9) => "p999".to_owned(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(11)
            .x_label_formatter(&names)
            .y_label_formatter(&|v| short(*v))
            .y_desc("µs")
            .draw()?;
        for (g, group) in (0i32..).zip(&stats) {
            for (k, (b, stat)) in (0i32..).zip(Broker::ALL.into_iter().zip(group)) {
                let Some(st) = *stat else { continue };
                let x = 4 * g + k;
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(x), lo),
                        (SegmentValue::Exact(x + 1), st.median),
                    ],
                    colour(b).filled(),
                );
                bar.set_margin(0, 0, 3, 3);
                chart.draw_series([bar])?;
                whisker(&mut chart, SegmentValue::CenterOf(x), st)?;
                chart.draw_series([EmptyElement::at((SegmentValue::CenterOf(x), st.max))
                    + Text::new(
                        short(st.median),
                        (0, -4),
                        text(10, HPos::Center, VPos::Bottom),
                    )])?;
            }
        }
    }
    root.present()?;
    Ok(())
}

/// Idle connections: RSS per connection, and the time to open all of them.
fn idle_chart(path: &Path, s: &Scenario) -> Result<()> {
    let root = SVGBackend::new(path, (1000, chart::HEADER_PX + 320)).into_drawing_area();
    let body = header(
        &root,
        &format!("{}: memory and connect time (lower is better)", s.label),
        "RSS per connection: (broker RSS with all connected − before) ÷ connections. Median; whiskers: min and max run.",
        &brokers(),
    )?;
    let panels = body.split_evenly((1, 2));
    let rss = Broker::ALL.map(|b| s.stat(b, "rss_per_conn_kib"));
    bar_panel(&panels[0], "broker RSS per idle connection", "KiB", rss)?;
    let secs = Broker::ALL.map(|b| {
        s.stat(b, "connect_total_ms").map(|st| Stat {
            median: st.median / 1e3,
            min: st.min / 1e3,
            max: st.max / 1e3,
            n: st.n,
        })
    });
    bar_panel(
        &panels[1],
        "time to connect all (4 client threads)",
        "seconds",
        secs,
    )?;
    root.present()?;
    Ok(())
}

/// Broker RSS over time in the slow-subscriber scenario, every run, one colour per broker.
fn slow(path: &Path, s: &Scenario) -> Result<()> {
    let root = SVGBackend::new(path, (1000, chart::HEADER_PX + 420)).into_drawing_area();
    let body = header(
        &root,
        "Broker RSS while one subscriber has stopped reading (flat is better)",
        &format!(
            "{}; one line per run, sampled each second from the first publish.",
            s.label
        ),
        &brokers(),
    )?;
    let series: Vec<(Broker, Vec<f64>)> = Broker::ALL
        .iter()
        .flat_map(|&b| {
            s.runs_of(b)
                .iter()
                .filter_map(move |r| Some((b, r.series("rss_series_kib")?)))
        })
        .collect();
    let len = series
        .iter()
        .map(|(_, v)| v.len())
        .max()
        .unwrap_or(2)
        .max(2);
    let top = series
        .iter()
        .flat_map(|(_, v)| v.iter())
        .fold(1.0, |a: f64, &b| a.max(b / 1024.0));
    let mut chart = ChartBuilder::on(&body)
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..(len - 1) as f64, 0.0..top * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("seconds since publishing started")
        .y_desc("broker RSS, MiB")
        .y_label_formatter(&|v| short(*v))
        .light_line_style(RGBColor(240, 240, 240))
        .draw()?;
    for (b, values) in &series {
        let points = values
            .iter()
            .enumerate()
            .map(|(t, kib)| (t as f64, kib / 1024.0));
        chart.draw_series(LineSeries::new(points, colour(*b).stroke_width(2)))?;
    }
    root.present()?;
    Ok(())
}
