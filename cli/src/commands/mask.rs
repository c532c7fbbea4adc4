//! `gatehouse mask`: masks standard input with a configured profile, so admins can try a
//! profile on sample data before it applies to anyone.

use super::{Exit, load_config, out};
use std::io::Read;
use std::path::PathBuf;

/// Reads stdin (JSON or plain text), writes the masked version to stdout and a summary
/// of what was masked to stderr.
pub fn run(config: Option<PathBuf>, profile: Option<String>) -> Result<(), Exit> {
    let config = load_config(config)?;
    let masking = config.masking().map_err(|e| Exit::Usage(e.to_string()))?;
    let name = profile.unwrap_or_else(|| config.masking.default_profile.clone());
    if !masking.has_profile(&name) {
        return Err(Exit::Usage(format!(
            "there is no masking profile `{name}`; define [masking.profiles.{name}] in the config (built in: default, off)"
        )));
    }
    let masker = masking.masker(&name);
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| Exit::Runtime(format!("cannot read standard input: {e}")))?;
    let (text, counts) = match serde_json::from_str::<serde_json::Value>(&input) {
        Ok(mut v) if v.is_object() || v.is_array() => {
            let counts = masker.mask_json(&mut v);
            (
                format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()),
                counts,
            )
        }
        _ => {
            let (t, counts) = masker.mask_text(&input);
            (t.into_owned(), counts)
        }
    };
    out(&text);
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("gatehouse mask: profile `{name}`: {}\n", counts.summary()).as_bytes(),
    );
    Ok(())
}
