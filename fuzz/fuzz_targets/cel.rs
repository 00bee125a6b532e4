//! Any text as a CEL attribute condition, evaluated on an assertion with fuzzed values: never a panic.
#![no_main]

use std::collections::BTreeMap;

use cloudid_mock::verify::cel::Expr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (expr, value) = s.split_once('\n').unwrap_or((s, ""));
    if let Ok(e) = Expr::compile(expr) {
        let vars = BTreeMap::from([("assertion", serde_json::json!({ "sub": value, "aud": [value], "n": value.len() }))]);
        let _ = e.eval_bool(&vars);
        let _ = e.eval_string(&vars);
    }
});
