//! Chart drawing on plotters' bitmap backend, written as PNG: a log-log
//! line chart, and side-by-side panels of bars. What goes into each chart
//! is decided in [`super::plots`]; this module only draws.
use std::path::Path;

use plotters::{
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

use super::font::{self, FAMILY};
use crate::bench::report::rate;

/// Pixel size of every chart.
pub const SIZE: (u32, u32) = (960, 540);

/// Who a series or bar stands for, which sets its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// orch's own component.
    Orch,
    /// The baseline it is compared with.
    Baseline,
    /// A second baseline (e.g. the direct path).
    Reference,
}

fn color(t: Tone) -> RGBColor {
    match t {
        Tone::Orch => RGBColor(31, 119, 180),
        Tone::Baseline => RGBColor(230, 120, 20),
        Tone::Reference => RGBColor(120, 120, 120),
    }
}

/// One line of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Colour.
    pub tone: Tone,
    /// Dashed instead of solid.
    pub dashed: bool,
    /// (x, y) points; those not > 0 cannot be shown on log axes and are
    /// left out.
    pub points: Vec<(f64, f64)>,
}

/// A line chart with both axes logarithmic.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLogChart {
    /// Caption.
    pub title: String,
    /// X axis description.
    pub x_desc: String,
    /// Y axis description.
    pub y_desc: String,
    /// The lines.
    pub series: Vec<Series>,
}

/// One bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Label under the bar.
    pub label: String,
    /// Colour.
    pub tone: Tone,
    /// Height.
    pub value: f64,
    /// Individual runs behind the value, drawn as dots on the bar.
    pub runs: Vec<f64>,
}

/// One panel of bars with its own y scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Caption of the panel.
    pub title: String,
    /// The bars, left to right.
    pub bars: Vec<Bar>,
}

/// Panels of bars side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    /// Title over all panels.
    pub title: String,
    /// Y axis description (all panels).
    pub y_desc: String,
    /// The panels, left to right.
    pub panels: Vec<Panel>,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Axis tick text: thousands separators from 1,000 up, few decimals below.
pub fn number(v: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    match v.abs() {
        a if a >= 1000.0 => rate(v),
        a if a >= 10.0 => format!("{v:.0}"),
        a if a >= 1.0 => trim(format!("{v:.1}")),
        _ => trim(format!("{v:.3}")),
    }
}

/// The range of the positive, finite values, widened by the factors
/// `below` and `above`; `None` when there are none.
fn log_range(
    values: impl Iterator<Item = f64>,
    below: f64,
    above: f64,
) -> Option<std::ops::Range<f64>> {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    (hi > 0.0).then(|| lo / below..hi * above)
}

/// Draws `c` into the PNG file `path`.
pub fn log_log(path: &Path, c: &LogLogChart) -> Result<(), String> {
    font::ensure()?;
    let shown = |s: &Series| -> Vec<(f64, f64)> {
        s.points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite() && *x > 0.0 && *y > 0.0)
            .collect()
    };
    let all: Vec<(f64, f64)> = c.series.iter().flat_map(shown).collect();
    let (Some(xs), Some(ys)) = (
        log_range(all.iter().map(|p| p.0), 1.5, 1.5),
        // A decade free above the data for the legend.
        log_range(all.iter().map(|p| p.1), 2.0, 12.0),
    ) else {
        return Err("no positive values to plot".into());
    };
    // Over a decade or more, ticks at powers of ten only: the steps
    // between them would run into each other near the next power.
    let x_ticks = if xs.end / xs.start >= 10.0 { 5 } else { 10 };
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&c.title, (FAMILY, 24).into_font().style(FontStyle::Bold))
        .margin(16)
        .x_label_area_size(52)
        .y_label_area_size(80)
        .build_cartesian_2d(xs.log_scale(), ys.log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(x_ticks)
        .x_desc(c.x_desc.as_str())
        .y_desc(c.y_desc.as_str())
        .x_label_formatter(&|x| number(*x))
        .y_label_formatter(&|y| number(*y))
        .label_style((FAMILY, 15))
        .axis_desc_style((FAMILY, 17))
        .draw()
        .map_err(err)?;
    for s in &c.series {
        let pts = shown(s);
        let style = color(s.tone).stroke_width(3);
        let drawn = if s.dashed {
            chart.draw_series(DashedLineSeries::new(pts.clone(), 12, 7, style))
        } else {
            chart.draw_series(LineSeries::new(pts.clone(), style))
        }
        .map_err(err)?;
        let gap = if s.dashed { 6 } else { 0 };
        drawn.label(s.name.as_str()).legend(move |(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (11 - gap / 2, 0)], style)
                + PathElement::new(vec![(11 + gap / 2, 0), (24, 0)], style)
        });
        chart
            .draw_series(
                pts.iter()
                    .map(|&p| Circle::new(p, 4, color(s.tone).filled())),
            )
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FAMILY, 15))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// Draws `c` into the PNG file `path`.
pub fn bars(path: &Path, c: &BarChart) -> Result<(), String> {
    font::ensure()?;
    if c.panels.iter().all(|p| p.bars.is_empty()) {
        return Err("no bars to plot".into());
    }
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .titled(&c.title, (FAMILY, 24).into_font().style(FontStyle::Bold))
        .map_err(err)?;
    for (area, panel) in root.split_evenly((1, c.panels.len())).iter().zip(&c.panels) {
        panel_bars(area, panel, &c.y_desc)?;
    }
    root.present().map_err(err)
}

/// The left edge of segment `i` of `n` (the right edge of the last one is
/// `Last`).
fn edge(i: usize, n: usize) -> SegmentValue<i32> {
    if i >= n {
        SegmentValue::Last
    } else {
        SegmentValue::Exact(i32::try_from(i).unwrap_or(i32::MAX))
    }
}

fn panel_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
    y_desc: &str,
) -> Result<(), String> {
    let n = panel.bars.len();
    if n == 0 {
        return Ok(());
    }
    let top = panel
        .bars
        .iter()
        .flat_map(|b| std::iter::once(b.value).chain(b.runs.iter().copied()))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let top = if top > 0.0 { top * 1.15 } else { 1.0 };
    let last = i32::try_from(n - 1).unwrap_or(i32::MAX);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FAMILY, 18))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d((0..last).into_segmented(), 0.0..top)
        .map_err(err)?;
    let label = |x: &SegmentValue<i32>| match x {
        SegmentValue::CenterOf(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| panel.bars.get(i))
            .map(|b| b.label.clone())
            .unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&label)
        .y_label_formatter(&|y| number(*y))
        .y_desc(y_desc)
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .draw()
        .map_err(err)?;
    // A fifth of each segment is left free on either side of its bar.
    let width = chart.plotting_area().dim_in_pixel().0;
    let gap = width / u32::try_from(n).unwrap_or(1) / 5;
    let heights = panel.bars.iter().enumerate().map(|(i, b)| {
        let v = if b.value.is_finite() {
            b.value.max(0.0)
        } else {
            0.0
        };
        (i, b, v)
    });
    // The value's text goes above the bar and above its runs' dots.
    let text_at = |b: &Bar, v: f64| {
        b.runs
            .iter()
            .copied()
            .filter(|r| r.is_finite())
            .fold(v, f64::max)
            + top * 0.015
    };
    chart
        .draw_series(heights.clone().map(|(i, b, v)| {
            let mut r = Rectangle::new(
                [(edge(i, n), 0.0), (edge(i + 1, n), v)],
                color(b.tone).filled(),
            );
            r.set_margin(0, 0, gap, gap);
            r
        }))
        .map_err(err)?;
    let center = |i: usize| SegmentValue::CenterOf(i32::try_from(i).unwrap_or(i32::MAX));
    let above = TextStyle::from((FAMILY, 16).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart
        .draw_series(heights.clone().map(|(i, b, v)| {
            let text = if b.value.is_finite() {
                number(b.value)
            } else {
                "n/a".into()
            };
            Text::new(text, (center(i), text_at(b, v)), above.clone())
        }))
        .map_err(err)?;
    chart
        .draw_series(heights.flat_map(|(i, b, _)| {
            b.runs
                .iter()
                .filter(|r| r.is_finite())
                .map(move |&r| Circle::new((center(i), r), 4, BLACK.filled()))
        }))
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_numbers_read_well() {
        assert_eq!(number(10_000.0), "10,000");
        assert_eq!(number(250.0), "250");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(0.01), "0.01");
        assert_eq!(number(0.125), "0.125");
    }

    #[test]
    fn log_ranges_skip_what_a_log_axis_cannot_show() {
        let r = log_range([0.0, -1.0, f64::NAN, 1.0, 100.0].into_iter(), 2.0, 3.0).unwrap();
        assert_eq!(r, 0.5..300.0);
        assert_eq!(log_range([0.0, f64::NAN].into_iter(), 2.0, 2.0), None);
    }
}
