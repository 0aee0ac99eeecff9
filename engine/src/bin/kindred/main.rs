//! `kindred`: Kindred's command line. Each subcommand is a thin shell over one engine call.

mod analyze;
mod features;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Music similarity along genre, mood, instrument, era, tempo and key.
#[derive(Parser)]
#[command(name = "kindred", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Features(features::Args),
    Analyze(analyze::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Features(args) => features::run(args),
        Command::Analyze(args) => analyze::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Prints a warning for anything the decoder had to repair in `analysis`.
fn warn_repairs(analysis: &kindred_engine::analysis::TrackAnalysis) {
    let path = analysis.info.path.display();
    if analysis.non_finite_samples > 0 {
        eprintln!(
            "warning: {path}: {} NaN/Inf samples were replaced by silence",
            analysis.non_finite_samples
        );
    }
    if analysis.skipped_packets > 0 {
        eprintln!(
            "warning: {path}: {} malformed packets were skipped",
            analysis.skipped_packets
        );
    }
}
