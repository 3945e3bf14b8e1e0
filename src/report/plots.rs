//! The report's plots, each written as PNG and SVG: test top-1 error against depth (every
//! seed, and the mean with its 95 % t-interval), a forest plot of the paper's comparisons
//! (differences with 95 % Welch intervals, zero marked), and every run's validation learning
//! curve, one panel per configuration. Text uses the bundled DejaVu Sans, so the PNGs render the same on a
//! machine without system fonts.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::ReportError;
use super::{Comparison, Group};

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/DejaVuSans.ttf");
        // The bundled font is valid; a failure would only cost the PNG's text.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

/// Size of the error-vs-depth plot.
const DEPTH_SIZE: (u32, u32) = (900, 600);
/// Size of the learning-curves plot (a grid of panels).
const CURVES_SIZE: (u32, u32) = (1200, 700);

/// Text sizes and margins of one chart: a whole plot, or a panel of a grid.
#[derive(Clone, Copy)]
struct Scale {
    caption: u32,
    labels: u32,
    margin: u32,
    x_area: u32,
    y_area: u32,
    max_x_labels: usize,
}

const FULL: Scale = Scale {
    caption: 22,
    labels: 15,
    margin: 15,
    x_area: 45,
    y_area: 60,
    max_x_labels: 20,
};

const PANEL: Scale = Scale {
    caption: 16,
    labels: 12,
    margin: 8,
    x_area: 35,
    y_area: 45,
    max_x_labels: 8,
};

fn palette(i: usize) -> RGBColor {
    const COLOURS: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    COLOURS[i % COLOURS.len()]
}

/// plotters failed while drawing one part of a chart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("drawing {part}: {detail}")]
pub struct DrawError {
    /// The part of the chart (`the chart`, `the legend`, …).
    pub part: String,
    /// plotters' error, as it describes itself.
    pub detail: String,
}

fn err<E: std::fmt::Debug>(part: &str) -> impl Fn(E) -> DrawError + '_ {
    move |e| DrawError {
        part: part.to_string(),
        detail: format!("{e:?}"),
    }
}

fn y_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() {
        return 0.0..100.0;
    }
    let pad = ((hi - lo) * 0.15).max(0.5);
    (lo - pad).max(0.0)..hi + pad
}

/// A white chart with a caption, labelled axes and a light mesh.
fn frame<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    caption: &str,
    scale: Scale,
    (x_desc, y_desc): (&str, &str),
    xs: std::ops::Range<f64>,
    ys: std::ops::Range<f64>,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, DrawError> {
    let e = err::<DrawingAreaErrorKind<DB::ErrorType>>(caption);
    root.fill(&WHITE).map_err(&e)?;
    // Integer x values (layers, epochs): one label per integer, at most `max_x_labels`.
    let x_labels = ((xs.end - xs.start).round() as usize + 1).clamp(2, scale.max_x_labels);
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", scale.caption))
        .margin(scale.margin)
        .x_label_area_size(scale.x_area)
        .y_label_area_size(scale.y_area)
        .build_cartesian_2d(xs, ys)
        .map_err(&e)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(x_labels)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style(("sans-serif", scale.labels))
        .draw()
        .map_err(&e)?;
    Ok(chart)
}

/// Draws the legend box.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    position: SeriesLabelPosition,
) -> Result<(), DrawError> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err::<DrawingAreaErrorKind<DB::ErrorType>>("legend"))
}

fn draw_depth<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    groups: &[Group],
) -> Result<(), DrawError> {
    let e = err::<DrawingAreaErrorKind<DB::ErrorType>>("error vs depth");
    let ci = |g: &Group| {
        g.top1_ci_low
            .zip(g.top1_ci_high)
            .unwrap_or((g.top1_err, g.top1_err))
    };
    let ys = y_range(groups.iter().flat_map(|g| {
        let seeds = g.seed_top1().iter().copied();
        seeds.chain([ci(g).0, ci(g).1])
    }));
    let xmin = groups.iter().map(|g| g.weight_layers).min().unwrap_or(8) as f64 - 1.0;
    let xmax = groups.iter().map(|g| g.weight_layers).max().unwrap_or(19) as f64 + 1.0;
    let mut chart = frame(
        &root,
        "Test top-1 error vs depth (each seed; mean with its 95 % t-interval)",
        FULL,
        (
            "weight layers",
            "top-1 error (%), epoch chosen on validation",
        ),
        xmin..xmax,
        ys,
    )?;
    for (i, g) in groups.iter().enumerate() {
        let colour = palette(i);
        let x = g.weight_layers as f64 + (i % 2) as f64 * 0.15; // C and D share 16 layers
        let (lo, hi) = ci(g);
        chart
            .draw_series(
                g.seed_top1()
                    .iter()
                    .map(|&v| Circle::new((x - 0.12, v), 3, colour.stroke_width(1))),
            )
            .map_err(&e)?;
        chart
            .draw_series(std::iter::once(ErrorBar::new_vertical(
                x,
                lo,
                g.top1_err,
                hi,
                colour.stroke_width(2),
                10,
            )))
            .map_err(&e)?;
        chart
            .draw_series(std::iter::once(Circle::new(
                (x, g.top1_err),
                5,
                colour.filled(),
            )))
            .map_err(&e)?
            .label(format!("{} ({})", g.label(), g.dataset))
            .legend(move |(px, py)| Circle::new((px, py), 5, colour.filled()));
        chart
            .draw_series(std::iter::once(Text::new(
                g.label(),
                (x + 0.2, g.top1_err),
                ("sans-serif", 15).into_font(),
            )))
            .map_err(&e)?;
    }
    // Every point is labelled beside it; the legend only tells data sets apart.
    let first = groups.first().map(|g| &g.dataset);
    if groups.iter().any(|g| Some(&g.dataset) != first) {
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    root.present().map_err(&e)
}

/// Size of the forest plot.
const FOREST_SIZE: (u32, u32) = (900, 500);

fn draw_forest<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    comps: &[Comparison],
) -> Result<(), DrawError> {
    let e = err::<DrawingAreaErrorKind<DB::ErrorType>>("comparisons");
    let tested: Vec<(&Comparison, (f64, f64))> = comps
        .iter()
        .filter_map(|c| c.welch.map(|t| (c, t.ci)))
        .collect();
    let lo = tested.iter().map(|(_, ci)| ci.0).fold(0f64, f64::min);
    let hi = tested.iter().map(|(_, ci)| ci.1).fold(0f64, f64::max);
    let pad = ((hi - lo) * 0.08).max(0.1);
    root.fill(&WHITE).map_err(&e)?;
    let n = tested.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Differences in test top-1 error (second − first) with 95 % Welch intervals",
            ("sans-serif", FULL.caption),
        )
        .margin(FULL.margin)
        .x_label_area_size(FULL.x_area)
        .y_label_area_size(110)
        .build_cartesian_2d(lo - pad..hi + pad, -0.5..n - 0.5)
        .map_err(&e)?;
    let names: Vec<String> = tested.iter().map(|(c, _)| c.title.clone()).collect();
    chart
        .configure_mesh()
        .x_desc("difference (pp; negative: the second is better); green: supported, red: contradicted, grey: not resolved (Holm, 0.05)")
        .y_labels(tested.len().max(1))
        .y_label_formatter(&|y| {
            let i = y.round();
            if (y - i).abs() < 1e-6 && i >= 0.0 {
                names
                    .get(names.len().saturating_sub(1 + i as usize))
                    .cloned()
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .disable_y_mesh()
        .label_style(("sans-serif", FULL.labels))
        .draw()
        .map_err(&e)?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(0.0, -0.5), (0.0, n - 0.5)],
            BLACK.stroke_width(1),
        )))
        .map_err(&e)?;
    for (i, (c, (l, h))) in tested.iter().enumerate() {
        let y = n - 1.0 - i as f64;
        let colour = match c.verdict() {
            Some(super::Verdict::Supported) => palette(2),
            Some(super::Verdict::Contradicted) => palette(3),
            _ => palette(7),
        };
        chart
            .draw_series(std::iter::once(ErrorBar::new_horizontal(
                y,
                *l,
                c.diff,
                *h,
                colour.stroke_width(2),
                10,
            )))
            .map_err(&e)?;
        chart
            .draw_series(std::iter::once(Circle::new(
                (c.diff, y),
                5,
                colour.filled(),
            )))
            .map_err(&e)?;
    }
    root.present().map_err(&e)
}

/// Rows and columns of a grid for `n` panels: about square, wider than tall.
fn grid(n: usize) -> (usize, usize) {
    let rows = ((n as f64).sqrt().floor() as usize).max(1);
    (rows, n.div_ceil(rows).max(1))
}

fn draw_curves<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    groups: &[Group],
) -> Result<(), DrawError> {
    let e = err::<DrawingAreaErrorKind<DB::ErrorType>>("learning curves");
    root.fill(&WHITE).map_err(&e)?;
    let root = root
        .titled(
            "Validation top-1 error per epoch: every seed, one panel per configuration",
            ("sans-serif", FULL.caption),
        )
        .map_err(&e)?;
    let curves = groups.iter().flat_map(|g| g.seed_curves());
    let max_epoch = curves.clone().map(Vec::len).max().unwrap_or(1).max(2);
    let ys = y_range(curves.flatten().copied());
    let (rows, cols) = grid(groups.len());
    for (i, (g, panel)) in groups
        .iter()
        .zip(root.split_evenly((rows, cols)))
        .enumerate()
    {
        let colour = palette(i);
        let mut chart = frame(
            &panel,
            &match g.failed {
                0 => format!("{} ({})", g.label(), g.dataset),
                _ if g.all_failed() => format!("{} ({}): every run failed", g.label(), g.dataset),
                n => format!("{} ({}) + {n} failed, not shown", g.label(), g.dataset),
            },
            PANEL,
            ("epoch", "val top-1 err (%)"),
            1f64..max_epoch as f64,
            ys.clone(),
        )?;
        for curve in g.seed_curves() {
            chart
                .draw_series(LineSeries::new(
                    curve.iter().enumerate().map(|(e, y)| ((e + 1) as f64, *y)),
                    colour.stroke_width(1),
                ))
                .map_err(&e)?;
        }
    }
    root.present().map_err(&e)
}

fn write_plot(
    out: &Path,
    stem: &str,
    (w, h): (u32, u32),
    png: impl FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), DrawError>,
    svg: impl FnOnce(DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), DrawError>,
) -> Result<Vec<PathBuf>, ReportError> {
    register_font();
    let png_path = out.join(format!("{stem}.png"));
    let svg_path = out.join(format!("{stem}.svg"));
    let tmp_png = out.join(format!(".{stem}.png.tmp.png"));
    let tmp_svg = out.join(format!(".{stem}.svg.tmp.svg"));
    let plot_error = |path: &Path| {
        let path = path.to_path_buf();
        move |what| ReportError::Plot { path, what }
    };
    png(BitMapBackend::new(&tmp_png, (w, h)).into_drawing_area()).map_err(plot_error(&png_path))?;
    svg(SVGBackend::new(&tmp_svg, (w, h)).into_drawing_area()).map_err(plot_error(&svg_path))?;
    for (tmp, dst) in [(&tmp_png, &png_path), (&tmp_svg, &svg_path)] {
        std::fs::rename(tmp, dst).map_err(|e| ReportError::io(dst, e))?;
    }
    Ok(vec![png_path, svg_path])
}

/// `error-vs-depth.{png,svg}` in `out`.
pub fn error_vs_depth(groups: &[Group], out: &Path) -> Result<Vec<PathBuf>, ReportError> {
    write_plot(
        out,
        "error-vs-depth",
        DEPTH_SIZE,
        |a| draw_depth(a, groups),
        |a| draw_depth(a, groups),
    )
}

/// `comparisons.{png,svg}` in `out`: the forest plot of `comps` (green: supported, red:
/// contradicted, grey: not resolved).
pub fn forest(comps: &[Comparison], out: &Path) -> Result<Vec<PathBuf>, ReportError> {
    write_plot(
        out,
        "comparisons",
        FOREST_SIZE,
        |a| draw_forest(a, comps),
        |a| draw_forest(a, comps),
    )
}

/// `learning-curves.{png,svg}` in `out`.
pub fn learning_curves(groups: &[Group], out: &Path) -> Result<Vec<PathBuf>, ReportError> {
    write_plot(
        out,
        "learning-curves",
        CURVES_SIZE,
        |a| draw_curves(a, groups),
        |a| draw_curves(a, groups),
    )
}

#[cfg(test)]
mod tests {
    use super::grid;

    #[test]
    fn grid_holds_every_panel_and_is_never_taller_than_wide() {
        for n in 1..=30 {
            let (rows, cols) = grid(n);
            assert!(rows * cols >= n, "{n}: {rows}x{cols}");
            assert!(rows <= cols, "{n}: {rows}x{cols}");
            assert!((rows - 1) * cols < n, "{n}: {rows}x{cols} has an empty row");
        }
        assert_eq!(grid(7), (2, 4));
        assert_eq!(grid(1), (1, 1));
    }
}
