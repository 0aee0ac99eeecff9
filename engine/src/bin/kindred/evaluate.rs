//! `kindred evaluate`: SPEC §4's triplet prediction score of the model on the user's triplets.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use kindred_engine::embedding::TrackEmbedder;
use kindred_engine::evaluation::{DimensionMask, Score, Triplet, TripletDistances};
use ndarray::Array2;
use serde_json::json;

use crate::model::ModelArgs;

/// Score the model on labelled triplets: for each triplet the anchor should be closer to the
/// positive than to the negative. FILE.csv has the columns `anchor,positive,negative,dimension`
/// (paths relative to the CSV's folder; dimension one of the model's names).
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, value_name = "FILE.csv")]
    triplets: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    model: ModelArgs,
}

fn fraction(s: Score) -> serde_json::Value {
    s.fraction().map_or(serde_json::Value::Null, |f| json!(f))
}

fn cell(s: Score) -> String {
    s.fraction()
        .map_or_else(|| "-".into(), |f| format!("{f:.4}"))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let embedder = args.model.load()?;
    let layout = embedder.contract().layout.clone();
    let base = args
        .triplets
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(&args.triplets)
        .with_context(|| format!("{}: cannot read", args.triplets.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).with_context(|| {
            format!(
                "{}: no `{name}` column (need anchor,positive,negative,dimension)",
                args.triplets.display()
            )
        })
    };
    let cols = [
        column("anchor")?,
        column("positive")?,
        column("negative")?,
        column("dimension")?,
    ];

    let mut embedder = TrackEmbedder::new(embedder);
    let mut rows_of: HashMap<PathBuf, Option<usize>> = HashMap::new();
    let mut means: Vec<f32> = Vec::new();
    let mut triplets = Vec::new();
    let mut skipped = 0;
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.with_context(|| format!("{}: line {line}", args.triplets.display()))?;
        let field = |c: usize| record.get(c).unwrap_or("");
        let Some(dimension) = layout.index_of(field(cols[3])) else {
            eprintln!(
                "{}:{line}: unknown dimension `{}` (the model has {}); row skipped",
                args.triplets.display(),
                field(cols[3]),
                layout.dimensions.join(", ")
            );
            skipped += 1;
            continue;
        };
        let mut ids = [0usize; 3];
        let mut ok = true;
        for (slot, &c) in ids.iter_mut().zip(&cols[..3]) {
            let path = base.join(field(c));
            let id =
                *rows_of
                    .entry(path.clone())
                    .or_insert_with(|| match embedder.embed_file(&path) {
                        Ok(track) => {
                            means.extend(track.mean.iter());
                            Some(means.len() / layout.embedding_size() - 1)
                        }
                        Err(e) => {
                            eprintln!("{}:{line}: {e}", args.triplets.display());
                            None
                        }
                    });
            match id {
                Some(id) => *slot = id,
                None => ok = false,
            }
        }
        if !ok {
            skipped += 1;
            continue;
        }
        triplets.push(Triplet {
            anchor: ids[0],
            positive: ids[1],
            negative: ids[2],
            dimension,
        });
    }
    if triplets.is_empty() {
        bail!(
            "{}: no usable triplet ({skipped} rows skipped)",
            args.triplets.display()
        );
    }
    let embeddings = Array2::from_shape_vec(
        (
            means.len() / layout.embedding_size(),
            layout.embedding_size(),
        ),
        means,
    )?;
    let distances = TripletDistances::new(&layout, embeddings.view(), &triplets)?;
    let full = DimensionMask::all(layout.dimensions.len());
    let per_dimension: Vec<(String, Score, Score)> = layout
        .dimensions
        .iter()
        .enumerate()
        .map(|(s, name)| {
            (
                name.clone(),
                distances.score_where(DimensionMask::single(s), |l| l == s),
                distances.score_where(full, |l| l == s),
            )
        })
        .filter(|(_, own, _)| own.total > 0)
        .collect();
    let own = distances.score_own_dimension();
    let all = distances.score_full();
    if args.json {
        let out = json!({
            "triplets": triplets.len(),
            "skipped_rows": skipped,
            "tracks": embeddings.nrows(),
            "per_dimension": per_dimension.iter().map(|(n, o, f)| json!({
                "dimension": n, "triplets": o.total, "score_own_slice": fraction(*o), "score_full": fraction(*f)
            })).collect::<Vec<_>>(),
            "overall": {"score_own_slice": fraction(own), "score_full": fraction(all)},
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{:<12} {:>8} {:>10} {:>10}",
            "dimension", "triplets", "own slice", "full"
        );
        for (name, o, f) in &per_dimension {
            println!(
                "{name:<12} {:>8} {:>10} {:>10}",
                o.total,
                cell(*o),
                cell(*f)
            );
        }
        println!(
            "{:<12} {:>8} {:>10} {:>10}",
            "overall",
            own.total,
            cell(own),
            cell(all)
        );
        if skipped > 0 {
            println!("({skipped} rows skipped, see the messages above)");
        }
    }
    Ok(if skipped > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
