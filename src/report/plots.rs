//! The report's plots, each written as PNG and SVG: top-1 error against depth with seed error
//! bars, and mean validation learning curves. Text uses the bundled DejaVu Sans, so the PNGs
//! render the same on a machine without system fonts.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::Group;
use crate::error::ReportError;

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/DejaVuSans.ttf");
        // The bundled font is valid; a failure would only cost the PNG's text.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

const W: u32 = 900;
const H: u32 = 600;

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

fn err<E: std::fmt::Debug>(what: &str) -> impl Fn(E) -> String + '_ {
    move |e| format!("drawing {what}: {e:?}")
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
    (x_desc, y_desc): (&str, &str),
    xs: std::ops::Range<f64>,
    ys: std::ops::Range<f64>,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, String> {
    let e = err::<DrawingAreaErrorKind<DB::ErrorType>>(caption);
    root.fill(&WHITE).map_err(&e)?;
    // Integer x values (layers, epochs): one label per integer, at most 20.
    let x_labels = ((xs.end - xs.start).round() as usize + 1).clamp(2, 20);
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(xs, ys)
        .map_err(&e)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(x_labels)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(&e)?;
    Ok(chart)
}

/// Draws the legend box.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
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
) -> Result<(), String> {
    let e = err::<DrawingAreaErrorKind<DB::ErrorType>>("error vs depth");
    let ys = y_range(groups.iter().flat_map(|g| {
        let s = g.top1_std.unwrap_or(0.0);
        [g.top1_err - s, g.top1_err + s]
    }));
    let xmin = groups.iter().map(|g| g.weight_layers).min().unwrap_or(8) as f64 - 1.0;
    let xmax = groups.iter().map(|g| g.weight_layers).max().unwrap_or(19) as f64 + 1.0;
    let mut chart = frame(
        &root,
        "Validation top-1 error vs depth (mean ± std over seeds)",
        ("weight layers", "top-1 error (%)"),
        xmin..xmax,
        ys,
    )?;
    for (i, g) in groups.iter().enumerate() {
        let colour = palette(i);
        let x = g.weight_layers as f64 + (i % 2) as f64 * 0.15; // C and D share 16 layers
        let s = g.top1_std.unwrap_or(0.0);
        chart
            .draw_series(std::iter::once(ErrorBar::new_vertical(
                x,
                g.top1_err - s,
                g.top1_err,
                g.top1_err + s,
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
    // Shallow nets sit low on the left; the deep, undertrained ones high on the right.
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    root.present().map_err(&e)
}

fn draw_curves<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    groups: &[Group],
) -> Result<(), String> {
    let e = err::<DrawingAreaErrorKind<DB::ErrorType>>("learning curves");
    let curves: Vec<Vec<(usize, f64)>> = groups.iter().map(Group::mean_curve).collect();
    let max_epoch = curves.iter().map(Vec::len).max().unwrap_or(1).max(2);
    let ys = y_range(curves.iter().flatten().map(|(_, v)| *v));
    let mut chart = frame(
        &root,
        "Validation top-1 error per epoch (mean over seeds)",
        ("epoch", "val top-1 error (%)"),
        1f64..max_epoch as f64,
        ys,
    )?;
    for (i, (g, curve)) in groups.iter().zip(&curves).enumerate() {
        let colour = palette(i);
        chart
            .draw_series(LineSeries::new(
                curve.iter().map(|(x, y)| (*x as f64, *y)),
                colour.stroke_width(2),
            ))
            .map_err(&e)?
            .label(format!("{} ({})", g.label(), g.dataset))
            .legend(move |(px, py)| {
                PathElement::new(vec![(px, py), (px + 20, py)], colour.stroke_width(2))
            });
    }
    // Curves fall from the upper left.
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    root.present().map_err(&e)
}

fn write_plot(
    out: &Path,
    stem: &str,
    png: impl FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), String>,
    svg: impl FnOnce(DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
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
    png(BitMapBackend::new(&tmp_png, (W, H)).into_drawing_area()).map_err(plot_error(&png_path))?;
    svg(SVGBackend::new(&tmp_svg, (W, H)).into_drawing_area()).map_err(plot_error(&svg_path))?;
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
        |a| draw_depth(a, groups),
        |a| draw_depth(a, groups),
    )
}

/// `learning-curves.{png,svg}` in `out`.
pub fn learning_curves(groups: &[Group], out: &Path) -> Result<Vec<PathBuf>, ReportError> {
    write_plot(
        out,
        "learning-curves",
        |a| draw_curves(a, groups),
        |a| draw_curves(a, groups),
    )
}
