//! `docs/emit.png`: ns per emit against listener count; `docs/fanout.png`:
//! the asynchronous fan-out's throughput against listener count.

use plotters::prelude::*;

use crate::measure::{COUNTS, EMIT_VARIANTS};
use crate::{FANOUT_PLOT, PLOT};

/// Finds a TrueType font to draw with.
fn font() -> Option<&'static [u8]> {
    let candidates = [
        std::env::var("SIGWIRE_REPORT_FONT").unwrap_or_default(),
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".into(),
        "/usr/share/fonts/TTF/DejaVuSans.ttf".into(),
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf".into(),
        "/Library/Fonts/Arial.ttf".into(),
        "C:\\Windows\\Fonts\\arial.ttf".into(),
    ];
    candidates
        .iter()
        .filter(|path| !path.is_empty())
        .find_map(|path| std::fs::read(path).ok())
        .map(|bytes| &*Box::leak(bytes.into_boxed_slice()))
}

/// Draws ns per emit against listener count (1 to 1000, log-log).
pub(crate) fn plot(costs: &[Vec<f64>]) -> Result<(), Box<dyn std::error::Error>> {
    let series = EMIT_VARIANTS
        .iter()
        .zip(costs)
        .map(|(variant, variant_costs)| {
            let points = COUNTS
                .iter()
                .zip(variant_costs)
                .filter(|(count, _)| **count > 0)
                .map(|(count, ns)| (*count as f64, ns.max(0.5)))
                .collect();
            (*variant, points)
        })
        .collect();
    draw(Chart {
        path: PLOT,
        caption: "ns per emit by listener count (lower is better)",
        y_desc: "ns per emit",
        listeners: 1.0..1000.0,
        series,
    })
}

/// Draws the asynchronous fan-out's delivered events per second against
/// listener count (log-log), one line per contender.
pub(crate) fn plot_fanout(
    fanout: &[(usize, Vec<(&'static str, f64)>)],
) -> Result<(), Box<dyn std::error::Error>> {
    let names: Vec<&'static str> = fanout[0].1.iter().map(|(name, _)| *name).collect();
    let series = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let points = fanout
                .iter()
                .map(|(listeners, rates)| (*listeners as f64, rates[i].1.max(1e-3)))
                .collect();
            (*name, points)
        })
        .collect();
    let last = fanout.last().map_or(16, |(listeners, _)| *listeners) as f64;
    draw(Chart {
        path: FANOUT_PLOT,
        caption: "M events delivered per second by listener count (higher is better)",
        y_desc: "M events / s",
        listeners: 1.0..last * 1.2,
        series,
    })
}

/// One log-log chart of lines against listener count.
struct Chart {
    path: &'static str,
    caption: &'static str,
    y_desc: &'static str,
    listeners: std::ops::Range<f64>,
    series: Vec<(&'static str, Vec<(f64, f64)>)>,
}

fn draw(chart: Chart) -> Result<(), Box<dyn std::error::Error>> {
    let font = font().ok_or("no TrueType font found; set SIGWIRE_REPORT_FONT to a .ttf file")?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| "the font could not be read")?;
    let root = BitMapBackend::new(chart.path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let values = || {
        chart
            .series
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.1))
    };
    let max = values().fold(f64::MIN_POSITIVE, f64::max);
    let min = values().fold(max, f64::min);
    let mut plot = ChartBuilder::on(&root)
        .caption(chart.caption, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(
            chart.listeners.clone().log_scale(),
            (min / 2.0..max * 2.0).log_scale(),
        )?;
    plot.configure_mesh()
        .x_desc("listeners")
        .y_desc(chart.y_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .label_style(("sans-serif", 14))
        .draw()?;
    let colors = [
        BLACK,
        RGBColor(150, 150, 150),
        RGBColor(200, 120, 0),
        BLUE,
        RGBColor(0, 150, 80),
        RGBColor(180, 0, 120),
    ];
    for ((name, points), color) in chart.series.into_iter().zip(colors.into_iter().cycle()) {
        plot.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        plot.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, color.filled())),
        )?;
    }
    plot.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    root.present()?;
    Ok(())
}
