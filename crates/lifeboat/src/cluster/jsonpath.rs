//! The part of kubectl's JSONPath that `wait` needs: `{.status.phase}`,
//! `{.status.conditions[0].type}`, `{.data.active}`, keys with escaped dots
//! (`{.metadata.annotations.example\.com/x}`). A path that finds nothing gives `None`.

use serde_json::Value;

/// Evaluates `path` against `object`; strings come back unquoted, other values as JSON.
pub fn eval(object: &Value, path: &str) -> Result<Option<String>, String> {
    let inner = path.trim();
    let inner = inner
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(inner)
        .trim();
    let Some(rest) = inner.strip_prefix('.') else {
        return Err(format!(
            "`{path}` is not a JSONPath such as `{{.status.phase}}`"
        ));
    };
    let mut current = object;
    for segment in split(rest) {
        let (key, indexes) = parse_segment(&segment, path)?;
        if !key.is_empty() {
            match current.get(&key) {
                Some(v) => current = v,
                None => return Ok(None),
            }
        }
        for i in indexes {
            match current.get(i) {
                Some(v) => current = v,
                None => return Ok(None),
            }
        }
    }
    Ok(Some(match current {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }))
}

/// Splits at unescaped dots.
fn split(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                chars.next();
                current.push('.');
            }
            '.' => out.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    out.push(current);
    out
}

/// `name[0][1]` → (`name`, [0, 1]).
fn parse_segment(segment: &str, path: &str) -> Result<(String, Vec<usize>), String> {
    let (key, mut rest) = match segment.find('[') {
        Some(i) => (&segment[..i], &segment[i..]),
        None => (segment, ""),
    };
    let mut indexes = Vec::new();
    while let Some(open) = rest.strip_prefix('[') {
        let close = open
            .find(']')
            .ok_or_else(|| format!("`{path}`: `[` without `]`"))?;
        let n = open[..close]
            .trim()
            .parse()
            .map_err(|_| format!("`{path}`: only whole-number indexes like `[0]` are supported"))?;
        indexes.push(n);
        rest = &open[close + 1..];
    }
    if !rest.is_empty() {
        return Err(format!("`{path}`: unexpected `{rest}`"));
    }
    Ok((key.to_string(), indexes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_the_paths_wait_uses() {
        let o = json!({"data": {"active": "standby"}, "status": {"replicas": 3,
            "conditions": [{"type": "Available", "status": "True"}]},
            "metadata": {"annotations": {"example.com/x": "y"}}});
        assert_eq!(
            eval(&o, "{.data.active}").unwrap().as_deref(),
            Some("standby")
        );
        assert_eq!(eval(&o, ".status.replicas").unwrap().as_deref(), Some("3"));
        assert_eq!(
            eval(&o, "{.status.conditions[0].type}").unwrap().as_deref(),
            Some("Available")
        );
        assert_eq!(
            eval(&o, "{.metadata.annotations.example\\.com/x}")
                .unwrap()
                .as_deref(),
            Some("y")
        );
        assert_eq!(eval(&o, "{.status.missing}").unwrap(), None);
        assert_eq!(eval(&o, "{.status.conditions[5].type}").unwrap(), None);
        assert!(eval(&o, "status").is_err());
        assert!(eval(&o, "{.a[x]}").is_err());
    }
}
