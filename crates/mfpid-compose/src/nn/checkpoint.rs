//! Shipped networks: which file holds which network, fresh (seeded) initialisation, and safetensors
//! load/save with errors that name the file and the command that rebuilds it.

use super::*;
use crate::error::{ComposeError, Result};
use crate::idx::PIXELS;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

/// Which shipped network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// [`ScoreNet`] with the default shape.
    Score,
    /// [`MlpClassifier`] (the objective classifier).
    Objective,
    /// [`CnnClassifier`] (the evaluation classifier).
    Eval,
}

impl ModelKind {
    /// Name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Score => "score",
            ModelKind::Objective => "objective",
            ModelKind::Eval => "eval",
        }
    }

    /// Shipped file name.
    pub fn file_name(self) -> &'static str {
        match self {
            ModelKind::Score => "score_mlp.safetensors",
            ModelKind::Objective => "objective_mlp.safetensors",
            ModelKind::Eval => "eval_cnn.safetensors",
        }
    }

    /// Command that regenerates the shipped file.
    pub fn train_command(self) -> String {
        format!("cargo xtask train {}", self.name())
    }

    /// Default path in the repository (`crates/mfpid-compose/weights/`).
    pub fn default_path(self) -> PathBuf {
        weights_dir().join(self.file_name())
    }
}

/// Directory of the shipped weights.
pub fn weights_dir() -> PathBuf {
    crate::workspace_root()
        .join("crates")
        .join("mfpid-compose")
        .join("weights")
}

/// A network together with the variables that hold its parameters.
pub struct Loaded<M> {
    /// The network.
    pub model: M,
    /// Its parameters.
    pub vars: VarMap,
}

impl<M> std::fmt::Debug for Loaded<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Loaded {{ {} variables }}", self.vars.all_vars().len())
    }
}

fn build<M>(
    kind: ModelKind,
    seed: u64,
    f: impl FnOnce(VarBuilder) -> candle_core::Result<M>,
) -> Result<Loaded<M>> {
    let vars = VarMap::new();
    let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
    let _ = kind;
    let model = f(vb)?;
    reseed(&vars, seed)?;
    Ok(Loaded { model, vars })
}

/// Re-initialise every parameter from a seeded stream (candle's CPU generator cannot be seeded):
/// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` for `<layer>.weight` and `<layer>.bias`, with `fan_in` the
/// weight's input size (the PyTorch default for linear and convolution layers).
pub fn reseed(vars: &VarMap, seed: u64) -> Result<()> {
    let data = vars
        .data()
        .lock()
        .map_err(|_| ComposeError::NonFinite("poisoned VarMap lock".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for name in names {
        let layer = name.rsplit_once('.').map(|(l, _)| l).unwrap_or(name);
        let fan_in = data
            .get(&format!("{layer}.weight"))
            .map(|w| w.as_tensor().dims().iter().skip(1).product::<usize>())
            .unwrap_or(1)
            .max(1);
        let bound = 1.0 / (fan_in as f32).sqrt();
        let var = &data[name];
        let shape = var.as_tensor().shape().clone();
        let vals: Vec<f32> = (0..shape.elem_count())
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        var.set(&Tensor::from_vec(vals, shape, &Device::Cpu)?)?;
    }
    Ok(())
}

/// Freshly initialised score network of shape `cfg` (seeded); for the PCA variant the buffers are
/// set from `pca` (which must have `k = cfg.latent`); `None` sets a placeholder (the first `k` pixel
/// axes, zero mean, unit variances) for a checkpoint to overwrite.
pub fn fresh_score(seed: u64, cfg: ScoreNetConfig, pca: Option<&Pca>) -> Result<Loaded<ScoreNet>> {
    let l = build(ModelKind::Score, seed, |vb| ScoreNet::new(vb, cfg))?;
    let k = cfg.latent;
    let placeholder;
    let pca = match pca {
        Some(p) => Some(p),
        None if k > 0 => {
            let mut basis = vec![0.0f32; PIXELS * k];
            (0..k.min(PIXELS)).for_each(|c| basis[c * k + c] = 1.0);
            placeholder = Pca {
                mean: vec![0.0; PIXELS],
                basis,
                var: vec![1.0; k],
            };
            Some(&placeholder)
        }
        None => None,
    };
    if let Some(p) = pca {
        if p.k() != cfg.latent {
            return Err(crate::error::invalid(
                "pca.k",
                p.k(),
                "must equal the network's latent dimension",
            ));
        }
        let data = l
            .vars
            .data()
            .lock()
            .map_err(|_| ComposeError::NonFinite("poisoned VarMap lock".into()))?;
        let set = |name: &str, v: &[f32], shape: (usize, usize)| -> Result<()> {
            let var = data
                .get(name)
                .ok_or_else(|| crate::error::invalid("pca buffer", name, "missing"))?;
            var.set(&Tensor::from_slice(v, shape, &Device::Cpu)?)?;
            Ok(())
        };
        set("pca.basis", &p.basis, (PIXELS, p.k()))?;
        set("pca.mean", &p.mean, (1, PIXELS))?;
        set("pca.var", &p.var, (1, p.k()))?;
    }
    Ok(l)
}

/// The PCA buffers of a score network's variables (`None` for the pixel variant).
pub fn pca_of(vars: &VarMap) -> Result<Option<Pca>> {
    let data = vars
        .data()
        .lock()
        .map_err(|_| ComposeError::NonFinite("poisoned VarMap lock".into()))?;
    let get = |n: &str| -> Result<Option<Vec<f32>>> {
        data.get(n)
            .map(|v| Ok(v.as_tensor().flatten_all()?.to_vec1::<f32>()?))
            .transpose()
    };
    Ok(
        match (get("pca.basis")?, get("pca.mean")?, get("pca.var")?) {
            (Some(basis), Some(mean), Some(var)) => Some(Pca { mean, basis, var }),
            _ => None,
        },
    )
}

/// The variables an optimiser updates (everything but the `pca.*` buffers).
pub fn trainable_vars(vars: &VarMap) -> Result<Vec<candle_core::Var>> {
    let data = vars
        .data()
        .lock()
        .map_err(|_| ComposeError::NonFinite("poisoned VarMap lock".into()))?;
    let mut names: Vec<&String> = data.keys().filter(|n| !n.starts_with("pca.")).collect();
    names.sort();
    Ok(names.into_iter().map(|n| data[n].clone()).collect())
}

/// Freshly initialised objective classifier (seeded).
pub fn fresh_objective(seed: u64) -> Result<Loaded<MlpClassifier>> {
    build(ModelKind::Objective, seed, MlpClassifier::new)
}

/// Freshly initialised evaluation classifier (seeded).
pub fn fresh_eval(seed: u64) -> Result<Loaded<CnnClassifier>> {
    build(ModelKind::Eval, seed, CnnClassifier::new)
}

/// Load `path` into `loaded`'s variables; a missing file is an [`ComposeError::Io`], an unreadable,
/// truncated or incompatible one a [`ComposeError::Weights`], both naming the file and
/// `kind`'s training command.
pub fn load_into<M>(loaded: &mut Loaded<M>, kind: ModelKind, path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|source| ComposeError::Io {
        path: path.to_path_buf(),
        source,
        hint: kind.train_command(),
    })?;
    load_bytes_into(loaded, kind, path, &bytes)
}

/// Load the safetensors `bytes` (the contents of `path`, which only names the file in errors) into
/// `loaded`'s variables: every variable must be present with its shape and dtype, and every
/// parameter finite; anything else is a [`ComposeError::Weights`] naming `kind`'s training command.
pub fn load_bytes_into<M>(
    loaded: &mut Loaded<M>,
    kind: ModelKind,
    path: &Path,
    bytes: &[u8],
) -> Result<()> {
    let bad = |detail: String| ComposeError::Weights {
        path: path.to_path_buf(),
        detail,
        hint: kind.train_command(),
    };
    let file =
        candle_core::safetensors::SliceSafetensors::new(bytes).map_err(|e| bad(e.to_string()))?;
    let data = loaded
        .vars
        .data()
        .lock()
        .map_err(|_| ComposeError::NonFinite("poisoned VarMap lock".into()))?;
    for (name, var) in data.iter() {
        let t = file
            .load(name, &Device::Cpu)
            .map_err(|e| bad(format!("tensor {name}: {e}")))?;
        var.set(&t)
            .map_err(|e| bad(format!("tensor {name}: {e}")))?;
        // reject files with non-finite parameters (e.g. a diverged training run)
        let s = var.as_tensor().abs()?.sum_all()?.to_scalar::<f32>()?;
        if !s.is_finite() {
            return Err(bad(format!("tensor {name}: non-finite parameters")));
        }
    }
    Ok(())
}

/// The shipped score network (or the one at `path`).
pub fn load_score(path: Option<&Path>) -> Result<Loaded<ScoreNet>> {
    let mut l = fresh_score(0, ScoreNetConfig::default(), None)?;
    load_into(
        &mut l,
        ModelKind::Score,
        &path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| ModelKind::Score.default_path()),
    )?;
    Ok(l)
}

/// The shipped objective classifier (or the one at `path`).
pub fn load_objective(path: Option<&Path>) -> Result<Loaded<MlpClassifier>> {
    let mut l = fresh_objective(0)?;
    load_into(
        &mut l,
        ModelKind::Objective,
        &path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| ModelKind::Objective.default_path()),
    )?;
    Ok(l)
}

/// The shipped evaluation classifier (or the one at `path`).
pub fn load_eval(path: Option<&Path>) -> Result<Loaded<CnnClassifier>> {
    let mut l = fresh_eval(0)?;
    load_into(
        &mut l,
        ModelKind::Eval,
        &path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| ModelKind::Eval.default_path()),
    )?;
    Ok(l)
}

/// Save to `path` atomically (temporary file, then rename).
pub fn save<M>(loaded: &Loaded<M>, path: &Path) -> Result<()> {
    write_atomic(path, |tmp| Ok(loaded.vars.save(tmp)?))
}

/// Write a safetensors file at `path` atomically: create its folder, let `write` fill a temporary
/// file beside it, then rename it into place.
pub fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| ComposeError::Io {
            path: dir.to_path_buf(),
            source,
            hint: String::new(),
        })?;
    }
    let tmp = path.with_extension("safetensors.tmp");
    write(&tmp)?;
    std::fs::rename(&tmp, path).map_err(|source| ComposeError::Io {
        path: path.to_path_buf(),
        source,
        hint: String::new(),
    })
}

#[cfg(test)]
mod loader_tests {
    use super::*;
    use candle_core::Module;
    use candle_nn::Linear;

    /// A 2 -> 3 linear layer (`fc.weight` 3 x 2, `fc.bias` 3) and safetensors bytes of `tensors`.
    fn tiny_layer() -> Loaded<Linear> {
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
        let model = candle_nn::linear(2, 3, vb.pp("fc")).unwrap();
        Loaded { model, vars }
    }

    fn safetensors_bytes(tensors: &[(&str, Tensor)]) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!("mfpid-compose-st-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("t{}.safetensors", tensors.len()));
        let map: std::collections::HashMap<String, Tensor> = tensors
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect();
        candle_core::safetensors::save(&map, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        bytes
    }

    #[test]
    fn weights_from_bytes_load_or_name_what_is_wrong() {
        let dev = Device::Cpu;
        let w = Tensor::new(&[[1f32, 2.], [3., 4.], [5., 6.]], &dev).unwrap();
        let b = Tensor::new(&[0.5f32, -0.5, 0.0], &dev).unwrap();
        let path = Path::new("tiny.safetensors");
        let load = |bytes: &[u8]| {
            let mut l = tiny_layer();
            load_bytes_into(&mut l, ModelKind::Objective, path, bytes).map(|()| l)
        };
        let detail = |bytes: &[u8]| match load(bytes) {
            Err(ComposeError::Weights {
                path: p,
                detail,
                hint,
            }) => {
                assert_eq!(p, path);
                assert_eq!(hint, ModelKind::Objective.train_command());
                detail
            }
            other => panic!("expected a Weights error, got {other:?}"),
        };
        // a valid file sets every variable
        let ok = safetensors_bytes(&[("fc.weight", w.clone()), ("fc.bias", b.clone())]);
        let l = load(&ok).unwrap();
        let out = l
            .model
            .forward(&Tensor::new(&[[1f32, 1.]], &dev).unwrap())
            .unwrap();
        assert_eq!(out.to_vec2::<f32>().unwrap(), vec![vec![3.5f32, 6.5, 11.0]]);
        // missing tensor, wrong shape, wrong dtype, non-finite value, truncated file
        assert!(detail(&safetensors_bytes(&[("fc.weight", w.clone())])).contains("fc.bias"));
        let wt = w.t().unwrap().contiguous().unwrap();
        let e = detail(&safetensors_bytes(&[
            ("fc.weight", wt),
            ("fc.bias", b.clone()),
        ]));
        assert!(e.contains("fc.weight"), "{e}");
        let w64 = w.to_dtype(DType::F64).unwrap();
        let e = detail(&safetensors_bytes(&[
            ("fc.weight", w64),
            ("fc.bias", b.clone()),
        ]));
        assert!(e.contains("fc.weight"), "{e}");
        let nan = Tensor::new(&[f32::NAN, 0., 0.], &dev).unwrap();
        let e = detail(&safetensors_bytes(&[
            ("fc.weight", w.clone()),
            ("fc.bias", nan),
        ]));
        assert!(e.contains("fc.bias") && e.contains("non-finite"), "{e}");
        assert!(!detail(&ok[..ok.len() - 1]).is_empty());
        assert!(!detail(&ok[..4]).is_empty());
    }
}
