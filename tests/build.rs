//! Generates one test per scenario file (`scenarios/**/*.yaml`), so `cargo test` names the file
//! that failed and `cargo test scenario_files::aws_imds::imds_v2_instance_credentials` runs one.

use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml") && p.file_name().is_some_and(|n| n != "expected-failures.yaml") {
            out.push(p);
        }
    }
}

fn main() {
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    println!("cargo:rerun-if-changed={}", scenarios.display());
    let mut files = Vec::new();
    collect(&scenarios, &mut files);
    files.sort();
    let ident = |part: &str| part.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect::<String>();
    let mut modules: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(&scenarios).expect("under scenarios/").to_string_lossy().replace('\\', "/");
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("top", rel.as_str()));
        modules.entry(ident(dir)).or_default().push_str(&format!(
            "    /// `scenarios/{rel}` against every bundled profile whose flows it uses.\n    #[tokio::test(flavor = \"multi_thread\")]\n    async fn {}() {{\n        crate::certification::certify_file(\"{rel}\").await;\n    }}\n\n",
            ident(name.trim_end_matches(".yaml"))
        ));
    }
    let code: String = modules.iter().map(|(m, tests)| format!("mod {m} {{\n{tests}}}\n\n")).collect();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("scenario_files.rs");
    std::fs::write(out, code).expect("write the generated tests");
}
