//! Core's layers depend only downward: a module uses only its own layer and the layers below
//! it. Each layer is a folder of `core/src` (see the table in `lib.rs`); this test reads every
//! source file and checks each `crate::…` path in its code (comments and doc links aside).
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module of layer `i` may name `crate::L` only for `L` in
/// `LAYERS[..=i]`.
const LAYERS: [&str; 8] = [
    "sync", "types", "journal", "index", "session", "router", "engine", "api",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of `line`: what precedes a `//` comment (good enough for this codebase, which
/// has no `//` inside string literals on lines that also name `crate::`).
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

/// Every `crate::NAME` in `text`'s code, with its line number.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = code(line);
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `use crate::{a, b}` is not used in core; a name is all there is.
            found.push((n + 1, name));
            rest = after;
        }
    }
    found
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative.components().next().unwrap().as_os_str();
        let top = top.to_str().unwrap();
        if top == "lib.rs" {
            continue; // the crate root only declares and re-exports
        }
        let layer = LAYERS
            .iter()
            .position(|l| *l == top)
            .unwrap_or_else(|| panic!("{top}: not in a layer folder (add it to LAYERS)"));
        let text = fs::read_to_string(file).unwrap();
        for (line, name) in crate_paths(&text) {
            checked += 1;
            match LAYERS.iter().position(|l| *l == name) {
                Some(used) if used <= layer => {}
                Some(_) => violations.push(format!(
                    "{}:{line}: layer `{top}` uses `crate::{name}`, a layer above it",
                    relative.display()
                )),
                None => violations.push(format!(
                    "{}:{line}: `crate::{name}` is not a layer; name the item by its layer's path",
                    relative.display()
                )),
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} paths found: is the scan broken?"
    );
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_scan_sees_paths_and_skips_comments() {
    let text = "use crate::session::Session;\n// crate::api in a comment\nlet x = crate::sync::Arc::new(1); // crate::engine\n";
    let names: Vec<_> = crate_paths(text).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["session", "sync"]);
}
