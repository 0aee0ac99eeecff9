//! `kindred features`: writes the model-input features of every window of a file as `.npy`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use kindred_engine::FrontEndConfig;
use kindred_engine::analysis::Analyzer;
use kindred_engine::npy::NpyWriter;

/// Write per-window features of AUDIO as float32 .npy files: mel.npy [W,128,259]
/// (log-compressed, not standardised), cens.npy [W,12,259], tempogram.npy [W,384,259] and
/// onset.npy [W,259], W being the number of non-overlapping 3 s windows.
#[derive(clap::Args)]
pub struct Args {
    /// Audio file (wav, flac, mp3, ogg/vorbis, aiff).
    audio: PathBuf,
    /// Directory to write the .npy files into (created if missing).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create directory", args.out.display()))?;
    let config = FrontEndConfig::default();
    let frames = config.frames();
    let mut outputs = [
        ("mel", vec![config.n_mels, frames]),
        ("cens", vec![12, frames]),
        ("tempogram", vec![config.tempogram_win, frames]),
        ("onset", vec![frames]),
    ]
    .map(|(name, shape)| NpyWriter::create(&args.out.join(format!("{name}.npy")), &shape));
    if let Some(err) = outputs
        .iter_mut()
        .find_map(|w| w.as_ref().err().map(|e| e.to_string()))
    {
        anyhow::bail!(err);
    }
    let mut writers = outputs.map(|w| w.expect("checked above"));
    let mut analyzer = Analyzer::new(config);
    let analysis = analyzer.analyze_with(&args.audio, |f| {
        let [mel, cens, tempogram, onset] = &mut writers;
        mel.append(f.mel.as_slice().expect("contiguous"))?;
        cens.append(f.cens.as_slice().expect("contiguous"))?;
        tempogram.append(f.tempogram.as_slice().expect("contiguous"))?;
        onset.append(f.onset.as_slice().expect("contiguous"))
    })?;
    for writer in writers {
        writer.finish()?;
    }
    super::warn_repairs(&analysis);
    println!(
        "{}: {} windows ({:.1} s), tempo {:.1} BPM, key {}; wrote mel, cens, tempogram, onset .npy to {}",
        args.audio.display(),
        analysis.windows,
        analysis.duration,
        analysis.tempo.bpm,
        analysis.key.key,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
