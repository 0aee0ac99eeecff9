//! `kindred`: Kindred's command line. Each subcommand is a thin shell over one engine call.

mod analyze;
mod compare;
mod evaluate;
mod features;
mod index;
mod library;
mod model;
mod query;

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
    Index(index::Args),
    Query(query::Args),
    Compare(compare::Args),
    Evaluate(evaluate::Args),
    Library(library::Args),
    Analyze(analyze::Args),
    Features(features::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Index(args) => index::run(args),
        Command::Query(args) => query::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Library(args) => library::run(args),
        Command::Analyze(args) => analyze::run(args),
        Command::Features(args) => features::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", message(&err));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, each cause added only if the message does not already end with
/// it (engine errors include their cause in their own message).
fn message(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
    }
    text
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
