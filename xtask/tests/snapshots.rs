//! Snapshot tests of every reproduction entry's quick-mode table (numbers rounded to 6 significant
//! digits; machine-dependent columns such as wall times left out). A numerical change shows up as a
//! reviewed diff (`cargo insta review`).

use xtask::entries::{find, ENTRIES};
use xtask::reproduce::run_entry;

fn snapshot(name: &str) -> String {
    let entry = find(name).unwrap_or_else(|| panic!("entry {name} is not registered"));
    let out = std::env::temp_dir().join(format!("mfpid-snap-{}-{name}", std::process::id()));
    let done = run_entry(entry, &out, true, 20251122).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    for f in ["table.csv", "record.json"] {
        assert!(done.dir.join(f).is_file(), "{name}: {f} missing");
    }
    let _ = std::fs::remove_dir_all(&out);
    done.outcome.table.to_snapshot(6, entry.snapshot_skip)
}

/// One test per entry; `every_entry_has_a_snapshot_test` keeps this list complete.
macro_rules! snap {
    ($($fn_name:ident => $entry:literal),* $(,)?) => {
        $(
            #[test]
            fn $fn_name() {
                insta::assert_snapshot!($entry, snapshot($entry));
            }
        )*
        const COVERED: &[&str] = &[$($entry),*];
    };
}

snap! {
    sde_convergence => "sde-convergence",
    pde_convergence => "pde-convergence",
    thermo_forward_backward => "thermo-forward-backward",
    thermo_fluctuation => "thermo-fluctuation",
    thermo_franz_parisi => "thermo-franz-parisi",
    thermo_phase_diagram => "thermo-phase-diagram",
    thermo_speciation => "thermo-speciation",
    thermo_mnist_speciation => "thermo-mnist-speciation",
    thermo_collapse => "thermo-collapse",
    thermo_bridges => "thermo-bridges",
    bridge_terminal => "bridge-terminal",
    bridge_snapshots => "bridge-snapshots",
    bridge_moments => "bridge-moments",
    lqg_benchmark => "lqg-benchmark",
    mf_theorem => "mf-theorem",
    mf_general => "mf-general",
    dr_d_sweep => "dr-d-sweep",
    dr_k_sweep => "dr-k-sweep",
    dr_ar_coupling => "dr-ar-coupling",
    dr_heatmap => "dr-heatmap",
    dr_1d_scenarios => "dr-1d-scenarios",
    dr_physical => "dr-physical",
    compose_exact => "compose-exact",
    compose_mnist => "compose-mnist",
    compose_unconditional => "compose-unconditional",
}

#[test]
fn every_entry_has_a_snapshot_test() {
    for e in ENTRIES {
        assert!(
            COVERED.contains(&e.name),
            "entry {} has no snapshot test in xtask/tests/snapshots.rs",
            e.name
        );
    }
}

#[test]
fn a_failing_entry_leaves_no_partial_directory() {
    use xtask::entries::{Ctx, Entry, Outcome};
    fn boom(ctx: &Ctx) -> anyhow::Result<Outcome> {
        std::fs::write(ctx.dir.join("half.svg"), "partial")?;
        anyhow::bail!("deliberate failure")
    }
    let entry = Entry {
        name: "boom",
        about: "",
        snapshot_skip: &[],
        run: boom,
    };
    let out = std::env::temp_dir().join(format!("mfpid-boom-{}", std::process::id()));
    let err = run_entry(&entry, &out, true, 1).err().expect("must fail");
    assert!(format!("{err:#}").contains("deliberate failure"));
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let _ = std::fs::remove_dir_all(&out);
}
