//! ONNX export (SPEC §2/§3): the trained network with a dynamic batch axis on every input, the
//! inputs named `mel`, `cens`, `tempogram` (single-input: `mel`), the output `embedding`, and
//! the model contract as JSON in `metadata_props` under [`METADATA_KEY`].
//!
//! burn-onnx's `OnnxExporter` (opset 18) traces the forward pass — `export_dynamic` twice, at
//! batch 2 and 3, for the single-input network; see [`export_bytes`] for why the multi-input
//! network is traced once and made batch-dynamic afterwards — and names graph values
//! `tensor_<id>`; it has no API for names or metadata, so the
//! exported `ModelProto` is parsed with onnx-ir's protobuf types, the graph inputs/output (and
//! their uses in nodes) are renamed, and the `metadata_props` entry is added before the bytes
//! are written (atomically: temporary file, then rename).

use std::path::Path;

use burn::prelude::*;
use burn_onnx::export::{AxisSpec, InputSpec, OnnxExporter};
use kindred_engine::FrontEndConfig;
use kindred_engine::contract::{
    CONTRACT_VERSION, EmbeddingLayout, INPUT_NAMES, METADATA_KEY, ModelContract, OUTPUT_NAME,
    SIX_DIMENSIONS,
};
use onnx_ir::{Message, ModelProto};

use crate::data::dataset::{DatasetFile, Source};
use crate::data::plan::Split;
use crate::model::{CENS_ROWS, Csn, FRAMES, MEL_ROWS, SLICE_WIDTH, TEMPOGRAM_ROWS};
use crate::training::{self, write_atomic};
use crate::{Error, Result};

/// The contract of `model`, with `model_version` and `training_data` as given.
pub fn contract_for(model: &Csn, model_version: String, training_data: String) -> ModelContract {
    let front_end = FrontEndConfig::default();
    let multi = model.is_multi_input();
    let (mel_mean, mel_std) = model.mel_stats();
    let dims = model.embedding_size() / SLICE_WIDTH;
    ModelContract {
        contract_version: CONTRACT_VERSION,
        model_version,
        architecture: if multi { "multi-input" } else { "single-input" }.into(),
        inputs: ModelContract::inputs_for(&front_end, multi),
        output: OUTPUT_NAME.into(),
        layout: EmbeddingLayout::new(&SIX_DIMENSIONS[..dims], SLICE_WIDTH),
        mel_mean,
        mel_std,
        training_data,
        front_end,
    }
}

fn random(batch: usize, rows: usize, device: &Device) -> Tensor<4> {
    Tensor::<4>::random(
        [batch, 1, rows, FRAMES],
        burn::tensor::Distribution::Uniform(0.0, 1.0),
        device,
    )
}

/// The ONNX bytes of `model` with `contract` in its metadata.
pub fn export_bytes(model: &Csn, contract: &ModelContract) -> Result<Vec<u8>> {
    contract
        .validate()
        .map_err(|e| Error::Export(format!("the contract is invalid: {e}")))?;
    // The exporter moves the module to its capture device; BatchNorm's running statistics are
    // shared between clones, so export an independent copy (`valid` makes fresh ones).
    let copy = model.valid();
    let model = &copy;
    let device = Device::default();
    let batch = || {
        InputSpec::new([
            AxisSpec::dynamic("batch"),
            AxisSpec::Static,
            AxisSpec::Static,
            AxisSpec::Static,
        ])
    };
    let exporter = OnnxExporter::new();
    let err = |e: burn_onnx::export::ExportError| Error::Export(e.to_string());
    let bytes = if model.is_multi_input() {
        // `export_dynamic` refuses the multi-input network: the final flatten
        // `[B, h, 1, 1] → [B, h]` is a Reshape whose batch size matches the batch axis of all
        // three inputs, and burn-onnx 0.23.0-pre.1 reports "dimension matches 3 dynamic source
        // axes and is ambiguous" (it does not merge inputs that share a symbol). So the
        // multi-input network is traced once at batch 2 and made batch-dynamic here: the graph
        // inputs/output get the symbolic axis `batch`, and the Reshape's batch entry becomes 0
        // (ONNX: copy that dimension from the input). Every other operator of this network is
        // batch-agnostic; the parity test checks batch 1 and 3 in ONNX Runtime.
        let inputs = (
            random(2, MEL_ROWS, &device),
            random(2, CENS_ROWS, &device),
            random(2, TEMPOGRAM_ROWS, &device),
        );
        let onnx = exporter
            .export(model, inputs, Csn::forward_multi)
            .map_err(err)?;
        dynamic_batch(onnx.as_bytes(), 2)?
    } else {
        exporter
            .export_dynamic(
                model,
                random(2, MEL_ROWS, &device),
                random(3, MEL_ROWS, &device),
                &[batch()],
                Csn::forward_single,
            )
            .map_err(err)?
            .into_bytes()
    };
    let names: Vec<&str> = contract.inputs.iter().map(|i| i.name.as_str()).collect();
    finish_proto(&bytes, &names, &contract.output, &contract.to_json())
}

/// Makes axis 0 of the graph's inputs and output the symbolic `batch`, and the leading entry
/// of every Reshape of an activation (whose target starts with `traced`) 0 = "copy from the
/// input".
fn dynamic_batch(bytes: &[u8], traced: i64) -> Result<Vec<u8>> {
    let bad = |e: String| Error::Export(e);
    let mut proto = ModelProto::parse_from_bytes(bytes).map_err(|e| bad(e.to_string()))?;
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| bad("the exported model has no graph".into()))?;
    for vi in graph.input.iter_mut().chain(graph.output.iter_mut()) {
        let shape = vi
            .type_
            .mut_or_insert_default()
            .mut_tensor_type()
            .shape
            .mut_or_insert_default();
        let Some(dim) = shape.dim.first_mut() else {
            return Err(bad(format!("graph value {} has no batch axis", vi.name)));
        };
        dim.set_dim_param("batch".into());
    }
    graph.value_info.clear();
    // Reshapes of activations only; parameters are reshaped too (a bias to `[1, n]`).
    let constants: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let shapes: Vec<String> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Reshape" && !constants.contains(&n.input[0].as_str()))
        .map(|n| n.input[1].clone())
        .collect();
    for name in shapes {
        let init = graph
            .initializer
            .iter_mut()
            .find(|t| t.name == name)
            .ok_or_else(|| bad(format!("Reshape shape {name} is not a constant")))?;
        let mut raw = init.raw_data.to_vec();
        if init.data_type != 7 || raw.len() < 8 {
            return Err(bad(format!(
                "Reshape shape {name} is not an int64 raw tensor"
            )));
        }
        let first = i64::from_le_bytes(raw[..8].try_into().unwrap());
        if first != traced {
            return Err(bad(format!(
                "Reshape shape {name} starts with {first}, not the traced batch {traced}"
            )));
        }
        raw[..8].copy_from_slice(&0i64.to_le_bytes());
        init.raw_data = raw.into();
    }
    proto.write_to_bytes().map_err(|e| bad(e.to_string()))
}

/// Renames the graph's inputs and output and adds the contract to `metadata_props`.
fn finish_proto(bytes: &[u8], inputs: &[&str], output: &str, contract: &str) -> Result<Vec<u8>> {
    let bad = |e: String| Error::Export(e);
    let mut proto = ModelProto::parse_from_bytes(bytes).map_err(|e| bad(e.to_string()))?;
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| bad("the exported model has no graph".into()))?;
    if graph.input.len() != inputs.len() || graph.output.len() != 1 {
        return Err(bad(format!(
            "the exported graph has {} inputs and {} outputs, expected {} and 1",
            graph.input.len(),
            graph.output.len(),
            inputs.len()
        )));
    }
    let mut renames: Vec<(String, String)> = graph
        .input
        .iter()
        .zip(inputs)
        .map(|(vi, &new)| (vi.name.clone(), new.to_string()))
        .collect();
    renames.push((graph.output[0].name.clone(), output.to_string()));
    let rename = |name: &mut String| {
        if let Some((_, new)) = renames.iter().find(|(old, _)| old == name) {
            *name = new.clone();
        }
    };
    for vi in graph.input.iter_mut().chain(graph.output.iter_mut()) {
        rename(&mut vi.name);
    }
    for node in graph.node.iter_mut() {
        node.input.iter_mut().for_each(rename);
        node.output.iter_mut().for_each(rename);
    }
    proto.metadata_props.retain(|e| e.key != METADATA_KEY);
    proto.metadata_props.push(Default::default());
    let entry = proto.metadata_props.last_mut().unwrap();
    entry.key = METADATA_KEY.into();
    entry.value = contract.into();
    proto.write_to_bytes().map_err(|e| bad(e.to_string()))
}

/// What a run's dataset was: counts from its `dataset.json` if it is still there.
fn describe_dataset(dir: &str) -> String {
    let Ok(file) = DatasetFile::load(Path::new(dir)) else {
        return format!("kindred-train dataset at {dir}");
    };
    let train: Vec<_> = file
        .records
        .iter()
        .filter(|r| r.split == Split::Train)
        .collect();
    let windows: u32 = train.iter().map(|r| r.windows).sum();
    let count = |source: Source| train.iter().filter(|r| r.source == source).count();
    format!(
        "kindred-train dataset ({}): {} training tracks ({} music21 renders with labels true by \
         construction, {} real-recording passages and copies, {} from a user manifest), {} \
         windows of 3 s; split by piece; {} validation and {} test tracks held out",
        file.format,
        train.len(),
        count(Source::Music21),
        count(Source::Real),
        count(Source::Manifest),
        windows,
        file.records
            .iter()
            .filter(|r| r.split == Split::Validation)
            .count(),
        file.records
            .iter()
            .filter(|r| r.split == Split::Test)
            .count(),
    )
}

/// Exports the trained model of `run` (its best model, else its last checkpoint) to `out`.
pub fn export_run(run: &Path, out: &Path) -> Result<ModelContract> {
    let (cfg, model) = training::load_trained(run)?;
    let name = run
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    let m = &cfg.model;
    let history = training::load_history(run).unwrap_or_default();
    let best = history
        .iter()
        .min_by(|a, b| a.val_loss.total_cmp(&b.val_loss));
    let version = format!(
        "{name}: CSN stem {} width {} reduce {} head {}×{}/{} batch-norm {}, seed {}, {} epochs{}",
        m.stem,
        m.width,
        m.reduce,
        m.head_blocks,
        m.head_width,
        m.head_out,
        m.batch_norm,
        cfg.seed,
        history.len(),
        best.map(|b| format!(
            ", best validation loss {:.4} at epoch {}",
            b.val_loss, b.epoch
        ))
        .unwrap_or_default()
    );
    let contract = contract_for(&model, version, describe_dataset(&cfg.dataset));
    let bytes = export_bytes(&model, &contract)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    write_atomic(out, &bytes)?;
    Ok(contract)
}

/// Names of the inputs of a model (for callers that feed it).
pub fn input_names(multi_input: bool) -> &'static [&'static str] {
    if multi_input {
        &INPUT_NAMES
    } else {
        &INPUT_NAMES[..1]
    }
}
