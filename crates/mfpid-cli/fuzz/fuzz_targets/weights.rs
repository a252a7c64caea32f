//! The weights loader (safetensors checkpoints): any byte string loads into a small network or is a
//! typed `Weights` error naming the file; never a panic, never a non-finite parameter accepted.
#![no_main]

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use libfuzzer_sys::fuzz_target;
use mfpid_compose::nn::{load_bytes_into, Loaded, ModelKind};
use mfpid_compose::ComposeError;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    // a 2 -> 3 linear layer: variables fc.weight (3 x 2) and fc.bias (3), f32
    let vars = VarMap::new();
    let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
    let model = candle_nn::linear(2, 3, vb.pp("fc")).expect("a fresh layer");
    let mut loaded = Loaded { model, vars };
    let path = Path::new("fuzz.safetensors");
    match load_bytes_into(&mut loaded, ModelKind::Objective, path, data) {
        Ok(()) => {
            for v in loaded.vars.all_vars() {
                let x = v
                    .as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap();
                assert!(
                    x.iter().all(|x| x.is_finite()),
                    "non-finite parameter accepted"
                );
            }
        }
        Err(ComposeError::Weights { path: p, .. }) => assert_eq!(p, path),
        Err(e) => panic!("unexpected error kind: {e}"),
    }
});
