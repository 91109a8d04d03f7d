//! Builds the playground's files into the `potok` binary (`potok playground`): the lessons' static files
//! (`bindings-wasm/www`, screenshots under `docs/` left out) and the browser package `scripts/wasm.sh pkg`
//! writes to `bindings-wasm/pkg/web`. Without that package (a fresh checkout that has not built it), the
//! binary is built without the playground and `potok playground` says how to add it.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let wasm = manifest.join("../bindings-wasm");
    let www = wasm.join("www");
    let pkg = wasm.join("pkg");
    let web = pkg.join("web");
    // Cargo scans a directory for changes; one that does not exist would make it run this script every build,
    // so the package's parent is watched until the package exists.
    println!("cargo::rerun-if-changed={}", www.display());
    println!("cargo::rerun-if-changed={}", if pkg.is_dir() { pkg.display() } else { wasm.display() });

    let mut files = Vec::new();
    if web.join("potok_bg.wasm").is_file() {
        collect(&www, &wasm, &mut files);
        collect(&web, &wasm, &mut files);
    }
    files.sort();
    let mut out = String::from("/// The playground's files: (path under `bindings-wasm/`, contents).\n");
    out.push_str("pub(crate) static ASSETS: &[(&str, &[u8])] = &[\n");
    for (name, path) in &files {
        out.push_str(&format!("    ({name:?}, include_bytes!({:?})),\n", path.display().to_string()));
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("playground_assets.rs");
    fs::write(&dest, out).expect("write playground_assets.rs");
}

/// Every file under `dir` (but `docs/`), named by its path relative to `root` with `/` separators.
fn collect(dir: &Path, root: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if entry.file_name() != "docs" {
                collect(&path, root, files);
            }
        } else if let Ok(relative) = path.strip_prefix(root) {
            let name = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            let absolute = fs::canonicalize(&path).unwrap_or(path);
            files.push((name, absolute));
        }
    }
}
