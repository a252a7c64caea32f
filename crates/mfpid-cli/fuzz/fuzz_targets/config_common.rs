//! Shared by the config targets: UTF-8 input is one subcommand's TOML config, parsed, checked and
//! planned by `mfpid_cli::check_config` (what `mfpid KIND` does before running) and, when that
//! passes, validated by `mfpid_cli::validate_config` (`mfpid validate`: plan and cost estimate with
//! a short probe run); each answer is `Ok` or a one-line message, never a panic, an abort or a
//! runaway allocation.

/// Inputs that name device or kernel files (`/dev/zero` as a data file reads forever) are skipped,
/// with TOML unicode escapes that could spell such a path.
fn names_a_device(text: &str) -> bool {
    ["/dev", "/proc", "/sys", "\\u", "\\U"]
        .iter()
        .any(|p| text.contains(p))
}

pub fn check(kind: &str, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if names_a_device(text) {
        return;
    }
    let one_line = |msg: &str| {
        assert!(!msg.is_empty());
        assert!(!msg.contains('\n'), "a message of several lines: {msg}");
    };
    match mfpid_cli::check_config(kind, text) {
        Err(msg) => one_line(&msg),
        Ok(()) => {
            if let Err(msg) = mfpid_cli::validate_config(text) {
                one_line(&msg)
            }
        }
    }
}
