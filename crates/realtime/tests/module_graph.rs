//! The crate's modules form no cycle: each uses only modules below it, so each can be read,
//! and tested, knowing only those. A module's uses are the `crate::` and `super::` paths in its
//! code outside `#[cfg(test)]` items, and the child modules it declares; test-only modules
//! (`tests`, `testing`) are left out. Reads the sources; needs nothing running.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Module path (`hub::registry`, `crate` for the root) to source file.
fn modules(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut p = prefix.to_vec();
            p.push(name);
            modules(&path, &p, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut p = prefix.to_vec();
            if name != "mod" && name != "lib" {
                p.push(name);
            }
            let key = if p.is_empty() {
                "crate".into()
            } else {
                p.join("::")
            };
            out.insert(key, std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The source without comments and `#[cfg(test)]` items.
fn production_code(src: &str) -> String {
    let lines: Vec<&str> = src
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "#[cfg(test)]" {
            out.push_str(lines[i]);
            out.push('\n');
            i += 1;
            continue;
        }
        i += 1;
        let (mut depth, mut opened) = (0i32, false);
        while i < lines.len() {
            let line = lines[i];
            i += 1;
            if !opened && line.trim_end().ends_with(';') {
                break;
            }
            depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
            opened |= line.contains('{');
            if opened && depth <= 0 {
                break;
            }
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every `crate::a::b` / `super::a` path, with one level of `{...}` groups expanded.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts = |w: &str| {
            w.chars()
                .enumerate()
                .all(|(k, c)| chars.get(i + k) == Some(&c))
        };
        let boundary = i == 0 || !is_ident(chars[i - 1]);
        if boundary && (starts("crate::") || starts("super::")) {
            let mut segs = Vec::new();
            let mut seg = String::new();
            while i < chars.len() {
                let c = chars[i];
                if is_ident(c) {
                    seg.push(c);
                    i += 1;
                } else if c == ':' && i + 1 < chars.len() && chars[i + 1] == ':' {
                    segs.push(std::mem::take(&mut seg));
                    i += 2;
                } else if c == '{' && seg.is_empty() {
                    let end = (i..chars.len()).find(|&j| chars[j] == '}').unwrap_or(i);
                    let group: String = chars[i + 1..end].iter().collect();
                    for item in group.split(',') {
                        let first = item.trim().split("::").next().unwrap_or("");
                        let first = first.split_whitespace().next().unwrap_or("");
                        let mut p = segs.clone();
                        if !first.is_empty() && first != "self" {
                            p.push(first.to_owned());
                        }
                        found.push(p);
                    }
                    i = end + 1;
                    segs.clear();
                    break;
                } else {
                    break;
                }
            }
            if !seg.is_empty() {
                segs.push(seg);
            }
            if !segs.is_empty() {
                found.push(segs);
            }
        } else {
            i += 1;
        }
    }
    found
}

fn graph() -> Graph {
    let mut files = BTreeMap::new();
    modules(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &[],
        &mut files,
    );
    let test_only = |m: &str| matches!(m.rsplit("::").next(), Some("tests") | Some("testing"));
    let resolve = |full: &[String]| -> String {
        (1..=full.len())
            .rev()
            .map(|n| full[..n].join("::"))
            .find(|c| files.contains_key(c))
            .unwrap_or_else(|| "crate".into())
    };
    let mut graph = Graph::new();
    for (module, src) in &files {
        if test_only(module) {
            continue;
        }
        let here: Vec<String> = if module == "crate" {
            Vec::new()
        } else {
            module.split("::").map(str::to_owned).collect()
        };
        let code = production_code(src);
        let uses = graph.entry(module.clone()).or_default();
        for line in code.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let Some(pos) = words.iter().position(|w| *w == "mod") {
                if let Some(name) = words.get(pos + 1).and_then(|w| w.strip_suffix(';')) {
                    let child = [here.clone(), vec![name.to_owned()]].concat().join("::");
                    if files.contains_key(&child) && !test_only(&child) {
                        uses.insert(child);
                    }
                }
            }
        }
        for path in paths(&code) {
            let mut full: Vec<String> = if path[0] == "crate" {
                Vec::new()
            } else {
                here[..here.len().saturating_sub(1)].to_vec()
            };
            for seg in &path[1..] {
                if seg == "super" {
                    full.pop();
                } else {
                    full.push(seg.clone());
                }
            }
            let target = resolve(&full);
            if target != *module {
                uses.insert(target);
            }
        }
    }
    graph
}

/// A cycle through `from`, if any: the modules on it.
fn cycle(graph: &Graph, from: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &Graph,
        at: &str,
        from: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            if next == from {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, next, from, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![from.to_owned()];
    walk(graph, from, from, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn the_modules_form_no_cycle() {
    let graph = graph();
    for must in [
        "hub",
        "hub::registry",
        "connection",
        "connection::pipeline",
        "protocol",
    ] {
        assert!(
            graph.contains_key(must),
            "{must} not found: the reader is wrong"
        );
    }
    assert!(
        graph["hub::registry"].contains("hub::room"),
        "registry uses room: the reader is wrong"
    );
    // `MODULE_GRAPH_PRINT=1 cargo test -p huddle-realtime --test module_graph -- --nocapture`
    // prints the graph.
    if std::env::var_os("MODULE_GRAPH_PRINT").is_some() {
        for (m, uses) in &graph {
            eprintln!(
                "{m:22} -> {}",
                uses.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    let cycles: Vec<Vec<String>> = graph.keys().filter_map(|m| cycle(&graph, m)).collect();
    assert!(cycles.is_empty(), "import cycles: {cycles:?}");
}

#[test]
fn the_reader_sees_a_cycle_when_there_is_one() {
    let mut graph = Graph::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("a".into());
    assert_eq!(
        cycle(&graph, "a"),
        Some(vec!["a".to_owned(), "b".to_owned()])
    );
    let code = production_code(
        "use crate::x::{y, z::W};\nuse super::v;\n#[cfg(test)]\nmod tests {\n use crate::q;\n}\n",
    );
    assert_eq!(
        paths(&code),
        [
            vec!["crate", "x", "y"],
            vec!["crate", "x", "z"],
            vec!["super", "v"]
        ]
    );
}
