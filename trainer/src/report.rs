//! `kindred-train report`: an [`Evaluation`] as the paper's tables (Markdown) and its Kiviat
//! chart of single-dimension scores (PNG and SVG, drawn with plotters).
//!
//! Chart text needs a font file: DejaVu Sans from Debian's `fonts-dejavu-core`, registered
//! with plotters at run time (plotters' own font lookup would pull in fontconfig).

use std::fmt::Write as _;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::data::triplets::DIMENSIONS;
use crate::evaluation::Evaluation;
use crate::{Error, Result};

/// Where the chart font is looked for.
pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// The paper's reference numbers (SPEC §4, Dim-sim, human triplets, MSD audio), for context.
const PAPER: [(&str, [Option<f64>; 6], f64); 4] = [
    ("paper: single-input 6-dim (Dim-sim)", [None; 6], 0.8169),
    ("paper: multi-input 4-dim (Dim-sim)", [None; 6], 0.8286),
    (
        "paper: multi-input 6-dim (Dim-sim)",
        [
            Some(0.7535),
            Some(0.7535),
            Some(0.6901),
            Some(0.7559),
            Some(0.5798),
            Some(0.6362),
        ],
        0.8380,
    ),
    ("paper: baseline CSN (Dim-sim)", [None; 6], 0.8192),
];

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.4}"))
}

/// The Markdown report.
pub fn markdown(e: &Evaluation) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "# Kindred evaluation\n\nHeld-out **{}** split of `{}`: {} tracks; triplets per dimension \
         ({}): {}; seed {}. Triplet prediction score (SPEC §4): the fraction of triplets whose \
         anchor is closer (Euclidean) to the positive than to the negative; ties count as \
         failures; chance is 0.5. Track embedding = mean of its 3 s window embeddings. \
         Mood is a performance **proxy** (dynamics, articulation, register, density), not a \
         perceived mood.\n",
        e.split,
        e.dataset.display(),
        e.tracks,
        DIMENSIONS.join(", "),
        e.triplets_per_dimension
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        e.seed
    );
    let _ = writeln!(
        m,
        "## Table 1 — models × dimensions\n\nPer dimension: that dimension's triplets on the \
         model's slice for it (`*`: the model has no such slice, the full vector is used). \
         **full**: every triplet on the whole embedding. **own slice**: every triplet on its \
         dimension's slice.\n"
    );
    let _ = write!(m, "| model |");
    DIMENSIONS.iter().for_each(|d| {
        let _ = write!(m, " {d} |");
    });
    let _ = writeln!(
        m,
        " full | own slice |\n|---|{}---|---|",
        "---|".repeat(DIMENSIONS.len())
    );
    for s in &e.models {
        let _ = write!(m, "| {} |", s.name);
        for (v, sliced) in s.per_dimension.iter().zip(&s.sliced) {
            let _ = write!(m, " {}{} |", cell(*v), if *sliced { "" } else { "*" });
        }
        let _ = writeln!(m, " {:.4} | {} |", s.full, cell(s.own_slice));
    }
    for (name, dims, full) in PAPER {
        let _ = write!(m, "| _{name}_ |");
        dims.iter().for_each(|v| {
            let _ = write!(m, " _{}_ |", cell(*v));
        });
        let _ = writeln!(m, " _{full:.4}_ | – |");
    }
    let _ = writeln!(
        m,
        "\nThe paper's rows are on another dataset (Dim-sim: human-labelled triplets on Million \
         Song Dataset audio, which cannot be obtained here) and are shown only for scale.\n"
    );
    for s in e.models.iter().filter(|s| s.subsets.len() > 1) {
        let mut subsets = s.subsets.clone();
        subsets.sort_by(|a, b| b.1.total_cmp(&a.1));
        let _ = writeln!(
            m,
            "## Table 2 — {}: best subsets of dimensions and each dimension alone\n\nEvery \
             triplet (all dimensions) scored on the union of the subset's slices.\n\n| subset | \
             score |\n|---|---|",
            s.name
        );
        for (names, v) in subsets.iter().take(10) {
            let _ = writeln!(m, "| {names} | {v:.4} |");
        }
        let _ = writeln!(m, "| … | |");
        for d in &s.dimensions {
            if let Some((names, v)) = s.subsets.iter().find(|(n, _)| n == d) {
                let _ = writeln!(m, "| {names} (alone) | {v:.4} |");
            }
        }
        let _ = writeln!(m);
    }
    let _ = writeln!(
        m,
        "## Kiviat chart\n\n![single-dimension scores](kiviat.png)\n"
    );
    m
}

fn load_font() -> Result<()> {
    static FONT_BYTES: std::sync::OnceLock<std::result::Result<(), String>> =
        std::sync::OnceLock::new();
    FONT_BYTES
        .get_or_init(|| {
            let bytes = std::fs::read(FONT).map_err(|e| {
                format!("{FONT}: {e} (install the Debian package fonts-dejavu-core for the chart's text)")
            })?;
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                .map_err(|_| format!("{FONT}: not a usable font"))
        })
        .clone()
        .map_err(Error::Invalid)
}

/// Series colours, in model order (thirteen distinct ones: a report compares up to twelve
/// models and the handcrafted baseline).
const COLOURS: [RGBColor; 13] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(0, 0, 128),
    RGBColor(128, 0, 0),
];

/// Radius of a score: the chart runs from 0.3 (centre) to 1.0 (rim).
fn radius(score: f64, rim: f64) -> f64 {
    ((score - 0.3) / 0.7).clamp(0.0, 1.0) * rim
}

fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    e: &Evaluation,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    area.fill(&WHITE)?;
    let (w, h) = area.dim_in_pixel();
    let (cx, cy) = (w as f64 * 0.36, h as f64 * 0.52);
    let rim = (w.min(h) as f64) * 0.34;
    // One axis per dimension that has triplets here (real recordings: genre, tempo, key).
    let axes: Vec<usize> = (0..DIMENSIONS.len())
        .filter(|&d| e.models.iter().any(|s| s.per_dimension[d].is_some()))
        .collect();
    let n = axes.len();
    if n == 0 {
        return Ok(());
    }
    let point = |d: usize, r: f64| {
        let angle = std::f64::consts::TAU * d as f64 / n as f64 - std::f64::consts::FRAC_PI_2;
        ((cx + r * angle.cos()) as i32, (cy + r * angle.sin()) as i32)
    };
    let grey = RGBColor(200, 200, 200);
    for ring in [0.5, 0.6, 0.7, 0.8, 0.9, 1.0] {
        let r = radius(ring, rim);
        let mut pts: Vec<(i32, i32)> = (0..n).map(|d| point(d, r)).collect();
        pts.push(pts[0]);
        area.draw(&PathElement::new(pts, grey.stroke_width(1)))?;
        area.draw(&Text::new(
            format!("{ring:.1}"),
            (point(0, r).0 + 4, point(0, r).1),
            ("sans-serif", 12)
                .into_font()
                .color(&RGBColor(120, 120, 120)),
        ))?;
    }
    for (d, name) in axes.iter().map(|&a| DIMENSIONS[a]).enumerate() {
        area.draw(&PathElement::new(
            vec![point(d, 0.0), point(d, rim)],
            grey.stroke_width(1),
        ))?;
        let (x, y) = point(d, rim + 22.0);
        area.draw(&Text::new(
            name.to_string(),
            (x - 28, y - 8),
            ("sans-serif", 18).into_font(),
        ))?;
    }
    let series: Vec<_> = e
        .models
        .iter()
        .filter(|s| axes.iter().all(|&a| s.per_dimension[a].is_some()))
        .collect();
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut pts: Vec<(i32, i32)> = axes
            .iter()
            .enumerate()
            .map(|(d, &a)| point(d, radius(s.per_dimension[a].unwrap_or(0.0), rim)))
            .collect();
        pts.push(pts[0]);
        area.draw(&PathElement::new(pts.clone(), colour.stroke_width(3)))?;
        for p in &pts {
            area.draw(&Circle::new(*p, 4, colour.filled()))?;
        }
        let ly = 40 + 26 * i as i32;
        let lx = (w as f64 * 0.64) as i32;
        area.draw(&PathElement::new(
            vec![(lx, ly + 8), (lx + 24, ly + 8)],
            colour.stroke_width(3),
        ))?;
        area.draw(&Text::new(
            s.name.clone(),
            (lx + 30, ly),
            ("sans-serif", 14).into_font(),
        ))?;
    }
    area.draw(&Text::new(
        format!(
            "single-dimension triplet scores, held-out {} split (0.5 = chance)",
            e.split
        ),
        (20, 12),
        ("sans-serif", 16).into_font(),
    ))?;
    Ok(())
}

/// Writes `REPORT.md`, `kiviat.png` and `kiviat.svg` into `out`.
pub fn write(e: &Evaluation, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(Error::io(out))?;
    load_font()?;
    let size = (1300, 700);
    let png = out.join("kiviat.png");
    let svg = out.join("kiviat.svg");
    let fail = |path: &Path, e: &dyn std::fmt::Display| {
        Error::Invalid(format!("{}: cannot draw: {e}", path.display()))
    };
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        draw(&root, e).map_err(|err| fail(&png, &err))?;
        root.present().map_err(|err| fail(&png, &err))?;
    }
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        draw(&root, e).map_err(|err| fail(&svg, &err))?;
        root.present().map_err(|err| fail(&svg, &err))?;
    }
    let md = out.join("REPORT.md");
    std::fs::write(&md, markdown(e)).map_err(Error::io(&md))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::ModelScores;

    fn model(name: &str, per_dimension: Vec<Option<f64>>) -> ModelScores {
        ModelScores {
            name: name.into(),
            dimensions: DIMENSIONS.iter().map(|d| d.to_string()).collect(),
            sliced: vec![true; DIMENSIONS.len()],
            per_dimension,
            full: 0.6,
            own_slice: None,
            subsets: Vec::new(),
            triplets: 3000,
        }
    }

    #[test]
    fn the_chart_has_an_axis_per_scored_dimension_and_every_model_that_has_them() {
        let real = |g, t, k| vec![Some(g), None, None, None, Some(t), Some(k)];
        let e = Evaluation {
            dataset: "dataset".into(),
            split: "test (real recordings)".into(),
            seed: 0,
            tracks: 10,
            triplets_per_dimension: vec![1000, 0, 0, 0, 1000, 1000],
            models: vec![
                model("mixed", real(0.67, 0.79, 0.92)),
                model("rendered only", real(0.64, 0.71, 0.91)),
                model("4-dim", vec![Some(0.66), None, None, None, None, None]),
            ],
        };
        let dir = tempfile::tempdir().unwrap();
        write(&e, dir.path()).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("kiviat.svg")).unwrap();
        let text = |t: &str| svg.contains(&format!(">\n{t}\n</text>"));
        for axis in ["genre", "tempo", "key"] {
            assert!(text(axis), "no {axis} axis");
        }
        for absent in ["mood", "instrument", "era"] {
            assert!(!text(absent), "an empty {absent} axis");
        }
        assert!(text("mixed") && text("rendered only"), "a model missing");
        assert!(!text("4-dim"), "a model without tempo and key drawn");
    }
}
