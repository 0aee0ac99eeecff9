//! Finding a Kindred model, checking its contract, and turning feature windows into
//! embeddings with ONNX Runtime.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use ort::ep::{self, ExecutionProvider};
use ort::session::{Session, SessionInputValue};
use ort::value::TensorRef;

use super::runtime;
use crate::contract::{CENS_ROWS, METADATA_KEY, ModelContract};
use crate::features::Features;
use crate::{Error, Result};

/// File name of the shipped default model.
pub const DEFAULT_MODEL: &str = "kindred-6d.onnx";
/// Environment variable naming a model file.
pub const MODEL_ENV_VAR: &str = "KINDRED_MODEL";

/// The repository's `models/` folder, where the shipped default lives.
pub fn repository_models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("models")
}

/// The model to use: `explicit` (from `--model`), else `KINDRED_MODEL`, else the default model
/// next to the binary named by [`runtime::set_binary_dir`] (a plugin's own library), else next
/// to the executable (or in that folder's `models/`), else the repository's `models/`.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    if let Some(path) = std::env::var_os(MODEL_ENV_VAR) {
        return Ok(PathBuf::from(path));
    }
    let mut candidates = Vec::new();
    if let Some(dir) = runtime::binary_dir() {
        candidates.push(dir.join(DEFAULT_MODEL));
        candidates.push(dir.join("models").join(DEFAULT_MODEL));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        candidates.push(dir.join(DEFAULT_MODEL));
        candidates.push(dir.join("models").join(DEFAULT_MODEL));
    }
    candidates.push(repository_models().join(DEFAULT_MODEL));
    // The plugin's folder is the executable's when the standalone runs: look there once.
    let mut seen = Vec::new();
    candidates.retain(|p| {
        let new = !seen.contains(p);
        seen.push(p.clone());
        new
    });
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    Err(Error::Runtime(format!(
        "no model given and the default model {DEFAULT_MODEL} was not found (looked in {}); \
         pass --model FILE.onnx or set {MODEL_ENV_VAR}",
        looked.join(", ")
    )))
}

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// CUDA when this ONNX Runtime has it and a GPU answers, otherwise the CPU.
    #[default]
    Auto,
    Cpu,
    /// CUDA or an error.
    Cuda,
}

impl std::str::FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            other => Err(format!(
                "unknown device `{other}` (expected auto, cpu or cuda)"
            )),
        }
    }
}

/// How to run a model.
#[derive(Debug, Clone, Copy)]
pub struct EmbedderOptions {
    pub device: Device,
    /// Intra-op threads of this session (1 when several sessions run side by side).
    pub threads: usize,
}

impl Default for EmbedderOptions {
    fn default() -> Self {
        Self {
            device: Device::Auto,
            threads: 1,
        }
    }
}

/// A loaded model: its contract and an ONNX Runtime session, plus reusable input buffers.
pub struct Embedder {
    path: PathBuf,
    contract: ModelContract,
    session: Session,
    multi_input: bool,
    on_gpu: bool,
    /// Why `auto` fell back to the CPU, if it did.
    fallback: Option<String>,
    mel: Vec<f32>,
    cens: Vec<f32>,
    tempogram: Vec<f32>,
}

fn model_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// The CUDA execution provider. cuDNN picks convolution algorithms by its heuristic rather
/// than ONNX Runtime's default exhaustive benchmark, which reruns for every new batch shape.
fn cuda() -> ep::CUDA {
    ep::CUDA::default().with_conv_algorithm_search(ep::cuda::ConvAlgorithmSearch::Heuristic)
}

impl Embedder {
    /// Loads the model at `path`, reads and checks its contract, and starts a session.
    pub fn load(path: &Path, options: &EmbedderOptions) -> Result<Self> {
        let runtime = runtime::load()?;
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let builder = Session::builder(runtime.environment())
            .and_then(|b| {
                b.with_intra_threads(options.threads.max(1))
                    .map_err(Into::into)
            })
            .map_err(|e| model_error(path, format!("cannot configure ONNX Runtime: {e}")))?;
        let (mut builder, on_gpu, fallback) = match options.device {
            Device::Cpu => (builder, false, None),
            Device::Cuda => {
                let mut builder = builder;
                cuda().register(&mut builder)
                    .map_err(|e| Error::Runtime(format!("CUDA was requested but is not usable: {e} (install onnxruntime-gpu and point ORT_DYLIB_PATH at its library)")))?;
                (builder, true, None)
            }
            Device::Auto => {
                let mut builder = builder;
                match cuda().register(&mut builder) {
                    Ok(()) => (builder, true, None),
                    Err(e) => (
                        builder,
                        false,
                        Some(format!("CUDA unavailable ({e}); running on the CPU")),
                    ),
                }
            }
        };
        let session = builder
            .commit_from_memory(&bytes)
            .map_err(|e| model_error(path, format!("not a model ONNX Runtime can load: {e}")))?;
        let json = session
            .metadata()
            .ok()
            .and_then(|m| m.custom(METADATA_KEY))
            .ok_or_else(|| {
                model_error(
                    path,
                    format!("has no `{METADATA_KEY}` metadata: not a Kindred model (export it with `kindred-train export`)"),
                )
            })?;
        let contract = ModelContract::from_json(&json).map_err(|e| model_error(path, e))?;
        check_session(&session, &contract).map_err(|e| model_error(path, e))?;
        let frames = contract.front_end.frames();
        Ok(Self {
            path: path.to_path_buf(),
            multi_input: contract.inputs.len() == 3,
            mel: Vec::with_capacity(contract.front_end.n_mels * frames),
            cens: Vec::new(),
            tempogram: Vec::new(),
            contract,
            session,
            on_gpu,
            fallback,
        })
    }

    /// The model's contract.
    pub fn contract(&self) -> &ModelContract {
        &self.contract
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the session runs on CUDA.
    pub fn on_gpu(&self) -> bool {
        self.on_gpu
    }

    /// Why `--device auto` ended on the CPU, for one log line.
    pub fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// Embeddings of `windows`, one row each, `[windows.len(), embedding_size]`.
    pub fn embed(&mut self, windows: &[&Features]) -> Result<Array2<f32>> {
        let size = self.contract.layout.embedding_size();
        if windows.is_empty() {
            return Ok(Array2::zeros((0, size)));
        }
        let fe = &self.contract.front_end;
        let (frames, n_mels, lags) = (fe.frames(), fe.n_mels, fe.tempogram_win);
        for f in windows {
            if f.mel.dim() != (n_mels, frames) || f.tempogram.dim() != (lags, frames) {
                return Err(Error::Invalid(format!(
                    "features shaped mel {:?} / tempogram {:?}, the model expects ({n_mels}, {frames}) / ({lags}, {frames})",
                    f.mel.dim(),
                    f.tempogram.dim()
                )));
            }
        }
        let batch = windows.len();
        self.mel.clear();
        windows.iter().for_each(|f| self.mel.extend(f.mel.iter()));
        if self.multi_input {
            self.cens.clear();
            self.tempogram.clear();
            for f in windows {
                self.cens.extend(f.cens.iter());
                self.cens
                    .resize(self.cens.len() + (CENS_ROWS - f.cens.nrows()) * frames, 0.0);
                self.tempogram.extend(f.tempogram.iter());
            }
        }
        fn tensor(data: &[f32], shape: [usize; 4]) -> ort::Result<TensorRef<'_, f32>> {
            TensorRef::from_array_view((shape, data))
        }
        let run_error = |e: ort::Error| model_error(&self.path, format!("inference failed: {e}"));
        let mut inputs: Vec<(Cow<str>, SessionInputValue)> = vec![(
            Cow::Borrowed("mel"),
            tensor(&self.mel, [batch, 1, n_mels, frames])
                .map_err(run_error)?
                .into(),
        )];
        if self.multi_input {
            inputs.push((
                Cow::Borrowed("cens"),
                tensor(&self.cens, [batch, 1, CENS_ROWS, frames])
                    .map_err(run_error)?
                    .into(),
            ));
            inputs.push((
                Cow::Borrowed("tempogram"),
                tensor(&self.tempogram, [batch, 1, lags, frames])
                    .map_err(run_error)?
                    .into(),
            ));
        }
        let outputs = self
            .session
            .run(inputs)
            .map_err(|e| model_error(&self.path, format!("inference failed: {e}")))?;
        let output = outputs.get(&self.contract.output).ok_or_else(|| {
            model_error(
                &self.path,
                format!("produced no output `{}`", self.contract.output),
            )
        })?;
        let (shape, data) = output
            .try_extract_tensor::<f32>()
            .map_err(|e| model_error(&self.path, format!("output is not an f32 tensor: {e}")))?;
        if shape.len() != 2 || shape[0] as usize != batch || shape[1] as usize != size {
            return Err(model_error(
                &self.path,
                format!("output shaped {shape:?}, the contract promises [{batch}, {size}]"),
            ));
        }
        Array2::from_shape_vec((batch, size), data.to_vec())
            .map_err(|e| Error::Invalid(e.to_string()))
    }
}

/// The session's inputs and output must be the ones the contract names, with its shapes.
fn check_session(session: &Session, contract: &ModelContract) -> std::result::Result<(), String> {
    let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
    let expected: Vec<&str> = contract.inputs.iter().map(|i| i.name.as_str()).collect();
    if names != expected {
        return Err(format!(
            "graph inputs are {names:?}, its contract says {expected:?}"
        ));
    }
    for (outlet, spec) in session.inputs().iter().zip(&contract.inputs) {
        let Some(shape) = outlet.dtype().tensor_shape() else {
            return Err(format!("input `{}` is not a tensor", spec.name));
        };
        let dims: Vec<i64> = shape.iter().copied().collect();
        let fixed: Vec<i64> = spec.shape.iter().map(|&d| d as i64).collect();
        if dims.len() != 4 || dims[1..] != fixed[..] {
            return Err(format!(
                "input `{}` is shaped {dims:?} in the graph, its contract says [batch, {}, {}, {}]",
                spec.name, spec.shape[0], spec.shape[1], spec.shape[2]
            ));
        }
    }
    let Some(output) = session
        .outputs()
        .iter()
        .find(|o| o.name() == contract.output)
    else {
        return Err(format!("graph has no output `{}`", contract.output));
    };
    let size = contract.layout.embedding_size() as i64;
    if let Some(&width) = output.dtype().tensor_shape().and_then(|s| s.last())
        && width >= 0
        && width != size
    {
        return Err(format!(
            "output `{}` has {width} values per window, its contract's layout has {size}",
            contract.output
        ));
    }
    Ok(())
}
