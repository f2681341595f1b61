//! Reading manifests: a file, a directory of `.yaml`/`.yml`/`.json` files,
//! or `-` for stdin; YAML streams with several documents; `List` kinds.
use std::{io::Read, path::Path};

use serde::Deserialize;
use serde_json::Value;

use super::client::CliError;

/// Reads every object from `source`.
pub fn read(source: &str) -> Result<Vec<Value>, CliError> {
    if source == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::Other(format!("reading stdin: {e}")))?;
        return parse(&s, "<stdin>");
    }
    let path = Path::new(source);
    if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| CliError::Other(format!("reading {source}: {e}")))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
            })
            .collect();
        files.sort();
        let mut out = Vec::new();
        for f in files {
            out.extend(read(&f.to_string_lossy())?);
        }
        return Ok(out);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Other(format!("reading {source}: {e}")))?;
    parse(&text, source)
}

/// Parses a YAML (or JSON) stream.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Value>, CliError> {
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let v = Value::deserialize(doc).map_err(|e| {
            CliError::Other(format!("error parsing {origin} (document {}): {e}", i + 1))
        })?;
        match v {
            Value::Null => {}
            Value::Object(ref m)
                if m.get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.ends_with("List"))
                    && m.contains_key("items") =>
            {
                out.extend(m["items"].as_array().cloned().unwrap_or_default());
            }
            Value::Object(_) => out.push(v),
            _ => {
                return Err(CliError::Other(format!(
                    "error parsing {origin} (document {}): expected an object",
                    i + 1
                )))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_and_lists() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n";
        let v = parse(text, "t").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1]["metadata"]["name"], "b");
    }

    #[test]
    fn errors_name_the_document() {
        let e = parse("a: 1\n---\n[1, 2", "f.yaml").unwrap_err().to_string();
        assert!(e.contains("f.yaml") && e.contains("document 2"), "{e}");
        assert!(parse("- 1\n", "x").is_err());
    }
}
