//! `docs/emit.png`: ns per emit against listener count.

use plotters::prelude::*;

use crate::PLOT;
use crate::measure::{COUNTS, EMIT_VARIANTS};

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
    let font = font().ok_or("no TrueType font found; set SIGWIRE_REPORT_FONT to a .ttf file")?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| "the font could not be read")?;
    let root = BitMapBackend::new(PLOT, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = costs.iter().flatten().copied().fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "ns per emit by listener count (lower is better)",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d((1f64..1000f64).log_scale(), (0.5f64..max * 2.0).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("listeners")
        .y_desc("ns per emit")
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
    ];
    for ((variant, color), variant_costs) in EMIT_VARIANTS.iter().zip(colors).zip(costs) {
        let points: Vec<(f64, f64)> = COUNTS
            .iter()
            .zip(variant_costs)
            .filter(|(count, _)| **count > 0)
            .map(|(count, ns)| (*count as f64, ns.max(0.5)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(*variant)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    root.present()?;
    Ok(())
}
