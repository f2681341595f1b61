//! Printing server-side Tables as aligned columns, kubectl style.
use serde_json::Value;

/// Formats a Table; `wide` includes priority>0 columns; `namespace_col`
/// prepends NAMESPACE.
pub fn table(t: &Value, wide: bool, namespace_col: bool, with_headers: bool) -> String {
    let defs = t["columnDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let shown: Vec<usize> = defs
        .iter()
        .enumerate()
        .filter(|(_, d)| wide || d["priority"].as_i64().unwrap_or(0) == 0)
        .map(|(i, _)| i)
        .collect();
    let mut rows: Vec<Vec<String>> = Vec::new();
    if with_headers {
        let mut h: Vec<String> = shown
            .iter()
            .map(|i| defs[*i]["name"].as_str().unwrap_or("").to_uppercase())
            .collect();
        if namespace_col {
            h.insert(0, "NAMESPACE".into());
        }
        rows.push(h);
    }
    for r in t["rows"].as_array().cloned().unwrap_or_default() {
        let cells = r["cells"].as_array().cloned().unwrap_or_default();
        let mut line: Vec<String> = shown.iter().map(|i| cell(cells.get(*i))).collect();
        if namespace_col {
            line.insert(
                0,
                r.pointer("/object/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            );
        }
        rows.push(line);
    }
    align(&rows)
}

fn cell(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Left-aligns columns with three spaces between them.
pub fn align(rows: &[Vec<String>]) -> String {
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..ncols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, s) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(s);
            } else {
                line.push_str(&format!("{s:<w$}   ", w = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_wide_and_namespace_columns() {
        let t = json!({
            "columnDefinitions": [{"name": "Name", "priority": 0}, {"name": "Status", "priority": 0}, {"name": "IP", "priority": 1}],
            "rows": [{"cells": ["web-1", "Running", "10.244.1.2"], "object": {"metadata": {"namespace": "default"}}}]
        });
        let narrow = table(&t, false, false, true);
        assert_eq!(narrow, "NAME    STATUS\nweb-1   Running\n");
        let wide = table(&t, true, true, true);
        assert!(
            wide.starts_with("NAMESPACE   NAME    STATUS    IP\n"),
            "{wide}"
        );
        assert!(
            wide.contains("default     web-1   Running   10.244.1.2"),
            "{wide}"
        );
    }
}
