//! The one CMAD training configuration, shared by the exact reference ([`crate::exact`]) and the
//! MNIST composition ([`crate::compose`]).

use crate::error::{invalid, Result};
use serde::{Deserialize, Serialize};

/// How the agents' control networks are optimised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "variant", rename_all = "snake_case")]
pub enum CmadVariant {
    /// CMAD-joint: every agent's network takes a step from one back-propagation through all agents.
    Joint,
    /// CMAD-fictitious (iterative best response): in each round every agent in turn takes `inner`
    /// steps while the other agents' trajectories are simulated without gradient.
    Fictitious {
        /// Optimiser steps per agent turn (reference 5).
        inner: usize,
    },
}

/// Settings of CMAD training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CmadConfig {
    /// Trajectories per optimiser step (reference: 16 for N = 2, 8 for N = 3).
    pub batch: usize,
    /// Joint: optimiser steps (reference 1000). Fictitious: rounds (reference 300), each of
    /// `N * inner` steps.
    pub iters: usize,
    /// Adam learning rate (reference 1e-4).
    pub lr: f64,
    /// Gradient-norm clip, applied to each agent's gradient separately (reference 1.0).
    pub clip: f64,
    /// Hidden width of the control networks.
    pub hidden: usize,
    /// Joint or fictitious.
    pub variant: CmadVariant,
    /// Seed of initialisation and training noise.
    pub seed: u64,
}

impl CmadConfig {
    /// Optimiser steps in all for `n` agents.
    pub fn total_steps(&self, n: usize) -> usize {
        match self.variant {
            CmadVariant::Joint => self.iters,
            CmadVariant::Fictitious { inner } => self.iters * n * inner,
        }
    }

    /// The same settings as CMAD-fictitious with `inner` steps per agent turn and `rounds` rounds.
    pub fn fictitious(self, rounds: usize, inner: usize) -> Self {
        Self {
            iters: rounds,
            variant: CmadVariant::Fictitious { inner },
            ..self
        }
    }

    /// Reject settings that cannot train (each error names the field).
    pub fn validate(&self) -> Result<()> {
        if self.batch == 0 {
            return Err(invalid("batch", self.batch, "must be >= 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(invalid("lr", self.lr, "must be finite and > 0"));
        }
        if !(self.clip.is_finite() && self.clip > 0.0) {
            return Err(invalid("clip", self.clip, "must be finite and > 0"));
        }
        if self.hidden == 0 {
            return Err(invalid("hidden", self.hidden, "must be >= 1"));
        }
        if self.variant == (CmadVariant::Fictitious { inner: 0 }) {
            return Err(invalid("fictitious inner", 0, "must be >= 1"));
        }
        Ok(())
    }

    /// Short name of the variant as used in method names: `cmad_joint` or `cmad_fictitious`.
    pub fn method(&self) -> &'static str {
        match self.variant {
            CmadVariant::Joint => "cmad_joint",
            CmadVariant::Fictitious { .. } => "cmad_fictitious",
        }
    }
}
