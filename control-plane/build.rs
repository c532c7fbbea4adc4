//! Embeds the dashboard (`ui/dist`, built by `scripts/build-ui.sh`) into the binary, so
//! one `gatehouse` file serves it. Without a build the table is empty and `/` explains
//! how to build it; the API and gateway work either way. Also tells the tests and benches
//! where the `gatehouse` binary is built (`GATEHOUSE_BIN`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, base, out);
        } else if let Ok(rel) = path.strip_prefix(base) {
            let name = rel.to_string_lossy().replace('\\', "/");
            out.push((name, path));
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = manifest.join("../ui/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    // sqlx::migrate! embeds the migration files; a new one must rebuild the crate.
    println!(
        "cargo:rerun-if-changed={}",
        manifest.join("../migrations").display()
    );
    let mut files = Vec::new();
    walk(&dist, &dist, &mut files);
    files.sort();
    let mut code = String::from(
        "/// The dashboard's files: (path under `/`, bytes).\npub static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for (name, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let abs = path.canonicalize().unwrap_or_else(|_| path.clone());
        writeln!(
            code,
            "    ({name:?}, include_bytes!({:?})),",
            abs.display().to_string()
        )
        .expect("write to a String");
    }
    code.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    std::fs::write(out_dir.join("ui_assets.rs"), code).expect("OUT_DIR is writable");
    // The `gatehouse` binary the integration tests and benches launch belongs to another
    // package (gatehouse-cli), so cargo gives no CARGO_BIN_EXE_ for it: it is built into
    // the same profile folder, three levels above OUT_DIR (`<profile>/build/<pkg>/out`).
    let profile_dir = out_dir.ancestors().nth(3).unwrap_or(&out_dir);
    let bin = profile_dir.join(format!("gatehouse{}", std::env::consts::EXE_SUFFIX));
    println!("cargo:rustc-env=GATEHOUSE_BIN={}", bin.display());
}
