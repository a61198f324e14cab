//! Which host interpreter runs a managed runtime (`python3.12`, `nodejs20.x`): the exact
//! minor (Python) or major (Node.js) version must be installed on the host, so a function
//! never runs on a different language version than the one it declares.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A usable interpreter: its executable and the directory tree it needs at run time.
#[derive(Clone, Debug)]
pub struct Interpreter {
    pub executable: PathBuf,
    pub prefix: PathBuf,
}

/// The language a runtime identifier names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Python,
    Node,
    /// `provided.*`: the package's own `bootstrap`.
    Provided,
}

pub fn language(runtime: &str) -> Option<Language> {
    if runtime.starts_with("python3.") {
        Some(Language::Python)
    } else if runtime.starts_with("nodejs") {
        Some(Language::Node)
    } else if runtime.starts_with("provided") {
        Some(Language::Provided)
    } else {
        None
    }
}

static CACHE: Mutex<Option<HashMap<String, Option<Interpreter>>>> = Mutex::new(None);

/// The host interpreter for `runtime`, or `None` when the host cannot run it.
pub fn find(runtime: &str) -> Option<Interpreter> {
    let mut cache = CACHE.lock().unwrap();
    let map = cache.get_or_insert_with(HashMap::new);
    if let Some(hit) = map.get(runtime) {
        return hit.clone();
    }
    let found = match language(runtime) {
        Some(Language::Python) => find_python(runtime.trim_start_matches("python")),
        Some(Language::Node) => find_node(runtime.trim_start_matches("nodejs").trim_end_matches(".x")),
        _ => None,
    };
    map.insert(runtime.to_string(), found.clone());
    found
}

fn path_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/local/bin", "/usr/bin"].map(PathBuf::from));
    dirs
}

fn find_python(version: &str) -> Option<Interpreter> {
    let name = format!("python{version}");
    let mut candidates: Vec<PathBuf> = path_dirs().into_iter().map(|d| d.join(&name)).collect();
    // pyenv installs that are not on PATH.
    let pyenv = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
    if let Some(root) = pyenv
        && let Ok(entries) = std::fs::read_dir(root.join("versions"))
    {
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().to_string();
                n == version || n.starts_with(&format!("{version}."))
            })
            .map(|e| e.path().join("bin").join(&name))
            .collect();
        found.sort();
        candidates.extend(found.into_iter().rev());
    }
    for exe in candidates {
        if !exe.is_file() || exe.to_string_lossy().contains("/shims/") {
            continue;
        }
        let Ok(out) = std::process::Command::new(&exe)
            .args([
                "-c",
                "import sys; print(sys.base_prefix); print('%d.%d' % sys.version_info[:2])",
            ])
            .output()
        else {
            continue;
        };
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut lines = text.lines();
        let (Some(prefix), Some(v)) = (lines.next(), lines.next()) else {
            continue;
        };
        if out.status.success() && v == version {
            let executable = std::fs::canonicalize(&exe).unwrap_or(exe);
            return Some(Interpreter {
                executable,
                prefix: PathBuf::from(prefix),
            });
        }
    }
    None
}

fn find_node(major: &str) -> Option<Interpreter> {
    for dir in path_dirs() {
        let exe = dir.join("node");
        if !exe.is_file() {
            continue;
        }
        let Ok(out) = std::process::Command::new(&exe).arg("--version").output() else {
            continue;
        };
        let v = String::from_utf8_lossy(&out.stdout)
            .trim()
            .trim_start_matches('v')
            .to_string();
        if v.split('.').next() == Some(major) {
            let executable = std::fs::canonicalize(&exe).unwrap_or(exe);
            let prefix = executable
                .parent()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("/usr"));
            return Some(Interpreter { executable, prefix });
        }
    }
    None
}
