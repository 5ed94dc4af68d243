//! The server's layers, checked from its source: every `crate::…` path in a top-level module names
//! only modules below it (`http` → `workflows` → `push` / `store` → `domain`; `relay` → `store`,
//! `push`, `budgets`; `metrics` → `domain`; `clock`, `shutdown` and `budgets` are leaves), sqlx
//! appears only in `store`, and axum
//! only in `http` and `relay` (which runs the WebSocket).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each top-level module may use of the crate.
fn allowed(module: &str) -> &'static [&'static str] {
    const LEAVES: [&str; 3] = ["clock", "shutdown", "budgets"];
    match module {
        "clock" | "shutdown" | "budgets" | "domain" => &[],
        "metrics" => &["domain"],
        "store" => &["domain"],
        "push" => &["store", "domain", "clock", "shutdown", "metrics"],
        "relay" => &["push", "store", "domain", "clock", "shutdown", "metrics", "budgets"],
        "workflows" => &["push", "store", "domain", "clock", "shutdown", "metrics"],
        "http" => &["workflows", "relay", "push", "store", "domain", "clock", "shutdown", "metrics", "budgets"],
        "config" => &["workflows", "push", "budgets"],
        "admin" => &["config", "workflows", "store", "clock"],
        other => panic!("{other} is a new top-level module: add it to the layers in server/tests/layers.rs ({LEAVES:?} are leaves)"),
    }
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::name` in `text`, including each name inside `crate::{a, b::c}`.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            found.insert(name);
        }
    }
    found
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut wrong: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut drivers = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&root).unwrap();
        let top = relative.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for name in crate_paths(&text) {
            if name != top && !allowed(&top).contains(&name.as_str()) {
                wrong.entry(relative.display().to_string()).or_default().insert(name);
            }
        }
        if text.contains("sqlx::") && top != "store" {
            drivers.push(format!("{} uses sqlx outside store/", relative.display()));
        }
        if text.contains("axum::") && !matches!(top.as_str(), "http" | "relay") {
            drivers.push(format!("{} uses axum outside http/ and relay/", relative.display()));
        }
    }
    assert!(wrong.is_empty(), "upward or sideways imports (file → modules it may not use): {wrong:#?}");
    assert!(drivers.is_empty(), "{drivers:#?}");
}

#[test]
fn the_checker_sees_grouped_and_nested_paths() {
    let found = crate_paths("use crate::{store::Store, domain};\nlet x = crate::http::state::AppState;");
    assert_eq!(found, BTreeSet::from(["store".into(), "domain".into(), "http".into()]));
}
