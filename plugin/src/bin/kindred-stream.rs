//! `kindred-stream`: plays an audio file through the plugin's analysis path without a host or
//! a display (see `kindred_plugin::stream`) and prints, for every second, what the plugin's
//! window would show — BPM and key, the similarity to the reference per dimension and the top
//! library matches — then draws the similarity over time as a PNG.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use kindred_engine::contract::SIX_DIMENSIONS;
use kindred_plugin::params::DEFAULT_HOP;
use kindred_plugin::stream::{StreamOptions, stream_file};
use kindred_plugin::worker::{Activity, Scores, Snapshot};
use plotters::prelude::*;

/// Where the chart's font is looked for (Debian `fonts-dejavu-core`).
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

#[derive(Parser)]
#[command(
    version,
    about = "Stream an audio file through Kindred's plugin analysis, headless"
)]
struct Args {
    /// The audio file to play.
    audio: PathBuf,
    /// The reference library (`kindred index` builds one).
    #[arg(long)]
    library: Option<PathBuf>,
    /// The reference: a library track's file name or path, or an audio file.
    #[arg(long)]
    reference: Option<String>,
    /// Write the similarity over time to this PNG.
    #[arg(long)]
    png: Option<PathBuf>,
    /// Matches printed per second.
    #[arg(long, default_value_t = 3)]
    top: usize,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kindred-stream: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<()> {
    let hop = DEFAULT_HOP;
    let options = StreamOptions {
        library: args.library.clone(),
        reference: args.reference.clone(),
        ..StreamOptions::default()
    };
    let mut timeline: Vec<(f64, Scores)> = Vec::new();
    let mut analysis_ms = Vec::new();
    let mut header = false;
    let last = stream_file(&args.audio, &options, |seconds, snap| {
        if !header {
            println!("model: {} on {}", snap.model, snap.device);
            println!("library: {}", snap.library);
            println!("reference: {}", snap.reference);
            header = true;
        }
        println!("{}", line(seconds, snap, args.top));
        if snap.activity == Activity::Analysing {
            analysis_ms.push(snap.latency_ms);
        }
        if let Some(scores) = snap.comparison.reference {
            timeline.push((seconds, scores));
        }
    })
    .with_context(|| format!("streaming {}", args.audio.display()))?;
    let mean_ms = analysis_ms.iter().sum::<f32>() / analysis_ms.len().max(1) as f32;
    println!(
        "{} windows analysed, {} silent, {} skipped; {mean_ms:.1} ms per window on average \
         ({:.1} % of a core at the {:.2} s hop)",
        last.windows,
        last.silent_windows,
        last.skipped_windows,
        mean_ms / 10.0 / hop,
        hop
    );
    if let Some(error) = &last.error {
        println!("last error: {error}");
    }
    if let Some(png) = &args.png {
        let title = format!(
            "{} against {}",
            file_name(&args.audio),
            args.reference
                .as_deref()
                .map_or("—".into(), |r| file_name(Path::new(r)))
        );
        chart(png, &title, &timeline).with_context(|| format!("drawing {}", png.display()))?;
        println!("similarity over time: {}", png.display());
    }
    Ok(())
}

/// One second of playback as one line of text.
fn line(seconds: f64, snap: &Snapshot, top: usize) -> String {
    let mut out = format!("{seconds:6.1} s ");
    match (snap.tempo, snap.key) {
        _ if snap.windows == 0 => out += "  (silence)",
        (Some(tempo), Some(key)) => {
            out += &format!("{:5.1} BPM {:<9}", tempo.bpm, key.key.to_string())
        }
        _ => out += "                   ",
    }
    if let Some(r) = snap.comparison.reference {
        out += " | reference";
        for (name, v) in SIX_DIMENSIONS.iter().zip(r.per_dimension) {
            out += &format!(" {name} {:3.0}", v * 100.0);
        }
        out += &format!(" = {:3.0} %", r.combined * 100.0);
    }
    for (i, m) in snap.comparison.matches.iter().take(top).enumerate() {
        out += &format!(
            " | {}. {} {:.0} %",
            i + 1,
            m.name,
            m.scores.combined * 100.0
        );
    }
    out
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

/// Per-dimension and combined similarity to the reference over playback time.
fn chart(path: &Path, title: &str, timeline: &[(f64, Scores)]) -> Result<()> {
    let font = std::fs::read(FONT)
        .with_context(|| format!("{FONT} (install the Debian package fonts-dejavu-core)"))?;
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| anyhow::anyhow!("{FONT}: not a usable font"))?;
    let end = timeline.last().map_or(1.0, |(t, _)| *t);
    let root = BitMapBackend::new(path, (1000, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..end, 0.0f64..100.0)?;
    chart
        .configure_mesh()
        .x_desc("playback time (s)")
        .y_desc("similarity to the reference (%)")
        .draw()?;
    let colours = [BLUE, RED, GREEN, MAGENTA, CYAN, RGBColor(150, 110, 0)];
    for (d, (name, colour)) in SIX_DIMENSIONS.iter().zip(colours).enumerate() {
        let points = timeline
            .iter()
            .map(|(t, s)| (*t, s.per_dimension[d] as f64 * 100.0));
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(1)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour));
    }
    let combined = timeline
        .iter()
        .map(|(t, s)| (*t, s.combined as f64 * 100.0));
    chart
        .draw_series(LineSeries::new(combined, BLACK.stroke_width(3)))?
        .label("combined")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.stroke_width(3)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()?;
    Ok(())
}
