//! Drawing pieces the charts share: broker colours, the title-and-legend strip, a panel of
//! one bar per broker (median, with a whisker from the smallest to the largest run), and
//! short number labels.

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::data::{Broker, Stat};

/// A drawing area of an SVG file.
pub(crate) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Height of the title-and-legend strip at the top of every chart.
pub(crate) const HEADER_PX: u32 = 56;

/// Font family of every text.
pub(crate) const FONT: &str = "sans-serif";

/// One colour per broker (Okabe–Ito, readable with colour blindness).
pub(crate) fn colour(b: Broker) -> RGBColor {
    match b {
        Broker::Mqlite => RGBColor(0, 114, 178),
        Broker::Mosquitto => RGBColor(0, 158, 115),
        Broker::Rumqttd => RGBColor(213, 94, 0),
    }
}

/// Text anchored at `h`, `v` of its position.
pub(crate) fn text(size: u32, h: HPos, v: VPos) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK).pos(Pos::new(h, v))
}

/// The legend of the brokers.
pub(crate) fn brokers() -> Vec<(String, RGBColor)> {
    Broker::ALL.map(|b| (b.to_string(), colour(b))).to_vec()
}

/// Splits off the header strip, writes `title` and `subtitle` on its left and `legend` on
/// its right; returns the area below it.
pub(crate) fn header<'a>(
    root: &Area<'a>,
    title: &str,
    subtitle: &str,
    legend: &[(String, RGBColor)],
) -> Result<Area<'a>> {
    root.fill(&WHITE)?;
    let (top, rest) = root.split_vertically(HEADER_PX);
    top.draw(&Text::new(title, (14, 8), text(18, HPos::Left, VPos::Top)))?;
    let grey = (FONT, 13).into_font().color(&RGBColor(90, 90, 90));
    top.draw(&Text::new(
        subtitle,
        (14, 32),
        grey.pos(Pos::new(HPos::Left, VPos::Top)),
    ))?;
    let (width, _) = top.dim_in_pixel();
    let entries = i32::try_from(legend.len()).unwrap_or(0);
    let mut x = i32::try_from(width).unwrap_or(i32::MAX) - 20 - 125 * entries;
    for (name, colour) in legend {
        top.draw(&Rectangle::new([(x, 14), (x + 14, 28)], colour.filled()))?;
        top.draw(&Text::new(
            name.as_str(),
            (x + 20, 21),
            text(14, HPos::Left, VPos::Center),
        ))?;
        x += 125;
    }
    Ok(rest)
}

/// A panel titled `title`: one bar per broker at its median, a whisker from min to max and
/// the median written above it; "failed" where a broker has no successful run.
pub(crate) fn bar_panel(
    area: &Area<'_>,
    title: &str,
    unit: &str,
    stats: [Option<Stat>; 3],
) -> Result<()> {
    let top = stats
        .iter()
        .flatten()
        .map(|s| s.max)
        .fold(0.0, f64::max)
        .max(1e-9);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 14))
        .margin(10)
        .x_label_area_size(22)
        .y_label_area_size(56)
        // An i32 range includes its end: 0..2 is three segments.
        .build_cartesian_2d((0..2i32).into_segmented(), 0.0..top * 1.2)?;
    let name = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| Broker::ALL.get(i))
            .map_or(String::new(), ToString::to_string),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(3)
        .x_label_formatter(&name)
        .y_labels(6)
        .y_label_formatter(&|v| short(*v))
        .y_desc(unit)
        .light_line_style(WHITE)
        .draw()?;
    for (i, (b, stat)) in (0i32..).zip(Broker::ALL.into_iter().zip(stats)) {
        let centre = SegmentValue::CenterOf(i);
        let Some(s) = stat else {
            chart.draw_series([Text::new(
                "failed",
                (centre, top * 0.05),
                text(12, HPos::Center, VPos::Bottom),
            )])?;
            continue;
        };
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), s.median),
            ],
            colour(b).filled(),
        );
        bar.set_margin(0, 0, 14, 14);
        chart.draw_series([bar])?;
        whisker(&mut chart, centre.clone(), s)?;
        chart.draw_series([EmptyElement::at((centre, s.max))
            + Text::new(
                short(s.median),
                (0, -4),
                text(12, HPos::Center, VPos::Bottom),
            )])?;
    }
    Ok(())
}

/// A vertical line from `s.min` to `s.max` at `x`, with short caps.
pub(crate) fn whisker<X, Y>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<X, Y>>,
    x: X::ValueType,
    s: Stat,
) -> Result<()>
where
    X: Ranged,
    X::ValueType: Clone,
    Y: Ranged<ValueType = f64>,
{
    let line = [(x.clone(), s.min), (x.clone(), s.max)];
    chart.draw_series([PathElement::new(line, BLACK.stroke_width(1))])?;
    for y in [s.min, s.max] {
        chart.draw_series([EmptyElement::at((x.clone(), y))
            + PathElement::new([(-4, 0), (4, 0)], BLACK.stroke_width(1))])?;
    }
    Ok(())
}

/// A number in at most 3 significant digits and a suffix, trailing zeros dropped: `1.23M`,
/// `456k`, `8.5`, `1k`.
pub(crate) fn short(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = match scaled.abs() {
        x if x >= 100.0 || x == 0.0 => format!("{scaled:.0}"),
        x if x >= 10.0 => format!("{scaled:.1}"),
        _ => format!("{scaled:.2}"),
    };
    let s = match s.contains('.') {
        true => s.trim_end_matches('0').trim_end_matches('.'),
        false => &s,
    };
    format!("{s}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_labels() {
        assert_eq!(short(1_234_567.0), "1.23M");
        assert_eq!(short(456_000.0), "456k");
        assert_eq!(short(12_340.0), "12.3k");
        assert_eq!(short(850.0), "850");
        assert_eq!(short(8.5), "8.5");
        assert_eq!(short(1000.0), "1k");
        assert_eq!(short(50.0), "50");
        assert_eq!(short(0.0), "0");
    }
}
