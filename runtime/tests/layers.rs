//! The import rule of docs/architecture.md: each module of `runtime/src` may
//! use only modules of its own layer or the layers below it. The one loop a
//! coroutine runtime cannot avoid is named, not hidden: the process layer
//! names the types `Cx` (a body takes `&mut Cx`) and `WorkerCore` (a resumed
//! process is handed its worker), and `cx` and `worker` use each other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers, bottom first (docs/architecture.md draws them).
const LAYERS: &[&[&str]] = &[
    &["sync"],
    &["pid", "reason", "small_map"],
    &[
        "stack",
        "crash",
        "error",
        "table",
        "signal_queue",
        "mailbox",
        "link",
        "monitor",
        "registry",
        "timer",
        "blocking",
        "alias",
    ],
    &["process"],
    &["scheduler"],
    &["kernel"],
    &["cx", "worker"],
    &["runtime", "bridge", "server"],
    &["supervisor", "pg"],
];

/// Uses that go up, allowed because they only name the coroutine's types.
const ALLOWED_UP: &[(&str, &str)] = &[("process", "crate::cx::Cx"), ("process", "crate::worker::WorkerCore")];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("runtime/src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// The top module a source file belongs to (`None` for the crate root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative.components().next()?.as_os_str().to_str()?.trim_end_matches(".rs").to_owned();
    (first != "lib").then_some(first)
}

/// Every `crate::MODULE...` path in the code of `text` (comments skipped),
/// with the module and the whole path as written.
fn crate_paths(text: &str) -> Vec<(String, String)> {
    let mut paths = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let path: String =
                rest[at..].chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            let module = path["crate::".len()..].split("::").next().unwrap_or("").to_owned();
            paths.push((module, path.trim_end_matches(':').to_owned()));
            rest = &rest[at + "crate::".len()..];
        }
        // `use crate::{a, b}` lists several modules in braces.
        if let Some(start) = code.find("use crate::{") {
            let list = &code[start + "use crate::{".len()..];
            for item in list.split([',', '}']) {
                let module = item.trim().split("::").next().unwrap_or("").to_owned();
                if !module.is_empty() {
                    paths.push((module.clone(), format!("crate::{module}")));
                }
            }
        }
    }
    paths
}

#[test]
fn every_module_uses_only_its_own_layer_and_those_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut unplaced = Vec::new();
    let mut upward = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else { continue };
        let Some(own) = layer_of(&module) else {
            unplaced.push(module);
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a source file is readable");
        for (used, path) in crate_paths(&text) {
            let Some(used_layer) = layer_of(&used) else {
                unplaced.push(used);
                continue;
            };
            let allowed = ALLOWED_UP.iter().any(|&(from, prefix)| from == module && path.starts_with(prefix));
            if used_layer > own && !allowed {
                upward
                    .entry(file.strip_prefix(&src).unwrap().display().to_string())
                    .or_insert_with(Vec::new)
                    .push(path);
            }
        }
    }
    unplaced.sort();
    unplaced.dedup();
    assert!(unplaced.is_empty(), "modules missing from LAYERS (place them in docs/architecture.md too): {unplaced:?}");
    assert!(upward.is_empty(), "uses that go up a layer (docs/architecture.md, the import rule): {upward:#?}");
}

#[test]
fn the_checker_sees_plain_braced_and_inline_paths() {
    let text = "use crate::pid::Pid;\nuse crate::{kernel::Kernel, sync};\n// crate::runtime in a comment\nlet x = crate::worker::f();";
    let modules: Vec<String> = crate_paths(text).into_iter().map(|(module, _)| module).collect();
    assert!(modules.contains(&"pid".to_owned()));
    assert!(modules.contains(&"kernel".to_owned()));
    assert!(modules.contains(&"sync".to_owned()));
    assert!(modules.contains(&"worker".to_owned()));
    assert!(!modules.contains(&"runtime".to_owned()), "comments are not code");
}
