//! CMAD control networks on MNIST and their files.
//!
//! Agent `i`'s control is `u_i = net_i([x_i, Y_t, grad_{xhat0^i} Phi(Yhat0) (detached), time features])`,
//! two SiLU hidden layers, zero-initialised output layer (so `u = 0` before training). Pixel variant
//! (`latent = 0`): the 784-pixel vectors go in and 784 pixels come out. PCA variant (`latent = k`):
//! the three vectors are projected on the first `k` principal directions `U` of the score network
//! (`U^T x`, ...) and the control is `u = U o` for the network's `k` outputs `o` (a control in the
//! data subspace, ~8x fewer parameters).
//!
//! A controls file (safetensors) holds every agent's parameters (`agent{i}.*`), the Adam moments
//! (`adam{i}.m`, `adam{i}.v`, f64) and a JSON record (`meta`, bytes) of the settings and progress,
//! so that training resumes from it and evaluation can check that it is finished.

use crate::adam::Adam;
use crate::cmad::CmadConfig;
use crate::error::{invalid, ComposeError, Result};
use crate::idx::PIXELS;
use crate::nn::{time_features, write_atomic, Pca};
use crate::weights::ObjectiveWeights;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Shape of a control network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlConfig {
    /// Hidden width (two hidden layers).
    pub hidden: usize,
    /// Frequencies of the time features.
    pub n_freq: usize,
    /// 0: pixel inputs and outputs; `k > 0`: the first `k` principal directions of the score network.
    pub latent: usize,
}

impl ControlConfig {
    /// Pixel-space network of width `hidden`.
    pub fn pixel(hidden: usize) -> Self {
        Self {
            hidden,
            n_freq: 16,
            latent: 0,
        }
    }

    /// PCA-subspace network of width `hidden` on `k` principal directions.
    pub fn pca(hidden: usize, k: usize) -> Self {
        Self {
            hidden,
            n_freq: 16,
            latent: k,
        }
    }
}

/// One agent's control network (see the module documentation).
pub struct ControlNet {
    l1: Linear,
    l2: Linear,
    l3: Linear,
    n_freq: usize,
    /// `U` `(784, k)` of the PCA variant.
    basis: Option<Tensor>,
}

impl ControlNet {
    /// Build (parameters registered in `vb`; the output layer starts at zero; the PCA variant's
    /// basis is the buffer `pca.basis`, set by [`Controls::new`]).
    pub fn new(vb: VarBuilder, cfg: ControlConfig) -> candle_core::Result<Self> {
        let io = if cfg.latent > 0 { cfg.latent } else { PIXELS };
        let w =
            vb.pp("l3")
                .get_with_hints((io, cfg.hidden), "weight", candle_nn::Init::Const(0.0))?;
        let b = vb
            .pp("l3")
            .get_with_hints(io, "bias", candle_nn::Init::Const(0.0))?;
        let basis = if cfg.latent > 0 {
            Some(vb.pp("pca").get_with_hints(
                (PIXELS, cfg.latent),
                "basis",
                candle_nn::Init::Const(0.0),
            )?)
        } else {
            None
        };
        Ok(Self {
            l1: candle_nn::linear(3 * io + 2 * cfg.n_freq, cfg.hidden, vb.pp("l1"))?,
            l2: candle_nn::linear(cfg.hidden, cfg.hidden, vb.pp("l2"))?,
            l3: Linear::new(w, Some(b)),
            n_freq: cfg.n_freq,
            basis,
        })
    }

    /// `u` `(B, 784)` from `x`, `y`, `g` (each `(B, 784)`) and `t` `(B, 1)`.
    pub fn forward(
        &self,
        x: &Tensor,
        y: &Tensor,
        g: &Tensor,
        t: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let tf = time_features(t, self.n_freq)?;
        match &self.basis {
            None => {
                let z = Tensor::cat(&[x, y, g, &tf], 1)?;
                self.l3
                    .forward(&self.l2.forward(&self.l1.forward(&z)?.silu()?)?.silu()?)
            }
            Some(u) => {
                // project on U, act in the subspace, map back: u = U o
                let z = Tensor::cat(&[&x.matmul(u)?, &y.matmul(u)?, &g.matmul(u)?, &tf], 1)?;
                let o = self
                    .l3
                    .forward(&self.l2.forward(&self.l1.forward(&z)?.silu()?)?.silu()?)?;
                o.matmul(&u.t()?)
            }
        }
    }
}

/// The agents' controls.
pub struct Controls {
    /// One network per agent.
    pub nets: Vec<ControlNet>,
    /// Their parameters, one map per agent (the PCA basis is the untrained buffer `pca.basis`).
    pub vars: Vec<VarMap>,
    /// Their shape.
    pub cfg: ControlConfig,
}

fn lock_err<T>(_: T) -> ComposeError {
    ComposeError::NonFinite("poisoned VarMap lock".into())
}

impl Controls {
    /// Fresh zero-output controls for `n` agents (seeded hidden layers); the PCA variant takes its
    /// basis from `pca` (the score network's, see [`crate::nn::pca_of`]).
    pub fn new(n: usize, cfg: ControlConfig, seed: u64, pca: Option<&Pca>) -> Result<Self> {
        if cfg.hidden == 0 {
            return Err(invalid("hidden", cfg.hidden, "must be >= 1"));
        }
        let basis = match (cfg.latent, pca) {
            (0, _) => None,
            (k, Some(p)) if k <= p.k() => {
                // first k columns of the row-major 784 x K basis
                let big = p.k();
                let v: Vec<f32> = (0..PIXELS)
                    .flat_map(|i| p.basis[i * big..i * big + k].iter().copied())
                    .collect();
                Some(Tensor::from_vec(v, (PIXELS, k), &Device::Cpu)?)
            }
            (k, Some(p)) => {
                return Err(invalid(
                    "control latent",
                    k,
                    if p.k() == 0 {
                        "the score network has no PCA basis"
                    } else {
                        "must be <= the score network's PCA dimension"
                    },
                ))
            }
            (k, None) => {
                return Err(invalid(
                    "control latent",
                    k,
                    "the PCA variant needs the score network's PCA basis",
                ))
            }
        };
        let mut nets = Vec::new();
        let mut vars = Vec::new();
        for i in 0..n {
            let vm = VarMap::new();
            nets.push(ControlNet::new(
                VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
                cfg,
            )?);
            crate::nn::reseed(&vm, seed + i as u64)?;
            for (name, v) in vm.data().lock().map_err(lock_err)?.iter() {
                if name.starts_with("l3.") {
                    v.set(&v.as_tensor().zeros_like()?)?; // u = 0 before training
                }
                if let (true, Some(b)) = (name == "pca.basis", &basis) {
                    v.set(b)?;
                }
            }
            vars.push(vm);
        }
        Ok(Self { nets, vars, cfg })
    }

    /// Number of trained parameters per agent.
    pub fn n_params(&self) -> Result<usize> {
        Ok(crate::nn::trainable_vars(&self.vars[0])?
            .iter()
            .map(|v| v.as_tensor().elem_count())
            .sum())
    }
}

/// What a controls file records besides the parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlRecord {
    /// Target digit.
    pub digit: usize,
    /// Number of agents.
    pub n_agents: usize,
    /// Objective weights the controls were trained for.
    pub weights: ObjectiveWeights,
    /// Training settings.
    pub cmad: CmadConfig,
    /// Network shape.
    pub control: ControlConfig,
    /// BPTT grid steps.
    pub train_steps: usize,
    /// Optimiser steps done.
    pub done: usize,
    /// Optimiser steps of the full run.
    pub total: usize,
    /// Batch-mean `J` of every step done.
    pub history: Vec<f64>,
    /// Training wall time so far, seconds.
    pub wall_s: f64,
    /// Adam step counts, one per agent.
    pub adam_steps: Vec<u64>,
}

impl ControlRecord {
    /// True when every optimiser step of the run is done.
    pub fn finished(&self) -> bool {
        self.done >= self.total
    }
}

/// The file name of the controls for `(digit, n_agents, method)`, e.g. `controls_d3_n2_cmad_joint.safetensors`.
pub fn controls_file_name(digit: usize, n_agents: usize, method: &str) -> String {
    format!("controls_d{digit}_n{n_agents}_{method}.safetensors")
}

/// The command that (re)trains the controls of `(digit, n_agents, method)`.
pub fn controls_train_command(digit: usize, n_agents: usize, method: &str) -> String {
    let variant = method.trim_start_matches("cmad_");
    format!("cargo xtask train controls --digit {digit} --agents {n_agents} --variant {variant}")
}

/// Write controls, optimiser states and record to `path` atomically (temporary file, then rename).
pub fn save_controls(
    path: &Path,
    controls: &Controls,
    opts: &[Adam],
    record: &ControlRecord,
) -> Result<()> {
    let mut map: HashMap<String, Tensor> = HashMap::new();
    for (i, vm) in controls.vars.iter().enumerate() {
        for (name, v) in vm.data().lock().map_err(lock_err)?.iter() {
            map.insert(format!("agent{i}.{name}"), v.as_tensor().clone());
        }
    }
    for (i, o) in opts.iter().enumerate() {
        let (m, v) = o.moments();
        map.insert(
            format!("adam{i}.m"),
            Tensor::from_slice(m, m.len(), &Device::Cpu)?,
        );
        map.insert(
            format!("adam{i}.v"),
            Tensor::from_slice(v, v.len(), &Device::Cpu)?,
        );
    }
    let meta = serde_json::to_vec(record).map_err(|e| invalid("record", e, "not serialisable"))?;
    let len = meta.len();
    map.insert("meta".into(), Tensor::from_vec(meta, len, &Device::Cpu)?);
    write_atomic(path, |tmp| Ok(candle_core::safetensors::save(&map, tmp)?))
}

/// Controls, optimiser states (moments; learning rate from the record) and record read from `path`.
/// A missing file is a [`ComposeError::Io`], an unreadable or inconsistent one a
/// [`ComposeError::Weights`]; both name the file and `hint` (the command that rebuilds it).
pub fn load_controls(path: &Path, hint: &str) -> Result<(Controls, Vec<Adam>, ControlRecord)> {
    let bad = |detail: String| ComposeError::Weights {
        path: path.to_path_buf(),
        detail,
        hint: hint.to_string(),
    };
    if let Err(source) = std::fs::metadata(path) {
        return Err(ComposeError::Io {
            path: path.to_path_buf(),
            source,
            hint: hint.to_string(),
        });
    }
    let map = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| bad(e.to_string()))?;
    let meta = map
        .get("meta")
        .ok_or_else(|| bad("no `meta` record".into()))?
        .to_vec1::<u8>()
        .map_err(|e| bad(e.to_string()))?;
    let record: ControlRecord =
        serde_json::from_slice(&meta).map_err(|e| bad(format!("record: {e}")))?;
    let controls = Controls::new(record.n_agents, record.control, 0, None).or_else(|_| {
        // the PCA variant: a placeholder basis, overwritten from the file below
        let k = record.control.latent;
        let mut basis = vec![0.0f32; PIXELS * k];
        (0..k.min(PIXELS)).for_each(|c| basis[c * k + c] = 1.0);
        let p = Pca {
            mean: vec![0.0; PIXELS],
            basis,
            var: vec![1.0; k],
        };
        Controls::new(record.n_agents, record.control, 0, Some(&p))
    })?;
    for (i, vm) in controls.vars.iter().enumerate() {
        for (name, v) in vm.data().lock().map_err(lock_err)?.iter() {
            let t = map
                .get(&format!("agent{i}.{name}"))
                .ok_or_else(|| bad(format!("missing tensor agent{i}.{name}")))?;
            if t.dims() != v.as_tensor().dims() {
                return Err(bad(format!(
                    "agent{i}.{name} has shape {:?}, expected {:?}",
                    t.dims(),
                    v.as_tensor().dims()
                )));
            }
            let s = t
                .abs()?
                .sum_all()?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()?;
            if !s.is_finite() {
                return Err(bad(format!("agent{i}.{name}: non-finite parameters")));
            }
            v.set(t)?;
        }
    }
    let mut opts = Vec::with_capacity(record.n_agents);
    for i in 0..record.n_agents {
        let get = |k: &str| -> Result<Vec<f64>> {
            map.get(&format!("adam{i}.{k}"))
                .ok_or_else(|| bad(format!("missing adam{i}.{k}")))?
                .to_vec1::<f64>()
                .map_err(|e| bad(e.to_string()))
        };
        let n = controls.n_params()?;
        let t = record.adam_steps.get(i).copied().unwrap_or(0);
        opts.push(
            Adam::new(n, record.cmad.lr)
                .with_state(get("m")?, get("v")?, t)
                .map_err(|e| bad(e.to_string()))?,
        );
    }
    Ok((controls, opts, record))
}

/// Default directory of the shipped control networks (`crates/mfpid-compose/weights/controls`).
pub fn controls_dir() -> PathBuf {
    crate::nn::weights_dir().join("controls")
}
